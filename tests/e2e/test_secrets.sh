#!/usr/bin/env bash
# tests/e2e/test_secrets.sh — API keys never leak: a run with sentinel keys
# (a provider key for a remote embedder and language models, given through
# the environment and through ragdb.json's ${VAR} expansion, and server API
# keys) through init, ingest, search, query, stats, list, check, backup, the
# provider's 401/500/malformed answers, and `ragdb serve` (searches, queries,
# uploads, chat completions, wrong and missing keys, /metrics, the access
# log). Every stdout, stderr, --json output, HTTP response, log and the
# database files (data.mdb, its backup) are searched: no sentinel anywhere.
source "$(dirname "$0")/lib.sh"
source "$RAGDB_SRC/tests/fake/fake.sh"
source "$RAGDB_SRC/tests/e2e/serve_lib.sh"
trap 'fake_stop; serve_cleanup' EXIT

PKEY="sk-SENTINEL-provider-7f3a9c1e"
SKEY="sk-SENTINEL-server-rw-4b8d2e6f"
RKEY="sk-SENTINEL-server-ro-9a1c5e7b"
fake_start --key "$PKEY"
export RAGDB_HTTP_BACKOFF_MS=20
unset RAGDB_CONFIG RAGDB_EMBED_ENDPOINT HF_TOKEN
export OPENAI_BASE_URL="$FAKE_URL/v1" OPENAI_API_KEY="$PKEY"
export ANTHROPIC_BASE_URL="$FAKE_URL" ANTHROPIC_API_KEY="$PKEY"
LOG="$WORK/all-output"   # every output of the run, appended
: >"$LOG"
keep() { printf '%s\n%s\n' "$OUT" "$ERR" >>"$LOG"; }
okk() { ok "$@"; keep; }
anyk() { run "$@"; keep; }

DB="$WORK/db"
DOCS="$WORK/docs"
mkdir -p "$DOCS"
echo "To rotate the signing keys run the rotate command. Old keys stay valid for one day." >"$DOCS/keys.md"
echo "Backups are taken nightly and kept for thirty days." >"$DOCS/backups.md"

okk ragdb init --db "$DB" --embedder openai:text-embedding-3-small --json
okk ragdb ingest --db "$DB" "$DOCS" --json
printf '%s' "$OUT" | jcheck 'j["added"] == 2 and j["failed"] == 0' "ingest through the remote embedder"
okk ragdb search --db "$DB" "signing keys" --json
okk ragdb query --db "$DB" "How do I rotate the signing keys?" --model anthropic:test-chat-1 --json
okk ragdb query --db "$DB" "How do I rotate the signing keys?" --model openai:test-chat-1
okk ragdb stats --db "$DB" --json
okk ragdb list --db "$DB" --json
okk ragdb show --db "$DB" keys.md --json
okk ragdb check --db "$DB" --json
okk ragdb backup --db "$DB" "$WORK/backup" --json

# Provider failures: their messages are shown, never the key.
Q="How do I rotate the signing keys?"
for f in 401 malformed; do
	fake_ctl '{"faults": ["'"$f"'", "'"$f"'", "'"$f"'", "'"$f"'", "'"$f"'", "'"$f"'"]}'
	anyk ragdb query --db "$DB" "$Q" --model anthropic:test-chat-1 --json
	[ "$RC" -ne 0 ] || fail "query with fault $f succeeded"
	fake_ctl '{"faults": ["'"$f"'", "'"$f"'", "'"$f"'", "'"$f"'", "'"$f"'", "'"$f"'"]}'
	anyk ragdb search --db "$DB" "rotate keys $f" --json
	echo "a new document written during fault $f" >"$DOCS/fault-$f.txt"
	fake_ctl '{"faults": ["'"$f"'", "'"$f"'", "'"$f"'", "'"$f"'", "'"$f"'", "'"$f"'"]}'
	anyk ragdb ingest --db "$DB" "$DOCS" --json
done
fake_ctl '{"faults": [], "sticky": null}'
# A key that is wrong for the provider: 401 quoted, key not shown.
OPENAI_API_KEY="sk-SENTINEL-wrong-0c0ffee0" anyk ragdb query --db "$DB" "$Q" --model openai:test-chat-1
[ "$RC" -ne 0 ] || fail "a wrong key was accepted"
assert_contains "$ERR" "401" "wrong key"
grep -q "sk-SENTINEL-wrong" <<<"$OUT$ERR" && fail "the wrong key was shown: $ERR"

# The key through ragdb.json's ${VAR} expansion.
cat >"$DB/ragdb.json" <<'JSON'
{ "default_model": "claude",
  "models": { "claude": { "provider": "anthropic", "model": "claude-test", "api_key": "${MY_SENTINEL_KEY}" } } }
JSON
MY_SENTINEL_KEY="$PKEY" okk ragdb query --db "$DB" "$Q" --json
MY_SENTINEL_KEY="sk-SENTINEL-wrong-cfg-1234" anyk ragdb query --db "$DB" "$Q"
[ "$RC" -ne 0 ] || fail "a wrong configured key was accepted"

# The server with API keys, a provider model, and the access log.
RAGDB_API_KEYS="$SKEY,ro:$RKEY" MY_SENTINEL_KEY="$PKEY" serve_start "$DB" --access-log
R="$WORK/responses"
: >"$R"
req() { http "$@"; printf '%s %s\n%s\n' "$STATUS" "$2" "$BODY" >>"$R"; }
J=(-H 'Content-Type: application/json')
req POST /v1/search "${J[@]}" -H "Authorization: Bearer $RKEY" -d '{"query": "signing keys"}'
assert_eq "$STATUS" 200 "search with the read-only key"
req POST /v1/query "${J[@]}" -H "Authorization: Bearer $RKEY" -d '{"query": "How do I rotate the signing keys?"}'
assert_eq "$STATUS" 200 "query through the configured model"
req POST /v1/query "${J[@]}" -H "Authorization: Bearer $RKEY" -d '{"query": "How do I rotate the signing keys?", "stream": true}'
req POST /v1/chat/completions "${J[@]}" -H "Authorization: Bearer $SKEY" -d '{"model": "ragdb", "messages": [{"role": "user", "content": "rotate the signing keys"}]}'
req POST /v1/embeddings "${J[@]}" -H "Authorization: Bearer $SKEY" -d '{"input": "signing keys"}'
req POST /v1/documents "${J[@]}" -H "Authorization: Bearer $SKEY" -d '{"id": "note", "text": "a note about lighthouses"}'
req GET /v1/documents -H "Authorization: Bearer $RKEY"
req GET /v1/models -H "Authorization: Bearer $RKEY"
# Wrong and missing keys, and a key sent where a read-only one is not enough.
req POST /v1/search "${J[@]}" -H "Authorization: Bearer sk-SENTINEL-server-wrong-5555" -d '{"query": "x"}'
assert_eq "$STATUS" 401 "wrong server key"
req POST /v1/search "${J[@]}" -d '{"query": "x"}'
assert_eq "$STATUS" 401 "missing server key"
req POST /v1/documents "${J[@]}" -H "Authorization: Bearer $RKEY" -d '{"id": "y", "text": "z"}'
assert_eq "$STATUS" 403 "write with the read-only key"
# The provider failing under the server.
fake_ctl '{"sticky": "401"}'
req POST /v1/query "${J[@]}" -H "Authorization: Bearer $RKEY" -d '{"query": "How do I rotate the signing keys?"}'
fake_ctl '{"sticky": "500"}'
req POST /v1/search "${J[@]}" -H "Authorization: Bearer $RKEY" -d '{"query": "failing embedder"}'
fake_ctl '{"sticky": null, "faults": []}'
req GET /metrics -H "Authorization: Bearer $RKEY"
assert_eq "$STATUS" 200 "/metrics"
req GET /ready
req GET /health
serve_stop
cat "$WORK/serve.out" "$WORK/serve.err" >>"$LOG"
cat "$R" >>"$LOG"
grep -q " POST /v1/search" "$WORK/serve.err" || fail "the access log is empty: the test would not see a leak there"

# Nothing anywhere: outputs, responses, logs, the database and its backup.
rm -f "$DB/ragdb.json"   # holds ${MY_SENTINEL_KEY}, the variable's name only
leaks=$(grep -ral "SENTINEL" "$WORK" --exclude='.fake_port.*' || true)
[ -z "$leaks" ] || fail "a sentinel key leaked into: $leaks ($(grep -rao '.\{60\}SENTINEL.\{20\}' $leaks | head -5))"
for f in "$DB/data.mdb" "$WORK/backup/data.mdb"; do
	[ -s "$f" ] || fail "$f is missing"
	# (grep -a above already read the bytes; strings also sees UTF-16 runs.)
	if command -v strings >/dev/null; then
		strings -a -e S "$f" | grep -q SENTINEL && fail "a sentinel key is stored in $f"
		strings -a -e l "$f" | grep -q SENTINEL && fail "a sentinel key is stored in $f (UTF-16)"
	fi
done
# The test can see a leak: the sentinel is in what it searches when put there.
echo "$PKEY" >>"$LOG"
grep -raq "SENTINEL" "$WORK" || fail "the leak search does not work"
note "ok: $(wc -l <"$LOG") lines of output and $(grep -c '^[0-9][0-9][0-9] /' "$R") responses searched"
