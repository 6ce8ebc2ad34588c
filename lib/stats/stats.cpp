#include "stats.hpp"

namespace routerd {

namespace {
constexpr std::string_view kDropNames[] = {
#define X(name, desc) #name,
    ROUTERD_DROP_REASONS(X)
#undef X
};
constexpr std::string_view kDropDescriptions[] = {
#define X(name, desc) desc,
    ROUTERD_DROP_REASONS(X)
#undef X
};
constexpr std::string_view kPuntNames[] = {
#define X(name, desc) #name,
    ROUTERD_PUNT_REASONS(X)
#undef X
};
constexpr std::string_view kEventNames[] = {
#define X(name, desc) #name,
    ROUTERD_EVENTS(X)
#undef X
};
}  // namespace

std::string_view drop_name(Drop d) {
  return kDropNames[size_t(d)];
}
std::string_view drop_description(Drop d) {
  return kDropDescriptions[size_t(d)];
}
std::string_view punt_name(Punt p) {
  return kPuntNames[size_t(p)];
}
std::string_view event_name(Event e) {
  return kEventNames[size_t(e)];
}

}  // namespace routerd
