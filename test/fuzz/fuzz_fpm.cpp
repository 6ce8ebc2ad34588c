// Fuzz target: an FPM byte stream from FRR's zebra (lib/fpm), as the listener reads it.
// Invariants: only FpmError escapes, its message starting with "fpm: "; the stream cut into
// reads of any sizes gives the same frames, the same error and the same pending bytes as one
// read, and never buffers a whole frame; a refused frame leaves the output as it was; an
// accepted frame decodes the same at any alignment, into messages within their ranges
// (families, prefix lengths with no host bits, weights 1..256, 1..64 distinct non-zero group
// members, a group with nothing else, non-zero next-hop ids).
#include <sys/socket.h>

#include <cstring>
#include <string>
#include <vector>

#include "fpm.hpp"
#include "fuzz_util.hpp"

using namespace routerd;
using namespace routerd::fpm;

namespace {

struct Run {
  std::vector<std::vector<uint8_t>> frames;
  std::string error;
  size_t pending = 0;
};

// The stream in reads of the given sizes (cycled); 0 means one read of everything.
Run read_stream(const uint8_t* data, size_t size, const std::vector<size_t>& sizes) {
  Run r;
  FrameReader reader;
  auto on = [&](std::span<const uint8_t> f) { r.frames.emplace_back(f.begin(), f.end()); };
  try {
    if (sizes.empty()) {
      reader.feed({data, size}, on);
    } else {
      for (size_t off = 0, i = 0; off < size; ++i) {
        const size_t n = std::min(sizes[i % sizes.size()], size - off);
        reader.feed({data + off, n}, on);
        off += n;
        FUZZ_CHECK(reader.pending() < kMaxFrame, "%zu bytes pending", reader.pending());
      }
    }
  } catch (const FpmError& e) {
    r.error = e.what();
    FUZZ_CHECK(r.error.rfind("fpm: ", 0) == 0, "an error without 'fpm: ': %s", r.error.c_str());
    FUZZ_CHECK(reader.failed() && reader.error() == r.error);
  }
  r.pending = reader.pending();
  return r;
}

void check_path(const Path& p) {
  FUZZ_CHECK(p.weight >= 1 && p.weight <= 256, "path weight %u", unsigned(p.weight));
  FUZZ_CHECK(p.gw_family == 0 || p.gw_family == AF_INET || p.gw_family == AF_INET6);
  FUZZ_CHECK(p.gw_family != AF_INET || p.gw6 == Ipv6(), "an IPv4 gateway with IPv6 bytes");
  FUZZ_CHECK(p.gw_family != AF_INET6 || p.gw4 == Ipv4(), "an IPv6 gateway with IPv4 bytes");
}

void check(const Message& m) {
  if (const auto* r = std::get_if<RouteMsg>(&m)) {
    FUZZ_CHECK(r->family == AF_INET || r->family == AF_INET6, "route family %u",
               unsigned(r->family));
    if (r->family == AF_INET) {
      FUZZ_CHECK(r->prefix4.len <= 32 && (r->prefix4.addr.v & ~prefix_mask(r->prefix4.len)) == 0);
      FUZZ_CHECK(r->prefix6 == Prefix6{});
    } else {
      FUZZ_CHECK(r->prefix6.len <= 128 &&
                 ipv6_mask(r->prefix6.addr, r->prefix6.len) == r->prefix6.addr);
      FUZZ_CHECK(r->prefix4 == Prefix4{});
    }
    FUZZ_CHECK(r->paths.size() <= kMaxPaths, "%zu paths", r->paths.size());
    for (const Path& p : r->paths) check_path(p);
  } else if (const auto* n = std::get_if<NexthopMsg>(&m)) {
    FUZZ_CHECK(n->id != 0, "a next hop with id 0");
    FUZZ_CHECK(n->group.size() <= kMaxPaths);
    for (size_t i = 0; i < n->group.size(); ++i) {
      FUZZ_CHECK(n->group[i].id != 0 && n->group[i].weight >= 1 && n->group[i].weight <= 256);
      for (size_t j = 0; j < i; ++j) FUZZ_CHECK(n->group[j].id != n->group[i].id);
    }
    FUZZ_CHECK(n->group.empty() || (!n->gw_family && !n->ifindex && !n->blackhole),
               "a group with a gateway, a device or a blackhole");
    FUZZ_CHECK(!n->blackhole || (!n->gw_family && !n->ifindex));
    FUZZ_CHECK(!n->add || !n->group.empty() || n->blackhole || n->ifindex,
               "a new next hop with nowhere to send");
    FUZZ_CHECK(n->gw_family == 0 || n->gw_family == n->family);
  } else {
    FUZZ_CHECK(!std::get<IgnoredMsg>(m).why.empty());
  }
}

// Two decodes agree when they give the same messages, or the same error.
std::string summary(const std::vector<Message>& msgs) {
  std::string s;
  for (const Message& m : msgs) {
    s += std::to_string(m.index());
    if (const auto* r = std::get_if<RouteMsg>(&m))
      s += (r->family == AF_INET ? r->prefix4.str() : r->prefix6.str()) + "/" +
           std::to_string(r->paths.size()) + "/" + std::to_string(r->nh_id);
    if (const auto* n = std::get_if<NexthopMsg>(&m))
      s += std::to_string(n->id) + "/" + std::to_string(n->group.size());
    s += ";";
  }
  return s;
}

std::string decode_summary(std::span<const uint8_t> f) {
  std::vector<Message> out(2);  // what earlier frames left: must survive a refusal
  try {
    decode_frame(f, out);
  } catch (const FpmError& e) {
    const std::string what = e.what();
    FUZZ_CHECK(what.rfind("fpm: ", 0) == 0, "an error without 'fpm: ': %s", what.c_str());
    FUZZ_CHECK(out.size() == 2, "a refused frame left %zu messages", out.size() - 2);
    return "error " + what;
  }
  FUZZ_CHECK(out.size() >= 3, "an accepted frame with no message");
  for (size_t i = 2; i < out.size(); ++i) check(out[i]);
  out.erase(out.begin(), out.begin() + 2);
  return summary(out);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Run whole = read_stream(data, size, {});
  // Reads of varied sizes, small ones to split headers and large ones to join frames.
  const Run cut = read_stream(data, size, {1, 3, 7, 2, 64, 5, 1000, 4, 17});
  FUZZ_CHECK(cut.frames == whole.frames, "%zu frames cut, %zu whole", cut.frames.size(),
             whole.frames.size());
  FUZZ_CHECK(cut.error == whole.error, "'%s' cut, '%s' whole", cut.error.c_str(),
             whole.error.c_str());
  FUZZ_CHECK(cut.pending == whole.pending);
  FUZZ_CHECK(whole.error.empty() || whole.pending == 0, "a failed reader holds bytes");

  // Each frame decoded from an aligned copy and from one shifted by a byte.
  std::vector<uint8_t> shifted;
  for (const auto& f : whole.frames) {
    FUZZ_CHECK(f.size() + kHeaderLen >= kMinFrame && f.size() + kHeaderLen <= kMaxFrame);
    const std::string a = decode_summary(f);
    shifted.assign(f.size() + 1, 0);
    if (!f.empty()) std::memcpy(shifted.data() + 1, f.data(), f.size());
    const std::string b = decode_summary({shifted.data() + 1, f.size()});
    FUZZ_CHECK(a == b, "alignment changed the result: '%s' vs '%s'", a.c_str(), b.c_str());
  }
  // The payload alone, as one frame: reaches the decoder without a valid FPM header.
  if (size <= kMaxFrame - kHeaderLen) (void)decode_summary({data, size});
  return 0;
}
