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
  }
  return "?";
}

}  // namespace routerd
