// Fuzz target: the control-socket request grammar. Input starting with '{' is a request line
// as lib/api/server.cpp reads it (JSON {"argv": [...]}, then parse_request); anything else is
// a command line as routerctl and batch files split it (split_command_line, parse_request).
// Invariants: the only exceptions are nlohmann::json's (answered "not JSON") and
// CommandError, with a message; the answer always serialises (the server replaces invalid UTF-8); a
// parsed Request written back in canonical words (the harness's own formatter) parses to the same
// Request, and so does its canonical form again (the grammar has a fixed point).
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "command.hpp"
#include "fuzz_util.hpp"

using namespace routerd;

namespace {

void add_words(std::vector<std::string>& w, const char* s) {
  for (auto& x : split_command_line(s)) w.push_back(x);
}

std::vector<std::string> canonical(const Request& r) {
  std::vector<std::string> w;
  // The -4/-6 filter of a show; elsewhere the address says the family.
  if (takes_family_filter(r.verb) && r.family) w.emplace_back(r.family == 6 ? "-6" : "-4");
  add_words(w, verb_name(r.verb));
  const bool v6 = r.family == 6;
  const std::string target = v6 ? r.addr6.str() : r.addr.str();
  auto dev = [&](bool always) {
    if (always || !r.dev.empty()) {
      w.emplace_back("dev");
      w.push_back(r.dev);
    }
  };
  switch (r.verb) {
    case Verb::addr_add:
    case Verb::addr_del:
      w.push_back(target + "/" + std::to_string(v6 ? r.prefix6.len : r.prefix.len));
      dev(true);
      break;
    case Verb::addr_show:
    case Verb::neigh_show:
    case Verb::link_show:
      dev(false);
      break;
    case Verb::route_add:
    case Verb::route_replace:
    case Verb::route_del:
      w.push_back(v6 ? r.prefix6.str() : r.prefix.str());
      if (r.via || r.via6) {
        w.emplace_back("via");
        if (r.via6 && !v6) w.emplace_back("inet6");  // RFC 5549
        w.push_back(r.via ? r.via->str() : r.via6->str());
      }
      dev(r.verb != Verb::route_del && !r.via && !r.via6);
      if (r.mtu) {
        w.emplace_back("mtu");
        w.push_back(std::to_string(r.mtu));
      }
      break;
    case Verb::route_get:
      w.push_back(target);
      break;
    case Verb::route_load:
      w.push_back(r.path);
      break;
    case Verb::neigh_add:
      w.insert(w.end(), {target, "lladdr", r.lladdr.str()});
      dev(true);
      break;
    case Verb::neigh_del:
      w.push_back(target);
      dev(false);
      break;
    case Verb::link_set:
      w.insert(w.end(), {"dev", r.dev, "mtu", std::to_string(r.mtu)});
      break;
    case Verb::ping:
      w.insert(w.end(), {target, "size", std::to_string(r.size), "count", std::to_string(r.count)});
      if (r.df) w.emplace_back("df");
      break;
    case Verb::tunnel_add:
      w.insert(w.end(), {r.dev, "mode", "gre", "local", r.tunnel.local.str(), "remote",
                         r.tunnel.remote.str()});
      if (r.tunnel.key) w.insert(w.end(), {"key", std::to_string(*r.tunnel.key)});
      w.insert(w.end(), {"ttl", r.tunnel.ttl ? std::to_string(r.tunnel.ttl) : "inherit"});
      if (r.mtu) w.insert(w.end(), {"mtu", std::to_string(r.mtu)});
      break;
    case Verb::tunnel_del:
      w.push_back(r.dev);
      break;
    case Verb::tunnel_show:
      if (!r.dev.empty()) w.push_back(r.dev);
      break;
    case Verb::batch:
      for (const BatchLine& b : r.batch) {
        std::string line;
        for (const std::string& x : canonical(b.req)) line += (line.empty() ? "" : " ") + x;
        w.push_back(line);
      }
      break;
    default:
      break;
  }
  return w;
}

bool same(const Request& a, const Request& b) {
  if (a.verb != b.verb || a.prefix != b.prefix || a.addr != b.addr || a.via != b.via ||
      a.mtu != b.mtu || a.dev != b.dev || a.lladdr != b.lladdr || a.path != b.path ||
      a.size != b.size || a.df != b.df || a.count != b.count || a.family != b.family ||
      a.prefix6 != b.prefix6 || a.addr6 != b.addr6 || a.via6 != b.via6 ||
      a.tunnel.local != b.tunnel.local || a.tunnel.remote != b.tunnel.remote ||
      a.tunnel.key != b.tunnel.key || a.tunnel.ttl != b.tunnel.ttl ||
      a.batch.size() != b.batch.size())
    return false;
  for (size_t i = 0; i < a.batch.size(); ++i)
    if (!same(a.batch[i].req, b.batch[i].req)) return false;
  return true;
}

std::string join(const std::vector<std::string>& w) {
  std::string s;
  for (const auto& x : w) s += "[" + x + "]";
  return s;
}

void check_round_trip(const Request& r) {
  // A batch line holding a word with a blank or starting with '#' cannot be written back
  // as a line; every other request can.
  const std::vector<std::string> w = canonical(r);
  Request again;
  try {
    again = parse_request(w);
  } catch (const CommandError& e) {
    FUZZ_CHECK(false, "the canonical form %s is refused: %s", join(w).c_str(), e.what());
  }
  FUZZ_CHECK(same(r, again), "%s parses to another request", join(w).c_str());
  FUZZ_CHECK(canonical(again) == w, "no fixed point at %s", join(w).c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string line(reinterpret_cast<const char*>(data), size);
  nlohmann::json resp;
  try {
    std::vector<std::string> argv;
    if (!line.empty() && line[0] == '{') {
      auto req = nlohmann::json::parse(line);  // what ApiServer::serve does, step by step
      if (!req.is_object() || !req.contains("argv") || !req["argv"].is_array())
        throw CommandError("bad request: expected {\"argv\": [...]}");
      for (const auto& a : req["argv"]) {
        if (!a.is_string()) throw CommandError("bad request: argv must hold strings");
        argv.push_back(a.get<std::string>());
      }
    } else {
      argv = split_command_line(line);
    }
    const Request r = parse_request(argv);
    check_round_trip(r);
    resp = {{"ok", true}, {"data", argv}};
  } catch (const nlohmann::json::exception&) {
    resp = {{"ok", false}, {"error", "bad request: not JSON"}};
  } catch (const CommandError& e) {
    const std::string what = e.what();
    FUZZ_CHECK(!what.empty());
    resp = {{"ok", false}, {"error", what}};
  }
  // Any other exception escapes and libFuzzer reports it as a crash.
  const std::string out = resp.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  FUZZ_CHECK(!out.empty());
  return 0;
}
