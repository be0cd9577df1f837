#!/usr/bin/env bash
# The package as an operator meets it, as root on this machine: builds meshfed_<version>_<arch>.deb
# from a Release build, installs it, checks the binary, the units (systemd-analyze verify, and an
# exposure of at most 1.5 each), the meshfed user and /etc/meshfed; makes a domain with the
# installed binary, runs check-config and then the broker as the meshfed user (outside
# systemd), asks /readyz; then removes the package and checks that nothing of it is left.
# The README's "Installing the package" section is these steps.
#
#   bash scripts/package-test.sh [BUILD_DIR]   (a Release build, configured any way: the layout is the package's)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
[[ $(id -u) == 0 ]] || { echo "package-test: needs root (dpkg, the meshfed user)" >&2; exit 2; }
if dpkg-query -W -f='${Status}' meshfed 2>/dev/null | grep -q "install ok installed"; then
  echo "package-test: a meshfed package is installed already; refusing to replace it" >&2
  exit 2
fi

step() { printf '== package: %s\n' "$*"; }
fail() { printf 'package-test FAILED: %s\n' "$*" >&2; exit 1; }

step "cmake --build $build --target package"
rm -f "$build"/meshfed_*.deb
cmake --build "$build" --target package >/dev/null
version=$(sed -n 's/^project(meshfed VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
deb="$build/meshfed_${version}_$(dpkg --print-architecture).deb"
[[ -f $deb ]] || fail "no $deb"
dpkg-deb --contents "$deb" | awk '{print $1, $2, $6}' | grep -q '^-rwxr-xr-x root/root ./usr/bin/meshfed$' ||
  fail "/usr/bin/meshfed is not in the package as root 0755"
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/bin/meshfed > "$build/meshfed.packaged"
if readelf -S "$build/meshfed.packaged" | grep -q '\.debug_info\|\.symtab'; then fail "the packaged binary is not stripped"; fi
rm -f "$build/meshfed.packaged"
# The layout is the package's own, whatever CMAKE_INSTALL_PREFIX the build folder was given.
contents=$(dpkg-deb --contents "$deb" | awk '{print $6}')
for f in ./usr/lib/systemd/system/meshfed@.service ./usr/lib/sysusers.d/meshfed.conf ./usr/lib/tmpfiles.d/meshfed.conf \
  ./usr/share/doc/meshfed/copyright ./usr/share/man/man1/meshfed.1.gz; do
  grep -qxF "$f" <<<"$contents" || fail "$f is not in the package"
done
! grep -q '^\./usr/local/' <<<"$contents" || fail "the package puts files under /usr/local"

domain=pkgtest
dir=/etc/meshfed/$domain
state=/var/lib/meshfed/$domain
pid=""
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$dir" "/etc/meshfed/$domain.json" "$state"
  if dpkg-query -W meshfed >/dev/null 2>&1; then dpkg --purge meshfed >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

step "install $deb"
apt-get install -y -qq "./$deb" >/dev/null
[[ $(command -v meshfed) == /usr/bin/meshfed ]] || fail "meshfed is not /usr/bin/meshfed"
[[ $(meshfed --version) == "meshfed $version" ]] || fail "meshfed --version: $(meshfed --version)"
id meshfed >/dev/null || fail "no meshfed user"
[[ $(stat -c '%U:%G %a' /etc/meshfed) == "root:meshfed 750" ]] || fail "/etc/meshfed is $(stat -c '%U:%G %a' /etc/meshfed)"
[[ -f /usr/share/man/man1/meshfed.1.gz ]] || fail "no /usr/share/man/man1/meshfed.1.gz"
for section in FILES ENVIRONMENT MESHFED_URL MESHFED_TOKEN MESHFED_CA_FILE; do
  zgrep -q "$section" /usr/share/man/man1/meshfed.1.gz || fail "meshfed(1) has no $section"
done
grep -q '^License:' /usr/share/doc/meshfed/copyright || fail "/usr/share/doc/meshfed/copyright has no License"
[[ -f /usr/share/bash-completion/completions/meshfed ]] || fail "no bash completion"
[[ -f /usr/share/doc/meshfed/examples/pci.json ]] || fail "no example configs"

step "systemd-analyze verify and security"
units=(meshfed@.service meshfed-ingress@.service meshfed-egress@.service)
for u in "${units[@]}"; do
  path=/lib/systemd/system/$u
  [[ -f $path ]] || fail "no $path"
  # verify needs an instance of a template unit: checked as <name>@pkgtest.service.
  instance=${u/@./@$domain.}
  cp "$path" "/run/$instance"
  out=$(systemd-analyze verify "/run/$instance" 2>&1 || true)
  rm -f "/run/$instance"
  [[ -z $out ]] || fail "systemd-analyze verify $u: $out"
  exposure=$(systemd-analyze security --offline=true "$path" 2>/dev/null | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
  awk -v e="$exposure" 'BEGIN {exit !(e != "" && e <= 1.5)}' || fail "$u exposure ${exposure:-unknown} is above 1.5"
  echo "   $u exposure $exposure"
done

step "a domain made with the installed binary"
meshfed pki init --domain "$domain" --out "$dir/pki" --dns localhost --ip 127.0.0.1 --owner root:meshfed >/dev/null
chgrp -R meshfed "$dir" && chmod 0750 "$dir"
meshfed token add --tokens-file "$dir/tokens.json" --name ops --role admin | grep -q '^token (shown once' ||
  fail "token add printed no token"
[[ $(stat -c '%U:%G %a' "$dir/tokens.json") == "root:meshfed 640" ]] ||
  fail "token add made tokens.json $(stat -c '%U:%G %a' "$dir/tokens.json"), not root:meshfed 640"
cat > "/etc/meshfed/$domain.json" <<JSON
{
  "domain": "$domain",
  "state_dir": "$state",
  "tls": {"ca_file": "$domain/pki/ca.pem", "cert_file": "$domain/pki/broker.pem", "key_file": "$domain/pki/broker-key.pem"},
  "admin": {"listen": "127.0.0.1:0", "tokens_file": "$domain/tokens.json"},
  "control_plane": {"type": "static", "inventory_file": "$domain/inventory.json", "imports_dir": "$state/imports"}
}
JSON
echo '{"services": []}' > "$dir/inventory.json"
chgrp meshfed "/etc/meshfed/$domain.json" "$dir/inventory.json" && chmod 0640 "/etc/meshfed/$domain.json" "$dir/inventory.json"
install -d -o meshfed -g meshfed -m 0700 "$state"

step "check-config as meshfed"
runuser -u meshfed -- meshfed check-config --config "/etc/meshfed/$domain.json" || fail "check-config as meshfed"

step "the broker as meshfed, /readyz"
# setpriv execs the broker itself (runuser would stay its parent and take the signals).
setpriv --reuid=meshfed --regid=meshfed --init-groups meshfed broker --config "/etc/meshfed/$domain.json" \
  > "$build/package-broker.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do [[ -f $state/runtime.json ]] && break; sleep 0.1; done
[[ -f $state/runtime.json ]] || fail "the broker did not start: $(cat "$build/package-broker.log")"
admin=$(sed -n 's/.*"admin":"\([^"]*\)".*/\1/p' "$state/runtime.json")
ready=$(curl -fsS --cacert "$dir/pki/ca.pem" "https://$admin/readyz") || fail "/readyz: $(cat "$build/package-broker.log")"
grep -q '"status":"ready"' <<<"$ready" || fail "/readyz said $ready"
[[ $(stat -c '%U %a' "$state/meshfed.db") == "meshfed 600" ]] || fail "meshfed.db is $(stat -c '%U %a' "$state/meshfed.db")"
kill "$pid"; wait "$pid" || fail "the broker did not stop cleanly"
pid=""

step "an in-process ingress below port 1024: CAP_NET_BIND_SERVICE and nothing else"
# What docs/operations.md's drop-in for meshfed@.service grants; without it the bind is refused
# by name. systemd is not PID 1 here, so setpriv sets the same credentials the unit would.
low=""
for p in $(seq 700 1000); do [[ -z $(ss -ltnH "sport = :$p") ]] && { low=$p; break; }; done
[[ -n $low ]] || fail "no free port below 1024 on loopback"
python3 - "/etc/meshfed/$domain.json" "$low" <<'PY'
import json, sys
path, port = sys.argv[1], sys.argv[2]
c = json.load(open(path))
c["gateways"] = {"ingress": {"enabled": True, "listen": "127.0.0.1:" + port, "advertise": "127.0.0.1:" + port,
                             "cert_file": c["domain"] + "/pki/ingress.pem", "key_file": c["domain"] + "/pki/ingress-key.pem"}}
json.dump(c, open(path, "w"), indent=2)
PY
as_meshfed=(setpriv --reuid=meshfed --regid=meshfed --init-groups)
if "${as_meshfed[@]}" meshfed broker --config "/etc/meshfed/$domain.json" > "$build/package-broker.log" 2>&1; then
  fail "the broker bound port $low without CAP_NET_BIND_SERVICE"
fi
grep -q "127.0.0.1:$low.*[Pp]ermission denied" "$build/package-broker.log" ||
  fail "no clear refusal for port $low: $(cat "$build/package-broker.log")"
rm -f "$state/runtime.json"
"${as_meshfed[@]}" --bounding-set=-all,+net_bind_service --inh-caps=-all,+net_bind_service \
  --ambient-caps=-all,+net_bind_service meshfed broker --config "/etc/meshfed/$domain.json" \
  > "$build/package-broker.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do [[ -f $state/runtime.json ]] && break; sleep 0.1; done
[[ -f $state/runtime.json ]] || fail "the broker did not start with the capability: $(cat "$build/package-broker.log")"
[[ -n $(ss -ltnH "sport = :$low") ]] || fail "nothing listens on $low"
grep -Eq "^CapEff:\s+0000000000000400$" "/proc/$pid/status" || fail "the broker holds more than CAP_NET_BIND_SERVICE"
kill "$pid"; wait "$pid" || fail "the broker did not stop cleanly"
pid=""

step "dpkg -r"
dpkg -r meshfed >/dev/null
[[ ! -e /usr/bin/meshfed && ! -e /lib/systemd/system/meshfed@.service ]] || fail "dpkg -r left files behind"
[[ -d $dir && -d $state ]] || fail "dpkg -r removed a domain's keys or state"

step "dpkg --purge keeps a domain's keys and state, and says so"
purge=$(dpkg --purge meshfed 2>&1)
[[ -f $dir/pki/ca-key.pem && -d $state ]] || fail "dpkg --purge removed a domain's CA key or state"
grep -q "kept /etc/meshfed: it holds the domains' configs, CA keys and tokens" <<<"$purge" ||
  fail "dpkg --purge did not say why it kept /etc/meshfed: $purge"
grep -q "kept /var/lib/meshfed" <<<"$purge" || fail "dpkg --purge did not say why it kept /var/lib/meshfed: $purge"
rm -rf "$dir" "/etc/meshfed/$domain.json" "$state"
rmdir /etc/meshfed /var/lib/meshfed 2>/dev/null || true
echo "== package: ok ($deb)"
