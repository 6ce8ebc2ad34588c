#include "fpm.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <libmnl/libmnl.h>
#include <linux/nexthop.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace routerd::fpm {

// ---------------------------------------------------------------------------------------------
// Framing

void FrameReader::fail(const std::string& why) {
  error_ = why;
  buf_.clear();
  buf_.shrink_to_fit();  // a failed reader holds nothing
  throw FpmError(why);
}

size_t FrameReader::check_header(const uint8_t* h) {
  if (h[0] != kVersion) fail(fmt::format("fpm: frame version {}, expected {}", h[0], kVersion));
  if (h[1] != kTypeNetlink)
    fail(fmt::format("fpm: frame type {}, expected {} (netlink)", h[1], kTypeNetlink));
  const size_t len = size_t(h[2]) << 8 | h[3];
  if (len < kMinFrame)
    fail(fmt::format(
        "fpm: frame length {}, less than {} (the FPM header and one netlink message header)", len,
        kMinFrame));
  return len;
}

void FrameReader::feed(std::span<const uint8_t> bytes, const OnFrame& on_frame) {
  if (failed()) throw FpmError(error_);
  const uint8_t* p = bytes.data();
  size_t n = bytes.size();
  try {
    // First complete the frame an earlier chunk began: its header, then its length.
    if (!buf_.empty()) {
      if (buf_.size() < kHeaderLen) {
        const size_t take = std::min(kHeaderLen - buf_.size(), n);
        buf_.insert(buf_.end(), p, p + take);
        p += take;
        n -= take;
        if (buf_.size() < kHeaderLen) return;
        want_ = check_header(buf_.data());
      }
      const size_t take = std::min(want_ - buf_.size(), n);
      buf_.insert(buf_.end(), p, p + take);
      p += take;
      n -= take;
      if (buf_.size() < want_) return;
      on_frame({buf_.data() + kHeaderLen, want_ - kHeaderLen});
      buf_.clear();
      want_ = 0;
    }
    // Frames wholly inside this chunk are handed over where they lie: no copy.
    while (n >= kHeaderLen) {
      const size_t len = check_header(p);
      if (n < len) {
        want_ = len;
        break;
      }
      on_frame({p + kHeaderLen, len - kHeaderLen});
      p += len;
      n -= len;
    }
    // What is left is less than one frame. Reserving the largest frame once keeps a stream of
    // split frames from reallocating, and bounds the buffer: it never grows past it.
    if (n > 0) {
      buf_.reserve(kMaxFrame);
      buf_.assign(p, p + n);
    }
  } catch (const FpmError& e) {
    if (!failed()) error_ = e.what();
    throw;
  } catch (const std::exception& e) {
    error_ = std::string("fpm: frame handler failed: ") + e.what();
    throw;
  } catch (...) {
    error_ = "fpm: frame handler failed";
    throw;
  }
}

// ---------------------------------------------------------------------------------------------
// Netlink decoding

namespace {

const char* type_name(uint16_t type) {
  switch (type) {
    case RTM_NEWROUTE:
      return "RTM_NEWROUTE";
    case RTM_DELROUTE:
      return "RTM_DELROUTE";
    case RTM_NEWNEXTHOP:
      return "RTM_NEWNEXTHOP";
    case RTM_DELNEXTHOP:
      return "RTM_DELNEXTHOP";
    default:
      return nullptr;
  }
}

// Where in the frame a message sits, for error messages: "fpm: message 2 (RTM_NEWROUTE): ...".
struct Where {
  size_t index;
  uint16_t type;

  template <class... Args>
  [[noreturn]] void bad(fmt::format_string<Args...> f, Args&&... args) const {
    const char* name = type_name(type);
    throw FpmError(fmt::format("fpm: message {} ({}): {}", index,
                               name ? std::string(name) : fmt::format("type {}", type),
                               fmt::format(f, std::forward<Args>(args)...)));
  }
};

// Walks the attributes in [start, start + len), calling f on each. libmnl's
// mnl_attr_for_each stops silently at the first attribute that does not fit, which would
// drop the rest of a message unnoticed: what it leaves unwalked is refused here.
template <class F>
void walk_attrs(const Where& w, const char* what, const void* start, size_t len, F&& f) {
  const char* end = static_cast<const char*>(start) + len;
  const auto* a = static_cast<const nlattr*>(start);
  while (mnl_attr_ok(a, int(end - reinterpret_cast<const char*>(a)))) {
    f(a);
    a = mnl_attr_next(a);
  }
  // The last attribute's padding may run up to 3 bytes past the end: nothing is left then.
  const ptrdiff_t left = end - reinterpret_cast<const char*>(a);
  if (left <= 0) return;
  const size_t at = size_t(reinterpret_cast<const char*>(a) - static_cast<const char*>(start));
  if (left < ptrdiff_t(sizeof(nlattr)))
    w.bad("{}: {} stray bytes after the last attribute", what, left);
  if (a->nla_len < sizeof(nlattr))
    w.bad("{}: attribute type {} at offset {} has length {}, less than its 4-byte header", what,
          mnl_attr_get_type(a), at, a->nla_len);
  w.bad("{}: attribute type {} at offset {} has length {}, past the end ({} bytes left)", what,
        mnl_attr_get_type(a), at, a->nla_len, left);
}

void need_u32(const Where& w, const nlattr* a, const char* name) {
  if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
    w.bad("{} of {} bytes, expected 4", name, mnl_attr_get_payload_len(a));
}

uint8_t addr_len(uint8_t family) {
  return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

// An address of the given family from p (4 or 16 bytes, any alignment).
void read_addr(uint8_t family, const void* p, Ipv4& v4, Ipv6& v6) {
  if (family == AF_INET) {
    uint32_t be;
    std::memcpy(&be, p, 4);
    v4 = Ipv4(ntohl(be));
  } else {
    v6 = Ipv6::from_bytes(static_cast<const uint8_t*>(p));
  }
}

void need_addr(const Where& w, const nlattr* a, const char* name, uint8_t family) {
  const size_t want = addr_len(family);
  if (mnl_attr_validate2(a, MNL_TYPE_BINARY, want) < 0)
    w.bad("{} of {} bytes, expected {} for family {}", name, mnl_attr_get_payload_len(a), want,
          family);
}

// RTA_GATEWAY (in the route's family) or RTA_VIA (family given inside: an IPv4 route via an
// IPv6 gateway, RFC 5549) into a path.
void read_gateway(const Where& w, const nlattr* a, uint8_t route_family, Path& p) {
  if (mnl_attr_get_type(a) == RTA_GATEWAY) {
    need_addr(w, a, "RTA_GATEWAY", route_family);
    p.gw_family = route_family;
    read_addr(route_family, mnl_attr_get_payload(a), p.gw4, p.gw6);
    return;
  }
  // struct rtvia: a 16-bit family, then the address.
  const uint16_t len = mnl_attr_get_payload_len(a);
  const auto* b = static_cast<const uint8_t*>(mnl_attr_get_payload(a));
  if (len < 2) w.bad("RTA_VIA of {} bytes, less than its 2-byte family", len);
  uint16_t fam;
  std::memcpy(&fam, b, 2);
  if (fam != AF_INET && fam != AF_INET6) w.bad("RTA_VIA of family {}", fam);
  if (len != 2 + addr_len(uint8_t(fam)))
    w.bad("RTA_VIA of {} bytes, expected {} for family {}", len, 2 + addr_len(uint8_t(fam)), fam);
  p.gw_family = uint8_t(fam);
  read_addr(uint8_t(fam), b + 2, p.gw4, p.gw6);
}

// RTA_MULTIPATH: a sequence of struct rtnexthop, each followed by its own attributes.
std::vector<Path> read_multipath(const Where& w, const nlattr* mp, uint8_t family) {
  std::vector<Path> paths;
  const auto* base = static_cast<const char*>(mnl_attr_get_payload(mp));
  const size_t len = mnl_attr_get_payload_len(mp);
  size_t off = 0;
  while (off < len) {
    const size_t left = len - off;
    if (left < sizeof(rtnexthop))
      w.bad("RTA_MULTIPATH: {} stray bytes after next hop {}", left, paths.size());
    const auto* nh = reinterpret_cast<const rtnexthop*>(base + off);
    if (nh->rtnh_len < sizeof(rtnexthop) || nh->rtnh_len > left)
      w.bad("RTA_MULTIPATH next hop {}: rtnh_len {} (must be {}..{})", paths.size(), nh->rtnh_len,
            sizeof(rtnexthop), left);
    if (paths.size() == kMaxPaths) w.bad("RTA_MULTIPATH with more than {} next hops", kMaxPaths);
    if (nh->rtnh_ifindex < 0)
      w.bad("RTA_MULTIPATH next hop {}: ifindex {}", paths.size(), nh->rtnh_ifindex);
    Path p;
    p.ifindex = uint32_t(nh->rtnh_ifindex);
    p.weight = uint16_t(nh->rtnh_hops + 1);
    p.onlink = (nh->rtnh_flags & RTNH_F_ONLINK) != 0;
    walk_attrs(w, "RTA_MULTIPATH next hop", reinterpret_cast<const char*>(nh) + RTNH_LENGTH(0),
               nh->rtnh_len - sizeof(rtnexthop), [&](const nlattr* a) {
                 const uint16_t t = mnl_attr_get_type(a);
                 if (t == RTA_GATEWAY || t == RTA_VIA) read_gateway(w, a, family, p);
               });
    paths.push_back(p);
    off += RTNH_ALIGN(nh->rtnh_len);
  }
  if (paths.empty()) w.bad("RTA_MULTIPATH with no next hop");
  return paths;
}

void decode_route(const Where& w, const nlmsghdr* nlh, std::vector<Message>& out) {
  if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(rtmsg))
    w.bad("nlmsg_len {}, too short for struct rtmsg", nlh->nlmsg_len);
  const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(nlh));
  if (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6) {
    out.emplace_back(IgnoredMsg{w.type, fmt::format("route of family {}", rtm->rtm_family)});
    return;
  }
  // Source-specific routes (IPv6 src-dest) are a lookup routerd does not have.
  if (rtm->rtm_src_len != 0) {
    out.emplace_back(IgnoredMsg{
        w.type, fmt::format("source-specific route (rtm_src_len {})", rtm->rtm_src_len)});
    return;
  }
  RouteMsg r;
  r.add = w.type == RTM_NEWROUTE;
  r.family = rtm->rtm_family;
  r.type = rtm->rtm_type;
  r.protocol = rtm->rtm_protocol;
  r.table = rtm->rtm_table;
  const unsigned max_len = r.family == AF_INET ? 32 : 128;
  if (rtm->rtm_dst_len > max_len)
    w.bad("prefix length {}, more than {}", rtm->rtm_dst_len, max_len);

  bool have_dst = false, single = false;
  Ipv4 dst4;
  Ipv6 dst6;
  Path one;
  walk_attrs(w, "route", reinterpret_cast<const char*>(rtm) + MNL_ALIGN(sizeof(rtmsg)),
             nlh->nlmsg_len - MNL_NLMSG_HDRLEN - MNL_ALIGN(sizeof(rtmsg)), [&](const nlattr* a) {
               switch (mnl_attr_get_type(a)) {
                 case RTA_DST:
                   need_addr(w, a, "RTA_DST", r.family);
                   read_addr(r.family, mnl_attr_get_payload(a), dst4, dst6);
                   have_dst = true;
                   break;
                 case RTA_GATEWAY:
                 case RTA_VIA:
                   read_gateway(w, a, r.family, one);
                   single = true;
                   break;
                 case RTA_OIF:
                   need_u32(w, a, "RTA_OIF");
                   one.ifindex = mnl_attr_get_u32(a);
                   single = true;
                   break;
                 case RTA_PRIORITY:
                   need_u32(w, a, "RTA_PRIORITY");
                   r.priority = mnl_attr_get_u32(a);
                   break;
                 case RTA_TABLE:
                   need_u32(w, a, "RTA_TABLE");
                   r.table = mnl_attr_get_u32(a);
                   break;
                 case RTA_NH_ID:
                   need_u32(w, a, "RTA_NH_ID");
                   r.nh_id = mnl_attr_get_u32(a);
                   if (r.nh_id == 0) w.bad("RTA_NH_ID 0");
                   break;
                 case RTA_MULTIPATH:
                   r.paths = read_multipath(w, a, r.family);
                   break;
                 case RTA_METRICS:
                   walk_attrs(w, "RTA_METRICS", mnl_attr_get_payload(a),
                              mnl_attr_get_payload_len(a), [&](const nlattr* m) {
                                if (mnl_attr_get_type(m) != RTAX_MTU) return;
                                need_u32(w, m, "RTAX_MTU");
                                r.mtu = mnl_attr_get_u32(m);
                              });
                   break;
                 default:
                   break;  // RTA_PREF and the like: nothing routerd uses
               }
             });
  if (rtm->rtm_dst_len > 0 && !have_dst)
    w.bad("prefix length {} without RTA_DST", rtm->rtm_dst_len);
  if (r.family == AF_INET) {
    r.prefix4 = Prefix4{dst4, rtm->rtm_dst_len};
    if ((dst4.v & ~prefix_mask(rtm->rtm_dst_len)) != 0)
      w.bad("RTA_DST {} has bits set past /{}", dst4.str(), rtm->rtm_dst_len);
  } else {
    r.prefix6 = Prefix6{dst6, rtm->rtm_dst_len};
    if (ipv6_mask(dst6, rtm->rtm_dst_len) != dst6)
      w.bad("RTA_DST {} has bits set past /{}", dst6.str(), rtm->rtm_dst_len);
  }
  if (single) {
    if (!r.paths.empty()) w.bad("RTA_MULTIPATH together with RTA_GATEWAY, RTA_VIA or RTA_OIF");
    one.onlink = (rtm->rtm_flags & RTNH_F_ONLINK) != 0;
    r.paths.push_back(one);
  }
  out.emplace_back(std::move(r));
}

void decode_nexthop(const Where& w, const nlmsghdr* nlh, std::vector<Message>& out) {
  if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(nhmsg))
    w.bad("nlmsg_len {}, too short for struct nhmsg", nlh->nlmsg_len);
  const auto* nhm = static_cast<const nhmsg*>(mnl_nlmsg_get_payload(nlh));
  NexthopMsg n;
  n.add = w.type == RTM_NEWNEXTHOP;
  n.family = nhm->nh_family;
  n.protocol = nhm->nh_protocol;
  n.onlink = (nhm->nh_flags & RTNH_F_ONLINK) != 0;
  bool have_id = false, have_group = false, fdb = false;
  walk_attrs(w, "next hop", reinterpret_cast<const char*>(nhm) + MNL_ALIGN(sizeof(nhmsg)),
             nlh->nlmsg_len - MNL_NLMSG_HDRLEN - MNL_ALIGN(sizeof(nhmsg)), [&](const nlattr* a) {
               switch (mnl_attr_get_type(a)) {
                 case NHA_ID:
                   need_u32(w, a, "NHA_ID");
                   n.id = mnl_attr_get_u32(a);
                   have_id = true;
                   break;
                 case NHA_GROUP: {
                   const size_t len = mnl_attr_get_payload_len(a);
                   if (len % sizeof(nexthop_grp) != 0)
                     w.bad("NHA_GROUP of {} bytes, not a multiple of {} (struct nexthop_grp)", len,
                           sizeof(nexthop_grp));
                   const size_t count = len / sizeof(nexthop_grp);
                   if (count == 0 || count > kMaxPaths)
                     w.bad("NHA_GROUP of {} members (must be 1..{})", count, kMaxPaths);
                   const auto* g = static_cast<const nexthop_grp*>(mnl_attr_get_payload(a));
                   n.group.clear();
                   for (size_t i = 0; i < count; ++i) {
                     if (g[i].id == 0) w.bad("NHA_GROUP member {} has id 0", i);
                     for (size_t j = 0; j < i; ++j)
                       if (g[j].id == g[i].id) w.bad("NHA_GROUP lists id {} twice", g[i].id);
                     n.group.push_back({g[i].id, uint16_t(g[i].weight + 1)});
                   }
                   have_group = true;
                   break;
                 }
                 case NHA_GROUP_TYPE:
                   if (mnl_attr_validate(a, MNL_TYPE_U16) < 0)
                     w.bad("NHA_GROUP_TYPE of {} bytes, expected 2", mnl_attr_get_payload_len(a));
                   // Resilient groups pin flows to buckets routerd does not keep: refused rather
                   // than silently treated as plain multipath.
                   if (mnl_attr_get_u16(a) != NEXTHOP_GRP_TYPE_MPATH)
                     w.bad("NHA_GROUP_TYPE {} (only {}, multipath, is supported)",
                           mnl_attr_get_u16(a), int(NEXTHOP_GRP_TYPE_MPATH));
                   break;
                 case NHA_BLACKHOLE:
                   if (mnl_attr_validate(a, MNL_TYPE_FLAG) < 0)
                     w.bad("NHA_BLACKHOLE of {} bytes, expected 0", mnl_attr_get_payload_len(a));
                   n.blackhole = true;
                   break;
                 case NHA_OIF:
                   need_u32(w, a, "NHA_OIF");
                   n.ifindex = mnl_attr_get_u32(a);
                   break;
                 case NHA_GATEWAY: {
                   // FRR 8.4.4's zebra sent nh_family 0 with a gateway when it replayed to a
                   // restarted routerd (after learning next-hop groups from the kernel);
                   // refused, it reconnected and sent the same for ever. The gateway's
                   // length then says its family, the next hop's as well as the gateway's.
                   if (n.family == AF_UNSPEC) {
                     const size_t len = mnl_attr_get_payload_len(a);
                     n.family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : AF_UNSPEC;
                     if (n.family == AF_UNSPEC)
                       w.bad("NHA_GATEWAY of {} bytes in a next hop of family 0", len);
                   }
                   if (n.family != AF_INET && n.family != AF_INET6)
                     w.bad("NHA_GATEWAY in a next hop of family {}", n.family);
                   need_addr(w, a, "NHA_GATEWAY", n.family);
                   n.gw_family = n.family;
                   read_addr(n.family, mnl_attr_get_payload(a), n.gw4, n.gw6);
                   break;
                 }
                 case NHA_FDB:
                   fdb = true;
                   break;
                 default:
                   break;  // NHA_ENCAP and the like: nothing routerd uses
               }
             });
  if (!have_id || n.id == 0) w.bad("no NHA_ID, or NHA_ID 0");
  // Bridge FDB next hops (EVPN) are not routes.
  if (fdb) {
    out.emplace_back(IgnoredMsg{w.type, fmt::format("bridge FDB next hop {}", n.id)});
    return;
  }
  // The kernel's own rules (linux/nexthop.h): a group carries nothing else, a blackhole no
  // gateway or device, and any other next hop needs its device.
  if (have_group && (n.gw_family || n.ifindex || n.blackhole))
    w.bad("NHA_GROUP together with NHA_GATEWAY, NHA_OIF or NHA_BLACKHOLE");
  if (n.blackhole && (n.gw_family || n.ifindex))
    w.bad("NHA_BLACKHOLE together with NHA_GATEWAY or NHA_OIF");
  if (n.add && !have_group && !n.blackhole && n.ifindex == 0)
    w.bad("no NHA_GROUP, NHA_BLACKHOLE or NHA_OIF");
  out.emplace_back(std::move(n));
}

void decode_one(size_t index, const nlmsghdr* nlh, std::vector<Message>& out) {
  const Where w{index, nlh->nlmsg_type};
  switch (nlh->nlmsg_type) {
    case RTM_NEWROUTE:
    case RTM_DELROUTE:
      decode_route(w, nlh, out);
      break;
    case RTM_NEWNEXTHOP:
    case RTM_DELNEXTHOP:
      decode_nexthop(w, nlh, out);
      break;
    default:
      out.emplace_back(IgnoredMsg{nlh->nlmsg_type, "not a route or a next hop"});
      break;
  }
}

}  // namespace

void decode_frame(std::span<const uint8_t> payload, std::vector<Message>& out) {
  // Netlink structures are read in place and need 4-byte alignment; a frame handed over where
  // it lies in a receive buffer may start anywhere, and is then copied once.
  std::unique_ptr<uint32_t[]> copy;
  const char* base = reinterpret_cast<const char*>(payload.data());
  if (reinterpret_cast<uintptr_t>(base) % alignof(nlmsghdr) != 0) {
    copy.reset(new uint32_t[(payload.size() + 3) / 4]);
    std::memcpy(copy.get(), payload.data(), payload.size());
    base = reinterpret_cast<const char*>(copy.get());
  }
  const size_t before = out.size();
  try {
    if (payload.empty()) throw FpmError("fpm: frame with no netlink message");
    int left = int(payload.size());
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(base);
    for (size_t index = 0; left > 0; ++index) {
      if (left < int(sizeof(nlmsghdr)))
        throw FpmError(
            fmt::format("fpm: message {}: {} bytes left, less than a netlink header", index, left));
      // Not mnl_nlmsg_ok: libmnl 1.0.4 compares (int)nlmsg_len <= len, so a length of 2^31 or
      // more passes as negative and mnl_nlmsg_next then jumps gigabytes ahead (found by
      // fuzz-fpm within 300 executions).
      if (nlh->nlmsg_len < sizeof(nlmsghdr) || nlh->nlmsg_len > size_t(left))
        throw FpmError(
            fmt::format("fpm: message {}: nlmsg_len {} {}", index, nlh->nlmsg_len,
                        nlh->nlmsg_len < sizeof(nlmsghdr)
                            ? std::string("is less than the 16-byte header")
                            : fmt::format("runs past the end of the frame ({} bytes left)", left)));
      decode_one(index, nlh, out);
      nlh = mnl_nlmsg_next(nlh, &left);
    }
  } catch (...) {
    out.erase(out.begin() + std::ptrdiff_t(before), out.end());
    throw;
  }
}

}  // namespace routerd::fpm
