// What Debian 12's FRR 8.4.4 zebra really sends over FPM (dplane_fpm_nl), captured by
// test/data/fpm/capture.sh for a fixed sequence of staticd changes, in both of zebra's modes:
// next-hop groups (the default) and inline next hops (`no fpm use-next-hop-groups`).
#include <arpa/inet.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fpm.hpp"

using namespace routerd;
using namespace routerd::fpm;

namespace {

std::vector<uint8_t> read_capture(const std::string& mode, const std::string& step) {
  const std::string path =
      std::string(ROUTERD_SOURCE_ROOT) + "/test/data/fpm/" + mode + "/" + step + ".bin";
  std::ifstream f(path, std::ios::binary);
  INFO(path);
  REQUIRE(f);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::string prefix_of(const RouteMsg& r) {
  return r.family == AF_INET ? r.prefix4.str() : r.prefix6.str();
}

std::string hop_str(uint8_t gw_family, const Ipv4& gw4, const Ipv6& gw6, uint32_t ifindex) {
  std::string s = gw_family == AF_INET    ? gw4.str()
                  : gw_family == AF_INET6 ? gw6.str()
                                          : std::string("direct");
  return s + "@" + std::to_string(ifindex);
}

// What a FIB fed by the stream would hold: routes by prefix and next hops by id, applied in
// order, each delete checked against what is there.
struct Model {
  std::map<std::string, RouteMsg> routes;
  std::map<uint32_t, NexthopMsg> nexthops;
  size_t frames = 0, messages = 0, ignored = 0;
  std::vector<std::vector<Message>> frame_msgs;  // the last step's frames, message by message

  void step(const std::vector<uint8_t>& bytes) {
    frame_msgs.clear();
    FrameReader reader;
    reader.feed(bytes, [&](std::span<const uint8_t> f) {
      ++frames;
      std::vector<Message> msgs;
      decode_frame(f, msgs);
      for (const Message& m : msgs) apply(m);
      frame_msgs.push_back(std::move(msgs));
    });
    CHECK(reader.pending() == 0);  // zebra sends whole frames; the capture cuts between them
  }

  void apply(const Message& m) {
    ++messages;
    if (const auto* r = std::get_if<RouteMsg>(&m)) {
      const std::string key = prefix_of(*r);
      if (r->add) {
        CHECK((r->nh_id == 0 || nexthops.count(r->nh_id) == 1));
        routes[key] = *r;
      } else {
        INFO("delete of " << key);
        CHECK(routes.erase(key) == 1);
      }
    } else if (const auto* n = std::get_if<NexthopMsg>(&m)) {
      if (n->add) {
        for (const GroupMember& g : n->group) CHECK(nexthops.count(g.id) == 1);
        nexthops[n->id] = *n;
      } else {
        INFO("delete of next hop " << n->id);
        CHECK(nexthops.erase(n->id) == 1);
      }
    } else {
      ++ignored;
    }
  }

  // A route's next hops as "gateway@ifindex" with their weights, whichever mode sent them.
  std::multiset<std::string> hops(const std::string& prefix) const {
    std::multiset<std::string> out;
    const auto it = routes.find(prefix);
    if (it == routes.end()) return out;
    const RouteMsg& r = it->second;
    for (const Path& p : r.paths)
      out.insert(hop_str(p.gw_family, p.gw4, p.gw6, p.ifindex) + " w" + std::to_string(p.weight));
    if (r.nh_id) {
      const NexthopMsg& n = nexthops.at(r.nh_id);
      if (n.group.empty()) {
        out.insert(hop_str(n.gw_family, n.gw4, n.gw6, n.ifindex) + " w1");
      } else {
        for (const GroupMember& g : n.group) {
          const NexthopMsg& m = nexthops.at(g.id);
          out.insert(hop_str(m.gw_family, m.gw4, m.gw6, m.ifindex) + " w" +
                     std::to_string(g.weight));
        }
      }
    }
    return out;
  }
  // The interface of a connected route: the one the staticd gateways in it must use.
  uint32_t ifindex_of(const std::string& prefix) const {
    const auto h = hops(prefix);
    REQUIRE(h.size() == 1);
    const std::string s = *h.begin();
    REQUIRE(s.starts_with("direct@"));
    return uint32_t(std::stoul(s.substr(7)));
  }
  uint8_t type_of(const std::string& prefix) const { return routes.at(prefix).type; }
};

}  // namespace

TEST_CASE("FRR 8.4.4 captures decode to the routes staticd was given", "[fpm]") {
  for (const std::string mode : {"nhg", "inline"}) {
    DYNAMIC_SECTION(mode) {
      Model m;
      // Connect: zebra replays its connected routes (two veths, both families, and fe80::/64).
      m.step(read_capture(mode, "00-connect"));
      CHECK(m.ignored == 0);
      REQUIRE(m.routes.size() == 5);
      for (const auto& [prefix, r] : m.routes) {
        CHECK(r.add);
        CHECK(r.protocol == RTPROT_KERNEL);
        CHECK(r.table == RT_TABLE_MAIN);
        CHECK(r.priority == 20);  // zebra's metric: the admin distance 0 and metric 20
        CHECK(r.type == RTN_UNICAST);
      }
      const uint32_t d1 = m.ifindex_of("10.0.1.0/24"), d2 = m.ifindex_of("10.0.2.0/24");
      CHECK(d1 != d2);
      CHECK(m.ifindex_of("2001:db8:1::/64") == d1);
      CHECK(m.ifindex_of("2001:db8:2::/64") == d2);
      CHECK(m.routes.count("fe80::/64") == 1);
      const std::string i1 = "@" + std::to_string(d1) + " w1",
                        i2 = "@" + std::to_string(d2) + " w1";
      using Hops = std::multiset<std::string>;

      // ip route 192.0.2.0/24 10.0.1.2; ipv6 route 2001:db8:100::/48 2001:db8:1::2
      m.step(read_capture(mode, "01-single"));
      CHECK(m.routes.size() == 7);
      CHECK(m.hops("192.0.2.0/24") == Hops{"10.0.1.2" + i1});
      CHECK(m.hops("2001:db8:100::/48") == Hops{"2001:db8:1::2" + i1});
      CHECK(m.routes.at("192.0.2.0/24").protocol == 196);  // zebra's RTPROT_STATIC
      CHECK(m.routes.at("2001:db8:100::/48").protocol == 196);

      // ECMP: three gateways for an IPv4 prefix, two for an IPv6 one.
      m.step(read_capture(mode, "02-ecmp"));
      CHECK(m.hops("198.51.100.0/24") == Hops{"10.0.1.2" + i1, "10.0.1.3" + i1, "10.0.2.2" + i2});
      CHECK(m.hops("2001:db8:200::/48") == Hops{"2001:db8:1::2" + i1, "2001:db8:2::2" + i2});
      if (mode == "nhg") {
        CHECK(m.nexthops.at(m.routes.at("198.51.100.0/24").nh_id).group.size() == 3);
        CHECK(m.routes.at("198.51.100.0/24").paths.empty());
      } else {
        CHECK(m.routes.at("198.51.100.0/24").nh_id == 0);
        CHECK(m.routes.at("198.51.100.0/24").paths.size() == 3);
      }

      // ip route ... blackhole (both families), ip route 203.0.113.128/25 reject
      m.step(read_capture(mode, "03-blackhole"));
      CHECK(m.type_of("203.0.113.0/24") == RTN_BLACKHOLE);
      CHECK(m.type_of("2001:db8:300::/48") == RTN_BLACKHOLE);
      CHECK(m.type_of("203.0.113.128/25") == RTN_UNREACHABLE);
      CHECK(m.hops("203.0.113.0/24").empty());
      if (mode == "nhg") {  // zebra also sends blackhole next hops, which its routes don't use
        size_t blackholes = 0;
        for (const auto& [id, n] : m.nexthops) blackholes += n.blackhole;
        CHECK(blackholes == 3);
      }

      // A change of gateway: one frame holding RTM_DELROUTE then RTM_NEWROUTE.
      m.step(read_capture(mode, "04-change"));
      REQUIRE(m.frame_msgs.size() == 1);
      REQUIRE(m.frame_msgs[0].size() == 2);
      const auto& del = std::get<RouteMsg>(m.frame_msgs[0][0]);
      const auto& add = std::get<RouteMsg>(m.frame_msgs[0][1]);
      CHECK((!del.add && add.add));
      CHECK(del.prefix4 == *Prefix4::parse("192.0.2.0/24"));
      CHECK(add.prefix4 == del.prefix4);
      CHECK(m.hops("192.0.2.0/24") == Hops{"10.0.2.2" + i2});

      // Deletes: three routes go; with next-hop groups, zebra then drops the unused next hops.
      m.step(read_capture(mode, "05-delete"));
      CHECK(m.routes.count("198.51.100.0/24") == 0);
      CHECK(m.routes.count("2001:db8:100::/48") == 0);
      CHECK(m.routes.count("203.0.113.0/24") == 0);
      CHECK(m.routes.size() == 9);
      for (const auto& [prefix, r] : m.routes) CHECK((r.nh_id == 0 || m.nexthops.count(r.nh_id)));
      CHECK(m.ignored == 0);
      CHECK(m.messages == (mode == "nhg" ? 37 : 17));
    }
  }
}
