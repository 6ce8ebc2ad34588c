#include "rib_warm.hpp"

#include <rte_errno.h>
#include <rte_prefetch.h>
#include <spdlog/spdlog.h>

#include <array>
#include <cstring>

#include "fib.hpp"
#include "inet.hpp"
#include "inet6.hpp"

namespace routerd {

namespace {

// rte_rib.c's private node, unchanged from DPDK 19.11 to 24.11. Read through this view
// only after check_layout() has matched it against the public accessors.
struct NodeView {
  const NodeView* left;
  const NodeView* right;
  const NodeView* parent;
  uint32_t ip;
  uint8_t depth;
  uint8_t flag;
  uint64_t nh;
};

const NodeView* view(const rte_rib_node* n) {
  return reinterpret_cast<const NodeView*>(n);
}

uint32_t mask(uint8_t depth) {
  return depth == 0 ? 0 : ~uint32_t(0) << (32 - depth);
}

// The trie root, found through public calls: any node near the top, then parents.
const NodeView* root_of(rte_rib* rib) {
  rte_rib_node* n = rte_rib_get_nxt(rib, 0, 0, nullptr, RTE_RIB_GET_NXT_COVER);
  if (!n) n = rte_rib_lookup_exact(rib, 0, 0);
  const NodeView* v = n ? view(n) : nullptr;
  while (v && v->parent) v = v->parent;
  return v;
}

// The node rte_rib_lookup_exact finds, walked through the view (check_layout compares them).
const NodeView* exact(const NodeView* cur, uint32_t ip, uint8_t len) {
  while (cur) {
    if (cur->ip == ip && cur->depth == len && (cur->flag & 1)) return cur;
    if (cur->depth >= len || ((ip ^ cur->ip) & mask(cur->depth))) return nullptr;
    cur = ip & (1u << (31 - cur->depth)) ? cur->right : cur->left;
  }
  return nullptr;
}

// rte_fib's scan below a prefix (rte_rib(6)_get_nxt, COVER) goes down to the first route on
// each branch: those nodes, a level per round, from the children in front[0..nf). front and
// next hold kSubtreeNodes each and swap as pointers.
template <class Node, size_t kMax, class Fetch>
void warm_subtrees(const Node** front, const Node** next, size_t nf, Fetch fetch) {
  while (nf) {
    size_t nn = 0;
    for (size_t i = 0; i < nf; ++i) {
      const Node* c = front[i];
      if (c->flag & 1) continue;
      for (const Node* k : {c->left, c->right})
        if (k && nn < kMax) {
          fetch(k);
          next[nn++] = k;
        }
    }
    std::swap(front, next);
    nf = nn;
  }
}

}  // namespace

bool RibWarmer::check_layout() {
  // A scratch RIB with known routes: every field the walk reads must agree with rte_rib's
  // own accessors, and a walk through the view must find the nodes rte_rib finds.
  static constexpr std::array<std::pair<const char*, uint8_t>, 9> kRoutes = {{
      {"0.0.0.0", 0},
      {"10.0.0.0", 8},
      {"10.1.0.0", 16},
      {"10.1.2.0", 24},
      {"10.1.2.128", 25},
      {"10.1.3.7", 32},
      {"192.168.0.0", 16},
      {"192.168.128.0", 17},
      {"255.255.255.255", 32},
  }};
  rte_rib_conf conf{};
  conf.max_nodes = 64;
  // Short: rte_rib names its mempool "MP_" + name, and mempool names hold 25 characters.
  rte_rib* rib = rte_rib_create("fibwarmchk", SOCKET_ID_ANY, &conf);
  if (!rib) {
    spdlog::warn("fib: cannot create the scratch RIB for the layout check: {}",
                 rte_strerror(rte_errno));
    return false;
  }
  bool ok = true;
  for (size_t i = 0; i < kRoutes.size() && ok; ++i) {
    uint32_t ip = Ipv4::parse(kRoutes[i].first)->v;
    rte_rib_node* n = rte_rib_insert(rib, ip, kRoutes[i].second);
    ok = n && rte_rib_set_nh(n, 1000 + i) == 0;
  }
  for (size_t i = 0; i < kRoutes.size() && ok; ++i) {
    uint32_t ip = Ipv4::parse(kRoutes[i].first)->v;
    uint8_t len = kRoutes[i].second;
    rte_rib_node* n = rte_rib_lookup_exact(rib, ip, len);
    uint32_t got_ip = 0;
    uint8_t got_len = 0;
    uint64_t got_nh = 0;
    ok = n && rte_rib_get_ip(n, &got_ip) == 0 && rte_rib_get_depth(n, &got_len) == 0 &&
         rte_rib_get_nh(n, &got_nh) == 0 && view(n)->ip == got_ip && view(n)->depth == got_len &&
         view(n)->nh == got_nh && got_nh == 1000 + i && (view(n)->flag & 1) &&
         exact(root_of(rib), ip, len) == view(n);
    // The parent link the root search follows: rte_rib_lookup_parent is the nearest
    // ancestor holding a route, reached through the same links.
    if (ok) {
      const NodeView* p = view(n)->parent;
      while (p && !(p->flag & 1)) p = p->parent;
      ok = p == view(rte_rib_lookup_parent(n));
    }
  }
  rte_rib_free(rib);
  return ok;
}

bool RibWarmer::enabled() {
  static const bool on = [] {
    bool ok = check_layout();
    if (!ok)
      spdlog::warn(
          "fib: rte_rib's node layout is not the expected one; route updates run without "
          "trie prefetching (correct, but slower on large tables)");
    return ok;
  }();
  return on;
}

void RibWarmer::warm(rte_rib* rib, std::span<const FibOp> ops) {
  if (!enabled() || ops.empty()) return;
  const NodeView* root = root_of(rib);
  if (!root) return;
  // All paths advance one level per round, so the misses of a round overlap instead of
  // following each other.
  std::array<const NodeView*, kGroup> cur{};
  // Below each op's node: the subtree rte_fib scans for longer prefixes to write around,
  // one level in `front`, the next filled into `next`; the two swap as pointers. Left
  // unset: only the first nf / nn entries are ever read.
  std::array<std::array<const NodeView*, kSubtreeNodes>, 2> levels;  // NOLINT(*-member-init)
  const NodeView** front = levels[0].data();
  const NodeView** next = levels[1].data();
  for (size_t base = 0; base < ops.size(); base += kGroup) {
    const size_t n = std::min(kGroup, ops.size() - base);
    size_t nf = 0;
    for (size_t g = 0; g < n; ++g) cur[g] = root;
    for (size_t live = n; live;) {
      live = 0;
      for (size_t g = 0; g < n; ++g) {
        const NodeView* c = cur[g];
        if (!c) continue;
        const FibOp& op = ops[base + g];
        if (c->depth >= op.len || ((op.prefix ^ c->ip) & mask(c->depth))) {
          cur[g] = nullptr;
          // The op's own node, or the top of the subtree its new node will hold.
          if (c->depth >= op.len && ((op.prefix ^ c->ip) & mask(op.len)) == 0)
            for (const NodeView* k : {c->left, c->right})
              if (k && nf < kSubtreeNodes) {
                rte_prefetch0(k);
                front[nf++] = k;
              }
          continue;
        }
        const NodeView* nx = op.prefix & (1u << (31 - c->depth)) ? c->right : c->left;
        rte_prefetch0(nx);
        cur[g] = nx;
        live += nx != nullptr;
      }
    }
    warm_subtrees<NodeView, kSubtreeNodes>(front, next, nf,
                                           [](const NodeView* k) { rte_prefetch0(k); });
  }
}

namespace {

// rte_rib6.c's private node, unchanged from DPDK 20.11 to 24.11 (check_layout6 compares).
struct Node6View {
  const Node6View* left;
  const Node6View* right;
  const Node6View* parent;
  uint64_t nh;
  uint8_t ip[16];
  uint8_t depth;
  uint8_t flag;
};

const Node6View* view6(const rte_rib6_node* n) {
  return reinterpret_cast<const Node6View*>(n);
}

// An address as two host-order words, most significant first: bit d of the address (0 the
// first on the wire) is bit 63 - d of hi, or 127 - d of lo.
struct Bits {
  uint64_t hi, lo;
  bool operator==(const Bits&) const = default;
};

Bits bits(const uint8_t* b) {
  uint64_t hi, lo;
  std::memcpy(&hi, b, 8);
  std::memcpy(&lo, b + 8, 8);
  return {__builtin_bswap64(hi), __builtin_bswap64(lo)};
}

// a and b agree on their first d bits.
bool covered(const Bits& a, const Bits& b, uint8_t d) {
  const uint64_t mhi = d == 0 ? 0 : d >= 64 ? ~uint64_t(0) : ~uint64_t(0) << (64 - d);
  const uint64_t mlo = d <= 64 ? 0 : d >= 128 ? ~uint64_t(0) : ~uint64_t(0) << (128 - d);
  return (((a.hi ^ b.hi) & mhi) | ((a.lo ^ b.lo) & mlo)) == 0;
}

// rte_rib6's step below a node of depth d < 128: right when bit d is set.
bool bit(const Bits& a, uint8_t d) {
  return d < 64 ? (a.hi >> (63 - d)) & 1 : (a.lo >> (127 - d)) & 1;
}

// A node is 50 bytes in a mempool element of another size: it may straddle two lines.
void prefetch6(const Node6View* n) {
  rte_prefetch0(n);
  rte_prefetch0(reinterpret_cast<const char*>(n) + offsetof(Node6View, flag));
}

const Node6View* root_of6(rte_rib6* rib) {
  const uint8_t zero[16] = {};
  rte_rib6_node* n = rte_rib6_get_nxt(rib, zero, 0, nullptr, RTE_RIB6_GET_NXT_COVER);
  if (!n) n = rte_rib6_lookup_exact(rib, zero, 0);
  const Node6View* v = n ? view6(n) : nullptr;
  while (v && v->parent) v = v->parent;
  return v;
}

const Node6View* exact6(const Node6View* cur, const Bits& ip, uint8_t len) {
  while (cur) {
    const Bits c = bits(cur->ip);
    if (c == ip && cur->depth == len && (cur->flag & 1)) return cur;
    if (cur->depth >= len || !covered(ip, c, cur->depth)) return nullptr;
    cur = bit(ip, cur->depth) ? cur->right : cur->left;
  }
  return nullptr;
}

}  // namespace

bool Rib6Warmer::check_layout() {
  static constexpr std::array<const char*, 9> kRoutes = {
      "::/0",
      "2001:db8::/32",
      "2001:db8:1::/48",
      "2001:db8:1:2::/64",
      "2001:db8:1:2:8000::/65",
      "2001:db8:1:2::1/128",
      "fe80::/10",
      "2a00::/12",
      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
  };
  rte_rib6_conf conf{};
  conf.max_nodes = 64;
  rte_rib6* rib = rte_rib6_create("fib6warmchk", SOCKET_ID_ANY, &conf);
  if (!rib) {
    spdlog::warn("fib6: cannot create the scratch RIB for the layout check: {}",
                 rte_strerror(rte_errno));
    return false;
  }
  bool ok = true;
  for (size_t i = 0; i < kRoutes.size() && ok; ++i) {
    const Prefix6 p = *Prefix6::parse(kRoutes[i]);
    rte_rib6_node* n = rte_rib6_insert(rib, p.addr.b.data(), p.len);
    ok = n && rte_rib6_set_nh(n, 1000 + i) == 0;
  }
  for (size_t i = 0; i < kRoutes.size() && ok; ++i) {
    const Prefix6 p = *Prefix6::parse(kRoutes[i]);
    rte_rib6_node* n = rte_rib6_lookup_exact(rib, p.addr.b.data(), p.len);
    uint8_t got_ip[16] = {};
    uint8_t got_len = 0;
    uint64_t got_nh = 0;
    ok = n && rte_rib6_get_ip(n, got_ip) == 0 && rte_rib6_get_depth(n, &got_len) == 0 &&
         rte_rib6_get_nh(n, &got_nh) == 0 && std::memcmp(view6(n)->ip, got_ip, 16) == 0 &&
         std::memcmp(got_ip, p.addr.b.data(), 16) == 0 && view6(n)->depth == got_len &&
         got_len == p.len && view6(n)->nh == got_nh && got_nh == 1000 + i && (view6(n)->flag & 1) &&
         exact6(root_of6(rib), bits(p.addr.b.data()), p.len) == view6(n);
    if (ok) {
      const Node6View* q = view6(n)->parent;
      while (q && !(q->flag & 1)) q = q->parent;
      ok = q == view6(rte_rib6_lookup_parent(n));
    }
  }
  rte_rib6_free(rib);
  return ok;
}

bool Rib6Warmer::enabled() {
  static const bool on = [] {
    bool ok = check_layout();
    if (!ok)
      spdlog::warn(
          "fib6: rte_rib6's node layout is not the expected one; IPv6 route updates run "
          "without trie prefetching (correct, but slower on large tables)");
    return ok;
  }();
  return on;
}

void Rib6Warmer::warm(rte_rib6* rib, std::span<const Prefix6> prefixes) {
  if (!enabled() || prefixes.empty()) return;
  const Node6View* root = root_of6(rib);
  if (!root) return;
  const size_t n = std::min(kGroup, prefixes.size());
  std::array<const Node6View*, kGroup> cur{};
  std::array<Bits, kGroup> want{};
  std::array<std::array<const Node6View*, kSubtreeNodes>, 2> levels;  // NOLINT(*-member-init)
  const Node6View** front = levels[0].data();
  const Node6View** next = levels[1].data();
  size_t nf = 0;
  for (size_t g = 0; g < n; ++g) {
    cur[g] = root;
    want[g] = bits(prefixes[g].addr.b.data());
  }
  for (size_t live = n; live;) {
    live = 0;
    for (size_t g = 0; g < n; ++g) {
      const Node6View* c = cur[g];
      if (!c) continue;
      const uint8_t len = prefixes[g].len;
      const Bits cb = bits(c->ip);
      if (c->depth >= len || !covered(want[g], cb, c->depth)) {
        cur[g] = nullptr;
        if (c->depth >= len && covered(want[g], cb, len))
          for (const Node6View* k : {c->left, c->right})
            if (k && nf < kSubtreeNodes) {
              prefetch6(k);
              front[nf++] = k;
            }
        continue;
      }
      const Node6View* nx = bit(want[g], c->depth) ? c->right : c->left;
      if (nx) prefetch6(nx);
      cur[g] = nx;
      live += nx != nullptr;
    }
  }
  warm_subtrees<Node6View, kSubtreeNodes>(front, next, nf, prefetch6);
}

}  // namespace routerd
