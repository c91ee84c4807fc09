#!/usr/bin/env bash
# tests/e2e/test_serve_ready_probe.sh — /ready is public and not rate
# limited, and with a remote embedder its probe is a (paid) embedding call:
# polling it as fast as a client can must not multiply those calls (at most
# one a second per server); while the embedder fails, /ready says so (503
# naming the cause) and stays bounded the same way; it recovers.
source "$(dirname "$0")/lib.sh"
source "$RAGDB_SRC/tests/e2e/serve_lib.sh"
source "$RAGDB_SRC/tests/fake/fake.sh"

fake_start --key "sk-ready-probe-1"
trap 'fake_stop; serve_cleanup' EXIT
export RAGDB_HTTP_RETRIES=0 RAGDB_HTTP_BACKOFF_MS=20
unset RAGDB_CONFIG RAGDB_EMBED_ENDPOINT HF_TOKEN
export OPENAI_BASE_URL="$FAKE_URL/v1" OPENAI_API_KEY="sk-ready-probe-1"

DB="$WORK/db"
mkdir -p "$WORK/docs"
echo "The lighthouse lamp is cleaned every Sunday by the keeper." >"$WORK/docs/lamp.md"
ok ragdb init --db "$DB" --embedder openai:text-embedding-3-small --dim 32
ok ragdb ingest --db "$DB" "$WORK/docs"
serve_start "$DB"

# N requests to /ready on one connection; sets CALLS (embedding requests
# the fake received meanwhile) and SECS (how long the N took).
poll_ready() { # N WANT_STATUS
	local t0 t1
	t0=$(fake_total)
	python3 - "$SERVE_URL" "$1" "$2" >"$WORK/poll.out" <<'PY' || fail "polling /ready: $(cat "$WORK/poll.out")"
import http.client, sys, time, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
t = time.time()
for i in range(int(sys.argv[2])):
    c.request("GET", "/ready")
    r = c.getresponse()
    body = r.read()
    if r.status != int(sys.argv[3]):
        print("request %d: %d %s" % (i, r.status, body[:300]))
        sys.exit(1)
print(time.time() - t)
PY
	t1=$(fake_total)
	CALLS=$((t1 - t0))
	SECS=$(cat "$WORK/poll.out")
}
# At most one probe a second: calls <= whole seconds taken + 1 (+1 for a
# probe already due when polling began).
check_bound() { # WHAT
	python3 -c 'import sys, math; c, s = int(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if c <= math.floor(s) + 2 else 1)' "$CALLS" "$SECS" ||
		fail "$1: $CALLS embedding calls for 200 requests to /ready in $SECS s (at most one a second expected)"
	note "$1: 200 requests to /ready in $SECS s: $CALLS embedding calls"
}

poll_ready 200 200
check_bound "embedder up"
[ "$CALLS" -ge 1 ] || fail "/ready made no embedding call at all"

fake_ctl '{"sticky": "500"}'
sleep 1.1
poll_ready 200 503
check_bound "embedder failing"
http GET /ready
assert_contains "$BODY" "unavailable" "/ready while the embedder fails"
fake_ctl '{"sticky": null}'
sleep 1.1
http GET /ready
assert_eq "$STATUS" 200 "/ready after the embedder recovered"
serve_stop
assert_eq "$SERVE_RC" 0
