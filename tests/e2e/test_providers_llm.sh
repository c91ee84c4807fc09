#!/usr/bin/env bash
# tests/e2e/test_providers_llm.sh — `ragdb query --model provider:model`
# against the fake provider server, for anthropic, openai, ollama and
# gemini: the answer streams to the terminal (and --no-stream waits) with
# its sources and usage; the same answer whatever byte boundaries the stream
# arrives in; requests match the specs (headers, body fields, stream flags);
# a stream cut off, one without its end marker, an error event, malformed
# JSON and 401 are errors saying so (never a short answer), 529/429 are
# retried; prices from ragdb.json give the cost; a default_model answers
# without --model; the key is never shown.
source "$(dirname "$0")/lib.sh"
source "$RAGDB_SRC/tests/fake/fake.sh"

SECRET="sk-test-llm-SECRET-99"
fake_start --key "$SECRET"
export RAGDB_HTTP_BACKOFF_MS=20
unset RAGDB_CONFIG RAGDB_EMBED_ENDPOINT HF_TOKEN
export ANTHROPIC_BASE_URL="$FAKE_URL" ANTHROPIC_API_KEY="$SECRET"
export OPENAI_BASE_URL="$FAKE_URL/v1" OPENAI_API_KEY="$SECRET"
export OLLAMA_HOST="$FAKE_URL"
export GEMINI_BASE_URL="$FAKE_URL" GEMINI_API_KEY="$SECRET"

DB="$WORK/db"
DOCS="$WORK/docs"
mkdir -p "$DOCS"
echo "To rotate the signing keys run the rotate command. Old keys stay valid for one day." >"$DOCS/keys.md"
echo "Backups are taken nightly and kept for thirty days." >"$DOCS/backups.md"
ok ragdb init --db "$DB"
ok ragdb ingest --db "$DB" "$DOCS"

ANSWER="Rotate the signing keys every 90 days with \`ragdb keys rotate\` [1]. Old keys stay valid for a day [2]."
Q="How do I rotate the signing keys?"

for prov in anthropic openai ollama gemini; do
	M="$prov:test-chat-1"
	note "model $M"
	fake_ctl '{"faults": [], "sticky": null}'
	# Streamed: the answer, the sources, the usage line.
	ok ragdb query --db "$DB" "$Q" --model "$M"
	assert_contains "$OUT" "$ANSWER" "$M streamed answer"
	assert_contains "$OUT" "Sources:" "$M sources"
	assert_contains "$OUT" "[1] keys.md" "$M first source"
	assert_contains "$OUT" "($M: 1000 input + 500 output tokens" "$M usage"
	assert_not_contains "$OUT" "extractive" "$M answer"
	# The request: the prompt carries the numbered sources and the question.
	case $prov in
	anthropic) req='j["last"]["/v1/messages"]'
		fake_stats "$req" | jcheck 'j["stream"] is True and j["max_tokens"] == 1024 and "system" in j and "<source n=\"1\">" in j["messages"][0]["content"] and "rotate the signing keys?" in j["messages"][0]["content"]' "$M request" ;;
	openai) req='j["last"]["/v1/chat/completions"]'
		fake_stats "$req" | jcheck 'j["stream"] is True and j["stream_options"]["include_usage"] is True and [m["role"] for m in j["messages"]] == ["system", "user"] and "<source n=\"1\">" in j["messages"][1]["content"]' "$M request" ;;
	ollama) req='j["last"]["/api/chat"]'
		fake_stats "$req" | jcheck 'j["stream"] is True and j["options"]["num_predict"] == 1024 and "<source n=\"1\">" in j["messages"][1]["content"]' "$M request" ;;
	gemini) req='j["last"]["/v1beta/models/test-chat-1:streamGenerateContent"]'
		fake_stats "$req" | jcheck '"<source n=\"1\">" in j["contents"][0]["parts"][0]["text"] and j["generationConfig"]["maxOutputTokens"] == 1024 and "systemInstruction" in j' "$M request" ;;
	esac
	# --no-stream: the same answer from one response.
	ok ragdb query --db "$DB" "$Q" --model "$M" --no-stream
	assert_contains "$OUT" "$ANSWER" "$M whole answer"
	# --json: model, usage.
	ok ragdb query --db "$DB" "$Q" --model "$M" --json
	printf '%s' "$OUT" | jcheck 'j["model"] == "'"$M"'" and j["extractive"] is False and j["input_tokens"] == 1000 and j["output_tokens"] == 500 and j["answer"] == '"$(printf '%s' "$ANSWER" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')" "$M json"
	# A stream split at every byte boundary gives the same answer.
	fake_ctl '{"faults": ["split"]}'
	ok ragdb query --db "$DB" "$Q" --model "$M"
	assert_contains "$OUT" "$ANSWER" "$M answer split at every byte"
	# A stream cut off in the middle is an error, not a short answer.
	fake_ctl '{"faults": ["cut"]}'
	expect_rc 1 ragdb query --db "$DB" "$Q" --model "$M"
	assert_contains "$ERR" "incomplete" "$M cut off"
	assert_not_contains "$OUT" "Sources:" "$M cut off"
	# A stream that ends cleanly but without its end marker: an error too.
	fake_ctl '{"faults": ["truncated"]}'
	expect_rc 1 ragdb query --db "$DB" "$Q" --model "$M"
	assert_contains "$ERR" "ended before the answer was complete" "$M truncated"
	# Malformed JSON from the provider.
	fake_ctl '{"faults": ["malformed"]}'
	expect_rc 1 ragdb query --db "$DB" "$Q" --model "$M" --no-stream
	assert_contains "$ERR" "malformed JSON" "$M malformed"
	# Retried: overloaded and rate limited.
	fake_ctl '{"faults": ["529", "429"]}'
	before=$(fake_total)
	ok ragdb query --db "$DB" "$Q" --model "$M"
	assert_contains "$OUT" "$ANSWER" "$M after 529 and 429"
	assert_eq "$(fake_total)" "$((before + 3))" "$M: two retries"
	# Not retried: 401, with a message that names the variable, not the key.
	fake_ctl '{"faults": ["401"]}'
	before=$(fake_total)
	expect_rc 1 ragdb query --db "$DB" "$Q" --model "$M"
	assert_eq "$(fake_total)" "$((before + 1))" "$M: 401 is not retried"
	assert_contains "$ERR" "$M: HTTP 401" "$M 401"
	assert_contains "$ERR" "invalid x-api-key" "$M 401 quotes the provider"
	assert_not_contains "$ERR$OUT" "$SECRET" "$M 401 message"
done

# Provider errors inside a stream are quoted.
fake_ctl '{"faults": ["error_event"]}'
expect_rc 1 ragdb query --db "$DB" "$Q" --model anthropic:test-chat-1
assert_contains "$ERR" "Overloaded" "anthropic error event"
fake_ctl '{"faults": ["error_event"]}'
expect_rc 1 ragdb query --db "$DB" "$Q" --model ollama:test-chat-1
assert_contains "$ERR" "an error was encountered while running the model" "ollama error line"

# A missing key: refused before any request, naming the variable.
before=$(fake_total)
ANTHROPIC_API_KEY= expect_rc 1 ragdb query --db "$DB" "$Q" --model anthropic:test-chat-1
assert_contains "$ERR" "no API key; set ANTHROPIC_API_KEY" "missing key"
assert_eq "$(fake_total)" "$before" "no request without a key"

# Configuration: a named model with prices; default_model answers without --model.
cat >"$DB/ragdb.json" <<JSON
{ "default_model": "claude",
  "models": { "claude": { "provider": "anthropic", "model": "claude-test",
                          "api_key": "\${MY_CLAUDE_KEY}", "max_tokens": 300,
                          "temperature": 0.2, "price_input": 3.0, "price_output": 15.0 } } }
JSON
MY_CLAUDE_KEY="$SECRET" ok ragdb query --db "$DB" "$Q" --json
printf '%s' "$OUT" | jcheck 'j["model"] == "anthropic:claude-test" and abs(j["cost"] - 0.0105) < 1e-9' "default model and cost"
fake_stats 'j["last"]["/v1/messages"]' | jcheck 'j["max_tokens"] == 300 and j["temperature"] == 0.2 and j["model"] == "claude-test"' "configured parameters sent"
MY_CLAUDE_KEY="$SECRET" ok ragdb query --db "$DB" "$Q"
assert_contains "$OUT" "cost 0.0105" "cost shown"
# "extractive" still picks the built-in answerer.
ok ragdb query --db "$DB" "$Q" --model extractive
assert_contains "$OUT" "xtractive" "extractive on demand"
rm "$DB/ragdb.json"
# An unknown provider is named.
expect_rc 1 ragdb query --db "$DB" "$Q" --model nosuch:model
assert_contains "$ERR" "nosuch:model" "unknown provider"
fake_no_violations
note "ok"
