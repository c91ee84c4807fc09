#!/usr/bin/env bash
# tests/e2e/test_models_check.sh — `ragdb models check` with embedders,
# against the fake provider: the knowledge base's own embedder (reachable,
# the dimension it returns is the stored one), a configured embedding model
# (its dimension, and whether it is the knowledge base's), a language model
# beside them; a server that now returns another dimension fails the check
# naming both sizes; a 401 fails every remote model with the provider's
# message and never the key; `models list` marks embedding models.
source "$(dirname "$0")/lib.sh"
source "$RAGDB_SRC/tests/fake/fake.sh"

SECRET="sk-test-SECRET-7171"
fake_start --key "$SECRET" --dim 32
export RAGDB_HTTP_BACKOFF_MS=20
unset OLLAMA_HOST GEMINI_API_KEY GEMINI_BASE_URL HF_TOKEN HF_INFERENCE_ENDPOINT RAGDB_CONFIG \
	RAGDB_EMBED_ENDPOINT ANTHROPIC_API_KEY ANTHROPIC_BASE_URL
export OPENAI_BASE_URL="$FAKE_URL/v1" OPENAI_API_KEY="$SECRET"

DB="$WORK/db"
ok ragdb init --db "$DB" --embedder openai:test-embed-1 --json
cat >"$DB/ragdb.json" <<JSON
{ "models": {
    "emb": { "provider": "openai", "model": "test-embed-1" },
    "other": { "provider": "openai", "model": "other-model", "kind": "embedding" },
    "chat": { "provider": "openai", "model": "test-chat-1" } } }
JSON

ok ragdb models list --db "$DB"
assert_matches "$OUT" "other +openai:other-model  \\(embedding\\)" "list marks embedding models"
ok ragdb models list --db "$DB" --json
printf '%s' "$OUT" | jcheck '[m["embedder"] for m in j["models"]] == [True, True, False]' "list --json embedder flags"

note "all healthy"
ok ragdb models check --db "$DB"
assert_matches "$OUT" "\\(kb embedder\\) +openai:test-embed-1  ok  [0-9]+ ms  dim 32 \\(the knowledge base's\\)" "kb embedder ok"
assert_matches "$OUT" "emb +openai:test-embed-1  the knowledge base's embedder" "the kb's entry not checked twice"
assert_matches "$OUT" "other +openai:other-model  ok  [0-9]+ ms  dim 32" "configured embedder ok"
assert_matches "$OUT" "chat +openai:test-chat-1  ok  [0-9]+ ms" "llm ok"
ok ragdb models check --db "$DB" --json
printf '%s' "$OUT" | jcheck 'j["embedder"]["ok"] and j["embedder"]["dim"] == 32 and j["embedder"]["dim_matches"] and j["models"][1]["dim"] == 32 and j["models"][1]["dim_matches"] and j["models"][2]["ok"]' "check --json"
fake_stats 'j["last"]["/v1/embeddings"]' | jcheck 'j["model"] == "other-model"' "the configured embedder was asked"

note "the server now returns another dimension"
fake_ctl '{"dim": 48}'
expect_rc 1 ragdb models check --db "$DB"
assert_matches "$OUT" "\\(kb embedder\\) +openai:test-embed-1  FAILED .*48 dimensions, expected 32" "kb dimension mismatch fails"
assert_matches "$OUT" "other +openai:other-model  ok  [0-9]+ ms  dim 48  \\(the knowledge base has another\\)" "other dimension reported"
expect_rc 1 ragdb models check --db "$DB" --json
printf '%s' "$OUT" | jcheck 'not j["embedder"]["ok"] and "48" in j["embedder"]["error"] and j["models"][1]["ok"] and j["models"][1]["dim"] == 48 and not j["models"][1]["dim_matches"]' "mismatch in --json"
fake_ctl '{"dim": 32}'

note "a rejected key"
fake_ctl '{"sticky": "401"}'
expect_rc 1 ragdb models check --db "$DB" --json
printf '%s' "$OUT" | jcheck 'not j["embedder"]["ok"] and "401" in j["embedder"]["error"] and all(not m["ok"] and "401" in m["error"] for m in j["models"] if "ok" in m)' "401 everywhere"
assert_not_contains "$OUT" "$SECRET" "the key"
expect_rc 1 ragdb models check --db "$DB"
assert_contains "$OUT" "OPENAI_API_KEY" "what to fix"
assert_not_contains "$OUT$ERR" "$SECRET" "the key"
fake_ctl '{"sticky": null}'

# The built-in embedder: checked without the network.
ok ragdb init --db "$WORK/local" --json
before=$(fake_total)
ok ragdb models check --db "$WORK/local" --json
printf '%s' "$OUT" | jcheck 'j["embedder"]["ok"] and j["embedder"]["provider"] == "local" and j["embedder"]["dim_matches"]' "local embedder"
assert_eq "$(fake_total)" "$before" "no request for the local embedder"
fake_no_violations
echo "PASS $TEST_NAME"
