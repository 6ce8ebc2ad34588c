#include "routefile.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tbb/concurrent_vector.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_sort.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace routerd {

namespace {

// Splits on spaces and tabs; at most 8 words (a route line has at most 5).
// Any ASCII white space separates words: a CR left inside a line (a file edited on Windows,
// then padded) must not end up in a port name (found by the routefile fuzz target).
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

size_t split_words(std::string_view line, std::string_view* out, size_t max) {
  size_t n = 0, i = 0;
  while (i < line.size() && n < max) {
    while (i < line.size() && is_space(line[i])) ++i;
    size_t start = i;
    while (i < line.size() && !is_space(line[i])) ++i;
    if (i > start) out[n++] = line.substr(start, i - start);
  }
  return n;
}

}  // namespace

namespace {

// Lines in, specs out, in the order of the lines; blank and comment lines leave an unused
// spec, dropped by finish(). Feeding whole lines a piece at a time gives the same result as
// feeding them all at once: a file is read in pieces, so that its text needs no buffer of
// its own size (26 MiB of fresh pages for a full table, each one a fault).
class LineParser {
 public:
  explicit LineParser(const std::string& name) : name_(name) {}

  void reserve(size_t lines) {
    specs_.reserve(lines);
    used_.reserve(lines);
  }
  size_t lines() const { return specs_.size(); }
  // `text` holds whole lines, the last one with or without its '\n'. Throws CommandError
  // for the first bad one.
  void feed(std::string_view text) {
    // Line starts first (one cheap pass), so lines can be parsed in any order in parallel.
    starts_.clear();
    for (size_t i = 0; i < text.size();) {
      starts_.push_back(uint32_t(i));
      const void* nl = std::memchr(text.data() + i, '\n', text.size() - i);
      i = nl ? size_t(static_cast<const char*>(nl) - text.data()) + 1 : text.size();
    }
    const size_t base = specs_.size();
    specs_.resize(base + starts_.size());
    used_.resize(base + starts_.size(), 0);
    tbb::concurrent_vector<std::pair<size_t, std::string>> errors;
    auto parse_lines = [&](const tbb::blocked_range<size_t>& r) {
      // The longest line: [TYPE] PREFIX mtu N, then 64 x "nexthop via inet6 G dev P weight W"
      // (RFC 5549), and room for a 65th, which the grammar refuses by name.
      constexpr size_t kMaxWords = 4 + (kMaxNexthops + 1) * 8;
      std::string_view words[kMaxWords + 1];
      // "<name>:<line>" for error messages, rewritten in place for each line: a string built
      // per line was a tenth of parsing a full table.
      std::string where = name_ + ":";
      const size_t where_len = where.size();
      for (size_t i = r.begin(); i != r.end(); ++i) {
        size_t end = i + 1 < starts_.size() ? starts_[i + 1] : text.size();
        std::string_view line = text.substr(starts_[i], end - starts_[i]);
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
        size_t n = split_words(line, words, kMaxWords + 1);
        if (n == 0 || words[0][0] == '#') continue;
        const size_t at = base + i;  // 0-based line number in the whole text
        try {
          where.resize(where_len);
          where += std::to_string(at + 1);
          if (n > kMaxWords) throw CommandError(where + ": too many words");
          specs_[at] = parse_route_spec(where, {words, n});
          specs_[at].line = uint32_t(at + 1);
          used_[at] = 1;
        } catch (const CommandError& e) {
          // Only the first bad line is reported, and no later line of this range can be it:
          // stop here rather than throw once per line of a file of garbage.
          errors.push_back({at, e.what()});
          break;
        }
      }
    };
    tbb::parallel_for(tbb::blocked_range<size_t>(0, starts_.size(), 4096), parse_lines);
    if (!errors.empty()) {
      // Report the first bad line, whichever thread found it.
      auto first = std::min_element(errors.begin(), errors.end());
      throw CommandError(first->second);
    }
  }

  std::vector<RouteSpec> finish() {
    // Blank and comment lines out, in place: a second vector of a full table's specs cost
    // more (its pages zeroed, every spec moved) than the parse of the lines.
    size_t kept = 0;
    for (size_t i = 0; i < specs_.size(); ++i)
      if (used_[i]) {
        if (kept != i) specs_[kept] = std::move(specs_[i]);
        ++kept;
      }
    specs_.resize(kept);
    // Address order is also the fastest order to fill a DIR-24-8 table in (measured: 0.18 s
    // for the full table against 0.22 s in file order and 0.54 s longest prefix first).
    // IPv4 routes come first, then IPv6 ones, each in address order; a prefix of one family
    // never equals one of the other (10.0.0.0/8 and ::a00:0/8 are different routes).
    tbb::parallel_sort(specs_.begin(), specs_.end(), [](const RouteSpec& a, const RouteSpec& b) {
      if (route_prefix_less(a, b)) return true;
      return !route_prefix_less(b, a) && a.line < b.line;
    });
    for (size_t i = 1; i < specs_.size(); ++i)
      if (same_route_prefix(specs_[i], specs_[i - 1]))
        throw CommandError(name_ + ":" + std::to_string(specs_[i].line) + ": " +
                           route_prefix_str(specs_[i]) + " already given on line " +
                           std::to_string(specs_[i - 1].line));
    return std::move(specs_);
  }

 private:
  const std::string& name_;
  std::vector<RouteSpec> specs_;  // one per line fed
  std::vector<uint8_t> used_;     // 1 where specs_ holds a route
  std::vector<uint32_t> starts_;  // of the lines of the current piece
};

}  // namespace

std::vector<RouteSpec> parse_route_text(std::string_view text, const std::string& name) {
  if (text.size() > UINT32_MAX) throw CommandError(name + ": file too large");
  LineParser p(name);
  p.feed(text);
  return p.finish();
}

std::vector<RouteSpec> parse_route_file(const std::string& path, size_t piece_bytes) {
  // routerd reads route files as root on behalf of whoever may use the control socket: only
  // regular files (not /dev/zero, a FIFO or a socket), of bounded size.
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) throw CommandError(path + ": cannot read: " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  struct stat st {};
  if (fstat(fd, &st) != 0) throw CommandError(path + ": cannot read: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw CommandError(path + ": not a regular file");
  if (uint64_t(st.st_size) > kMaxRouteFileBytes)
    throw CommandError(path + ": " + std::to_string(st.st_size >> 20) +
                       " MiB; route files are at most " + std::to_string(kMaxRouteFileBytes >> 20) +
                       " MiB");
  // Read, not mapped: a file truncated under a mapping would kill routerd with SIGBUS. In
  // pieces, each ending at its last whole line; the rest moves to the front of the next.
  // Not a std::string, which would zero the buffer before read() overwrites it.
  const size_t size = size_t(st.st_size);
  const size_t cap = std::max<size_t>(std::min(piece_bytes, size), 1);
  std::unique_ptr<char[]> buf(new char[cap]);
  LineParser p(path);
  // Room for every line of a file of full-table-like lines, without touching the memory
  // (reserving writes nothing); a file of shorter lines grows the vectors as it goes.
  p.reserve(size / 24 + 1);
  size_t total = 0;  // bytes read; a file that grows while read is cut at the size it had
  size_t have = 0;   // bytes in buf
  for (;;) {
    bool eof = total == size;
    while (!eof && have < cap) {
      const ssize_t n = read(fd, buf.get() + have, std::min(cap - have, size - total));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw CommandError(path + ": cannot read: " + std::strerror(errno));
      if (n == 0) {
        eof = true;
        break;
      }
      have += size_t(n);
      total += size_t(n);
      eof = total == size;
    }
    if (have == 0) break;
    size_t whole = have;  // at EOF the last line needs no '\n'
    if (!eof) {
      const char* nl = static_cast<const char*>(memrchr(buf.get(), '\n', have));
      if (!nl)
        throw CommandError(path + ":" + std::to_string(p.lines() + 1) + ": longer than " +
                           std::to_string(cap) + " bytes");
      whole = size_t(nl - buf.get()) + 1;
    }
    p.feed({buf.get(), whole});
    std::memmove(buf.get(), buf.get() + whole, have - whole);
    have -= whole;
    if (eof && have == 0) break;
  }
  return p.finish();
}

}  // namespace routerd
