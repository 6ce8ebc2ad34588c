#include "telemetry.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <limits>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>

namespace routerd {

using nlohmann::json;

namespace {

// The commands are registered once and outlive any Telemetry object (DPDK 22.11 has no
// unregister), so they reach the current one through this, under a lock that the
// destructor takes exclusively: it waits for answers in flight.
std::shared_mutex g_mu;
const Telemetry::Call* g_call = nullptr;

constexpr size_t kMaxStr = RTE_TEL_MAX_STRING_LEN - 1;

std::string tel_name(const std::string& s) {
  std::string out = s.substr(0, kMaxStr);
  for (char& c : out)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      c = '_';
  return out.empty() ? "_" : out;
}

std::string tel_str(const std::string& s) {
  return s.size() <= kMaxStr ? s : s.substr(0, kMaxStr);
}

std::string scalar_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return fmt::format("{:.6g}", v.get<double>());
  return v.dump();
}

bool add_scalar(rte_tel_data* d, const std::string& name, const json& v) {
  const std::string n = tel_name(name);
  if (v.is_boolean()) return rte_tel_data_add_dict_u64(d, n.c_str(), v.get<bool>() ? 1 : 0) == 0;
  if (v.is_number_unsigned())
    return rte_tel_data_add_dict_u64(d, n.c_str(), v.get<uint64_t>()) == 0;
  if (v.is_number_integer()) {
    int64_t x = v.get<int64_t>();
    if (x >= 0) return rte_tel_data_add_dict_u64(d, n.c_str(), uint64_t(x)) == 0;
    if (x >= std::numeric_limits<int>::min())
      return rte_tel_data_add_dict_int(d, n.c_str(), int(x)) == 0;
  }
  return rte_tel_data_add_dict_string(d, n.c_str(), tel_str(scalar_text(v)).c_str()) == 0;
}

// DPDK 22.11 arrays hold scalars or arrays, never dicts: a list of objects becomes a dict
// keyed by what names each element (a port's name, a neighbour's address, a worker's
// index), else by its position.
std::string key_of(const json& e, size_t i) {
  if (e.is_object()) {
    for (const char* k : {"name", "dst"})
      if (e.contains(k) && e[k].is_string()) return e[k].get<std::string>();
    if (e.contains("worker") && e["worker"].is_number())
      return "worker" + std::to_string(e["worker"].get<uint64_t>());
  }
  return std::to_string(i);
}

// Everything under j, as scalars named prefix_key_subkey... in dict d.
bool flatten(rte_tel_data* d, const std::string& prefix, const json& j) {
  bool ok = true;
  auto name = [&](const std::string& k) { return prefix.empty() ? k : prefix + "_" + k; };
  if (j.is_object()) {
    for (const auto& [k, v] : j.items())
      ok &= v.is_structured() ? flatten(d, name(k), v) : add_scalar(d, name(k), v);
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i)
      ok &= j[i].is_structured() ? flatten(d, name(key_of(j[i], i)), j[i])
                                 : add_scalar(d, name(std::to_string(i)), j[i]);
  } else {
    ok &= add_scalar(d, prefix, j);
  }
  return ok;
}

bool all_unsigned(const json& a) {
  for (const auto& v : a)
    if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0)) return false;
  return true;
}

bool any_structured(const json& a) {
  for (const auto& v : a)
    if (v.is_structured()) return true;
  return false;
}

// An array of scalars as a typed telemetry array.
bool scalar_array(rte_tel_data* c, const json& a) {
  bool ok = true;
  if (all_unsigned(a)) {
    rte_tel_data_start_array(c, RTE_TEL_U64_VAL);
    for (const auto& v : a) ok &= rte_tel_data_add_array_u64(c, v.get<uint64_t>()) == 0;
  } else {
    rte_tel_data_start_array(c, RTE_TEL_STRING_VAL);
    for (const auto& v : a)
      ok &= rte_tel_data_add_array_string(c, tel_str(scalar_text(v)).c_str()) == 0;
  }
  return ok;
}

// A nested container: it may not hold containers itself, so what is below it is flattened.
bool fill_leaf(rte_tel_data* c, const json& j) {
  if (j.is_array() && !any_structured(j)) return scalar_array(c, j);
  rte_tel_data_start_dict(c);
  return flatten(c, "", j);
}

// A named container in dict d (containers only ever go into dicts: see key_of).
// `owned`: null in answers, where keep = 0 lets telemetry free the container once it has
// sent the answer; otherwise the caller frees the containers listed there.
bool add_container(rte_tel_data* d, const std::string& name, const json& v,
                   std::vector<rte_tel_data*>* owned) {
  rte_tel_data* c = rte_tel_data_alloc();
  if (!c) return false;
  bool ok = fill_leaf(c, v);
  int rc = rte_tel_data_add_dict_container(d, tel_name(name).c_str(), c, owned ? 1 : 0);
  if (rc == 0 && owned) owned->push_back(c);
  if (rc != 0) {
    rte_tel_data_free(c);
    return false;
  }
  return ok;
}

json require_no_params(const std::string& cmd, const std::string& params, json j) {
  if (!params.empty()) throw std::invalid_argument(cmd + " takes no parameters");
  return j;
}

int handle(const char* cmd, const char* params, rte_tel_data* d) {
  std::shared_lock lock(g_mu);
  std::string c = cmd, p = params ? params : "";
  if (!g_call) {
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_string(d, "error", "routerd is stopping");
    return 0;
  }
  try {
    json j = p.empty() ? Telemetry::answer(*g_call, c) : Telemetry::answer(*g_call, c + "," + p);
    if (!Telemetry::to_tel(j, d))
      spdlog::warn("telemetry: the answer to {} did not fit DPDK telemetry's limits; truncated", c);
  } catch (const std::exception& e) {
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_string(d, "error", tel_str(e.what()).c_str());
  }
  return 0;
}

}  // namespace

const std::vector<std::pair<std::string, std::string>>& Telemetry::commands() {
  static const std::vector<std::pair<std::string, std::string>> k = {
      {"/routerd/stats",
       "Counters summed over lcores: ports, drops/punts/events by reason, route cache, "
       "invalidation latency"},
      {"/routerd/lcores", "Per worker lcore: polls, busy polls, route cache counters"},
      {"/routerd/routes", "Routes by prefix length, FIB prefixes, next hops, generation"},
      {"/routerd/cache", "Route cache counters and invalidation latency"},
      {"/routerd/neighbours", "Neighbours and their state. Parameter: a port name"},
      {"/routerd/ecmp", "ECMP groups: members, weights, states, buckets, packets"},
      {"/routerd/route_feed",
       "The routing daemon's feed (FPM or kernel mirror): connected, routes held and "
       "installed, batches, failures, refused routes"},
  };
  return k;
}

json Telemetry::answer(const Call& call, const std::string& request) {
  const size_t comma = request.find(',');
  const std::string cmd = request.substr(0, comma);
  const std::string params = comma == std::string::npos ? "" : request.substr(comma + 1);
  if (cmd == "/routerd/stats") {
    json s = call({"stats"});
    s.erase("workers");  // in /routerd/lcores
    return require_no_params(cmd, params, s);
  }
  if (cmd == "/routerd/lcores") return require_no_params(cmd, params, call({"stats"})["workers"]);
  if (cmd == "/routerd/routes") return require_no_params(cmd, params, call({"route", "summary"}));
  if (cmd == "/routerd/cache") {
    json s = call({"stats"});
    json out = s["route_cache"];
    out["ipv6"] = s["route_cache6"];  // the IPv6 cache's own size and counters
    out["invalidation"] = s["invalidation"];
    out["generation"] = s["generation"];
    out["commits"] = s["commits"];
    return require_no_params(cmd, params, out);
  }
  if (cmd == "/routerd/ecmp") {
    json s = call({"stats"});
    json out = s["ecmp"];
    out["groups"] = s["ecmp_groups"];
    out["member_downs"] = s["ecmp_member_downs"];
    out["member_ups"] = s["ecmp_member_ups"];
    return require_no_params(cmd, params, out);
  }
  if (cmd == "/routerd/route_feed") {
    json f = call({"stats"})["route_feed"];
    return require_no_params(cmd, params, f.is_object() ? f : json{{"feed", "none"}});
  }
  if (cmd == "/routerd/neighbours") {
    if (params.empty()) return call({"neigh", "show"});
    return call({"neigh", "show", "dev", params});
  }
  throw std::invalid_argument("unknown command " + cmd);
}

bool Telemetry::to_tel(const json& j, rte_tel_data* d, std::vector<rte_tel_data*>* owned) {
  bool ok = true;
  if (j.is_object()) {
    rte_tel_data_start_dict(d);
    for (const auto& [k, v] : j.items())
      ok &= v.is_structured() ? add_container(d, k, v, owned) : add_scalar(d, k, v);
  } else if (j.is_array() && any_structured(j)) {
    rte_tel_data_start_dict(d);
    for (size_t i = 0; i < j.size(); ++i) {
      const std::string k = key_of(j[i], i);
      ok &= j[i].is_structured() ? add_container(d, k, j[i], owned) : add_scalar(d, k, j[i]);
    }
  } else if (j.is_array()) {
    ok &= scalar_array(d, j);
  } else {
    ok &= rte_tel_data_string(d, tel_str(scalar_text(j)).c_str()) == 0;
  }
  return ok;
}

Telemetry::Telemetry(Call call) {
  static std::once_flag once;
  std::call_once(once, [] {
    for (const auto& [cmd, help] : commands())
      if (int rc = rte_telemetry_register_cmd(cmd.c_str(), handle, tel_str(help).c_str()); rc != 0)
        spdlog::warn("telemetry: cannot register {}: {}", cmd, rc);
  });
  std::unique_lock lock(g_mu);
  g_call = new Call(std::move(call));
}

Telemetry::~Telemetry() {
  std::unique_lock lock(g_mu);
  delete g_call;
  g_call = nullptr;
}

}  // namespace routerd
