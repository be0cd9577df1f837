#!/usr/bin/env bash
# The meshfed demo: one broker for domain "pci" on loopback, with its PKI made on the fly by
# `meshfed pki`, the example inventory, and tokens for a requester and an approver. It walks
# an export through request -> four-eyes refusal -> approval, then leaves the broker running
# with its admin URL, CA file and tokens printed until Ctrl-C.
#
# Usage: bash scripts/demo.sh            (installs packages and builds first)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target meshfed
meshfed="$root/build/meshfed"

run="$root/demo-run"
rm -rf "$run"
mkdir -p "$run/pci"
cd "$run/pci"

echo "== meshfed pki init for domain pci"
"$meshfed" pki init --domain pci --out pki --ip 127.0.0.1 --dns localhost
# Peers of pci: their own CAs (in a real setup, exchanged once with each peer domain).
"$meshfed" pki init --domain internal --out peer-internal >/dev/null
"$meshfed" pki init --domain dmz --out peer-dmz >/dev/null

token_for() {  # name role... -> prints token, appends the tokens-file entry
  local name=$1 out args=()
  shift
  for r in "$@"; do args+=(--role "$r"); done
  out=$("$meshfed" token create --name "$name" "${args[@]}")
  sed -n 's/^tokens file entry: //p' <<<"$out" >>tokens.lines
  sed -n 's/^token (shown once, keep it secret): //p' <<<"$out"
}
: >tokens.lines
alice=$(token_for alice requester approver)
bob=$(token_for bob approver)
root_token=$(token_for root admin)
{ echo "["; paste -sd, tokens.lines; echo "]"; } >tokens.json
rm tokens.lines
cp "$root/config/pci/inventory.json" inventory.json

port=${MESHFED_DEMO_PORT:-9440}
cat >pci.json <<JSON
{
  "domain": "pci",
  "state_dir": "state",
  "tls": { "ca_file": "pki/ca.pem", "cert_file": "pki/broker.pem", "key_file": "pki/broker-key.pem" },
  "admin": { "listen": "127.0.0.1:$port", "tokens_file": "tokens.json" },
  "peers": [
    { "domain": "internal", "url": "https://127.0.0.1:9442", "ca_file": "peer-internal/ca.pem" },
    { "domain": "dmz", "url": "https://127.0.0.1:9443", "ca_file": "peer-dmz/ca.pem" }
  ],
  "control_plane": { "type": "static", "inventory_file": "inventory.json", "imports_dir": "imports" }
}
JSON
"$meshfed" check-config --config pci.json

"$meshfed" broker --config pci.json >broker.log 2>&1 &
broker_pid=$!
trap 'kill $broker_pid 2>/dev/null; wait $broker_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  [[ -f state/runtime.json ]] && break
  kill -0 $broker_pid 2>/dev/null || { cat broker.log; exit 1; }
  sleep 0.1
done
url="https://127.0.0.1:$port"
export MESHFED_URL=$url MESHFED_CA_FILE="$run/pci/pki/ca.pem"

echo
echo "== the inventory of pci"
"$meshfed" ctl --token "$alice" services
echo
echo "== alice requests an export of payments-api to internal"
id=$("$meshfed" ctl --token "$alice" exports request --service payments-api --port 8443 --peer internal \
       --reason "checkout in internal needs payments" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "requested $id"
echo
echo "== alice (requester and approver) tries to approve her own request: the four-eyes rule refuses"
"$meshfed" ctl --token "$alice" exports approve "$id" || true
echo
echo "== bob approves it"
"$meshfed" ctl --token "$bob" exports approve "$id" --comment "reviewed"
echo
"$meshfed" ctl --token "$bob" exports show "$id"
echo
echo "== audit log"
"$meshfed" ctl --token "$bob" audit

cat <<MSG

meshfed broker for domain pci is running (pid $broker_pid, log $run/pci/broker.log)
  admin API:  $url/api/v1/   (OpenAPI: $url/api/v1/openapi.json, metrics: $url/metrics)
  CA file:    $run/pci/pki/ca.pem
  tokens:     alice (requester, approver) $alice
              bob   (approver)  $bob
              root  (admin)     $root_token
Try:
  export MESHFED_URL=$url MESHFED_CA_FILE=$run/pci/pki/ca.pem
  $meshfed ctl --token $bob exports list
  curl --cacert $run/pci/pki/ca.pem -H "Authorization: Bearer $bob" $url/api/v1/exports
Press Ctrl-C to stop.
MSG
if [[ -n ${MESHFED_DEMO_NO_WAIT:-} ]]; then exit 0; fi
wait $broker_pid
