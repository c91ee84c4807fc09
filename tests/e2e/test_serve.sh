#!/usr/bin/env bash
# tests/e2e/test_serve.sh — `ragdb serve` as a user runs it: the quickstart's
# knowledge base served with its page and API; an ingest from the CLI while
# the server runs is visible through it; SIGTERM during an upload lets the
# upload finish (201) and the server exit 0, and SIGINT also exits 0; a
# non-loopback address without API keys is refused; RAGDB_API_KEYS and the
# config file's keys are enforced; --read-only refuses writes.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"
command -v curl >/dev/null || fail "curl is needed"

DB="$WORK/db"
ok ragdb init --db "$DB"
ok ragdb ingest --db "$DB" "$RAGDB_SRC/docs/sample"

# --- the quickstart's knowledge base, page and API
serve_start "$DB"
assert_contains "$(cat "$WORK/serve.out")" "documents"
http GET /
assert_eq "$STATUS" 200 "GET /"
assert_contains "$BODY" "<title>ragdb</title>"
http GET /health
assert_eq "$STATUS" 200 "GET /health"
http POST /v1/search -H 'Content-Type: application/json' -d '{"query": "rotate the API signing keys", "k": 3}'
assert_eq "$STATUS" 200 "search"
printf '%s' "$BODY" | jcheck 'j["results"][0]["id"] == "rotating-api-keys.md"' "search results"
http POST /v1/query -H 'Content-Type: application/json' -d '{"question": "How do I rotate the API signing keys?"}'
assert_eq "$STATUS" 200 "query"
printf '%s' "$BODY" | jcheck '"[1]" in j["answer"] and j["sources"][0]["n"] == 1' "query answer"

# --- every path of the OpenAPI document is served and documented in docs/api.md
http GET /openapi.json
assert_eq "$STATUS" 200 "GET /openapi.json"
printf '%s' "$BODY" >"$WORK/openapi.json"
for p in $(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["paths"]))' "$WORK/openapi.json"); do
	grep -qF "$p" "$RAGDB_SRC/docs/api.md" || fail "docs/api.md does not mention $p"
	http OPTIONS "${p/\{id\}/faq.md}"
	assert_eq "$STATUS" 204 "OPTIONS $p (a served path)"
done

# --- an ingest from the CLI (another process, one LMDB writer) while serving
mkdir -p "$WORK/more"
echo "The aquarium filters are replaced every second Tuesday by the facilities team." >"$WORK/more/aquarium.txt"
ok ragdb ingest --db "$DB" "$WORK/more"
http POST /v1/search -H 'Content-Type: application/json' -d '{"query": "when are the aquarium filters replaced", "k": 1}'
printf '%s' "$BODY" | jcheck 'j["results"][0]["id"] == "aquarium.txt"' "a document ingested by the CLI while serving"

# --- SIGTERM while an upload is in flight: it finishes, then exit 0
python3 -c '
import json
print(json.dumps({"id": "slow-upload", "text": "Slow upload paragraph about lighthouse keepers. " * 1200}))
' >"$WORK/slow.json"
curl -sS --noproxy '*' -o "$WORK/slow.out" -w '%{http_code}' --limit-rate 25k \
	-H 'Content-Type: application/json' --data-binary @"$WORK/slow.json" \
	"$SERVE_URL/v1/documents" >"$WORK/slow.code" 2>"$WORK/slow.err" &
CURL_PID=$!
sleep 1
kill -0 "$CURL_PID" 2>/dev/null || fail "the slow upload ended before the signal: $(cat "$WORK/slow.err")"
serve_stop TERM
set +e
wait "$CURL_PID"
CURL_RC=$?
set -e
assert_eq "$SERVE_RC" 0 "exit status after SIGTERM"
assert_eq "$CURL_RC" 0 "curl of the in-flight upload"
assert_eq "$(cat "$WORK/slow.code")" 201 "the in-flight upload's status"
assert_contains "$(cat "$WORK/serve.err")" "finishing in-flight requests"
ok ragdb show --db "$DB" slow-upload --json
check_ok "$DB"

# --- SIGINT (Ctrl-C) also stops cleanly
serve_start "$DB"
serve_stop INT
assert_eq "$SERVE_RC" 0 "exit status after SIGINT"

# --- beyond loopback, keys are required
run "$RAGDB_BIN" serve --db "$DB" --listen 0.0.0.0:0
assert_eq "$RC" 1 "serve on 0.0.0.0 without keys"
assert_contains "$ERR" "without API keys"
run "$RAGDB_BIN" serve --db "$DB" --listen nowhere:80
assert_eq "$RC" 2 "serve with a bad --listen"

# --- RAGDB_API_KEYS: read-write and read-only keys
RAGDB_API_KEYS="rw-e2e-key-0001,ro:ro-e2e-key-0002" serve_start "$DB"
assert_contains "$(cat "$WORK/serve.out")" "API keys required"
http POST /v1/search -H 'Content-Type: application/json' -d '{"query": "keys"}'
assert_eq "$STATUS" 401 "search without a key"
printf '%s' "$BODY" | jcheck 'j["error"]["type"] == "authentication_error"' "401 body"
http POST /v1/search -H 'Authorization: Bearer ro-e2e-key-0002' -H 'Content-Type: application/json' -d '{"query": "keys"}'
assert_eq "$STATUS" 200 "search with the read-only key"
http POST /v1/documents -H 'Authorization: Bearer ro-e2e-key-0002' -H 'Content-Type: application/json' -d '{"id": "x", "text": "y"}'
assert_eq "$STATUS" 403 "write with the read-only key"
http POST /v1/documents -H 'Authorization: Bearer rw-e2e-key-0001' -F "file=@$WORK/more/aquarium.txt;filename=fish.txt"
assert_eq "$STATUS" 201 "upload with the read-write key"
serve_stop
assert_eq "$SERVE_RC" 0

# --- keys from the config file; --read-only
cat >"$WORK/serve.json" <<'JSON'
{"server": {"api_keys": ["cfg-e2e-key-0003"], "max_k": 5}}
JSON
serve_start "$DB" --config "$WORK/serve.json" --read-only
http POST /v1/search -H 'Authorization: Bearer cfg-e2e-key-0003' -H 'Content-Type: application/json' -d '{"query": "keys", "k": 6}'
assert_eq "$STATUS" 400 "k over the configured max_k"
http DELETE /v1/documents/aquarium.txt -H 'Authorization: Bearer cfg-e2e-key-0003'
assert_eq "$STATUS" 403 "delete on a --read-only server"
http GET /v1/documents/aquarium.txt -H 'Authorization: Bearer cfg-e2e-key-0003'
assert_eq "$STATUS" 200 "the document is still there"
serve_stop
assert_eq "$SERVE_RC" 0
check_ok "$DB"
