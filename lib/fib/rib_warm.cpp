#include "rib_warm.hpp"

#include <rte_errno.h>
#include <rte_prefetch.h>
#include <spdlog/spdlog.h>

#include <array>

#include "fib.hpp"
#include "inet.hpp"

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
    // rte_fib's scan (rte_rib_get_nxt, COVER) goes down to the first route on each branch:
    // the same nodes, a level per round.
    while (nf) {
      size_t nn = 0;
      for (size_t i = 0; i < nf; ++i) {
        const NodeView* c = front[i];
        if (c->flag & 1) continue;
        for (const NodeView* k : {c->left, c->right})
          if (k && nn < kSubtreeNodes) {
            rte_prefetch0(k);
            next[nn++] = k;
          }
      }
      std::swap(front, next);
      nf = nn;
    }
  }
}

}  // namespace routerd
