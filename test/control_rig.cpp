#include "control_rig.hpp"

#include <rte_bus_vdev.h>
#include <rte_ip.h>

#include <cstring>

#include <catch2/catch.hpp>

#include "command.hpp"
#include "mld.hpp"
#include "ndp.hpp"
#include "test_eal.hpp"

namespace routerd::testing {

namespace {
int next_serial() {
  static int n = 0;
  return ++n;
}
}  // namespace

ControlRig::ControlRig(const Options& o)
    : tag((test_eal(), std::to_string(next_serial()))),
      pool(make_pktmbuf_pool("rig_pool" + tag, o.mbufs, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY)),
      punt(make_ring("rig_punt" + tag, 256, sizeof(PuntEntry), SOCKET_ID_ANY, RING_F_SC_DEQ)),
      ctl_tx(make_ring("rig_tx" + tag, 256, sizeof(TxEntry), SOCKET_ID_ANY,
                       RING_F_SP_ENQ | RING_F_SC_DEQ)),
      dp(DataplaneParams{}, o.readers, o.next_hops, Fib::Params{1024, o.tbl8, SOCKET_ID_ANY},
         Fib6::Params{1024, o.tbl8, SOCKET_ID_ANY}, punt.get(), ctl_tx.get()) {
  devices = {"net_null_rig" + tag + "_0", o.p1_driver + "_rig" + tag + "_1"};
  std::vector<Control::PortRef> refs;
  for (int i = 0; i < 2; ++i) {
    REQUIRE(rte_vdev_init(devices[size_t(i)].c_str(), nullptr) == 0);
    PortConfig pc;
    pc.name = "p" + std::to_string(i);
    pc.device = devices[size_t(i)];
    pc.mtu = 1500;
    ports.push_back(std::make_unique<Port>(pc, Preset{}, 1, pool.get()));
    refs.push_back({ports.back().get(), ports.back()->id(), pc.name, ports.back()->mac(), 1500});
  }
  if (o.config_toml.empty()) {
    ctl = std::make_unique<Control>(dp, o.config, refs, pool.get());
    run({"addr", "add", "10.1.0.1/24", "dev", "p0"});
    run({"addr", "add", "10.2.0.1/24", "dev", "p1"});
    return;
  }
  const Config cfg = parse_config(o.config_toml, "rig" + tag + ".toml");
  ctl = std::make_unique<Control>(dp, cfg, refs, pool.get());
  ctl->load(cfg, {});
}

ControlRig::~ControlRig() {
  ctl.reset();
  for (size_t i = 0; i < ports.size(); ++i) {
    ports[i].reset();
    rte_vdev_uninit(devices[i].c_str());
  }
}

nlohmann::json ControlRig::run(const std::vector<std::string>& argv) {
  return ctl->execute(parse_request(argv));
}

std::vector<std::vector<uint8_t>> ControlRig::sent_frames(std::vector<uint16_t>* out_ports) {
  std::vector<std::vector<uint8_t>> out;
  if (out_ports) out_ports->clear();
  TxEntry t;
  while (rte_ring_dequeue_elem(ctl_tx.get(), &t, sizeof t) == 0) {
    const auto* p = rte_pktmbuf_mtod(t.m, const uint8_t*);
    if (!is_ipv6_startup(p, rte_pktmbuf_data_len(t.m))) {
      if (out_ports) out_ports->push_back(t.port);
      out.emplace_back(p, p + rte_pktmbuf_data_len(t.m));
    }
    rte_pktmbuf_free(t.m);
  }
  return out;
}

std::string ControlRig::fails(const std::vector<std::string>& argv) {
  try {
    run(argv);
  } catch (const CommandError& e) {
    return e.what();
  }
  return "";
}

bool is_ipv6_startup(const uint8_t* f, size_t n) {
  if (n < 14 + 40 || f[12] != 0x86 || f[13] != 0xdd) return false;
  if (mld_parse_report(f + 14, n - 14)) return true;
  const auto nd = ndp_parse(f + 14, n - 14);
  return nd && nd->type == nd::neighbor_solicit && nd->src.is_unspecified();
}

PuntEntry arp_from(rte_mempool* pool, Ipv4 sender, uint16_t mac_id, ArpPacket::Op op, Ipv4 target,
                   uint16_t in_port) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool);
  REQUIRE(m);
  auto* out = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, kMinFrameLen));
  const Mac mac{{0x02, 0x5b, 0, 0, uint8_t(mac_id >> 8), uint8_t(mac_id)}};
  Mac dst;
  dst.b.fill(0xff);
  ArpPacket a = arp_request(mac, sender, target);
  a.op = op;
  arp_build_frame(out, dst, mac, a);
  return PuntEntry{m, 0, uint8_t(Punt::arp), 0, in_port};
}

PuntEntry ip_to(rte_mempool* pool, Ipv4 src, Ipv4 dst, Punt why, uint8_t ttl, uint16_t total,
                bool df) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool);
  REQUIRE(m);
  REQUIRE(total >= 28);
  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, uint16_t(14 + total)));
  REQUIRE(p);
  std::memset(p, 0, 14 + total);
  p[12] = 0x08;
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(p + 14);
  ip->version_ihl = 0x45;
  ip->total_length = rte_cpu_to_be_16(total);
  if (df) ip->fragment_offset = RTE_BE16(RTE_IPV4_HDR_DF_FLAG);
  ip->time_to_live = ttl;
  ip->next_proto_id = IPPROTO_ICMP;
  ip->src_addr = rte_cpu_to_be_32(src.v);
  ip->dst_addr = rte_cpu_to_be_32(dst.v);
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  p[34] = 8;  // echo request
  m->port = 0;
  return PuntEntry{m, 0, uint8_t(why), 0, 0};
}

}  // namespace routerd::testing
