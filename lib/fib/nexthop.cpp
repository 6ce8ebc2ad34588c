#include "nexthop.hpp"

namespace routerd {

const char* nh_kind_name(NhKind k) {
  switch (k) {
    case NhKind::forward:
      return "forward";
    case NhKind::unresolved:
      return "unresolved";
    case NhKind::glean:
      return "glean";
    case NhKind::local:
      return "local";
    case NhKind::broadcast:
      return "broadcast";
    case NhKind::blackhole:
      return "blackhole";
    case NhKind::prohibit:
      return "prohibit";
    case NhKind::unreachable:
      return "unreachable";
  }
  return "?";
}

}  // namespace routerd

namespace routerd {

void retire_free(const NextHopState* s) {
  // volatile: the stores must happen although the object dies right after.
  auto* p = reinterpret_cast<volatile uint8_t*>(const_cast<NextHopState*>(s));
  for (size_t i = 0; i < sizeof(NextHopState); ++i) p[i] = kPoisonByte;
  delete s;
}

}  // namespace routerd
