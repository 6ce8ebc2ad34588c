// routerctl: sends one command to routerd over its Unix socket and prints the answer.
// The daemon parses and validates the command, so the grammar lives in one place.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "command.hpp"
#include "format.hpp"
#include "routerd_build.h"
#include "server.hpp"

using namespace routerd;

namespace {

void print_help() {
  std::printf("usage: routerctl [-s SOCKET] [-j] [-4|-6] COMMAND\n\ncommands:\n");
  for (const auto& h : command_help()) std::printf("  %-14s %-48s %s\n", h.command, h.args, h.what);
  std::printf(
      "\n-j prints the daemon's JSON answer; -4 or -6 shows one family (addr, route and neigh\n"
      "show, route summary); the socket defaults to /run/routerd/routerd.sock or "
      "$ROUTERD_SOCKET.\n");
}

}  // namespace

static int main_(int argc, char** argv) {
  // Options may follow the command ("routerctl route show -j"), as with iproute2.
  // -4 and -6 are routerd's to check (the filter of a show, the family of an address):
  // they go to it as the first words, where parse_request() takes them.
  std::vector<std::string> words, opts, family;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-4" || a == "-6") {
      family.push_back(a);
    } else if (a == "-j" || a == "--json" || a == "-h" || a == "--help" || a == "--version" ||
               a.rfind("--socket=", 0) == 0) {
      opts.push_back(a);
    } else if ((a == "-s" || a == "--socket") && i + 1 < argc) {
      opts.push_back(a);
      opts.emplace_back(argv[++i]);
    } else {
      words.push_back(a);
    }
  }
  CLI::App app{"routerctl: control a running routerd", "routerctl"};
  const char* env = std::getenv("ROUTERD_SOCKET");
  std::string socket = env && *env ? env : "/run/routerd/routerd.sock";
  bool json_out = false;
  app.add_option("-s,--socket", socket, "routerd control socket");
  app.add_flag("-j,--json", json_out, "print JSON");
  app.set_version_flag("--version", ROUTERD_VERSION);
  app.set_help_flag();  // help is ours: it lists the commands
  app.add_flag_callback("-h,--help", [] {
    print_help();
    std::exit(0);
  });
  try {
    std::vector<std::string> rev(opts.rbegin(), opts.rend());
    app.parse(rev);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (words.empty() && !family.empty()) {
    std::fprintf(stderr, "routerctl: no command after %s\n", family.back().c_str());
    return 2;
  }
  if (words.empty() || words[0] == "help") {
    print_help();
    return words.empty() ? 2 : 0;
  }
  // routerd reads route files itself, from its own working directory: send an absolute path.
  if (words.size() == 3 && (words[0] == "route" || words[0] == "r") && words[1] == "load")
    words[2] = std::filesystem::absolute(words[2]).string();
  // A batch file is read here and its lines sent as they are: routerd parses them and
  // reports errors by line number, which we prefix with the file name.
  std::string batch_file;
  if (!words.empty() && words[0] == "batch") {
    if (!family.empty()) {  // refused before the file is read
      std::vector<std::string> w = family;
      w.emplace_back("batch");
      try {
        parse_request(w);
      } catch (const CommandError& e) {
        std::fprintf(stderr, "routerctl: %s\n", e.what());
      }
      return 2;
    }
    if (words.size() != 2) {
      std::fprintf(stderr, "routerctl: batch: expected: batch FILE\n");
      return 2;
    }
    batch_file = words[1];
    std::ifstream f;
    std::istream* in = &std::cin;
    if (batch_file != "-") {
      f.open(batch_file);
      if (!f) {
        std::fprintf(stderr, "routerctl: %s: %s\n", batch_file.c_str(), std::strerror(errno));
        return 1;
      }
      in = &f;
    }
    words.resize(1);
    // Bounded as routerd bounds a request: `batch /dev/zero` ends with an error, not with
    // all of memory (a line without an end would grow std::getline's string without limit).
    std::string data;
    char buf[1 << 16];
    while (in->read(buf, sizeof buf) || in->gcount() > 0) {
      data.append(buf, size_t(in->gcount()));
      if (data.size() > kMaxRequestBytes) {
        std::fprintf(stderr, "routerctl: %s: larger than %zu MiB, the most one batch may hold\n",
                     batch_file.c_str(), kMaxRequestBytes >> 20);
        return 1;
      }
    }
    for (size_t at = 0; at < data.size();) {
      const size_t nl = std::min(data.find('\n', at), data.size());
      words.emplace_back(data, at, nl - at);
      at = nl + 1;
    }
    if (in->bad()) {
      std::fprintf(stderr, "routerctl: %s: read error\n", batch_file.c_str());
      return 1;
    }
  }
  words.insert(words.begin(), family.begin(), family.end());
  auto fail_line = [&](const std::string& msg) {
    if (!batch_file.empty())
      std::fprintf(stderr, "routerctl: %s: %s\n", batch_file.c_str(), msg.c_str());
    else
      std::fprintf(stderr, "routerctl: %s\n", msg.c_str());
  };
  // Refuse malformed commands here too, without needing the daemon; the verb picks the format.
  Verb verb;
  try {
    verb = parse_request(words).verb;
  } catch (const CommandError& e) {
    fail_line(e.what());
    return 2;
  }
  nlohmann::json resp;
  try {
    // As long as routerd may take: a command waits up to 120 s for the control thread.
    resp = api_call(socket, words, 150000);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "routerctl: %s\n", e.what());
    return 1;
  }
  if (!resp.value("ok", false)) {
    fail_line(resp.value("error", std::string("unknown error")));
    return 1;
  }
  const nlohmann::json& data = resp["data"];
  if (json_out) {
    std::cout << data.dump(2) << "\n";
    return 0;
  }
  std::cout << format_text(verb, data);
  return 0;
}

// Anything not handled where it arose still ends with a message and exit status 1, not an
// abort.
int main(int argc, char** argv) {
  try {
    return main_(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", "routerctl", e.what());
  } catch (...) {
    std::fprintf(stderr, "%s: unexpected error\n", "routerctl");
  }
  return 1;
}
