#include "route_cache.hpp"

#include <rte_malloc.h>
#include <sys/random.h>

#include <cstring>
#include <stdexcept>
#include <string>

namespace routerd {

RouteCache::RouteCache(uint32_t sets, const RouteCacheKeys& keys, int socket)
    : nsets_(sets), k1_(keys.k1 | 1), k2_(keys.k2), k3_(keys.k3 | 1) {
  if (sets < 2 || (sets & (sets - 1)) != 0)
    throw std::invalid_argument("route cache sets must be a power of two >= 2");
  shift_ = 64 - uint32_t(__builtin_ctz(sets));
  sets_ = static_cast<RouteCacheSet*>(rte_zmalloc_socket("route_cache", bytes(), 64, socket));
  if (!sets_)
    throw std::runtime_error("cannot allocate a route cache of " + std::to_string(bytes()) +
                             " bytes");
}

RouteCache::~RouteCache() {
  rte_free(sets_);
}

RouteCache6::RouteCache6(uint32_t sets, const RouteCacheKeys& keys, int socket)
    : nsets_(sets), k1_(keys.k1 | 1), k2_(keys.k2), k3_(keys.k3 | 1) {
  if (sets < 2 || (sets & (sets - 1)) != 0)
    throw std::invalid_argument("IPv6 route cache sets must be a power of two >= 2");
  std::memcpy(w_, keys.w, sizeof w_);
  shift_ = 64 - uint32_t(__builtin_ctz(sets));
  sets_ = static_cast<RouteCache6Set*>(rte_zmalloc_socket("route_cache6", bytes(), 64, socket));
  if (!sets_)
    throw std::runtime_error("cannot allocate an IPv6 route cache of " + std::to_string(bytes()) +
                             " bytes");
}

RouteCache6::~RouteCache6() {
  rte_free(sets_);
}

void RouteCache6::new_epoch(uint64_t epoch) {
  std::memset(static_cast<void*>(sets_), 0, bytes());
  epoch_ = epoch;
}

RouteCacheKeys route_cache_keys() {
  uint64_t k[5];
  if (getrandom(k, sizeof k, 0) != ssize_t(sizeof k)) throw std::runtime_error("getrandom failed");
  RouteCacheKeys keys{k[0] | 1, k[1], k[2] | 1, {}};
  std::memcpy(keys.w, &k[3], sizeof keys.w);
  return keys;
}

}  // namespace routerd
