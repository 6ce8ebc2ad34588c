#include "kernel_if.hpp"

// <net/if.h> must come before any <linux/...> header that pulls in <linux/if.h> (glibc and
// the kernel headers then agree not to define struct ifreq twice); a block of its own keeps
// clang-format's include sorting from moving it.
#include <net/if.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_arp.h>
#include <linux/if_tun.h>
#include <linux/magic.h>
#include <linux/neighbour.h>
#include <linux/nexthop.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <exception>
#include <thread>
#include <utility>

namespace routerd::kif {

namespace {

constexpr const char* kNetnsDir = "/run/netns";

[[noreturn]] void fail(const std::string& what, int err) {
  throw KernelError(what + ": " + std::strerror(err));
}

// Closes a descriptor on every exit path of the functions below, so a half-made Tap (whose
// interface lives exactly as long as its descriptor) never outlives the throw.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  int release() { return std::exchange(fd, -1); }
};

// The name becomes a path under /run/netns: anything that could leave that directory, or
// that `ip netns` itself would refuse, is refused before a file is touched.
void check_netns_name(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
      name.find('\0') != std::string::npos || name.size() > 255)
    throw KernelError("netns name '" + name + "' is not valid (1-255 characters, no '/')");
}

std::string netns_path(const std::string& name) {
  return std::string(kNetnsDir) + "/" + name;
}

bool is_netns_mount(const std::string& path) {
  struct statfs sf {};
  return ::statfs(path.c_str(), &sf) == 0 &&
         sf.f_type == static_cast<decltype(sf.f_type)>(NSFS_MAGIC);
}

// /run/netns must be a shared mount point, as iproute2 makes it: a namespace mounted here
// then shows in every mount namespace that shares it (daemons started with `ip netns exec`
// in another mount namespace still find it). A directory that is not yet a mount point is
// bind-mounted onto itself first (EINVAL from the first try says exactly that).
void make_netns_dir() {
  if (::mkdir(kNetnsDir, 0755) != 0 && errno != EEXIST)
    fail(std::string("mkdir ") + kNetnsDir, errno);
  if (::mount("", kNetnsDir, "none", MS_SHARED | MS_REC, nullptr) == 0) return;
  if (errno != EINVAL) fail(std::string("mount --make-rshared ") + kNetnsDir, errno);
  if (::mount(kNetnsDir, kNetnsDir, "none", MS_BIND | MS_REC, nullptr) != 0)
    fail(std::string("mount --bind ") + kNetnsDir, errno);
  if (::mount("", kNetnsDir, "none", MS_SHARED | MS_REC, nullptr) != 0)
    fail(std::string("mount --make-rshared ") + kNetnsDir, errno);
}

// Interface names as the kernel's dev_valid_name() takes them, minus '%' (which would ask
// the kernel to pick a number, and the Tap would not have the name it was given).
void check_ifname(const std::string& name) {
  bool ok = !name.empty() && name.size() < IFNAMSIZ && name != "." && name != "..";
  for (char c : name)
    if (c == '/' || c == ':' || c == '%' || c == '\0' ||
        std::isspace(static_cast<unsigned char>(c)))
      ok = false;
  if (!ok)
    throw KernelError("interface name '" + name + "' is not valid (1-" +
                      std::to_string(IFNAMSIZ - 1) + " characters, no '/', ':', '%' or space)");
}

// Written from a thread inside the namespace: /proc/sys/net shows the namespace of the task
// that opens the file.
void write_sysctl(const std::string& path, const char* value) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (fd.fd < 0) fail("open " + path, errno);
  const size_t len = std::strlen(value);
  if (::write(fd.fd, value, len) != static_cast<ssize_t>(len)) fail("write " + path, errno);
}

std::string describe(int ifindex, const std::string& addr, uint8_t len) {
  return addr + "/" + std::to_string(len) + " on ifindex " + std::to_string(ifindex);
}

}  // namespace

void ensure_netns(const std::string& name) {
  if (name.empty()) return;  // routerd's own namespace always exists
  check_netns_name(name);
  make_netns_dir();
  const std::string path = netns_path(name);
  if (is_netns_mount(path)) return;
  // A plain file left by a crash between create and mount is reused; O_EXCL would refuse it
  // and leave the name unusable until someone removed it by hand.
  const bool existed = ::access(path.c_str(), F_OK) == 0;
  {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0));
    if (fd.fd < 0) fail("create " + path, errno);
  }
  // unshare() moves only the calling thread: a helper thread takes the new namespace, pins
  // it with the bind mount and exits, so routerd's threads stay where they are.
  int err = 0;
  std::string step;
  std::thread t([&] {
    if (::unshare(CLONE_NEWNET) != 0) {
      err = errno;
      step = "unshare(CLONE_NEWNET)";
    } else if (::mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) != 0) {
      err = errno;
      step = "mount --bind /proc/thread-self/ns/net " + path;
    }
  });
  t.join();
  if (err != 0) {
    if (!existed) ::unlink(path.c_str());
    fail("netns " + name + ": " + step, err);
  }
}

void in_netns(const std::string& netns, const std::function<void()>& f) {
  if (netns.empty()) {
    f();
    return;
  }
  check_netns_name(netns);
  const std::string path = netns_path(netns);
  std::exception_ptr error;
  // setns() changes only the calling thread, and a thread that has entered another
  // namespace must not go back to serving routerd: a fresh one enters, works, and ends.
  std::thread t([&] {
    try {
      Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (fd.fd < 0) fail("netns " + netns + ": open " + path, errno);
      if (::setns(fd.fd, CLONE_NEWNET) != 0) fail("netns " + netns + ": setns " + path, errno);
      f();
    } catch (...) {
      error = std::current_exception();
    }
  });
  t.join();
  if (error) std::rethrow_exception(error);
}

Tap Tap::create(const std::string& netns, const std::string& name, const Mac& mac, uint16_t mtu) {
  check_ifname(name);
  Tap tap;
  tap.name_ = name;
  tap.netns_ = netns;
  const std::string where = "tap " + name + (netns.empty() ? "" : " in netns " + netns);
  in_netns(netns, [&] {
    if (::if_nametoindex(name.c_str()) != 0) throw KernelError(where + ": name is taken");
    Fd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
    if (fd.fd < 0) fail(where + ": open /dev/net/tun", errno);
    struct ifreq ifr {};
    // IFF_TUN_EXCL closes the race with another creator after the check above: the kernel
    // refuses (EBUSY) instead of attaching us to someone else's interface.
    ifr.ifr_flags = static_cast<short>(IFF_TAP | IFF_NO_PI | IFF_TUN_EXCL);
    std::memcpy(ifr.ifr_name, name.c_str(), name.size());
    if (::ioctl(fd.fd, TUNSETIFF, &ifr) != 0)
      fail(where + ": TUNSETIFF", errno == EBUSY ? EEXIST : errno);

    // From here the interface exists; any throw closes fd, which deletes it.
    Fd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (sock.fd < 0) fail(where + ": socket", errno);
    struct ifreq req {};
    std::memcpy(req.ifr_name, name.c_str(), name.size());
    req.ifr_hwaddr.sa_family = ARPHRD_ETHER;
    std::memcpy(req.ifr_hwaddr.sa_data, mac.b.data(), mac.b.size());
    if (::ioctl(sock.fd, SIOCSIFHWADDR, &req) != 0) fail(where + ": set MAC " + mac.str(), errno);
    req.ifr_mtu = mtu;
    if (::ioctl(sock.fd, SIOCSIFMTU, &req) != 0)
      fail(where + ": set MTU " + std::to_string(mtu), errno);

    // Before the link is ever up: the kernel would otherwise make its own link-local, run
    // DAD and listen to router advertisements on a port whose addresses routerd owns.
    // keep_addr_on_down keeps the mirrored IPv6 addresses when the port's link goes down
    // (by default the kernel flushes them, and nothing would put them back on link up).
    const std::string conf = "/proc/sys/net/ipv6/conf/" + name + "/";
    write_sysctl(conf + "accept_ra", "0");
    write_sysctl(conf + "autoconf", "0");
    write_sysctl(conf + "dad_transmits", "0");
    write_sysctl(conf + "addr_gen_mode", "1");
    write_sysctl(conf + "keep_addr_on_down", "1");

    if (::ioctl(sock.fd, SIOCGIFINDEX, &req) != 0) fail(where + ": get ifindex", errno);
    tap.ifindex_ = req.ifr_ifindex;
    tap.fd_ = fd.release();
  });
  return tap;
}

Tap::Tap(Tap&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)),
      ifindex_(std::exchange(o.ifindex_, 0)),
      name_(std::move(o.name_)),
      netns_(std::move(o.netns_)) {}

Tap& Tap::operator=(Tap&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    ifindex_ = std::exchange(o.ifindex_, 0);
    name_ = std::move(o.name_);
    netns_ = std::move(o.netns_);
  }
  return *this;
}

// The TAP is not persistent (no TUNSETPERSIST): closing its last descriptor unregisters it.
Tap::~Tap() {
  if (fd_ >= 0) ::close(fd_);
}

size_t Tap::read(void* buf, size_t cap) {
  const ssize_t n = ::read(fd_, buf, cap);
  if (n >= 0) return static_cast<size_t>(n);
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
  fail("tap " + name_ + ": read", errno);
}

bool Tap::write(const void* frame, size_t len) {
  const ssize_t n = ::write(fd_, frame, len);
  if (n >= 0) return true;
  // EIO: the interface is down (the port's link is, and it is mirrored), so the kernel takes
  // nothing; that is a drop to count, like a full queue, not a device failure.
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == EIO) return false;
  fail("tap " + name_ + ": write", errno);
}

Rtnl::Rtnl(const std::string& netns) : netns_(netns) {
  // The socket keeps the namespace it was created in, whichever thread uses it later.
  in_netns(netns, [&] {
    nl_ = mnl_socket_open(NETLINK_ROUTE);
    if (nl_ == nullptr) fail("rtnl: socket", errno);
    if (mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0) {
      const int err = errno;
      mnl_socket_close(nl_);
      nl_ = nullptr;
      fail("rtnl: bind", err);
    }
  });
  portid_ = mnl_socket_get_portid(nl_);
  // The kernel always answers a request with NLM_F_ACK; the timeout only bounds a wait that
  // a kernel bug could make endless, on the control thread.
  struct timeval tv {
    5, 0
  };
  ::setsockopt(mnl_socket_get_fd(nl_), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  seq_ = static_cast<uint32_t>(::time(nullptr));
}

Rtnl::~Rtnl() {
  if (nl_ != nullptr) mnl_socket_close(nl_);
}

void Rtnl::request(struct nlmsghdr* nlh, const std::string& what) {
  request(nlh, what, 0, 0);
}

void Rtnl::request(struct nlmsghdr* nlh, const std::string& what, int ok1, int ok2) {
  const int err = exchange(nlh);
  if (err == 0 || err == ok1 || err == ok2) return;
  fail("rtnl: " + what + (netns_.empty() ? "" : " in netns " + netns_), err);
}

int Rtnl::exchange(struct nlmsghdr* nlh, int (*cb)(const struct nlmsghdr*, void*), void* data) {
  nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  nlh->nlmsg_seq = ++seq_;
  if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) return errno;
  // An acknowledgement is an nlmsgerr plus the echoed request (under 1 KiB here); 8 KiB is
  // MNL_SOCKET_BUFFER_SIZE on 4 KiB pages, which libmnl computes at run time.
  alignas(NLMSG_ALIGNTO) std::array<char, 8192> buf{};
  for (;;) {
    const ssize_t n = mnl_socket_recvfrom(nl_, buf.data(), buf.size());
    if (n < 0) return errno;
    // MNL_CB_STOP is the acknowledgement; an error reply comes back as MNL_CB_ERROR with
    // errno set to the kernel's reason. ESRCH is a reply to an older sequence number (a
    // request whose wait timed out): skip it and keep waiting for ours.
    const int ret =
        mnl_cb_run(buf.data(), static_cast<size_t>(n), nlh->nlmsg_seq, portid_, cb, data);
    if (ret == MNL_CB_STOP) return 0;
    if (ret == MNL_CB_ERROR && errno != ESRCH) return errno;
  }
}

namespace {

// One request's buffer, sized for the largest message built here.
struct Msg {
  std::array<char, 512> buf{};
  struct nlmsghdr* nlh;
  explicit Msg(uint16_t type, uint16_t flags = 0) : nlh(mnl_nlmsg_put_header(buf.data())) {
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = flags;
  }
};

struct ifinfomsg* link_msg(Msg& m, int ifindex) {
  auto* ifi = static_cast<struct ifinfomsg*>(mnl_nlmsg_put_extra_header(m.nlh, sizeof(ifinfomsg)));
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex;
  return ifi;
}

void addr_msg(Msg& m, int family, int ifindex, uint8_t len, const void* addr, size_t alen) {
  auto* ifa = static_cast<struct ifaddrmsg*>(mnl_nlmsg_put_extra_header(m.nlh, sizeof(ifaddrmsg)));
  ifa->ifa_family = static_cast<uint8_t>(family);
  ifa->ifa_prefixlen = len;
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  ifa->ifa_index = static_cast<uint32_t>(ifindex);
  // IFA_LOCAL is the address itself, IFA_ADDRESS the peer (the same on a broadcast link),
  // as `ip addr add` sends them.
  mnl_attr_put(m.nlh, IFA_LOCAL, alen, addr);
  mnl_attr_put(m.nlh, IFA_ADDRESS, alen, addr);
}

}  // namespace

void Rtnl::set_up(int ifindex, bool up) {
  Msg m(RTM_NEWLINK);
  auto* ifi = link_msg(m, ifindex);
  ifi->ifi_change = IFF_UP;
  ifi->ifi_flags = up ? IFF_UP : 0;
  request(m.nlh, std::string("set link ") + (up ? "up" : "down") + " on ifindex " +
                     std::to_string(ifindex));
}

void Rtnl::set_mtu(int ifindex, uint16_t mtu) {
  Msg m(RTM_NEWLINK);
  link_msg(m, ifindex);
  mnl_attr_put_u32(m.nlh, IFLA_MTU, mtu);
  request(m.nlh, "set MTU " + std::to_string(mtu) + " on ifindex " + std::to_string(ifindex));
}

void Rtnl::set_mac(int ifindex, const Mac& mac) {
  Msg m(RTM_NEWLINK);
  link_msg(m, ifindex);
  mnl_attr_put(m.nlh, IFLA_ADDRESS, mac.b.size(), mac.b.data());
  request(m.nlh, "set MAC " + mac.str() + " on ifindex " + std::to_string(ifindex));
}

void Rtnl::add_addr(int ifindex, Ipv4 addr, uint8_t len) {
  if (len > 32)
    throw KernelError("rtnl: add " + describe(ifindex, addr.str(), len) + ": bad length");
  const uint32_t a = htonl(addr.v);
  Msg m(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
  addr_msg(m, AF_INET, ifindex, len, &a, sizeof a);
  // The subnet's broadcast address, as `ip addr add ... brd +` sets it: the kernel does not
  // derive one, and without it a directed broadcast to the link is not taken as local.
  if (len <= 30) mnl_attr_put_u32(m.nlh, IFA_BROADCAST, htonl(addr.v | ~prefix_mask(len)));
  request(m.nlh, "add " + describe(ifindex, addr.str(), len), EEXIST, 0);
}

std::optional<Mac> Rtnl::neighbour_mac(int ifindex, Ipv4 addr) {
  Msg m(RTM_GETNEIGH);
  auto* nd = static_cast<struct ndmsg*>(mnl_nlmsg_put_extra_header(m.nlh, sizeof(ndmsg)));
  nd->ndm_family = AF_INET;
  nd->ndm_ifindex = ifindex;
  mnl_attr_put_u32(m.nlh, NDA_DST, htonl(addr.v));
  struct Found {
    std::optional<Mac> mac;
  } found;
  auto cb = [](const struct nlmsghdr* reply, void* data) -> int {
    if (reply->nlmsg_type != RTM_NEWNEIGH) return MNL_CB_OK;
    const auto* n = static_cast<const struct ndmsg*>(mnl_nlmsg_get_payload(reply));
    if (n->ndm_state & (NUD_INCOMPLETE | NUD_FAILED)) return MNL_CB_OK;
    auto attr = [](const struct nlattr* a, void* d) -> int {
      if (mnl_attr_get_type(a) == NDA_LLADDR && mnl_attr_get_payload_len(a) == 6) {
        Mac mac;
        std::memcpy(mac.b.data(), mnl_attr_get_payload(a), 6);
        static_cast<Found*>(d)->mac = mac;
      }
      return MNL_CB_OK;
    };
    mnl_attr_parse(reply, sizeof(ndmsg), attr, data);
    return MNL_CB_OK;
  };
  const int err = exchange(m.nlh, cb, &found);
  if (err == ENOENT) return std::nullopt;
  if (err != 0)
    fail("rtnl: get neighbour " + describe(ifindex, addr.str(), 32) +
             (netns_.empty() ? "" : " in netns " + netns_),
         err);
  return found.mac;
}

void Rtnl::del_addr(int ifindex, Ipv4 addr, uint8_t len) {
  if (len > 32)
    throw KernelError("rtnl: del " + describe(ifindex, addr.str(), len) + ": bad length");
  const uint32_t a = htonl(addr.v);
  Msg m(RTM_DELADDR);
  addr_msg(m, AF_INET, ifindex, len, &a, sizeof a);
  request(m.nlh, "del " + describe(ifindex, addr.str(), len), EADDRNOTAVAIL, ENOENT);
}

void Rtnl::add_addr(int ifindex, const Ipv6& addr, uint8_t len) {
  if (len > 128)
    throw KernelError("rtnl: add " + describe(ifindex, addr.str(), len) + ": bad length");
  Msg m(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
  addr_msg(m, AF_INET6, ifindex, len, addr.b.data(), addr.b.size());
  // IFA_F_NODAD only fits in the 8-bit ifa_flags too, but the kernel reads IFA_FLAGS when
  // present, and that is where flags beyond 8 bits would have to go.
  mnl_attr_put_u32(m.nlh, IFA_FLAGS, IFA_F_NODAD);
  request(m.nlh, "add " + describe(ifindex, addr.str(), len), EEXIST, 0);
}

void Rtnl::del_addr(int ifindex, const Ipv6& addr, uint8_t len) {
  if (len > 128)
    throw KernelError("rtnl: del " + describe(ifindex, addr.str(), len) + ": bad length");
  Msg m(RTM_DELADDR);
  addr_msg(m, AF_INET6, ifindex, len, addr.b.data(), addr.b.size());
  request(m.nlh, "del " + describe(ifindex, addr.str(), len), EADDRNOTAVAIL, ENOENT);
}

RouteMonitor::RouteMonitor(const std::string& netns, int rcvbuf) : netns_(netns) {
  const std::string where = "route monitor" + (netns.empty() ? "" : " in netns " + netns);
  in_netns(netns, [&] {
    nl_ = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (nl_ == nullptr) fail(where + ": socket", errno);
  });
  const int fd = mnl_socket_get_fd(nl_);
  try {
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0 &&
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) != 0)
      fail(where + ": SO_RCVBUF", errno);
    socklen_t len = sizeof rcvbuf_;
    ::getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf_, &len);
    if (mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0) fail(where + ": bind", errno);
    // Links and IPv4 addresses too: the kernel removes IPv4 routes through a link that goes
    // down, or an address that goes, without a notification of its own.
    for (unsigned group :
         {unsigned(RTNLGRP_IPV4_ROUTE), unsigned(RTNLGRP_IPV6_ROUTE), unsigned(RTNLGRP_NEXTHOP),
          unsigned(RTNLGRP_LINK), unsigned(RTNLGRP_IPV4_IFADDR)})
      if (mnl_socket_setsockopt(nl_, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0)
        fail(where + ": join group " + std::to_string(group), errno);
  } catch (...) {
    mnl_socket_close(nl_);
    throw;
  }
  seq_ = static_cast<uint32_t>(::time(nullptr));
}

RouteMonitor::~RouteMonitor() {
  if (nl_ != nullptr) mnl_socket_close(nl_);
}

int RouteMonitor::fd() const {
  return mnl_socket_get_fd(nl_);
}

uint32_t RouteMonitor::request_dump(uint16_t type, uint8_t family) {
  Msg m(type, NLM_F_REQUEST | NLM_F_DUMP);
  m.nlh->nlmsg_seq = ++seq_;
  if (type == RTM_GETNEXTHOP) {
    auto* nh = static_cast<struct nhmsg*>(mnl_nlmsg_put_extra_header(m.nlh, sizeof(nhmsg)));
    nh->nh_family = family;
  } else {
    auto* rtm = static_cast<struct rtmsg*>(mnl_nlmsg_put_extra_header(m.nlh, sizeof(rtmsg)));
    rtm->rtm_family = family;
  }
  if (mnl_socket_sendto(nl_, m.nlh, m.nlh->nlmsg_len) < 0)
    fail("route monitor: dump request", errno);
  return seq_;
}

size_t RouteMonitor::recv(void* buf, size_t cap, bool& overrun) {
  overrun = false;
  for (;;) {
    const ssize_t n = mnl_socket_recvfrom(nl_, buf, cap);
    if (n >= 0) return size_t(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    if (errno == ENOBUFS) {
      overrun = true;
      return 0;
    }
    fail("route monitor: recv", errno);
  }
}

}  // namespace routerd::kif
