#!/usr/bin/env bash
# tests/e2e/test_providers_embed.sh — remote embedders against the fake
# provider server (tests/fake/fake_provider.py), for openai, ollama,
# huggingface (TEI) and gemini: init records provider, model and the
# dimension of the first response; ingest and search work from the recorded
# identity with no flag; a re-ingest of an unchanged corpus makes ZERO
# requests; requests match the specs; faults (429 + Retry-After, 500, 529,
# 401, a stall past the timeout, malformed JSON, a wrong dimension, an empty
# answer) are retried or reported as a failed document that is not stored,
# with the provider's message quoted and the key never shown.
source "$(dirname "$0")/lib.sh"
source "$RAGDB_SRC/tests/fake/fake.sh"

SECRET="sk-test-SECRET-4242"
fake_start --key "$SECRET" --dim 48
export RAGDB_HTTP_BACKOFF_MS=20
unset OPENAI_BASE_URL OPENAI_API_KEY OLLAMA_HOST GEMINI_API_KEY GEMINI_BASE_URL HF_TOKEN \
	HF_INFERENCE_ENDPOINT RAGDB_CONFIG RAGDB_EMBED_ENDPOINT ANTHROPIC_API_KEY ANTHROPIC_BASE_URL

DOCS="$WORK/docs"
mkdir -p "$DOCS"
echo "To rotate the signing keys run the rotate command. Old signing keys stay valid for one day." >"$DOCS/keys.md"
echo "Backups are taken nightly and kept in the vault for thirty days." >"$DOCS/backups.md"
echo "The pager alerts the incident commander when latency goes over the threshold." >"$DOCS/incidents.md"
N=3

# provider_env NAME — point the provider at the fake server.
provider_env() {
	case "$1" in
	openai) export OPENAI_BASE_URL="$FAKE_URL/v1" OPENAI_API_KEY="$SECRET" ;;
	ollama) export OLLAMA_HOST="127.0.0.1:$FAKE_PORT" ;;
	huggingface) export HF_TOKEN="$SECRET" ;;
	gemini) export GEMINI_BASE_URL="$FAKE_URL" GEMINI_API_KEY="$SECRET" ;;
	esac
}

for prov in openai ollama huggingface gemini; do
	note "provider $prov"
	provider_env "$prov"
	DB="$WORK/db-$prov"
	model=test-embed-1
	extra=()
	# TEI's URL comes from --endpoint (here) or the configuration.
	[ "$prov" = huggingface ] && extra=(--endpoint "$FAKE_URL")
	fake_ctl '{"faults": [], "sticky": null}'
	ok ragdb init --db "$DB" --embedder "$prov:$model" "${extra[@]}" --json
	printf '%s' "$OUT" | jcheck 'j["embedder"] == "'"$prov"'" and j["embedder_model"] == "'"$model"'" and j["dim"] == 48' "init $prov"
	ok ragdb ingest --db "$DB" "$DOCS" "${extra[@]}" --json
	printf '%s' "$OUT" | jcheck 'j["added"] == '"$N"' and j["failed"] == 0' "ingest $prov"
	ok ragdb search --db "$DB" "rotate the signing keys" -k 3 "${extra[@]}" --json
	assert_eq "$(printf '%s' "$OUT" | jget 'j["results"][0]["id"]')" "keys.md" "$prov: top hit"
	# The vectors came back at length 3 from the fake; stored, they are unit length:
	# the top score of an identical text is a cosine, at most 1.
	printf '%s' "$OUT" | jcheck 'j["results"][0]["score"] <= 1.0001' "$prov: scores are cosines"
	ok ragdb stats --db "$DB" --json
	printf '%s' "$OUT" | jcheck 'j["embedder"] == "'"$prov"'" and j["dim"] == 48' "stats $prov"
	# Re-ingest of the unchanged corpus: no request at all.
	before=$(fake_total)
	ok ragdb ingest --db "$DB" "$DOCS" "${extra[@]}" --json
	printf '%s' "$OUT" | jcheck 'j["unchanged"] == '"$N"' and j["embeddings"] == 0' "re-ingest $prov"
	assert_eq "$(fake_total)" "$before" "$prov: HTTP requests made by a re-ingest of an unchanged corpus"
	check_ok "$DB"
done
fake_no_violations

# Gemini: documents and queries are embedded with their task types.
ok ragdb search --db "$WORK/db-gemini" "nightly backups" --json
assert_eq "$(fake_stats 'j["last"]["/v1beta/models/test-embed-1:batchEmbedContents"]["requests"][0]["taskType"]')" \
	"RETRIEVAL_QUERY" "gemini query task type"
echo "Gemini documents are embedded as retrieval documents." >"$DOCS/gemini.md"
ok ragdb ingest --db "$WORK/db-gemini" "$DOCS"
assert_eq "$(fake_stats 'j["last"]["/v1beta/models/test-embed-1:batchEmbedContents"]["requests"][0]["taskType"]')" \
	"RETRIEVAL_DOCUMENT" "gemini document task type"
rm "$DOCS/gemini.md"

# The OpenAI text-embedding-3 models take a dimensions parameter.
DB3="$WORK/db-te3"
ok ragdb init --db "$DB3" --embedder openai:text-embedding-3-small --dim 32 --json
printf '%s' "$OUT" | jcheck 'j["dim"] == 32' "init with --dim"
ok ragdb ingest --db "$DB3" "$DOCS" --json
assert_eq "$(fake_stats 'j["last"]["/v1/embeddings"]["dimensions"]')" "32" "dimensions sent"

DB="$WORK/db-openai"
# fault_doc FAULTS — a new document ingested while the server misbehaves.
fault_doc() {
	echo "A fresh note about $1 written at $(date +%s%N)." >"$DOCS/new.md"
	fake_ctl "{\"faults\": $2}"
}

# 429 with Retry-After, then 500, then 529: retried, the document is stored.
fault_doc retries '["429", "500", "529"]'
before=$(fake_total)
ok ragdb ingest --db "$DB" "$DOCS" --json
printf '%s' "$OUT" | jcheck 'j["added"] == 1 and j["failed"] == 0' "ingest after retryable faults"
assert_eq "$(fake_total)" "$((before + 4))" "three failed attempts and one success"

# A Retry-After given as an HTTP date is honoured too.
fault_doc retrydate '["429date"]'
ok ragdb ingest --db "$DB" "$DOCS" --json
printf '%s' "$OUT" | jcheck 'j["replaced"] == 1 and j["failed"] == 0' "ingest after 429 with a date"

# The faults that fail a document: it is listed, not stored; the rest go on.
expect_failed() { # NAME FAULTS NEEDLE...
	local name=$1 faults=$2
	shift 2
	fault_doc "$name" "$faults"
	expect_rc 1 ragdb ingest --db "$DB" "$DOCS" --json
	assert_contains "$ERR" "1 document failed" "$name: summary"
	printf '%s' "$OUT" | jcheck 'j["failed"] == 1 and [i["id"] for i in j["items"] if i["action"] == "failed"] == ["new.md"]' "$name: failed document listed"
	for needle in "$@"; do
		assert_contains "$OUT" "$needle" "$name: message"
	done
	assert_not_contains "$OUT" "$SECRET" "$name: message (the key)"
	list_ids "$DB" | grep -qx new.md && fail "$name: the failed document was stored"
	true
}
ok ragdb delete --db "$DB" new.md
export RAGDB_HTTP_RETRIES=2
expect_failed "500 three times" '["500", "500", "500"]' "openai:test-embed-1" "HTTP 500" \
	"The server had an error while processing your request." "after 3 attempts"
expect_failed "401" '["401"]' "HTTP 401" "invalid x-api-key" "OPENAI_API_KEY"
expect_failed "malformed" '["malformed"]' "malformed JSON"
expect_failed "wrong dimension" '["wrongdim"]' "49 dimensions, expected 48"
expect_failed "empty" '["empty"]' "returned 0 embeddings for 1 texts"
RAGDB_HTTP_TIMEOUT_MS=800 RAGDB_HTTP_RETRIES=0 \
	expect_failed "stall" '["stall"]' "within 800 ms"
unset RAGDB_HTTP_RETRIES

# A wrong key: the message says which variable to fix, never the key.
OPENAI_API_KEY="sk-wrong-key-777" run ragdb search --db "$DB" "signing keys"
[ "$RC" -ne 0 ] || fail "a search with a wrong key must fail"
assert_contains "$ERR" "HTTP 401" "wrong key"
assert_contains "$ERR" "OPENAI_API_KEY" "wrong key"
assert_not_contains "$ERR" "sk-wrong-key-777" "wrong key message"

# A server that is down: a clear message naming the endpoint.
OPENAI_BASE_URL="http://127.0.0.1:9/v1" RAGDB_HTTP_RETRIES=0 run ragdb search --db "$DB" "keys"
[ "$RC" -ne 0 ] || fail "a search with the server down must fail"
assert_contains "$ERR" "cannot connect to http://127.0.0.1:9/v1/embeddings" "server down"

# Configuration: a named embedder in ragdb.json in the knowledge base dir.
unset OPENAI_BASE_URL
DBC="$WORK/db-conf"
mkdir -p "$DBC"
cat >"$DBC/ragdb.json" <<JSON
{ "models": { "emb": { "provider": "openai", "model": "conf-embed",
  "endpoint": "$FAKE_URL/v1", "api_key": "\${MY_EMBED_KEY}", "batch_size": 2,
  "max_input_bytes": 300 } } }
JSON
MY_EMBED_KEY="$SECRET" ok ragdb init --db "$DBC" --embedder emb --json
printf '%s' "$OUT" | jcheck 'j["embedder"] == "openai" and j["embedder_model"] == "conf-embed"' "init from a named model"
MY_EMBED_KEY="$SECRET" ok ragdb ingest --db "$DBC" "$DOCS" --json
printf '%s' "$OUT" | jcheck 'j["failed"] == 0 and j["added"] >= 3' "ingest through the configuration"
# A chunk longer than the model takes is cut before sending, with a warning.
python3 -c 'print(" ".join("word%d" % i for i in range(120)))' >"$WORK/long.txt"
MY_EMBED_KEY="$SECRET" ok ragdb ingest --db "$DBC" "$WORK/long.txt" --json
printf '%s' "$OUT" | jcheck 'j["added"] == 1 and j["warnings"] == 1' "long chunk ingested with a warning"
assert_contains "$ERR" "1 chunk truncated to 300 bytes for the embedder openai:conf-embed" "truncation warning"
fake_stats 'j["last"]["/v1/embeddings"]["input"]' | jcheck 'len(j) == 1 and len(j[0].encode()) <= 300' "truncated input sent"
# Without the variable the key expands to nothing: the server refuses.
run ragdb search --db "$DBC" "keys"
[ "$RC" -ne 0 ] || fail "no key must fail"
assert_contains "$ERR" "HTTP 401"
# A malformed configuration file is named.
echo '{ "models": { ' >"$WORK/bad.json"
run ragdb search --db "$DBC" --config "$WORK/bad.json" "keys"
[ "$RC" -ne 0 ] || fail "a malformed --config must fail"
assert_contains "$ERR" "bad.json: malformed JSON"
fake_no_violations
note "ok"
