#include "rib.hpp"

namespace routerd {

const std::shared_ptr<const RouteMetrics>& default_metrics() {
  static const auto d = std::make_shared<const RouteMetrics>();
  return d;
}

const char* route_proto_name(RouteProto p) {
  return p == RouteProto::connected ? "connected" : p == RouteProto::daemon ? "daemon" : "static";
}

std::string rtproto_name(uint8_t rtproto) {
  switch (rtproto) {
    case 2:
      return "kernel";
    case 3:
      return "boot";
    case 4:
      return "static";
    case 11:
      return "zebra";
    case 12:
      return "bird";
    case 16:
      return "dhcp";
    case 42:
      return "babel";
    case 186:
      return "bgp";
    case 187:
      return "isis";
    case 188:
      return "ospf";
    case 189:
      return "rip";
    case 190:
      return "ripng";
    case 191:
      return "nhrp";
    case 192:
      return "eigrp";
    case 193:
      return "ldp";
    case 194:
      return "sharp";
    case 195:
      return "pbr";
    case 196:
      return "static";  // FRR's staticd
    case 197:
      return "openfabric";
    case 198:
      return "srte";
    default:
      return "proto-" + std::to_string(rtproto);
  }
}

}  // namespace routerd
