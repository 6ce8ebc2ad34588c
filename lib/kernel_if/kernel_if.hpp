// kernel_if: the kernel side of routerd's control-plane interfaces (one TAP per port, in a
// named network namespace), and the netlink calls that mirror a port's MAC, MTU, link state
// and addresses onto it. Control thread only; every call either completes or throws
// KernelError naming what failed, and nothing it created outlives its owner.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>

#include "inet.hpp"
#include "inet6.hpp"

// libmnl's and the kernel's types, declared at global scope: written first inside the class
// below, they would declare new types in routerd::kif that libmnl's functions do not take.
struct mnl_socket;
struct nlmsghdr;

namespace routerd::kif {

struct KernelError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A named network namespace as `ip netns` knows it (/run/netns/NAME). ensure_netns creates it
// when missing, so `ip netns exec NAME ...` and the daemons started there find it; routerd
// never deletes one (a daemon may be running in it). An empty name is routerd's own.
void ensure_netns(const std::string& name);

// Runs f on a short-lived thread that has entered namespace `netns` (empty: routerd's own),
// so sockets and TAP devices f creates belong to that namespace; the caller's thread never
// changes namespace. Rethrows what f throws.
void in_netns(const std::string& netns, const std::function<void()>& f);

// One TAP interface (IFF_TAP | IFF_NO_PI, non-blocking), created in a namespace. Closing
// it deletes the interface. Frames are whole Ethernet frames, without a trailing FCS.
class Tap {
 public:
  // Throws KernelError when the name is taken, too long (IFNAMSIZ), or the device cannot be
  // created. The interface starts down, with this MAC and MTU, IPv6 router-side behaviour
  // off (accept_ra 0, autoconf 0, no DAD, no kernel-generated link-local: routerd mirrors
  // its own) and ARP on.
  static Tap create(const std::string& netns, const std::string& name, const Mac& mac,
                    uint16_t mtu);
  Tap() = default;
  Tap(Tap&&) noexcept;
  Tap& operator=(Tap&&) noexcept;
  Tap(const Tap&) = delete;
  Tap& operator=(const Tap&) = delete;
  ~Tap();

  // One frame into buf: its length, 0 when none is waiting, or throws KernelError on a
  // device error (a frame longer than cap is dropped by the kernel and reads as cap).
  size_t read(void* buf, size_t cap);
  // Hands one frame to the kernel; false when its queue is full (EAGAIN) or the interface is
  // down (EIO) - the caller drops and counts - and throws KernelError on any other error
  // (a frame shorter than an Ethernet header, for one).
  bool write(const void* frame, size_t len);

  int fd() const { return fd_; }
  int ifindex() const { return ifindex_; }
  const std::string& name() const { return name_; }
  const std::string& netns() const { return netns_; }

 private:
  int fd_ = -1;
  int ifindex_ = 0;
  std::string name_, netns_;
};

// A route netlink socket (libmnl) opened in one namespace, for the interfaces there. Each
// call waits for the kernel's acknowledgement; an error reply throws KernelError with the
// kernel's reason (strerror) and what was asked.
class Rtnl {
 public:
  explicit Rtnl(const std::string& netns);
  ~Rtnl();
  Rtnl(const Rtnl&) = delete;
  Rtnl& operator=(const Rtnl&) = delete;

  // Taking the link down drops its IPv6 link-local addresses (the kernel keeps only global
  // ones, through keep_addr_on_down): re-add those after set_up(true). IPv6 addresses present
  // at set_up(true) are tentative for a moment (the kernel's DAD work, a no-op with NODAD,
  // runs from a work queue): until then the kernel neither uses nor answers for them.
  void set_up(int ifindex, bool up);
  void set_mtu(int ifindex, uint16_t mtu);
  void set_mac(int ifindex, const Mac& mac);
  // Addresses with their prefix length, as the port has them (host bits set). Adding one
  // that exists, or deleting one that does not, is not an error (mirroring is idempotent).
  // IPv6 ones are added with IFA_F_NODAD: routerd has done DAD on the wire itself.
  void add_addr(int ifindex, Ipv4 addr, uint8_t len);
  void del_addr(int ifindex, Ipv4 addr, uint8_t len);
  void add_addr(int ifindex, const Ipv6& addr, uint8_t len);
  void del_addr(int ifindex, const Ipv6& addr, uint8_t len);
  // The link-layer address of the kernel's IPv4 neighbour entry for addr on ifindex
  // (RTM_GETNEIGH), or nullopt when there is none or it has no address yet (incomplete,
  // failed). FRR's zebra keeps the peer's MAC of a BGP unnumbered session there, under
  // 169.254.0.1.
  std::optional<Mac> neighbour_mac(int ifindex, Ipv4 addr);

 private:
  struct mnl_socket* nl_ = nullptr;
  uint32_t seq_ = 0;
  uint32_t portid_ = 0;
  std::string netns_;
  // Sends one request and waits for its acknowledgement; throws with `what` unless the
  // kernel's error is 0, ok1 or ok2 (exchange returns that error instead of throwing).
  void request(struct nlmsghdr* nlh, const std::string& what);
  void request(struct nlmsghdr* nlh, const std::string& what, int ok1, int ok2);
  // With cb, each reply message before the acknowledgement goes to cb(nlh, data).
  int exchange(struct nlmsghdr* nlh, int (*cb)(const struct nlmsghdr*, void*) = nullptr,
               void* data = nullptr);
};

// A route netlink socket (libmnl) in one namespace that hears its IPv4 and IPv6 route and
// next-hop changes (and link and IPv4 address changes, which flush routes silently), non-blocking,
// with a receive buffer sized for a full table's burst (a smaller one overruns while BIRD loads a
// table, as VPP's linux-cp found). Dumps are asked for on the same socket, one at a time, so
// changes and dump answers arrive in the kernel's order.
class RouteMonitor {
 public:
  // rcvbuf: bytes asked for; as root past rmem_max (SO_RCVBUFFORCE), else what rmem_max
  // allows. Throws KernelError when the socket cannot be made or subscribed.
  RouteMonitor(const std::string& netns, int rcvbuf);
  ~RouteMonitor();
  RouteMonitor(const RouteMonitor&) = delete;
  RouteMonitor& operator=(const RouteMonitor&) = delete;

  // Asks for a dump: type RTM_GETROUTE (family AF_INET or AF_INET6) or RTM_GETNEXTHOP
  // (AF_UNSPEC). Its answers carry the returned sequence number and end in NLMSG_DONE (or
  // NLMSG_ERROR, for a kernel without next-hop objects).
  uint32_t request_dump(uint16_t type, uint8_t family);
  // One datagram of whole netlink messages into buf: its length, or 0 when nothing waits.
  // Sets overrun (and returns 0) when the kernel dropped notifications for want of buffer
  // (ENOBUFS): from then on only a new dump tells the table. Throws on other errors.
  size_t recv(void* buf, size_t cap, bool& overrun);
  int fd() const;
  int rcvbuf() const { return rcvbuf_; }  // what the kernel granted (it doubles the request)

 private:
  struct mnl_socket* nl_ = nullptr;
  uint32_t seq_ = 0;
  int rcvbuf_ = 0;
  std::string netns_;
};

}  // namespace routerd::kif
