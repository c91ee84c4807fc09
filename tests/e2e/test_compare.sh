#!/usr/bin/env bash
# tests/e2e/test_compare.sh — `ragdb query "..." --compare M1,M2[,...]`: two
# fake language models with different answers and the extractive answerer
# answer the same question from the same sources; each section names its
# model with latency, tokens and cost; the sources are printed once; --json
# gives an array; a failing model shows its error in its section while the
# others still print, and the exit status is 1; bad lists are usage errors.
source "$(dirname "$0")/lib.sh"
source "$RAGDB_SRC/tests/fake/fake.sh"

export RAGDB_HTTP_BACKOFF_MS=20 RAGDB_HTTP_RETRIES=1
unset OPENAI_BASE_URL OPENAI_API_KEY OLLAMA_HOST GEMINI_API_KEY GEMINI_BASE_URL HF_TOKEN \
	HF_INFERENCE_ENDPOINT RAGDB_CONFIG RAGDB_EMBED_ENDPOINT ANTHROPIC_API_KEY ANTHROPIC_BASE_URL

fake_start
URL_B=$FAKE_URL
fake_ctl '{"answer": "Beta says: rotate the keys with the rotate command [1]."}'
B_PID=$FAKE_PID
FAKE_PID=""
fake_start
URL_A=$FAKE_URL
fake_ctl '{"answer": "Alpha says: the keys are rotated every 90 days [1]."}'
trap 'kill $B_PID 2>/dev/null || true; fake_stop; cleanup' EXIT

DB="$WORK/db"
mkdir -p "$WORK/docs"
echo "To rotate the signing keys run the rotate command. Old signing keys stay valid for one day." >"$WORK/docs/keys.md"
echo "Backups are taken nightly and kept in the vault for thirty days." >"$WORK/docs/backups.md"
ok ragdb init --db "$DB"
ok ragdb ingest --db "$DB" "$WORK/docs"
cat >"$DB/ragdb.json" <<JSON
{ "models": {
    "alpha": { "provider": "openai", "model": "chat-a", "endpoint": "$URL_A/v1",
               "price_input": 3.0, "price_output": 15.0 },
    "beta": { "provider": "anthropic", "model": "chat-b", "endpoint": "$URL_B",
              "api_key": "sk-b" },
    "gamma": { "provider": "openai", "model": "chat-g", "endpoint": "http://127.0.0.1:9/v1" } } }
JSON
Q="How do I rotate the signing keys?"

note "two models and the extractive answerer"
ok ragdb query --db "$DB" "$Q" --compare alpha,beta,extractive
assert_contains "$OUT" "== alpha (openai:chat-a) ==" "alpha section"
assert_contains "$OUT" "Alpha says: the keys are rotated every 90 days [1]." "alpha answer"
assert_contains "$OUT" "== beta (anthropic:chat-b) ==" "beta section"
assert_contains "$OUT" "Beta says: rotate the keys with the rotate command [1]." "beta answer"
assert_contains "$OUT" "== extractive ==" "extractive section"
assert_matches "$OUT" "1000 input \\+ 500 output tokens, cost 0\\.0105" "alpha tokens and cost"
assert_eq "$(printf '%s\n' "$OUT" | grep -c '^Sources:')" 1 "sources printed once"
assert_contains "$OUT" "[1] keys.md" "the top source"
# Each model got the same context: the same prompt text.
pa=$(FAKE_URL=$URL_A fake_stats 'j["last"]["/v1/chat/completions"]["messages"][-1]["content"]')
pb=$(FAKE_URL=$URL_B fake_stats 'j["last"]["/v1/messages"]["messages"][-1]["content"]')
assert_contains "$pa" "rotate the signing keys" "alpha's prompt holds the source"
[ "$pa" = "$pb" ] || fail "the two models got different prompts:
$pa
---
$pb"

note "--json"
ok ragdb query --db "$DB" "$Q" --compare "alpha, beta" --json --no-cache
printf '%s' "$OUT" | jcheck 'isinstance(j, list) and [m["model"] for m in j] == ["alpha", "beta"] and all(m["ok"] for m in j) and j[0]["answer"].startswith("Alpha") and j[1]["answer"].startswith("Beta") and j[0]["input_tokens"] == 1000 and abs(j[0]["cost"] - 0.0105) < 1e-9 and j[0]["sources"] == j[1]["sources"] and j[0]["sources"][0]["id"] == "keys.md"' "compare --json"

note "one model failing"
expect_rc 1 ragdb query --db "$DB" "$Q" --compare alpha,gamma,extractive
assert_contains "$OUT" "== gamma: FAILED ==" "failed section"
assert_contains "$OUT" "cannot connect" "its error"
assert_contains "$OUT" "Alpha says" "the others still print"
assert_contains "$OUT" "== extractive ==" "extractive still prints"
assert_contains "$ERR" "1 of 3 models failed" "summary on stderr"
expect_rc 1 ragdb query --db "$DB" "$Q" --compare alpha,gamma --json
printf '%s' "$OUT" | jcheck 'j[0]["ok"] and not j[1]["ok"] and "cannot connect" in j[1]["error"]' "failure in --json"

note "usage"
expect_rc 2 ragdb query --db "$DB" "$Q" --compare "alpha,,beta"
assert_contains "$ERR" "empty name" "empty name"
expect_rc 2 ragdb query --db "$DB" "$Q" --compare alpha,beta --model alpha
assert_contains "$ERR" "drop --model" "with --model"
echo "PASS $TEST_NAME"
