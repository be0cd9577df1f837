#!/usr/bin/env bash
# Writes meshfed(1) from the binary's own help: help2man for the top level, and a SUBCOMMANDS
# section with every subcommand's help, so the page never lags behind the CLI.
# Usage: bash scripts/gen-man.sh BINARY OUT.1
set -euo pipefail
bin=$1 out=$2
include=$(mktemp)
trap 'rm -f "$include"' EXIT

# The subcommands listed under "Subcommands:" in a help text.
subcommands() { awk '/^Subcommands:/ {on = 1; next} on && /^  [a-z]/ {print $1} on && /^$/ {on = 0}'; }

section() {
  local path=$1
  printf '.SS "meshfed %s"\n.nf\n' "$path"
  # shellcheck disable=SC2086
  "$bin" $path --help | sed -e 's/\\/\\e/g' -e 's/^\./\\\&./'
  printf '.fi\n'
  local sub
  # shellcheck disable=SC2086
  for sub in $("$bin" $path --help | subcommands); do section "$path $sub"; done
}

{
  printf '[SUBCOMMANDS]\n'
  for sub in $("$bin" --help | subcommands); do section "$sub"; done
  cat <<'TEXT'
[EXIT STATUS]
.TP
.B 0
success
.TP
.B 1
the command ran and failed otherwise: an invalid config or request, a broken chain, a local
file that cannot be read or written, a TLS certificate that is not trusted or not for the name
connected to (retrying cannot help)
.TP
.B 2
usage: an unknown subcommand or option, a missing or invalid argument
.TP
.B 3
not found: no such export, import or peer (HTTP 404)
.TP
.B 4
conflict or precondition failed: the state does not allow it: an If-Match that no longer
holds, a backup file that exists, a broker running on the state being restored, a PostgreSQL
store given to backup or restore (HTTP 409, 412, 428)
.TP
.B 5
unauthenticated or forbidden: no or a bad token, a role that does not allow it, or the
four-eyes rule (approving your own request is a 403) (HTTP 401, 403)
.TP
.B 6
unavailable, and a retry can succeed: connection refused, a timeout, the broker or its store
busy or away (HTTP 502-504), or slowed after failed authentications (HTTP 429)
.PP
Under \fB-o json\fR a failure is also printed on stdout as a problem+json document (RFC 9457,
the admin API's shape) whose \fBexit_code\fR member is the exit status.
[ENVIRONMENT]
.TP
.B MESHFED_URL
the admin API that \fBmeshfed ctl\fR calls (default https://127.0.0.1:9440); \fB--url\fR wins
.TP
.B MESHFED_TOKEN
the bearer token for \fBmeshfed ctl\fR; \fB--token\fR and \fB--token-file\fR win. Prefer
\fB--token-file\fR on shared hosts: the environment of a process can be read by its owner
.TP
.B MESHFED_CA_FILE
the domain's CA (ca.pem) that \fBmeshfed ctl\fR verifies the broker against; \fB--ca-file\fR wins
[FILES]
.TP
.I /etc/meshfed/<domain>.json
a domain's config; keys, certificates and tokens next to it (root:meshfed, 0750)
.TP
.I /etc/meshfed/<domain>/tokens.json
the admin API's tokens (names, roles, SHA-256 of each token); managed with \fBmeshfed token\fR
.TP
.I /var/lib/meshfed/<domain>/
the broker's state: meshfed.db (exports, imports, audit log) and runtime.json
.TP
.I /lib/systemd/system/meshfed@.service
one broker per domain; \fBmeshfed-ingress@\fR and \fBmeshfed-egress@\fR run gateways on their own
[SEE ALSO]
/usr/share/doc/meshfed/README.md, /usr/share/doc/meshfed/docs/getting-started.md,
/usr/share/doc/meshfed/docs/operations.md
TEXT
} >"$include"

help2man --no-info --no-discard-stderr --name "federation broker for shared-nothing service meshes" \
  --section 1 --include "$include" --output "$out" "$bin"
