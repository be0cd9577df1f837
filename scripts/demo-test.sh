#!/usr/bin/env bash
# The README's demo as a newcomer meets it: a port the demo needs that another program holds
# (here the first egress port, where a squatter would receive an import's traffic) is named
# with its holder before anything starts; then the demo runs to its end and exits 0.
# scripts/test.sh runs this before and after the test suites, so the README's two commands are
# proven in either order on one checkout. Usage: bash scripts/demo-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
base=${MESHFED_DEMO_BASE_PORT:-9440}
squatted=$((base + 6560))  # pci's first egress port

python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
print("listening", flush=True)
time.sleep(600)' "$squatted" >/tmp/meshfed-demo-squatter.$$ &
squatter=$!
trap 'kill $squatter 2>/dev/null || true; rm -f /tmp/meshfed-demo-squatter.$$' EXIT
for _ in $(seq 1 50); do grep -q listening /tmp/meshfed-demo-squatter.$$ && break; sleep 0.1; done

echo "== demo-test: the demo with port $squatted held by another program must refuse to start, naming it"
set +e
out=$(MESHFED_DEMO_NO_WAIT=1 bash scripts/demo.sh 2>&1)
rc=$?
set -e
if ((rc == 0)) || ! grep -q "port $squatted on 127.0.0.1 is taken by python3 (pid $squatter)" <<<"$out" ||
  grep -q "== meshfed pki init" <<<"$out"; then
  echo "demo-test FAILED: expected a refusal naming port $squatted and python3 (pid $squatter) before any step;" \
    "exit $rc, output:" >&2
  echo "$out" | tail -n 20 >&2
  exit 1
fi
grep "is taken by" <<<"$out"
kill "$squatter"
wait "$squatter" 2>/dev/null || true

echo "== demo-test: the demo, to its end"
MESHFED_DEMO_NO_WAIT=1 bash scripts/demo.sh >/tmp/meshfed-demo.$$ 2>&1 || {
  echo "demo-test FAILED: the demo exited $?; its output:" >&2
  tail -n 40 /tmp/meshfed-demo.$$ >&2
  rm -f /tmp/meshfed-demo.$$
  exit 1
}
grep -q "echoed back: b'hello payments-api, this is internal'" /tmp/meshfed-demo.$$ ||
  { echo "demo-test FAILED: no traffic crossed" >&2; tail -n 40 /tmp/meshfed-demo.$$ >&2; exit 1; }
rm -f /tmp/meshfed-demo.$$
echo "== demo-test: ok"
