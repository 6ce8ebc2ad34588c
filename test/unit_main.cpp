#define CATCH_CONFIG_RUNNER
#include <spdlog/spdlog.h>

#include <catch2/catch.hpp>

int main(int argc, char** argv) {
  // Modules log what they do at info level; tests only want to see warnings.
  spdlog::set_level(spdlog::level::warn);
  return Catch::Session().run(argc, argv);
}
