#!/usr/bin/env bash
# Fuzzes the partner API against its own OpenAPI document with schemathesis (PyPI), once for
# each role, on a fresh database with the demo area. Not part of CI (it takes a few minutes
# and downloads schemathesis into ~/.cache/homeward); run it after changing the API:
#
#   bash docs/schemathesis.sh            # every role, 30 examples per operation
#   EXAMPLES=100 bash docs/schemathesis.sh hub
#
# Checks: all of schemathesis's, except `positive_data_acceptance` (that every request the
# schema allows is accepted): a schema cannot say which ward codes exist, that an NHS number
# passes its check digit or that a date is not in the future, so such requests are a correct
# 422. Everything else must pass: no 5xx, every status code, content type, header and body
# as documented, schema-violating requests refused, 405 for undocumented methods, 401
# without a token. The event stream (endless by design) is left out.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=4.32.5
EXAMPLES="${EXAMPLES:-30}"
ROLES=("$@")
if [ ${#ROLES[@]} -eq 0 ]; then ROLES=(ward hub provider admin); fi

venv="${XDG_CACHE_HOME:-$HOME/.cache}/homeward/schemathesis-$VERSION"
if [ ! -x "$venv/bin/st" ]; then
  echo "Installing schemathesis $VERSION into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$VERSION"
fi

if [ -z "${TEST_DATABASE_URL:-}" ]; then bash .ci/postgres.sh; fi
server="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
server="${server%/*}"
db="homeward_schemathesis_$(printf '%s' "$PWD" | cksum | cut -d' ' -f1)"
psql "$server/postgres" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null

cargo build --locked -q
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
log="$(mktemp)"
DATABASE_URL="$server/$db" ./target/debug/homeward serve --addr "127.0.0.1:$port" --demo >"$log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  psql "$server/postgres" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT
for _ in $(seq 1 120); do
  curl -fs "$base/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done

report_dir="${REPORT_DIR:-target/schemathesis}"
mkdir -p "$report_dir"
failed=0
for role in "${ROLES[@]}"; do
  token=$(curl -fs -X POST -H 'Content-Type: application/json' \
    -d "{\"username\":\"$role.demo\",\"password\":\"homeward-demo\"}" "$base/api/v1/auth/token" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  echo "== $role"
  # (run from the report folder: schemathesis keeps its cache, .schemathesis/, where it runs)
  if (cd "$report_dir" && "$venv/bin/st" run "$base/api/v1/openapi.json" \
      -H "Authorization: Bearer $token" \
      --checks all --exclude-checks positive_data_acceptance \
      --exclude-path /api/v1/events \
      --max-examples "$EXAMPLES" --workers 1 --request-timeout 20 \
      --seed "${SEED:-13}" >"$role.txt" 2>&1); then
    echo "   passed: $(grep -E '^Test cases:' -A1 "$report_dir/$role.txt" | tail -1 | xargs)"
  else
    failed=1
    echo "   FAILED (see $report_dir/$role.txt):"
    grep -E '^  ❌|^Test cases:' -A1 "$report_dir/$role.txt" | sed 's/^/   /'
  fi
done
exit $failed
