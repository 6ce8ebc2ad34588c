// isa_probe: linked with an isa_built compiled for AVX-512ER (Xeon Phi only), so that the
// unit test can see the load-time check stop a binary built for more than the CPU has.
#include <cstdio>

int main() {
  std::puts("isa_probe: main ran");
  return 0;
}
