#!/usr/bin/env bash
# The meshfed demo: three domains (dmz, internal, pci) on loopback, each with its own PKI made
# by `meshfed pki` and its own broker. In pci, alice requests an export of payments-api (an
# echo service the demo starts) to internal only, the four-eyes rule refuses her own approval,
# bob approves; the demo then shows the import active in internal and absent in dmz, sends
# bytes from a client in internal through internal's egress and pci's ingress gateway to the
# service, prints each domain's firewall rules, and leaves everything running until Ctrl-C.
#
# Usage: bash scripts/demo.sh            (installs packages and builds first)
# MESHFED_DEMO_BASE_PORT (default 9440) moves the ports; MESHFED_DEMO_NO_WAIT=1 exits at the end.
# MESHFED_DEMO_POSTGRES=1 runs pci as two replicas sharing a PostgreSQL database (a cluster the
# demo makes in a temporary folder); the peers long-poll the second replica, and at the end the
# demo kills the leader with SIGKILL and revokes the export through the survivor.
set -eEuo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/install-deps.sh
echo "== building meshfed (the first build takes about ten minutes on two cores; later ones seconds)"
# Release, as scripts/test.sh builds it: the two share the build folder without rebuilding it all.
# MESHFED_WERROR=ON (scripts/test.sh sets it) makes warnings errors, as in development and CI.
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release ${MESHFED_WERROR:+-DMESHFED_WERROR=$MESHFED_WERROR} >/dev/null
cmake --build build -j2 --target meshfed
meshfed="$root/build/meshfed"

run="$root/demo-run"
rm -rf "$run"
mkdir -p "$run"
base=${MESHFED_DEMO_BASE_PORT:-9440}
domains=(pci internal dmz)
declare -A admin_port peer_port ingress_port egress_range
for i in "${!domains[@]}"; do
  d=${domains[$i]}
  admin_port[$d]=$((base + i))
  peer_port[$d]=$((base + 10 + i))
  ingress_port[$d]=$((base + 20 + i))
  egress_range[$d]="$((base + 6560 + 100 * i))-$((base + 6560 + 100 * i + 99))"  # 16000-16299 by default
done
echo_port=$((base + 30))  # payments-api in pci: an echo service
envoy_stats_port=$((base + 31))  # pci's data planes' Prometheus stats (a file served over HTTP)
federate_port=$((base + 40))  # internal's metrics.listen: /metrics and /federate
postgres=${MESHFED_DEMO_POSTGRES:-}
replica2_admin=$((base + 32)) replica2_peer=$((base + 33)) pg_port=$((base + 41))  # MESHFED_DEMO_POSTGRES only
pci_peer_url_port=${peer_port[pci]}  # where the peers reach pci: with replicas, the second one
[[ -n $postgres ]] && pci_peer_url_port=$replica2_peer

# A taken port would fail a broker halfway through, or (an egress port) hand an import to a
# squatter: every port the demo will use is checked first, and the one taken is named with the
# process that holds it.
extra_ports=()
[[ -n $postgres ]] && extra_ports=("$replica2_admin" "$replica2_peer" "$pg_port")
wanted=("${admin_port[@]}" "${peer_port[@]}" "${ingress_port[@]}" "$echo_port" "$envoy_stats_port" "$federate_port"
  "${extra_ports[@]}")
for d in "${domains[@]}"; do wanted+=($(seq "${egress_range[$d]%-*}" "${egress_range[$d]#*-}")); done
if ((base < 1024 || base + 6560 + 299 > 65535)); then
  echo "demo: MESHFED_DEMO_BASE_PORT=$base is out of range: the demo uses that port to +40 and +6560 to +6859" >&2
  exit 2
fi
taken=$(ss -Hltnp 2>/dev/null | python3 -c '
import re, sys
wanted = set(sys.argv[1:])
for line in sys.stdin:
    fields = line.split()
    port = fields[3].rsplit(":", 1)[-1]
    if port in wanted:
        who = re.search(r"users:\(\(\"([^\"]+)\",pid=(\d+)", line)
        print(port, f"{who.group(1)} (pid {who.group(2)})" if who else "another process")
        break' "${wanted[@]}")
if [[ -n $taken ]]; then
  echo "demo: port ${taken%% *} on 127.0.0.1 is taken by ${taken#* }. The demo uses ports $base to $((base + 41))" \
    "and $((base + 6560)) to $((base + 6859)) (egress gateways); move them all with MESHFED_DEMO_BASE_PORT, e.g." \
    "MESHFED_DEMO_BASE_PORT=$((base + 10000)) bash scripts/demo.sh" >&2
  exit 1
fi

# Any failure from here on says what failed and where to read why.
failed() {
  local rc=$? line=$1 cmd=$2
  echo >&2
  echo "demo FAILED (exit $rc) at scripts/demo.sh line $line: $cmd" >&2
  for log in "$run"/*/broker*.log; do
    [[ -f $log ]] || continue
    echo "-- last lines of $log:" >&2
    tail -n 5 "$log" >&2
  done
  echo "The brokers' full logs are $run/<domain>/broker*.log." >&2
}
trap 'failed $LINENO "$BASH_COMMAND"' ERR

token_for() {  # dir name role... -> adds the token to dir/tokens.json and prints it
  local dir=$1 name=$2 args=()
  shift 2
  for r in "$@"; do args+=(--role "$r"); done
  "$meshfed" token add --tokens-file "$dir/tokens.json" --name "$name" "${args[@]}" |
    sed -n 's/^token (shown once, keep it secret): //p'
}

declare -A alice bob root_token
echo "== meshfed pki init for dmz, internal and pci (one CA each)"
for d in "${domains[@]}"; do
  mkdir -p "$run/$d"
  "$meshfed" pki init --domain "$d" --out "$run/$d/pki" --ip 127.0.0.1 --dns localhost >/dev/null
  alice[$d]=$(token_for "$run/$d" alice requester approver)
  bob[$d]=$(token_for "$run/$d" bob approver)
  root_token[$d]=$(token_for "$run/$d" root admin)
  cp "$root/config/$d/inventory.json" "$run/$d/inventory.json"
done
# In this demo pci's payments-api is the echo service below, on loopback.
python3 - "$run/pci/inventory.json" "$echo_port" <<'PY'
import json, sys
path, port = sys.argv[1], int(sys.argv[2])
inv = json.load(open(path))
for s in inv["services"]:
    if s["name"] == "payments-api":
        s["address"], s["ports"] = "127.0.0.1", [{"port": port, "protocol": "tcp"}]
json.dump(inv, open(path, "w"), indent=2)
PY

# Each domain peers with the other two, trusting only their CAs; internal imports pci's
# exports automatically, everything else waits for an approver (import_policy manual).
for d in "${domains[@]}"; do
  python3 - "$run" "$d" "${admin_port[$d]}" "${peer_port[$d]}" "${egress_range[$d]}" "${ingress_port[$d]}" \
      "pci=$pci_peer_url_port" "internal=${peer_port[internal]}" "dmz=${peer_port[dmz]}" \
      "stats=$envoy_stats_port" "federate=$federate_port" <<'PY'
import json, sys
run, d, admin, peer, egress, ingress = sys.argv[1:7]
ports = dict(a.split("=") for a in sys.argv[7:])
peers = [{"domain": p, "url": f"https://127.0.0.1:{ports[p]}", "ca_file": f"../{p}/pki/ca.pem",
          "import_policy": "auto" if (d, p) == ("internal", "pci") else "manual", "source_cidrs": ["127.0.0.0/8"]}
         for p in ("pci", "internal", "dmz") if p != d]
cfg = {
  "domain": d, "state_dir": "state", "source_cidrs": ["127.0.0.0/8"],
  "tls": {"ca_file": "pki/ca.pem", "cert_file": "pki/broker.pem", "key_file": "pki/broker-key.pem"},
  "admin": {"listen": f"127.0.0.1:{admin}", "tokens_file": "tokens.json"},
  "peer_api": {"listen": f"127.0.0.1:{peer}", "advertise": f"127.0.0.1:{peer}"},
  "peers": peers,
  "control_plane": {"type": "static", "inventory_file": "inventory.json", "imports_dir": "imports"},
  "gateways": {
    "ingress": {"listen": f"127.0.0.1:{ingress}", "advertise": f"127.0.0.1:{ingress}",
                "cert_file": "pki/ingress.pem", "key_file": "pki/ingress-key.pem"},
    "egress": {"bind": "127.0.0.1", "advertise_host": "127.0.0.1", "ports": egress,
               "cert_file": "pki/egress.pem", "key_file": "pki/egress-key.pem"}},
  "sync": {"wait_s": 30, "stale_after_s": 60, "withdraw_after_s": 600},
}
if d == "pci":
    cfg["metrics"] = {"sources": [{"url": f"http://127.0.0.1:{ports['stats']}/stats/prometheus", "interval_s": 2,
                                   "service_label": "envoy_cluster_name", "service_regex": "[^_]+_([^_]+)_.*"}]}
if d == "internal":
    cfg["metrics"] = {"listen": f"127.0.0.1:{ports['federate']}", "peer_scrape_interval_s": 2}
json.dump(cfg, open(f"{run}/{d}/{d}.json", "w"), indent=2)
PY
  [[ $d == pci && -n $postgres ]] || "$meshfed" check-config --config "$run/$d/$d.json"
done

pids=()
pg_dir=""
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  if [[ -n $pg_dir ]]; then
    as_postgres "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
  fi
}
trap cleanup EXIT
as_postgres() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if [[ -n $postgres ]]; then
  echo "== PostgreSQL for pci's replicas (a cluster of the demo's own on 127.0.0.1:$pg_port)"
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  pg_dir=$(mktemp -d /tmp/meshfed-demo-pg-XXXXXX)  # outside the checkout: the postgres user must reach it
  [[ $(id -u) == 0 ]] && chown postgres: "$pg_dir"
  as_postgres "$pg_bin/initdb" -D "$pg_dir/data" -A trust -U meshfed -E UTF8 >/dev/null
  as_postgres "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w \
    -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1" start >/dev/null
  echo "host=127.0.0.1 port=$pg_port user=meshfed dbname=postgres" >"$run/pci/pg-url"
  # Two replicas of pci: the same domain, PKI, tokens and peers; each its own state folder and
  # listeners. The second runs no gateways: pci's traffic keeps crossing pci-1's ingress.
  python3 - "$run/pci" "$replica2_admin" "$replica2_peer" <<'PY'
import json, sys
run, admin, peer = sys.argv[1:4]
cfg = json.load(open(f"{run}/pci.json"))
cfg["store"] = {"type": "postgres", "url_file": "pg-url"}
cfg["replica_id"] = "pci-1"
json.dump(cfg, open(f"{run}/pci.json", "w"), indent=2)
cfg.update(replica_id="pci-2", state_dir="state-2")
cfg["admin"]["listen"] = f"127.0.0.1:{admin}"
cfg["peer_api"] = {"listen": f"127.0.0.1:{peer}", "advertise": f"127.0.0.1:{peer}"}
cfg["gateways"]["ingress"]["enabled"] = False
cfg["gateways"]["egress"]["enabled"] = False
cfg.pop("metrics", None)
json.dump(cfg, open(f"{run}/pci-2.json", "w"), indent=2)
PY
  "$meshfed" check-config --config "$run/pci/pci.json"
  "$meshfed" check-config --config "$run/pci/pci-2.json"
fi

python3 - "$echo_port" >"$run/pci/payments-api.log" 2>&1 <<'PY' &
import asyncio, sys
async def echo(reader, writer):
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()
async def main():
    server = await asyncio.start_server(echo, "127.0.0.1", int(sys.argv[1]))
    async with server:
        await server.serve_forever()
asyncio.run(main())
PY
pids+=($!)
# What pci's Envoy sidecars would expose: request counters of two services, two pods each.
mkdir -p "$run/pci/stats/stats"
for svc in payments-api ledger; do
  for pod in a b; do
    echo "envoy_cluster_upstream_rq_total{envoy_cluster_name=\"default_${svc}__zone-1_msvc_8443\",envoy_response_code_class=\"2\",pod=\"${svc}-${pod}\",instance=\"${svc}-${pod}.pods.pci:5670\"} 21"
  done
done | { echo "# TYPE envoy_cluster_upstream_rq_total counter"; cat; } >"$run/pci/stats/stats/prometheus"
python3 -m http.server "$envoy_stats_port" --bind 127.0.0.1 --directory "$run/pci/stats" >"$run/pci/stats.log" 2>&1 &
pids+=($!)
declare -A replica_pid
for d in "${domains[@]}"; do
  (cd "$run/$d" && exec "$meshfed" broker --config "$d.json" >broker.log 2>&1) &
  pids+=($!)
  replica_pid[$d-1]=$!
done
wait_started() {  # state folder under $run
  for _ in $(seq 1 100); do [[ -f $run/$1/runtime.json ]] && break; sleep 0.1; done
  [[ -f $run/$1/runtime.json ]] && return
  echo "demo: the broker of ${1%/*} did not start within 10 s; its log ($run/${1%/*}/broker*.log):" >&2
  cat "$run/${1%/*}/broker"*.log >&2
  exit 1
}
for d in "${domains[@]}"; do wait_started "$d/state"; done
if [[ -n $postgres ]]; then  # once pci-1 runs, so that it leads
  (cd "$run/pci" && exec "$meshfed" broker --config pci-2.json >broker-2.log 2>&1) &
  pids+=($!)
  replica_pid[pci-2]=$!
  wait_started pci/state-2
fi

ctl_at() {  # admin-port domain token args...
  local port=$1 d=$2 t=$3
  shift 3
  "$meshfed" ctl --url "https://127.0.0.1:$port" --ca-file "$run/$d/pki/ca.pem" --token "$t" "$@"
}
ctl() {  # domain token args...
  local d=$1
  shift
  ctl_at "${admin_port[$d]}" "$d" "$@"
}

echo
echo "== pci: alice requests an export of payments-api to internal only"
id=$(ctl pci "${alice[pci]}" exports request --service payments-api --port "$echo_port" --peer internal \
       --metric 'envoy_cluster_upstream_rq*' --reason "checkout in internal needs payments" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "requested $id"
echo
echo "== pci: alice (requester and approver) tries to approve her own request: the four-eyes rule refuses"
ctl pci "${alice[pci]}" exports approve "$id" || true
echo
echo "== pci: bob approves it"
ctl pci "${bob[pci]}" exports approve "$id" --comment "reviewed"

echo
echo "== internal: the import (auto policy for pci) and its MeshExternalService file"
for _ in $(seq 1 100); do
  ctl internal "${bob[internal]}" imports --json | grep -q '"active"' && break
  sleep 0.1
done
ctl internal "${bob[internal]}" imports
cat "$run/internal/imports/meshfed-pci.$id.json"
echo
echo "== dmz: nothing was exported to it"
ctl dmz "${bob[dmz]}" imports
ctl dmz "${bob[dmz]}" peers

echo
echo "== internal: a client sends bytes to payments-api through internal's egress and pci's ingress"
local_port=$(ctl internal "${bob[internal]}" imports --json |
  python3 -c 'import json,sys; print([i for i in json.load(sys.stdin) if i["state"] == "active"][0]["local"]["port"])')
python3 - "$local_port" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
for attempt in range(100):  # the egress listener opens within a moment of the import
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        break
    except OSError:
        time.sleep(0.1)
message = b"hello payments-api, this is internal"
s.sendall(message)
s.shutdown(socket.SHUT_WR)
reply = b""
while chunk := s.recv(65536):
    reply += chunk
print(f"sent {message!r} to 127.0.0.1:{port} (internal egress) -> pci ingress -> payments-api; echoed back: {reply!r}")
sys.exit(0 if reply == message else 1)
PY
echo
echo "== the pci ingress gateway's access log"
grep "access: gateway=ingress" "$run/pci/broker.log" | tail -n 2

echo
echo "== internal: pci's exported metrics on internal's /federate (payments-api only, pods summed, no pod or"
echo "   instance label, the alias as service and pci as meshfed_source_domain)"
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$federate_port/federate" | grep -q payments-api && break
  sleep 0.2
done
curl -sf "http://127.0.0.1:$federate_port/federate"

for d in "${domains[@]}"; do
  echo
  echo "== meshfed firewall --config $d.json (host mode): the cross-boundary flows $d needs"
  "$meshfed" firewall --config "$run/$d/$d.json"
done

if [[ -n $postgres ]]; then
  echo
  echo "== pci: two replicas share one PostgreSQL database; one leads (expiry, watchers, imports)"
  ctl pci "${bob[pci]}" replicas
  leader=$(ctl pci "${bob[pci]}" replicas --json |
    python3 -c 'import json,sys; print([r["id"] for r in json.load(sys.stdin) if r["role"] == "leader"][0])')
  survivor=$([[ $leader == pci-1 ]] && echo pci-2 || echo pci-1)
  survivor_admin=$([[ $survivor == pci-1 ]] && echo "${admin_port[pci]}" || echo "$replica2_admin")
  echo
  echo "== pci: kill -9 the leader ($leader); $survivor takes over within a few seconds"
  kill -9 "${replica_pid[$leader]}"
  wait "${replica_pid[$leader]}" 2>/dev/null || true
  for _ in $(seq 1 100); do
    ctl_at "$survivor_admin" pci "${bob[pci]}" replicas --json | python3 -c '
import json, sys
sys.exit(0 if any(r["id"] == sys.argv[1] and r["role"] == "leader" for r in json.load(sys.stdin)) else 1)' \
      "$survivor" && break
    sleep 0.2
  done
  ctl_at "$survivor_admin" pci "${bob[pci]}" replicas
  echo
  echo "== pci: bob revokes the export through the survivor; internal withdraws the import"
  ctl_at "$survivor_admin" pci "${bob[pci]}" exports revoke "$id" --comment "demo: revoked after a failover"
  for _ in $(seq 1 100); do
    ctl internal "${bob[internal]}" imports --json | grep -q '"withdrawn"' && break
    sleep 0.1
  done
  ctl internal "${bob[internal]}" imports
  admin_port[pci]=$survivor_admin
fi

cat <<MSG

The brokers are running (logs in $run/<domain>/broker*.log):
MSG
for d in "${domains[@]}"; do
  cat <<MSG
  $d: admin API https://127.0.0.1:${admin_port[$d]}/api/v1/   CA $run/$d/pki/ca.pem
      approval console https://127.0.0.1:${admin_port[$d]}/ui/ (the browser does not know the demo's CA)
      tokens: alice (requester, approver) ${alice[$d]}
              bob (approver) ${bob[$d]}   root (admin) ${root_token[$d]}
MSG
done
cat <<MSG
Try (or sign in to the console as bob and click):
  $meshfed ctl --url https://127.0.0.1:${admin_port[pci]} --ca-file $run/pci/pki/ca.pem --token ${bob[pci]} exports revoke $id
  $meshfed ctl --url https://127.0.0.1:${admin_port[internal]} --ca-file $run/internal/pki/ca.pem --token ${bob[internal]} imports
Press Ctrl-C to stop.
MSG
if [[ -n ${MESHFED_DEMO_NO_WAIT:-} ]]; then exit 0; fi
wait
