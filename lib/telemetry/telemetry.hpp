// telemetry: routerd's commands on DPDK's telemetry socket (/routerd/stats, /routerd/lcores,
// /routerd/routes, /routerd/cache, /routerd/neighbours), answered by the control thread
// through the same path as routerctl, so stock dpdk-telemetry.py can read them.
#pragma once

#include <rte_telemetry.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace routerd {

class Telemetry {
 public:
  // Runs a routerctl command (argv) on the control thread and returns its JSON answer.
  using Call = std::function<nlohmann::json(const std::vector<std::string>& argv)>;

  // Registers the commands (once per process: DPDK cannot unregister them) and answers
  // them with `call` until this object is destroyed; after that they answer with an error.
  explicit Telemetry(Call call);
  ~Telemetry();
  Telemetry(const Telemetry&) = delete;
  Telemetry& operator=(const Telemetry&) = delete;

  // The commands and what each returns, for docs and tests.
  static const std::vector<std::pair<std::string, std::string>>& commands();

  // Fills `d` with `j` within what DPDK 22.11 telemetry can carry: one level of nested
  // containers (deeper objects are flattened into parent_child names), no dicts inside
  // arrays (a list of objects becomes a dict keyed by each one's name, dst or worker
  // index), names of [A-Za-z0-9_] only, strings of at most 127 bytes, 256 dict and 512
  // array entries.
  // Numbers that are not unsigned 64-bit or 32-bit signed become strings; true/false 1/0.
  // Returns false when something did not fit (routerd then logs a warning).
  // Nested containers are freed by telemetry after it sends the answer, unless `owned` is
  // given: then they are listed there for the caller to free (tests, which send nothing).
  static bool to_tel(const nlohmann::json& j, rte_tel_data* d,
                     std::vector<rte_tel_data*>* owned = nullptr);

  // What the command answers, as JSON (before conversion); throws on an unknown command.
  static nlohmann::json answer(const Call& call, const std::string& cmd);
};

}  // namespace routerd
