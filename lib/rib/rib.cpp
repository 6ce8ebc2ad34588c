#include "rib.hpp"

namespace routerd {

const std::shared_ptr<const RouteMetrics>& default_metrics() {
  static const auto d = std::make_shared<const RouteMetrics>();
  return d;
}

const char* route_proto_name(RouteProto p) {
  return p == RouteProto::connected ? "connected" : p == RouteProto::daemon ? "daemon" : "static";
}

}  // namespace routerd
