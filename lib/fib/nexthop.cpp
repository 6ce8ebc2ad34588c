#include "nexthop.hpp"

#include <new>

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
    case NhKind::group:
      return "group";
    case NhKind::tunnel:
      return "tunnel";
  }
  return "?";
}

}  // namespace routerd

namespace routerd {

namespace {
// volatile: the stores must happen although the object dies right after.
void poison(const void* obj, size_t n) {
  auto* p = static_cast<volatile uint8_t*>(const_cast<void*>(obj));
  for (size_t i = 0; i < n; ++i) p[i] = kPoisonByte;
}
}  // namespace

NhGroup* NhGroup::make(uint32_t buckets) {
  void* mem = ::operator new(sizeof(NhGroup) + buckets * sizeof(uint32_t), std::align_val_t(64));
  auto* g = new (mem) NhGroup{};
  g->mask = buckets - 1;
  return g;
}

void NhGroup::destroy(const NhGroup* g) {
  if (!g) return;
  poison(g, sizeof(NhGroup) + (size_t(g->mask) + 1) * sizeof(uint32_t));
  ::operator delete(const_cast<NhGroup*>(g), std::align_val_t(64));
}

void retire_free(const NextHopState* s) {
  const NhGroup* g = s->group;
  poison(s, sizeof(NextHopState));
  NhGroup::destroy(g);
  delete s;
}

}  // namespace routerd
