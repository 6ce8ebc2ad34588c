# shellcheck shell=bash
# frr-bgp.sh: FRR's BGP on the testbed, shared by test/integration/43-bgp.sh and
# scripts/demo-bgp. Source it after testbed.sh, with [control_plane] on and fpm_listen =
# "127.0.0.1:2620" in routerd's config.
#
# The router: zebra (-M dplane_fpm_nl: its routes go to routerd over FPM) and bgpd, AS 65000,
# in routerd's control namespace, peering over routerd's ports. It collects routes and
# announces none, and keeps up to 4 equal paths, from different neighbour ASes too.
# Peer I: bgpd in host namespace I, AS 65001+I, with an IPv4 session to 10.(I+1).0.1 and an
# IPv6 one to 2001:db8:(I+1)::1; alone (-Z: no zebra, so it installs nothing and needs its
# router id given and `no bgp network import-check`) or beside a zebra of its own. The
# configs are docs/operations.md's.

BGP_DIR=
BGP_CP=

bgp_as() { echo $((65001 + $1)); }

# bgp_init DIR CP_NS: DIR holds the configs and logs (user frr reads and writes it); CP_NS is
# routerd's control namespace. Each namespace FRR runs in gets its run and vtysh directories,
# and its daemons are stopped and those removed at cleanup.
bgp_init() {
  local ns
  BGP_DIR=$1 BGP_CP=$2
  mkdir -p "$BGP_DIR"
  chown frr:frr "$BGP_DIR"
  for ns in "$BGP_CP" "${TB_HOSTS[@]}"; do
    mkdir -p "/var/run/frr/$ns" "/etc/frr/$ns"
    touch "/etc/frr/$ns/vtysh.conf" # vtysh -N reads it, and complains when there is none
    chown frr:frr "/var/run/frr/$ns"
    tb_on_cleanup "for p in /var/run/frr/$ns/*.pid; do [[ -f \$p ]] && kill \$(cat \$p); done; sleep 0.5; rm -rf /var/run/frr/$ns /etc/frr/$ns"
  done
}

# bgp_router_conf PEER...: the router's zebra.conf and bgpd.conf in BGP_DIR. PEER is a host
# index I (IPv4 and IPv6 sessions) or I/4 (IPv4 only).
# The route-maps come first: one a neighbour names before it exists denies what arrives until
# bgpd takes the definition in (after its 5 s route-map delay) and asks the peer to send again
# (ROUTE-REFRESH); a peer that does not offer route refresh is never asked.
bgp_router_conf() {
  local p i
  echo "fpm address 127.0.0.1 port 2620" >"$BGP_DIR/cp-zebra.conf"
  {
    cat <<'EOF'
route-map ACCEPT permit 10
route-map NONE deny 10
router bgp 65000
 bgp router-id 10.1.0.1
 no bgp default ipv4-unicast
 bgp bestpath as-path multipath-relax
 neighbor V4 peer-group
 neighbor V4 timers connect 1
 neighbor V4 advertisement-interval 0
 neighbor V6 peer-group
 neighbor V6 timers connect 1
 neighbor V6 advertisement-interval 0
EOF
    for p in "$@"; do
      i=${p%/4}
      echo " neighbor $(tb_host_ip "$i") remote-as $(bgp_as "$i")"
      echo " neighbor $(tb_host_ip "$i") peer-group V4"
      [[ $p == */4 ]] && continue
      echo " neighbor $(tb_host_ip6 "$i") remote-as $(bgp_as "$i")"
      echo " neighbor $(tb_host_ip6 "$i") peer-group V6"
    done
    cat <<'EOF'
 address-family ipv4 unicast
  maximum-paths 4
  neighbor V4 activate
  neighbor V4 route-map ACCEPT in
  neighbor V4 route-map NONE out
 exit-address-family
 address-family ipv6 unicast
  maximum-paths 4
  neighbor V6 activate
  neighbor V6 route-map ACCEPT in
  neighbor V6 route-map NONE out
 exit-address-family
EOF
  } >"$BGP_DIR/cp-bgpd.conf"
  chown frr:frr "$BGP_DIR"/cp-*.conf
}

# bgp_peer_conf I NETWORK...: peer I's bgpd.conf in BGP_DIR, announcing the NETWORKs (IPv4
# ones over the IPv4 session, IPv6 ones over the IPv6 session).
bgp_peer_conf() {
  local i=$1 n r4 r6
  shift
  r4=$(tb_router_ip "$i") r6=$(tb_router_ip6 "$i")
  {
    cat <<EOF
router bgp $(bgp_as "$i")
 bgp router-id $(tb_host_ip "$i")
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor $r4 remote-as 65000
 neighbor $r4 timers connect 1
 neighbor $r4 advertisement-interval 0
 neighbor $r6 remote-as 65000
 neighbor $r6 timers connect 1
 neighbor $r6 advertisement-interval 0
 address-family ipv4 unicast
EOF
    for n in "$@"; do [[ $n == *:* ]] || echo "  network $n"; done
    echo "  no neighbor $r6 activate"
    echo " exit-address-family"
    echo " address-family ipv6 unicast"
    for n in "$@"; do [[ $n != *:* ]] || echo "  network $n"; done
    echo "  neighbor $r6 activate"
    echo " exit-address-family"
  } >"$BGP_DIR/h$i-bgpd.conf"
  chown frr:frr "$BGP_DIR/h$i-bgpd.conf"
}

# bgp_start_router: zebra and bgpd in the control namespace. (zebra's stderr goes to
# cp-zebra.stderr: it says there "Disabling MPLS support" when the kernel has none.)
bgp_start_router() {
  ip netns exec "$BGP_CP" /usr/lib/frr/zebra -N "$BGP_CP" -M dplane_fpm_nl -d \
    -f "$BGP_DIR/cp-zebra.conf" -i "/var/run/frr/$BGP_CP/zebra.pid" --log "file:$BGP_DIR/cp-zebra.log" \
    2>>"$BGP_DIR/cp-zebra.stderr"
  ip netns exec "$BGP_CP" /usr/lib/frr/bgpd -N "$BGP_CP" -d \
    -f "$BGP_DIR/cp-bgpd.conf" -i "/var/run/frr/$BGP_CP/bgpd.pid" --log "file:$BGP_DIR/cp-bgpd.log"
}

# bgp_start_peer I [zebra]: peer I's bgpd, without zebra; with "zebra", beside a zebra of its
# own: bgpd then knows its interface and sends its link-local address as a second IPv6 next
# hop, which the router's zebra prefers (the route goes via fe80::... dev pI).
bgp_start_peer() {
  local ns=${TB_HOSTS[$1]} z=-Z
  if [[ ${2:-} == zebra ]]; then
    : >"$BGP_DIR/h$1-zebra.conf"
    chown frr:frr "$BGP_DIR/h$1-zebra.conf"
    ip netns exec "$ns" /usr/lib/frr/zebra -N "$ns" -d -f "$BGP_DIR/h$1-zebra.conf" \
      -i "/var/run/frr/$ns/zebra.pid" --log "file:$BGP_DIR/h$1-zebra.log" 2>>"$BGP_DIR/h$1-zebra.stderr"
    z=
  fi
  ip netns exec "$ns" /usr/lib/frr/bgpd -N "$ns" $z -d -f "$BGP_DIR/h$1-bgpd.conf" \
    -i "/var/run/frr/$ns/bgpd.pid" --log "file:$BGP_DIR/h$1-bgpd.log"
}

# bgp_router CMD...: vtysh commands to the router's FRR ("show bgp summary json").
bgp_router() { vtysh -N "$BGP_CP" "${@/#/-c}"; }

# bgp_established AF ADDR...: the router's sessions with each ADDR are Established for
# address family AF (ipv4Unicast, ipv6Unicast).
bgp_established() {
  local af=$1 a s
  shift
  s=$(bgp_router 'show bgp summary json') || return 1
  for a in "$@"; do
    jq -e --arg af "$af" --arg a "$a" '.[$af].peers[$a].state == "Established"' <<<"$s" >/dev/null || return 1
  done
}

# bgp_peer_network I no|"" PREFIX...: peer I withdraws (no) or announces the PREFIXes.
bgp_peer_network() {
  local i=$1 no=$2 p args=()
  shift 2
  args=(-c 'configure terminal' -c "router bgp $(bgp_as "$i")")
  for p in "$@"; do
    if [[ $p == *:* ]]; then args+=(-c 'address-family ipv6 unicast'); else args+=(-c 'address-family ipv4 unicast'); fi
    args+=(-c "${no:+no }network $p" -c 'exit-address-family')
  done
  vtysh -N "${TB_HOSTS[$i]}" "${args[@]}" >/dev/null
}
