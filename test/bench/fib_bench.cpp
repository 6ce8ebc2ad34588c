// fib-bench: the FIB alone, with a full table. Bulk lookup rate and cycles per lookup for
// uniform and Zipf destinations, and insert/replace/delete rates through routerd's
// left-right FIB (both copies, as routerd updates them) and through one raw rte_fib.
// --family 6: the same for the IPv6 table through Fib6 (rte_fib6 trie, both copies).
// A benchmark, not a test: it prints figures and never fails on them.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_fib.h>
#include <rte_fib6.h>
#include <rte_lcore.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "fib.hpp"
#include "fib6.hpp"
#include "forward.hpp"
#include "inet.hpp"
#include "inet6.hpp"
#include "qsbr.hpp"
#include "shared_state.hpp"

using namespace routerd;
using nlohmann::json;

namespace {

struct Args {
  std::string table;
  std::string json_out;
  bool huge = false;
  uint32_t lookups = 1 << 20;  // distinct destinations per pattern
  int rounds = 5;
  int churn_batches = 51;
  int family = 4;
};

std::vector<Prefix4> read_table(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");  // also reads plain text
  if (!f) throw std::runtime_error(path + ": cannot open");
  std::vector<Prefix4> v;
  char line[256];
  while (gzgets(f, line, sizeof line)) {
    std::string_view s(line);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '))
      s.remove_suffix(1);
    if (s.empty() || s.find(':') != std::string_view::npos) continue;  // IPv6
    s = s.substr(0, s.find(' '));                                      // "P via GW" route files
    if (auto p = Prefix4::parse(s)) v.push_back(*p);
  }
  gzclose(f);
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

uint32_t nh_for(const Prefix4& p) {
  return 1 + (p.addr.v * 2654435761u >> 8) % 4096;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct LookupResult {
  double mlookups_per_s, cycles_per_lookup;
};

LookupResult bench_lookups(rte_fib* fib, std::vector<uint32_t>& dst, int rounds) {
  constexpr uint32_t kBulk = 32;  // a worker's burst
  std::vector<uint64_t> nh(kBulk);
  std::vector<double> rates, cycles;
  uint64_t sink = 0;
  for (int r = 0; r < rounds; ++r) {
    uint64_t c0 = rte_rdtsc_precise();
    auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i + kBulk <= dst.size(); i += kBulk) {
      rte_fib_lookup_bulk(fib, &dst[i], nh.data(), kBulk);
      sink += nh[0];
    }
    uint64_t c1 = rte_rdtsc_precise();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    size_t n = dst.size() / kBulk * kBulk;
    rates.push_back(double(n) / s / 1e6);
    cycles.push_back(double(c1 - c0) / double(n));
  }
  if (sink == 42) std::puts("");  // keep the loop
  return {median(rates), median(cycles)};
}

// The worker's lookup stage (lookup_states: route cache, FIB, next-hop slot) plus the read of
// each answer's port that forwarding needs, with or without a route cache.
struct StageResult {
  double off_cycles, on_cycles, hit_rate;
};
// Passes with and without the cache alternate (ABAB...) so drift on a shared machine hits
// both alike; medians of each.
StageResult bench_stage(SharedState& dp, RouteCache& cache, std::vector<uint32_t>& dst,
                        int rounds) {
  constexpr uint16_t kBulk = 32;
  std::vector<double> off, on;
  uint64_t sink = 0, hits = 0, lookups = 0;
  const NextHopState* out[kBulk];
  auto pass = [&](RouteCache* c, CacheTally& t) {
    uint64_t c0 = rte_rdtsc_precise();
    for (size_t i = 0; i + kBulk <= dst.size(); i += kBulk) {
      lookup_states(dp, c, dp.generation.read(), &dst[i], kBulk, out, &t);
      for (uint16_t j = 0; j < kBulk; ++j) sink += out[j] ? out[j]->port : 0;
    }
    return double(rte_rdtsc_precise() - c0) / double(dst.size() - dst.size() % kBulk);
  };
  CacheTally warm;
  pass(&cache, warm);
  for (int r = 0; r < rounds; ++r) {
    CacheTally t;
    off.push_back(pass(nullptr, t));
    on.push_back(pass(&cache, t));
    hits += t.hits;
    lookups += t.hits + t.misses;
  }
  if (sink == 42) std::puts("");
  return {median(off), median(on), lookups ? double(hits) / double(lookups) : 0};
}

double rate_k(size_t n, double s) {
  return double(n) / s / 1e3;
}

std::vector<Prefix6> read_table6(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error(path + ": cannot open");
  std::vector<Prefix6> v;
  char line[256];
  while (gzgets(f, line, sizeof line)) {
    std::string_view s(line);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '))
      s.remove_suffix(1);
    if (s.empty() || s.find(':') == std::string_view::npos) continue;  // IPv4
    s = s.substr(0, s.find(' '));                                      // "P via GW" route files
    auto p = Prefix6::parse(s);
    // routerd refuses link-local and multicast prefixes (and a default route is no table's)
    if (p && p->len > 0 && !p->addr.is_link_local() && !p->addr.is_multicast()) v.push_back(*p);
  }
  gzclose(f);
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

uint32_t nh_for6(const Prefix6& p) {
  uint32_t h = 0;
  for (uint8_t b : p.addr.b) h = h * 31 + b;
  return 1 + (h * 2654435761u >> 8) % 4096;
}

// DPDK's bulk lookup and routerd's own walk (Fib6::lookup_bulk, what the worker runs)
// alternately, round by round, so that both meet the same machine.
struct Lookup6Results {
  LookupResult dpdk, walk;
};
Lookup6Results bench_lookups6(const Fib6& fib, std::vector<Ipv6>& dst, int rounds) {
  constexpr uint32_t kBulk = 32;  // a worker's burst
  static_assert(sizeof(Ipv6) == 16);
  std::vector<uint64_t> nh(kBulk);
  std::vector<double> rates[2], cycles[2];
  uint64_t sink = 0;
  const Fib6::View v = fib.view();
  for (int r = 0; r < 2 * rounds; ++r) {
    const int walk = r & 1;
    uint64_t c0 = rte_rdtsc_precise();
    auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i + kBulk <= dst.size(); i += kBulk) {
      auto* ips = reinterpret_cast<uint8_t(*)[16]>(dst[i].b.data());
      if (walk)
        Fib6::lookup_bulk(v, ips, nh.data(), kBulk);
      else
        rte_fib6_lookup_bulk(v.fib, ips, nh.data(), kBulk);
      sink += nh[0];
    }
    uint64_t c1 = rte_rdtsc_precise();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    size_t n = dst.size() / kBulk * kBulk;
    rates[walk].push_back(double(n) / s / 1e6);
    cycles[walk].push_back(double(c1 - c0) / double(n));
  }
  if (sink == 42) std::puts("");
  return {{median(rates[0]), median(cycles[0])}, {median(rates[1]), median(cycles[1])}};
}

// --family 6: the full IPv6 table through routerd's Fib6 at its default size ([fib6]
// max_routes and tbl8_groups 2^18), lookups as the worker does them, and full-table
// insert/replace/delete as one Fib6::apply each (the control thread's path for a route file).
int bench6(const Args& a) {
  std::vector<Prefix6> table = read_table6(a.table);
  if (table.empty()) throw std::runtime_error(a.table + ": no IPv6 prefix");
  std::mt19937_64 rng(1);
  auto random_host = [&](const Prefix6& p) {
    Ipv6 h = p.addr;
    for (int bit = p.len; bit < 128; ++bit)
      if (rng() & 1) h.b[size_t(bit / 8)] |= uint8_t(0x80u >> (bit % 8));
    return h;
  };
  std::vector<Ipv6> uniform(a.lookups), zipf(a.lookups), hot(4096);
  for (auto& d : uniform) d = random_host(table[rng() % table.size()]);
  for (auto& h : hot) h = random_host(table[rng() % table.size()]);
  std::vector<double> cdf(hot.size());
  double sum = 0;
  for (size_t k = 0; k < hot.size(); ++k) cdf[k] = sum += 1.0 / std::pow(double(k + 1), 1.1);
  std::uniform_real_distribution<double> u(0, sum);
  for (auto& d : zipf) d = hot[std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin()];

  std::vector<Fib6Op> adds, replaces, deletes;
  for (const auto& p : table) {
    uint32_t nh = nh_for6(p);
    adds.push_back({p, false, nh});
    replaces.push_back({p, false, nh % 4096 + 1});
    deletes.push_back({p, true, 0});
  }
  Qsbr rcu(1);
  Fib6::Params fp{1u << 18, 1u << 18, int(rte_socket_id())};
  Fib6 fib("bench_lr6", fp);
  auto time = [&](std::vector<Fib6Op>& ops) {
    auto t0 = std::chrono::steady_clock::now();
    fib.apply(ops, rcu);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  std::vector<double> t_add, t_rep, t_del, churn;
  Lookup6Results lu{}, lz{};
  for (int r = 0; r < 3; ++r) {  // the full table in and out three times: medians
    t_add.push_back(time(adds));
    if (r == 0) {
      lu = bench_lookups6(fib, uniform, a.rounds);
      lz = bench_lookups6(fib, zipf, a.rounds);
      // Churn as for IPv4: batches of 1000 replaces of random prefixes, each batch one
      // apply, each replace a change of next hop. The table is back as loaded afterwards.
      std::vector<uint8_t> moved(table.size());
      std::vector<Fib6Op> batch;
      for (int b = 0; b < a.churn_batches; ++b) {
        batch.clear();
        for (int k = 0; k < 1000; ++k) {
          const size_t i = rng() % table.size();
          batch.push_back(moved[i] ? adds[i] : replaces[i]);
          moved[i] ^= 1;
        }
        churn.push_back(time(batch) / double(batch.size()) * 1e6);
      }
      batch.clear();
      for (size_t i = 0; i < table.size(); ++i)
        if (moved[i]) batch.push_back(adds[i]);
      if (!batch.empty()) time(batch);
    }
    t_rep.push_back(time(replaces));
    t_del.push_back(time(deletes));
  }
  json out = {{"family", 6},
              {"table", a.table},
              {"routes", table.size()},
              {"memory", a.huge ? "hugepages" : "no-huge"},
              {"tsc_hz", rte_get_tsc_hz()},
              {"fib6_params", {{"max_routes", fp.max_routes}, {"tbl8_groups", fp.tbl8_groups}}},
              {"rebuilds", fib.rebuilds()},
              {"memory_mib", fib.memory_bytes() >> 20}};
  auto row = [](const LookupResult& d, const LookupResult& w) {
    return json{{"mlookups_per_s", d.mlookups_per_s},
                {"cycles", d.cycles_per_lookup},
                {"walk_mlookups_per_s", w.mlookups_per_s},
                {"walk_cycles", w.cycles_per_lookup}};
  };
  out["lookup"] = {{"uniform", row(lu.dpdk, lu.walk)}, {"zipf", row(lz.dpdk, lz.walk)}};
  out["left_right"] = {{"insert_s", median(t_add)}, {"replace_s", median(t_rep)},
                       {"delete_s", median(t_del)}, {"insert_s_all", t_add},
                       {"replace_s_all", t_rep},    {"delete_s_all", t_del}};
  if (!churn.empty()) out["left_right"]["churn_us_per_update"] = median(churn);
  std::printf(
      "FIB6 micro-benchmark: %zu IPv6 routes, Fib6 max_routes %u tbl8_groups %u, %s, "
      "TSC %.2f GHz\n\n",
      table.size(), fp.max_routes, fp.tbl8_groups, a.huge ? "hugepages" : "no-huge",
      double(rte_get_tsc_hz()) / 1e9);
  std::printf(
      "| lookups (bulks of 32) | rte_fib6_lookup_bulk Mlookups/s | cycles/lookup | "
      "Fib6::lookup_bulk (the worker's) Mlookups/s | cycles/lookup |\n"
      "|---|---:|---:|---:|---:|\n");
  for (const char* p : {"uniform", "zipf"}) {
    const auto& l = out["lookup"][p];
    std::printf("| %s | %.1f | %.1f | %.1f | %.1f |\n", p, l["mlookups_per_s"].get<double>(),
                l["cycles"].get<double>(), l["walk_mlookups_per_s"].get<double>(),
                l["walk_cycles"].get<double>());
  }
  std::printf(
      "\n| full table, one Fib6::apply (both copies) | median of 3 | runs |\n|---|---:|---|\n");
  for (const char* op : {"insert", "replace", "delete"}) {
    std::string k = std::string(op) + "_s";
    const auto& all = out["left_right"][k + "_all"];
    std::printf("| %s | %.3f s (%.0f k routes/s) | %.3f, %.3f, %.3f |\n", op,
                out["left_right"][k].get<double>(),
                rate_k(table.size(), out["left_right"][k].get<double>()), all[0].get<double>(),
                all[1].get<double>(), all[2].get<double>());
  }
  if (!churn.empty())
    std::printf(
        "\nRandom churn, batches of 1000 replaces, left-right FIB: %.2f us per update (median "
        "of %zu batches)\n",
        median(churn), churn.size());
  std::printf("\nFib6 rebuilds: %llu; memory %zu MiB\n", (unsigned long long)fib.rebuilds(),
              fib.memory_bytes() >> 20);
  if (!a.json_out.empty()) {
    FILE* f = std::fopen(a.json_out.c_str(), "w");
    if (f) {
      std::fputs(out.dump(2).c_str(), f);
      std::fclose(f);
    }
  }
  return 0;
}

}  // namespace

static int main_(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(s + " needs a value");
      return argv[++i];
    };
    if (s == "--table")
      a.table = next();
    else if (s == "--json")
      a.json_out = next();
    else if (s == "--huge")
      a.huge = true;
    else if (s == "--lookups")
      a.lookups = uint32_t(std::stoul(next()));
    else if (s == "--rounds")
      a.rounds = std::stoi(next());
    else if (s == "--churn-batches")
      a.churn_batches = std::stoi(next());
    else if (s == "--family" && i + 1 < argc &&
             (std::string(argv[i + 1]) == "4" || std::string(argv[i + 1]) == "6"))
      a.family = std::stoi(next());
    else {
      std::fprintf(
          stderr,
          "usage: fib-bench --table FILE[.gz] [--json OUT] [--huge] [--lookups N] [--rounds N]\n"
          "                 [--churn-batches N] [--family 4|6]\n");
      return 2;
    }
  }
  if (a.table.empty()) {
    std::fprintf(stderr, "fib-bench: --table FILE is required\n");
    return 2;
  }
  std::string prefix = "fibbench" + std::to_string(getpid());
  std::vector<std::string> eal = {"fib-bench",      "-l",          "0",
                                  "--file-prefix",  prefix,        "--no-pci",
                                  "--no-telemetry", "--log-level", "notice"};
  if (!a.huge)
    eal.insert(eal.end(), {"--no-huge", "-m", "3072"});
  else
    eal.insert(eal.end(), {"--huge-unlink"});
  std::vector<char*> ev;
  ev.reserve(eal.size());
  for (auto& s : eal) ev.push_back(s.data());
  if (rte_eal_init(int(ev.size()), ev.data()) < 0) {
    std::fprintf(stderr, "fib-bench: EAL init failed\n");
    return 1;
  }

  if (a.family == 6) {
    int rc = bench6(a);
    rte_eal_cleanup();
    return rc;
  }
  std::vector<Prefix4> table = read_table(a.table);
  std::mt19937_64 rng(1);
  // Destinations: uniform = a random host of a random prefix (cache-hostile); zipf = 4096
  // such hosts drawn with a Zipf law, s = 1.1 (the trace generator's defaults).
  auto random_host = [&](const Prefix4& p) {
    uint32_t span = p.len == 32 ? 1 : uint32_t((uint64_t(1) << (32 - p.len)));
    return p.addr.v + uint32_t(rng() % span);
  };
  std::vector<uint32_t> uniform(a.lookups), zipf(a.lookups), hot(4096);
  for (auto& d : uniform) d = random_host(table[rng() % table.size()]);
  for (auto& h : hot) h = random_host(table[rng() % table.size()]);
  std::vector<double> cdf(hot.size());
  double sum = 0;
  for (size_t k = 0; k < hot.size(); ++k) cdf[k] = sum += 1.0 / std::pow(double(k + 1), 1.1);
  std::uniform_real_distribution<double> u(0, sum);
  for (auto& d : zipf) d = hot[std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin()];

  std::vector<FibOp> adds, replaces, deletes;
  for (const auto& p : table) {
    adds.push_back({p.addr.v, p.len, false, nh_for(p)});
    replaces.push_back(
        {p.addr.v, p.len, false, nh_for(p) % 4096 + 1 == nh_for(p) ? 4097 : nh_for(p) % 4096 + 1});
    deletes.push_back({p.addr.v, p.len, true, 0});
  }

  json out = {{"table", a.table},
              {"routes", table.size()},
              {"memory", a.huge ? "hugepages" : "no-huge"},
              {"tsc_hz", rte_get_tsc_hz()}};
  Qsbr rcu(1);
  Fib::Params fp{uint32_t(table.size() + 1024), 8192, int(rte_socket_id())};
  {
    Fib fib("bench_lr", fp);
    auto time = [&](std::vector<FibOp>& ops) {
      auto t0 = std::chrono::steady_clock::now();
      fib.apply(ops, rcu);
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    double t_add = time(adds);
    LookupResult lu = bench_lookups(fib.reader(), uniform, a.rounds);
    LookupResult lz = bench_lookups(fib.reader(), zipf, a.rounds);
    // Churn as routerd sees it: batches of 1000 replaces of random prefixes, each batch one
    // apply; every replace changes the next hop (a prefix toggles between two). Random order
    // defeats the caches that the sorted full-table passes enjoy.
    {
      std::vector<double> per_update;
      std::vector<FibOp> batch;
      std::vector<uint8_t> moved(table.size());
      for (int b = 0; b < a.churn_batches; ++b) {
        batch.clear();
        for (int k = 0; k < 1000; ++k) {
          size_t i = rng() % table.size();
          batch.push_back(moved[i] ? adds[i] : replaces[i]);
          moved[i] ^= 1;
        }
        double s = time(batch);
        per_update.push_back(s / double(batch.size()) * 1e6);
      }
      out["left_right"]["churn_us_per_update"] = median(per_update);
    }
    double t_rep = time(replaces);
    double t_del = time(deletes);
    out["left_right"].update(json{{"insert_s", t_add},
                                  {"insert_k_per_s", rate_k(adds.size(), t_add)},
                                  {"replace_s", t_rep},
                                  {"replace_k_per_s", rate_k(replaces.size(), t_rep)},
                                  {"delete_s", t_del},
                                  {"delete_k_per_s", rate_k(deletes.size(), t_del)},
                                  {"memory_mib", fib.memory_bytes() >> 20}});
    out["lookup"] = {
        {"uniform", {{"mlookups_per_s", lu.mlookups_per_s}, {"cycles", lu.cycles_per_lookup}}},
        {"zipf", {{"mlookups_per_s", lz.mlookups_per_s}, {"cycles", lz.cycles_per_lookup}}}};
  }
  {
    // The route cache in front of the FIB: what the worker's whole lookup stage costs with
    // and without it, same destinations, same table.
    SharedState dp(DataplaneParams{}, 1, 8192, fp, Fib6::Params{1024, 64, int(rte_socket_id())},
                   nullptr, nullptr);
    std::vector<NextHopState> states(4098);
    for (uint32_t id = 1; id < states.size(); ++id) {
      states[id].kind = NhKind::forward;
      states[id].id = id;
      states[id].port = uint16_t(id % 4);
      dp.nexthops.publish(id, &states[id]);
    }
    dp.fib.apply(adds, dp.rcu);
    RouteCache cache(4096, route_cache_keys(), int(rte_socket_id()));
    json stage = json::object();
    for (auto* pat : {&uniform, &zipf}) {
      const char* name = pat == &uniform ? "uniform" : "zipf";
      StageResult r = bench_stage(dp, cache, *pat, 2 * a.rounds + 1);
      stage[name] = {{"cache_off_cycles", r.off_cycles},
                     {"cache_on_cycles", r.on_cycles},
                     {"hit_rate", r.hit_rate}};
    }
    out["lookup_stage"] = stage;
  }
  {
    // One rte_fib, the way routerd would use it without the second copy: the reference for
    // what left-right costs on updates.
    rte_fib_conf c;
    std::memset(&c, 0, sizeof c);
    c.type = RTE_FIB_DIR24_8;
    c.max_routes = int(fp.max_routes);
    c.dir24_8.nh_sz = RTE_FIB_DIR24_8_4B;
    c.dir24_8.num_tbl8 = fp.tbl8_groups;
    rte_fib* raw = rte_fib_create("bench_raw", int(rte_socket_id()), &c);
    auto time = [&](const std::vector<FibOp>& ops) {
      auto t0 = std::chrono::steady_clock::now();
      for (const auto& op : ops)
        op.remove ? rte_fib_delete(raw, op.prefix, op.len)
                  : rte_fib_add(raw, op.prefix, op.len, op.nh);
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    double t_add = time(adds), t_rep = time(replaces), t_del = time(deletes);
    out["single_rte_fib"] = {
        {"insert_s", t_add},  {"insert_k_per_s", rate_k(adds.size(), t_add)},
        {"replace_s", t_rep}, {"replace_k_per_s", rate_k(replaces.size(), t_rep)},
        {"delete_s", t_del},  {"delete_k_per_s", rate_k(deletes.size(), t_del)}};
    rte_fib_free(raw);
  }

  const auto& lr = out["left_right"];
  const auto& sr = out["single_rte_fib"];
  std::printf("FIB micro-benchmark: %zu IPv4 routes, %s, TSC %.2f GHz\n\n", table.size(),
              a.huge ? "hugepages" : "no-huge", double(rte_get_tsc_hz()) / 1e9);
  std::printf("| lookups (bulk of 32) | Mlookups/s | cycles/lookup |\n|---|---:|---:|\n");
  for (const char* p : {"uniform", "zipf"})
    std::printf("| %s | %.1f | %.1f |\n", p, out["lookup"][p]["mlookups_per_s"].get<double>(),
                out["lookup"][p]["cycles"].get<double>());
  std::printf(
      "\n| lookup stage (burst of 32, cycles/packet) | cache off | cache on (4096 sets) | "
      "hit rate | on/off speed |\n|---|---:|---:|---:|---:|\n");
  for (const char* p : {"uniform", "zipf"}) {
    const auto& st = out["lookup_stage"][p];
    double off = st["cache_off_cycles"].get<double>(), on = st["cache_on_cycles"].get<double>();
    std::printf("| %s | %.1f | %.1f | %.1f%% | %.2fx |\n", p, off, on,
                100 * st["hit_rate"].get<double>(), off / on);
  }
  std::printf("\nRandom churn, batches of 1000 replaces, left-right FIB: %.2f us per update\n",
              lr["churn_us_per_update"].get<double>());
  std::printf("\n| full table | left-right FIB (routerd) | one rte_fib |\n|---|---:|---:|\n");
  for (const char* op : {"insert", "replace", "delete"}) {
    std::string k = std::string(op) + "_k_per_s", s = std::string(op) + "_s";
    std::printf("| %s | %.0f k routes/s (%.2f s) | %.0f k routes/s (%.2f s) |\n", op,
                lr[k].get<double>(), lr[s].get<double>(), sr[k].get<double>(), sr[s].get<double>());
  }
  if (!a.json_out.empty()) {
    FILE* f = std::fopen(a.json_out.c_str(), "w");
    if (f) {
      std::fputs(out.dump(2).c_str(), f);
      std::fclose(f);
    }
  }
  rte_eal_cleanup();
  return 0;
}

// Anything not handled where it arose still ends with a message and exit status 1, not an
// abort.
int main(int argc, char** argv) {
  try {
    return main_(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", "fib-bench", e.what());
  } catch (...) {
    std::fprintf(stderr, "%s: unexpected error\n", "fib-bench");
  }
  return 1;
}
