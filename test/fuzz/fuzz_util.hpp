// test/fuzz: what every fuzz target shares. FUZZ_CHECK states an invariant of the code under
// test; a violation prints what broke and aborts, which libFuzzer reports as a crash and
// saves the input for.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond, ...)                                                            \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, " " __VA_ARGS__);                                             \
      std::fprintf(stderr, "\n");                                                        \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)
