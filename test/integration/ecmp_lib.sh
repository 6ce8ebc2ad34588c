# shellcheck shell=bash
# ecmp_lib: what the ECMP tests (40 for IPv4, 51 for IPv6) read the same way. Sourced after
# testbed.sh; the callers set FLOWS (the ecmp_flows.py command), CAP (where the sinks log)
# and NFLOWS (flows per send).

step() { tb_step "$* (at ${SECONDS} s)"; }

# flows TAG: {"h1": {"SPORT": datagrams}, "h2": ..., "h3": ...} of what arrived with TAG.
flows() { "${FLOWS[@]}" flows --tag "$1" "$CAP"/h{1,2,3}.log; }
# path_of FILE: {"SPORT": "hN"} (a flow on several paths: the last; spread counts those).
path_of() { jq 'to_entries | map(.key as $p | .value | keys | map({(.): $p}) | add // {}) | add' "$1"; }

# spread TAG EXPECTED...: EXPECTED is "hN:PERCENT" per member; each within +-10 points,
# all NFLOWS flows arrived, none on two paths, every datagram arrived (2 per flow).
spread() {
  local tag=$1 f=$CAP/$1.json rc=0 e host pct got
  shift
  flows "$tag" >"$f"
  jq -r --argjson n "$NFLOWS" 'to_entries[] | "     \(.key): \(.value | length) flows (\(.value | length * 1000 / $n | round / 10)%), \([.value[]] | add // 0) datagrams"' "$f"
  local union dup dgrams
  union=$(jq '[.[] | keys[]] | unique | length' "$f")
  dup=$(jq '[.[] | keys[]] | group_by(.) | map(select(length > 1)) | length' "$f")
  dgrams=$(jq '[.[][]] | add // 0' "$f")
  tb_say "     $union of $NFLOWS flows arrived, $dup on more than one path, $dgrams of $((2 * NFLOWS)) datagrams"
  ((union == NFLOWS && dup == 0 && dgrams == 2 * NFLOWS)) || rc=1
  for e in "$@"; do
    host=${e%%:*} pct=${e#*:}
    got=$(jq --arg h "$host" '.[$h] // {} | length' "$f")
    if ((got * 100 < (pct - 10) * NFLOWS || got * 100 > (pct + 10) * NFLOWS)); then
      tb_say "     $host carries $got flows, expected $pct% +- 10%"
      rc=1
    fi
  done
  return "$rc"
}

# moved_json A B: [{f: SPORT, from: HOST, to: HOST}] of the flows whose path differs.
moved_json() {
  jq -n --argjson a "$(path_of "$CAP/$1.json")" --argjson b "$(path_of "$CAP/$2.json")" '
    [$a | keys[] | select($b[.] != null and $a[.] != $b[.]) | {f: ., from: $a[.], to: $b[.]}]'
}
