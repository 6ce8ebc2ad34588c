// Control-plane interfaces ([control_plane], issue 16): each port gets a kernel TAP with its
// MAC, MTU, link state and addresses, so routing daemons (BGP, OSPF, BFD) and SSH run on the
// kernel's stack as if on the port. routerd stays the router: it answers ARP, NDP and echo
// itself, copies ARP and NDP to the kernel so that its stack resolves too, hands it only what
// the allow list names, and sends what the kernel sends out the port, both ways under a
// token bucket, so a flood to port 179 costs a bounded share of the control thread.
#include <fcntl.h>
#include <netinet/in.h>
#include <rte_arp.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <set>
#include <sstream>

#include "control.hpp"
#include "kernel_if.hpp"
#include "ndp.hpp"

namespace routerd {

struct Control::KernelIfs {
  struct Mirror {
    kif::Tap tap;
    // What the kernel was last given: changes are applied by difference (kernel_sync).
    std::set<std::pair<Ipv4, uint8_t>> v4;
    std::set<std::pair<Ipv6, uint8_t>> v6;
    uint16_t mtu = 0;
    bool up = false;
    bool synced = false;                      // link state and MTU given at least once
    uint64_t to_kernel = 0, from_kernel = 0;  // frames each way (link show; stats has totals)
  };
  std::string netns;
  bool follow_link = true;
  kif::Rtnl rtnl;
  std::vector<Mirror> ports;  // by index in ports_
  // The namespace's /proc/net/dev_mcast (opened there: a procfs net file shows the
  // namespace it was opened in), -1 when it could not be opened.
  int dev_mcast = -1;
  explicit KernelIfs(const std::string& ns) : netns(ns), rtnl(ns) {}
  ~KernelIfs() {
    if (dev_mcast >= 0) ::close(dev_mcast);
  }
  KernelIfs(const KernelIfs&) = delete;
  KernelIfs& operator=(const KernelIfs&) = delete;
};

namespace {

// The link-layer groups each interface joined, from dev_mcast's lines ("ifindex name users
// global 01005e000005"), for the interfaces in `ifindexes`: sorted, without duplicates.
std::vector<std::vector<Mac>> joined_groups(int fd, const std::vector<int>& ifindexes) {
  std::vector<std::vector<Mac>> out(ifindexes.size());
  std::string text;
  char buf[4096];
  ssize_t n = 0;
  if (::lseek(fd, 0, SEEK_SET) != 0) return out;
  while ((n = ::read(fd, buf, sizeof buf)) > 0 && text.size() < (1u << 20))
    text.append(buf, size_t(n));
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream f(line);
    int ifx = 0;
    std::string name, users, global, hex;
    if (!(f >> ifx >> name >> users >> global >> hex) || hex.size() != 12) continue;
    const auto it = std::find(ifindexes.begin(), ifindexes.end(), ifx);
    if (it == ifindexes.end()) continue;
    Mac m;
    bool ok = true;
    for (size_t i = 0; i < 6 && ok; ++i) {
      const auto [end, ec] =
          std::from_chars(hex.data() + 2 * i, hex.data() + 2 * i + 2, m.b[i], 16);
      ok = ec == std::errc() && end == hex.data() + 2 * i + 2;
    }
    if (ok) out[size_t(it - ifindexes.begin())].push_back(m);
  }
  for (auto& g : out) {
    std::sort(g.begin(), g.end(), [](const Mac& x, const Mac& y) { return x.b < y.b; });
    g.erase(std::unique(g.begin(), g.end()), g.end());
  }
  return out;
}

}  // namespace

void Control::KernelIfsFree::operator()(KernelIfs* k) const {
  delete k;
}

// The frames a kernel interface may have waiting are read a burst at a time per poll, so
// the control thread goes back to the punt ring between bursts.
constexpr int kFromKernelBurst = 32;

void Control::kernel_init(const Config& cfg) {
  cp_allow_ = cfg.cp_allow;
  to_kernel_limit_ = TokenBucket(cfg.cp_punt_rate, cfg.cp_punt_burst);
  from_kernel_limit_ = TokenBucket(cfg.cp_punt_rate, cfg.cp_punt_burst);
  if (!cfg.cp_enabled) return;
  const std::string where =
      cfg.cp_netns.empty() ? "routerd's namespace" : "namespace " + cfg.cp_netns;
  try {
    if (!cfg.cp_netns.empty()) kif::ensure_netns(cfg.cp_netns);
    std::unique_ptr<KernelIfs, KernelIfsFree> k(new KernelIfs(cfg.cp_netns));
    k->follow_link = cfg.cp_follow_link;
    // A new namespace's loopback is down, without 127.0.0.1 or ::1: daemons there (zebra's
    // FPM connection, vtysh) need it. Its index is 1 in every namespace.
    if (!cfg.cp_netns.empty()) k->rtnl.set_up(1, true);
    for (const auto& p : ports_) {
      k->ports.push_back(
          KernelIfs::Mirror{kif::Tap::create(cfg.cp_netns, p.ref.name, p.ref.mac, p.ref.mtu),
                            {},
                            {},
                            0,
                            false,
                            false,
                            0,
                            0});
    }
    // The groups the kernel joins on the interfaces (OSPF's, VRRP's...) are added to the
    // ports' multicast filters (kernel_sync), or a NIC with an exact filter drops them.
    kif::in_netns(cfg.cp_netns, [&] {
      k->dev_mcast = ::open("/proc/thread-self/net/dev_mcast", O_RDONLY | O_CLOEXEC);
    });
    if (k->dev_mcast < 0)
      spdlog::warn("control plane: cannot read the kernel interfaces' multicast groups: {}",
                   std::strerror(errno));
    kifs_ = std::move(k);
    for (const auto& m : kifs_->ports) kernel_fds_.push_back(m.tap.fd());
  } catch (const kif::KernelError& e) {
    throw std::runtime_error("control_plane: cannot create the kernel interfaces in " + where +
                             ": " + e.what());
  }
  std::string names;
  for (const auto& m : kifs_->ports) names += (names.empty() ? "" : ", ") + m.tap.name();
  spdlog::info("control plane: kernel interfaces {} in {}; allowed: {}", names, where, [&] {
    std::string a;
    for (const auto& n : cfg.cp_allow_names) a += (a.empty() ? "" : " ") + n;
    return a;
  }());
  kernel_sync();
}

void Control::kernel_sync() {
  if (!kifs_) return;
  for (size_t i = 0; i < kifs_->ports.size(); ++i) {
    const PortCtl& p = ports_[i];
    KernelIfs::Mirror& k = kifs_->ports[i];
    const int ifx = k.tap.ifindex();
    std::set<std::pair<Ipv4, uint8_t>> v4;
    for (const auto& pa : p.addrs) v4.insert({pa.addr, pa.subnet.len});
    std::set<std::pair<Ipv6, uint8_t>> v6;
    // Only addresses DAD has cleared: a tentative one is not the router's yet.
    if (assigned6(p.ref.id, p.ll)) v6.insert({p.ll, 64});
    for (const auto& pa : p.addrs6)
      if (assigned6(p.ref.id, pa.addr)) v6.insert({pa.addr, pa.subnet.len});
    const bool up = !kifs_->follow_link || (p.ref.port && p.ref.port->link_up());
    // The MTU first: addresses and routes the kernel derives then see the port's.
    if (!k.synced || k.mtu != p.ref.mtu) {
      kifs_->rtnl.set_mtu(ifx, p.ref.mtu);
      k.mtu = p.ref.mtu;
    }
    for (const auto& a : k.v4)
      if (!v4.count(a)) kifs_->rtnl.del_addr(ifx, a.first, a.second);
    for (const auto& a : v4)
      if (!k.v4.count(a)) kifs_->rtnl.add_addr(ifx, a.first, a.second);
    k.v4 = std::move(v4);
    if (!k.synced || k.up != up) {
      kifs_->rtnl.set_up(ifx, up);
      spdlog::info("control plane: {} {}", k.tap.name(), up ? "up" : "down");
      k.up = up;
      // Linux removes an interface's IPv6 addresses when it goes down (keep_addr_on_down 0).
      if (!up) k.v6.clear();
    }
    // IPv6 addresses only on an interface that is up, for the same reason.
    if (!up) v6.clear();
    for (const auto& a : k.v6)
      if (!v6.count(a)) kifs_->rtnl.del_addr(ifx, a.first, a.second);
    for (const auto& a : v6)
      if (!k.v6.count(a)) kifs_->rtnl.add_addr(ifx, a.first, a.second);
    k.v6 = std::move(v6);
    k.synced = true;
  }
  if (kifs_->dev_mcast < 0) return;
  std::vector<int> ifx;
  for (const auto& k : kifs_->ports) ifx.push_back(k.tap.ifindex());
  auto joined = joined_groups(kifs_->dev_mcast, ifx);
  for (size_t i = 0; i < kifs_->ports.size(); ++i)
    if (joined[i] != ports_[i].kernel_groups) {
      ports_[i].kernel_groups = std::move(joined[i]);
      sync_rx_groups(ports_[i]);
    }
}

bool Control::kernel_allows(uint8_t proto, uint16_t sport, uint16_t dport) const {
  if (proto == IPPROTO_ICMPV6) proto = IPPROTO_ICMP;
  for (const PuntRule& r : cp_allow_)
    if (r.proto == proto && (r.port == 0 || r.port == sport || r.port == dport)) return true;
  return false;
}

bool Control::kernel_copy(const rte_mbuf* m, uint16_t in_port, uint64_t now_ms) {
  const PortCtl* p = port_by_id(in_port);
  if (!kifs_ || !p || !kernel_mirrors(size_t(p - ports_.data()))) return false;
  KernelIfs::Mirror& k = kifs_->ports[size_t(p - ports_.data())];
  if (!to_kernel_limit_.take(now_ms)) {
    dp_.control_stats().count_drop(Drop::cp_rate_limited, in_port);
    return false;
  }
  // Slow-path packets are one segment (reassembled ones were copied into one).
  if (!k.tap.write(rte_pktmbuf_mtod(m, const void*), rte_pktmbuf_data_len(m))) {
    dp_.control_stats().count_drop(Drop::cp_kernel_full, in_port);
    return false;
  }
  event(Event::punt_kernel);
  ++k.to_kernel;
  return true;
}

void Control::to_kernel(rte_mbuf* m, uint16_t in_port, uint64_t now_ms) {
  kernel_copy(m, in_port, now_ms);
  rte_pktmbuf_free(m);
}

bool Control::kernel_takes(rte_mbuf* m, uint8_t proto, const uint8_t* l4, size_t l4_len,
                           uint16_t in_port, uint64_t now_ms) {
  if (!kifs_) return false;
  uint16_t sport = 0, dport = 0;
  if ((proto == IPPROTO_TCP || proto == IPPROTO_UDP) && l4_len >= 4) {
    sport = uint16_t(l4[0] << 8 | l4[1]);
    dport = uint16_t(l4[2] << 8 | l4[3]);
  }
  if (kernel_allows(proto, sport, dport)) {
    to_kernel(m, in_port, now_ms);
    return true;
  }
  // Not for the kernel: the caller answers as without control-plane interfaces (Port
  // Unreachable for UDP, nothing for TCP), counted apart so a scan shows.
  dp_.control_stats().count_drop(Drop::cp_denied, in_port);
  return false;
}

void Control::kernel_multicast(rte_mbuf* m, uint16_t in_port, uint64_t now_ms) {
  // Workers punt it only while the kernel interfaces are on, and they never go off.
  if (!kifs_) return drop(m, Drop::multicast_destination, in_port);
  // The worker checked that the IP header is in the first segment and the datagram whole.
  const size_t l3 = rte_pktmbuf_data_len(m) - RTE_ETHER_HDR_LEN;
  const uint8_t* ip = rte_pktmbuf_mtod_offset(m, const uint8_t*, RTE_ETHER_HDR_LEN);
  uint8_t proto;
  size_t hlen, total;
  if (rte_pktmbuf_mtod(m, const rte_ether_hdr*)->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV6)) {
    const auto* h = reinterpret_cast<const rte_ipv6_hdr*>(ip);
    proto = h->proto;
    hlen = sizeof(rte_ipv6_hdr);
    total = hlen + rte_be_to_cpu_16(h->payload_len);
  } else {
    const auto* h = reinterpret_cast<const rte_ipv4_hdr*>(ip);
    proto = h->next_proto_id;
    hlen = size_t(h->version_ihl & 0xf) * 4;
    total = rte_be_to_cpu_16(h->total_length);
    // A later fragment has no ports to match: only a port-less rule (ospf, vrrp) takes it.
    if (h->fragment_offset & RTE_BE16(RTE_IPV4_HDR_OFFSET_MASK)) total = hlen;
  }
  if (total > l3) return drop(m, Drop::local_unhandled, in_port);  // not in one segment
  // Not allowed: cp_denied (kernel_takes), as unicast for the router is. Not
  // multicast_destination: that is what the workers count with the interfaces off, and an
  // operator whose OSPF stays down wants to see its Hellos refused by the allow list.
  if (!kernel_takes(m, proto, ip + hlen, total - hlen, in_port, now_ms)) rte_pktmbuf_free(m);
}

bool Control::kernel_poll(uint64_t now_ms) {
  if (!kifs_) return false;
  bool busy = false;
  for (size_t i = 0; i < kifs_->ports.size(); ++i) {
    KernelIfs::Mirror& k = kifs_->ports[i];
    const PortCtl& p = ports_[i];
    for (int n = 0; n < kFromKernelBurst; ++n) {
      rte_mbuf* m = rte_pktmbuf_alloc(pool_);
      if (!m) {
        dp_.control_stats().drop[size_t(Drop::no_mbuf)].add();
        return busy;  // the frames wait in the kernel's queue (bounded by its txqueuelen)
      }
      const size_t room = rte_pktmbuf_tailroom(m);
      const size_t len = k.tap.read(rte_pktmbuf_mtod(m, void*), room);
      if (len == 0) {
        rte_pktmbuf_free(m);
        break;
      }
      busy = true;
      // The kernel knows the port's MTU (mirrored); a frame longer than it, or than a pool
      // buffer, or shorter than an Ethernet header, is not sent.
      if (len < RTE_ETHER_HDR_LEN || len >= room || len > size_t(p.ref.mtu) + RTE_ETHER_HDR_LEN) {
        dp_.control_stats().drop[size_t(Drop::cp_bad_frame)].add();
        rte_pktmbuf_free(m);
        continue;
      }
      rte_pktmbuf_append(m, uint16_t(len));
      const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
      // routerd answers ARP and Neighbor Solicitations for its addresses itself: the
      // kernel's answers (to the copies it was given) would be duplicates.
      bool suppress = false;
      if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_ARP) &&
          len >= RTE_ETHER_HDR_LEN + sizeof(rte_arp_hdr)) {
        const auto* arp = rte_pktmbuf_mtod_offset(m, const rte_arp_hdr*, RTE_ETHER_HDR_LEN);
        suppress = arp->arp_opcode == RTE_BE16(RTE_ARP_OP_REPLY);
      } else if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV6) &&
                 len >= RTE_ETHER_HDR_LEN + sizeof(rte_ipv6_hdr) + 1) {
        const auto* ip6 = rte_pktmbuf_mtod_offset(m, const rte_ipv6_hdr*, RTE_ETHER_HDR_LEN);
        const uint8_t type = *(reinterpret_cast<const uint8_t*>(ip6) + sizeof(rte_ipv6_hdr));
        suppress = ip6->proto == IPPROTO_ICMPV6 && type == nd::neighbor_advert;
      }
      if (suppress) {
        event(Event::from_kernel_suppressed);
        rte_pktmbuf_free(m);
        continue;
      }
      if (!from_kernel_limit_.take(now_ms)) {
        dp_.control_stats().count_drop(Drop::cp_from_kernel_limited, p.ref.id);
        rte_pktmbuf_free(m);
        continue;
      }
      event(Event::from_kernel);
      ++k.from_kernel;
      transmit(p.ref.id, m);
    }
  }
  return busy;
}

}  // namespace routerd

namespace routerd {

// Tunnels have none: they come after the ethdevs in ports_, which have one each.
bool Control::kernel_mirrors(size_t i) const {
  return kifs_ && i < kifs_->ports.size();
}

int Control::kernel_fd(size_t i) const {
  return kifs_->ports[i].tap.fd();
}

int Control::kernel_ifindex(size_t i) const {
  return kifs_->ports[i].tap.ifindex();
}

std::optional<Mac> Control::kernel_neighbour_mac(uint16_t port, Ipv4 addr) {
  if (!kifs_) return std::nullopt;
  for (size_t i = 0; i < ports_.size(); ++i)
    if (ports_[i].ref.id == port) return kifs_->rtnl.neighbour_mac(kernel_ifindex(i), addr);
  return std::nullopt;
}

nlohmann::json Control::kernel_json(uint16_t port) const {
  const PortCtl* p = port_by_id(port);
  if (!kifs_ || !p || !kernel_mirrors(size_t(p - ports_.data()))) return nullptr;
  const KernelIfs::Mirror& k = kifs_->ports[size_t(p - ports_.data())];
  return {{"name", k.tap.name()},
          {"ifindex", k.tap.ifindex()},
          {"netns", kifs_->netns},
          {"link", k.up ? "up" : "down"},
          {"addresses", k.v4.size() + k.v6.size()},
          {"to_kernel", k.to_kernel},
          {"from_kernel", k.from_kernel}};
}

}  // namespace routerd
