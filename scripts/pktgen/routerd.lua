-- routerd.lua: a pktgen-dpdk script for measuring routerd on real NICs (docs/performance.md,
-- "pktgen-dpdk against routerd"). Port 0 of pktgen sends 64-byte UDP frames to routerd's
-- input port; routerd forwards them out of its output port, cabled back to pktgen port 1,
-- which counts them. For each offered rate it prints sent, received and lost packets, then
-- narrows down the highest rate with no loss (RFC 2544 style binary search).
--
-- Run: pktgen -l 0-2 -n 4 -a <NIC0> -a <NIC1> -- -P -m "[1].0, [2].1" -f scripts/pktgen/routerd.lua
-- Settings come from the environment (defaults in brackets):
--   RTR_MAC     routerd's input port MAC (routerctl link show)        [required]
--   SRC_IP      pktgen port 0 address with prefix length              [10.1.0.2/24]
--   DST_START   first destination; DST_END last (routed by routerd to the output port)
--                                                                     [10.99.0.1 .. 10.99.0.254]
--   SIZE        frame size in bytes                                   [64]
--   SECONDS     seconds per trial                                     [10]
--   LOSS        loss ratio still counted as "no loss"                 [0]
-- Written for pktgen-dpdk 21.x-23.x; older releases name the range calls pktgen.dst_ip(...)
-- instead of pktgen.range.dst_ip(...), and both are tried. Not run in routerd's CI (no NIC).
package.path = package.path .. ";?.lua;test/?.lua;app/?.lua;"
require "Pktgen"

local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then
    if default == nil then error(name .. " is required (see the header of routerd.lua)") end
    return default
  end
  return v
end

local rtr_mac   = env("RTR_MAC")
local src_ip    = env("SRC_IP", "10.1.0.2/24")
local dst_start = env("DST_START", "10.99.0.1")
local dst_end   = env("DST_END", "10.99.0.254")
local size      = tonumber(env("SIZE", "64"))
local seconds   = tonumber(env("SECONDS", "10"))
local max_loss  = tonumber(env("LOSS", "0"))

local range = type(pktgen.range) == "table" and pktgen.range or pktgen
local function ranged(fn, port, ...)
  if range[fn] then return range[fn](port, ...) end
  return pktgen[fn](port, ...)
end

pktgen.set_mac("0", "dst", rtr_mac)
pktgen.set_ipaddr("0", "src", src_ip)
pktgen.set_proto("0", "udp")
pktgen.set("0", "size", size)
ranged("dst_mac", "0", "start", rtr_mac)
ranged("dst_ip", "0", "start", dst_start)
ranged("dst_ip", "0", "inc", "0.0.0.1")
ranged("dst_ip", "0", "min", dst_start)
ranged("dst_ip", "0", "max", dst_end)
ranged("src_ip", "0", "start", (src_ip:gsub("/.*", "")))
ranged("src_ip", "0", "inc", "0.0.0.0")
ranged("src_ip", "0", "min", (src_ip:gsub("/.*", "")))
ranged("src_ip", "0", "max", (src_ip:gsub("/.*", "")))
ranged("pkt_size", "0", "start", size)
ranged("pkt_size", "0", "inc", 0)
ranged("pkt_size", "0", "min", size)
ranged("pkt_size", "0", "max", size)
pktgen.set_range("0", "on")

local function counters()
  local s = pktgen.portStats("all", "port")
  return s[0].opackets, s[1].ipackets
end

-- One trial at `rate` percent of line rate: packets sent by port 0 and received on port 1.
local function trial(rate)
  pktgen.set("0", "rate", rate)
  pktgen.clr()
  pktgen.delay(500)
  local tx0, rx0 = counters()
  pktgen.start("0")
  pktgen.delay(seconds * 1000)
  pktgen.stop("0")
  pktgen.delay(1000)  -- let the last frames through routerd
  local tx1, rx1 = counters()
  local sent, got = tx1 - tx0, rx1 - rx0
  local lost = sent - got
  printf("rate %6.2f%%  sent %12d  received %12d  lost %10d (%.4f%%)\n", rate, sent, got, lost,
         sent > 0 and 100 * lost / sent or 0)
  return sent > 0 and lost / sent <= max_loss
end

printf("routerd via pktgen: %d-byte frames to %s, destinations %s..%s, %d s per trial\n",
       size, rtr_mac, dst_start, dst_end, seconds)
for _, r in ipairs({100, 50, 10}) do trial(r) end
local lo, hi = 0, 100
if trial(100) then lo = 100 end
while hi - lo > 0.5 do
  local mid = (lo + hi) / 2
  if trial(mid) then lo = mid else hi = mid end
end
printf("zero-loss rate: %.2f%% of line rate (%d-byte frames)\n", lo, size)
