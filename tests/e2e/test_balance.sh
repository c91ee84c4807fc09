#!/usr/bin/env bash
# tests/e2e/test_balance.sh — load balancing across several endpoints of one
# model ("endpoints" + "balance" in ragdb.json), against two or three fake
# provider servers: round_robin splits an ingest's embedding requests evenly;
# least_load sends fewer to a slowed server; with one endpoint down every
# document is still stored (retries go to the other endpoint); a language
# model behind `ragdb serve` (one process, many questions) is balanced the
# same way: round_robin evenly, least_latency to the fast server, a dead
# endpoint costs no failed question. `models list` shows the endpoints.
source "$(dirname "$0")/lib.sh"
source "$RAGDB_SRC/tests/e2e/serve_lib.sh"
command -v curl >/dev/null || { echo "SKIP: curl is needed"; exit 77; }

export RAGDB_HTTP_BACKOFF_MS=20
unset OPENAI_BASE_URL OPENAI_API_KEY OLLAMA_HOST GEMINI_API_KEY GEMINI_BASE_URL HF_TOKEN \
	HF_INFERENCE_ENDPOINT RAGDB_CONFIG RAGDB_EMBED_ENDPOINT ANTHROPIC_API_KEY ANTHROPIC_BASE_URL

# Several fakes: start_fake N sets URL_N and PID_N.
PIDS=()
start_fake() {
	local pf="$WORK/.port.$1"
	python3 "$RAGDB_SRC/tests/fake/fake_provider.py" --port-file "$pf" --dim 32 &
	PIDS+=($!)
	for _ in $(seq 1 100); do
		[ -s "$pf" ] && break
		sleep 0.05
	done
	[ -s "$pf" ] || fail "fake provider $1 did not start"
	eval "URL_$1=http://127.0.0.1:$(cat "$pf")"
}
all_cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	serve_cleanup
}
trap all_cleanup EXIT
# ctl URL JSON; count URL PATH — drive and read one fake.
ctl() { FAKE_URL=$1 fake_ctl "$2"; }
count() { FAKE_URL=$1 fake_stats 'j["paths"].get("'"$2"'", 0)'; }
source "$RAGDB_SRC/tests/fake/fake.sh"
trap all_cleanup EXIT
start_fake A
start_fake B
start_fake C
# A port nobody listens on: a stopped server.
python3 "$RAGDB_SRC/tests/fake/fake_provider.py" --port-file "$WORK/.port.D" &
dpid=$!
for _ in $(seq 1 100); do [ -s "$WORK/.port.D" ] && break; sleep 0.05; done
DEAD="http://127.0.0.1:$(cat "$WORK/.port.D")"
kill "$dpid"; wait "$dpid" 2>/dev/null || true

DOCS="$WORK/docs"
mkdir -p "$DOCS"
for i in $(seq 1 40); do
	echo "Document $i tells about topic$i and the subject number $i of the handbook." >"$DOCS/d$i.md"
done
reset_all() { for u in "$URL_A" "$URL_B" "$URL_C"; do ctl "$u" '{"reset": true, "dim": 32}'; done; }

# embed_cfg POLICY ENDPOINTS_JSON — the configuration of a balanced embedder.
embed_cfg() {
	cat >"$WORK/ragdb.json" <<JSON
{ "models": {
    "emb": { "provider": "openai", "model": "test-embed-1", "balance": "$1",
             "endpoints": $2, "batch_size": 1, "parallel": 4 } } }
JSON
}
export RAGDB_CONFIG="$WORK/ragdb.json"

# --- round_robin: 40 embedding requests split evenly over two servers
note "embedder round_robin"
reset_all
embed_cfg round_robin "[\"$URL_A/v1\", \"$URL_B/v1\"]"
ok ragdb init --db "$WORK/rr" --embedder openai:test-embed-1 --json
ok ragdb ingest --db "$WORK/rr" "$DOCS" --json
printf '%s' "$OUT" | jcheck 'j["added"] == 40 and j["failed"] == 0' "round_robin ingest"
a=$(count "$URL_A" /v1/embeddings); b=$(count "$URL_B" /v1/embeddings)
note "round_robin: A $a, B $b"
[ $((a + b)) -ge 41 ] || fail "round_robin: $a + $b requests, expected at least 41"
d=$((a - b)); d=${d#-}
[ "$d" -le 1 ] || fail "round_robin: A got $a and B $b requests; expected an even split"
ok ragdb search --db "$WORK/rr" "topic7 handbook" -k 1 --json
assert_eq "$(printf '%s' "$OUT" | jget 'j["results"][0]["id"]')" "d7.md" "search through a balanced embedder"

# --- least_load: a slowed server holds its requests, the others take the rest
note "embedder least_load"
reset_all
ctl "$URL_A" '{"delay_ms": 400}'
embed_cfg least_load "[\"$URL_A/v1\", \"$URL_B/v1\", \"$URL_C/v1\"]"
ok ragdb init --db "$WORK/ll" --embedder openai:test-embed-1 --json
ok ragdb ingest --db "$WORK/ll" "$DOCS" --json
printf '%s' "$OUT" | jcheck 'j["added"] == 40 and j["failed"] == 0' "least_load ingest"
a=$(count "$URL_A" /v1/embeddings); b=$(count "$URL_B" /v1/embeddings); c=$(count "$URL_C" /v1/embeddings)
note "least_load (A slowed): A $a, B $b, C $c"
[ $((b + c)) -gt $((4 * a)) ] || fail "least_load: the slowed server got $a requests, the others $b and $c"

# --- one endpoint down: every document stored, through the other
note "embedder with a dead endpoint"
reset_all
embed_cfg round_robin "[\"$DEAD/v1\", \"$URL_B/v1\"]"
ok ragdb init --db "$WORK/dead" --embedder openai:test-embed-1 --json
ok ragdb ingest --db "$WORK/dead" "$DOCS" --json
printf '%s' "$OUT" | jcheck 'j["added"] == 40 and j["failed"] == 0' "ingest with one endpoint down"
b=$(count "$URL_B" /v1/embeddings)
[ "$b" -ge 41 ] || fail "the live endpoint got $b requests"
check_ok "$WORK/dead"

# --- a language model behind ragdb serve
llm_cfg() {
	cat >"$WORK/rr/ragdb.json" <<JSON
{ "models": {
    "emb": { "provider": "openai", "model": "test-embed-1",
             "endpoints": ["$URL_A/v1", "$URL_B/v1"] },
    "chat": { "provider": "openai", "model": "test-chat-1", "balance": "$1",
              "endpoints": $2 } } }
JSON
}
unset RAGDB_CONFIG
ask() { # ask N — N distinct questions (no answer-cache hits), each must answer
	local i
	for i in $(seq 1 "$1"); do
		http POST /v1/query -H 'Content-Type: application/json' \
			-d '{"question": "What does document '"$i$RANDOM"' say about topic'"$i"'?", "model": "chat"}'
		assert_eq "$STATUS" 200 "question $i: $BODY"
		printf '%s' "$BODY" | jcheck 'j["model"] == "openai:test-chat-1"' "answered by the model"
	done
}
note "llm round_robin"
reset_all
llm_cfg round_robin "[\"$URL_A/v1\", \"$URL_B/v1\"]"
ok ragdb models list --db "$WORK/rr"
assert_contains "$OUT" "$URL_B/v1" "models list shows every endpoint"
assert_contains "$OUT" "round_robin" "models list shows the policy"
ok ragdb models list --db "$WORK/rr" --json
printf '%s' "$OUT" | jcheck '[m for m in j["models"] if m["name"] == "chat"][0]["endpoints"] == ["'"$URL_A/v1"'", "'"$URL_B/v1"'"]' "models list --json endpoints"
serve_start "$WORK/rr"
ask 10
a=$(count "$URL_A" /v1/chat/completions); b=$(count "$URL_B" /v1/chat/completions)
note "llm round_robin: A $a, B $b"
assert_eq "$a" 5 "round_robin: questions to A"
assert_eq "$b" 5 "round_robin: questions to B"
serve_stop

note "llm least_latency"
reset_all
ctl "$URL_B" '{"delay_ms": 300}'
llm_cfg least_latency "[\"$URL_A/v1\", \"$URL_B/v1\"]"
serve_start "$WORK/rr"
ask 8
a=$(count "$URL_A" /v1/chat/completions); b=$(count "$URL_B" /v1/chat/completions)
note "llm least_latency (B slowed): A $a, B $b"
assert_eq "$b" 1 "least_latency: the slow server is tried once"
assert_eq "$a" 7 "least_latency: the fast server takes the rest"
serve_stop

note "llm with a dead endpoint"
reset_all
llm_cfg round_robin "[\"$DEAD/v1\", \"$URL_A/v1\"]"
serve_start "$WORK/rr"
ask 6
assert_eq "$(count "$URL_A" /v1/chat/completions)" 6 "every question answered by the live endpoint"
serve_stop
FAKE_URL=$URL_A fake_no_violations
echo "PASS $TEST_NAME"
