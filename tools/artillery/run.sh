#!/usr/bin/env bash
# make load-artillery: start the server on a free port with a throw-away DB,
# mint a token (tools/token), run tools/artillery/ws.yml with the artillery
# pinned in package.json, print the server's action counts, stop the
# server. Exits non-zero when artillery reports errors, an action was
# refused, or the server does not stop cleanly (protocol.md §11: exit 0).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-bin/cosmic-server}
SECRET=${LOAD_SECRET:-loadgen-secret-0123456789abcdef0123456789}
tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ADDR=127.0.0.1:$port DB_PATH=$tmp/cosmic.db JWT_SECRET=$SECRET WEB_DIR=$tmp "$BIN" >"$tmp/server.log" 2>&1 &
pid=$!
cleanup() {
  if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null

TOKEN=$(JWT_SECRET=$SECRET go run ./tools/token -sub "artillery-$(date +%s)" -ttl 1h)
export TOKEN TARGET=ws://127.0.0.1:$port ARTILLERY_DISABLE_TELEMETRY=true
rc=0
(cd tools/artillery && npx --no-install artillery run ws.yml) | tee "$tmp/artillery.txt" || rc=$?

echo "--- server: messages received by type, actions by outcome"
curl -fsS "http://127.0.0.1:$port/metrics" |
  grep -E '^cosmic_(ws_messages_received_total|action_duration_seconds_count)' | tee "$tmp/actions.txt" || true
if grep -qE 'outcome="rejected"|type="(invalid|rate_limited)"' "$tmp/actions.txt"; then
  echo "load-artillery: the server refused some messages or actions" >&2
  rc=1
fi
if grep -q '^errors\.' "$tmp/artillery.txt"; then
  echo "load-artillery: artillery reported errors" >&2
  rc=1
fi
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
echo "--- server stopped, exit status $status"
[ "$status" -eq 0 ] || rc=1
exit "$rc"
