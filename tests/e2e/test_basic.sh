#!/usr/bin/env bash
# tests/e2e/test_basic.sh — the quickstart path on the bundled sample docs:
# init, ingest, search (right document at rank 1, --json schema and types,
# plain output), query and rag-query (extractive marker, [1], Sources),
# list, show, stats, check, compact.
source "$(dirname "$0")/lib.sh"

DB="$WORK/db"
SAMPLE="$RAGDB_SRC/docs/sample"
N_SAMPLE=$(find "$SAMPLE" -type f | wc -l)

ok ragdb init --db "$DB"
ok ragdb ingest --db "$DB" "$SAMPLE" --json
printf '%s' "$OUT" | jcheck 'j["added"] == '"$N_SAMPLE"' and j["failed"] == 0 and j["skipped"] == 0' "ingest summary"
printf '%s' "$OUT" | jcheck 'all(k in j for k in ("added","replaced","unchanged","removed","skipped","failed","chunks","embeddings","bytes","seconds","items"))' "ingest summary keys"
printf '%s' "$OUT" | jcheck 'j["chunks"] >= '"$N_SAMPLE"' and j["embeddings"] >= 1 and j["bytes"] > 10000 and j["items"] == []' "ingest summary totals"
# Plain summary goes to stderr.
ok ragdb ingest --db "$DB" "$SAMPLE"
assert_contains "$ERR" "unchanged $N_SAMPLE" "plain ingest summary"

# search: the distinctive document at rank 1, for a few questions.
top1() { ragdb search --db "$DB" "$1" -k 5 --json | jget 'j["results"][0]["id"]'; }
assert_eq "$(top1 "rotating the API signing keys JWKS kid")" "rotating-api-keys.md" "top hit for key rotation"
assert_eq "$(top1 "restore drill point-in-time recovery WAL backup retention")" "backups.md" "top hit for backups"
assert_eq "$(top1 "incident commander severity SEV1 status page")" "incident-response.md" "top hit for incidents"
assert_eq "$(top1 "onboarding buddy first week laptop bootstrap script")" "onboarding.md" "top hit for onboarding"

# search --json: exact keys and types.
ok ragdb search --db "$DB" "how do I rotate the signing keys" -k 4 --json
SEARCH_JSON=$OUT
printf '%s' "$SEARCH_JSON" | jcheck 'set(j) == {"query","took_ms","results"} and j["query"] == "how do I rotate the signing keys" and isinstance(j["took_ms"], (int, float))' "search --json top level"
printf '%s' "$SEARCH_JSON" | jcheck 'len(j["results"]) == 4' "search -k 4"
printf '%s' "$SEARCH_JSON" | jcheck '[r["rank"] for r in j["results"]] == [1,2,3,4]' "ranks"
printf '%s' "$SEARCH_JSON" | jcheck 'all(list(r)[:8] == ["rank","score","id","source","chunk","start","end","text"] for r in j["results"])' "result key order"
printf '%s' "$SEARCH_JSON" | jcheck 'all(isinstance(r["rank"], int) and isinstance(r["score"], float) and isinstance(r["id"], str) and isinstance(r["source"], str) and isinstance(r["chunk"], int) and isinstance(r["start"], int) and isinstance(r["end"], int) and isinstance(r["text"], str) for r in j["results"])' "result types"
printf '%s' "$SEARCH_JSON" | jcheck 'all(-1.0 <= r["score"] <= 1.0 and r["start"] <= r["end"] and r["text"] and r["source"].startswith("/") for r in j["results"])' "result values"
printf '%s' "$SEARCH_JSON" | jcheck 'all(a["score"] >= b["score"] for a, b in zip(j["results"], j["results"][1:]))' "scores descending"
printf '%s' "$SEARCH_JSON" | jcheck 'j["results"][0]["source"] == "'"$SAMPLE"'/rotating-api-keys.md"' "source is the absolute path"
# The same query twice gives the same results (deterministic).
ok ragdb search --db "$DB" "how do I rotate the signing keys" -k 4 --json
assert_eq "$(printf '%s' "$OUT" | jget '[(r["id"], r["chunk"]) for r in j["results"]]')" \
	"$(printf '%s' "$SEARCH_JSON" | jget '[(r["id"], r["chunk"]) for r in j["results"]]')" "repeated search"

# Plain search output: rank, score, id, a snippet; no escape codes off a TTY.
ok ragdb search --db "$DB" "rotating the API signing keys JWKS kid" -k 3
assert_contains "$OUT" " 1. " "plain search"
assert_contains "$OUT" "rotating-api-keys.md" "plain search"
assert_not_contains "$OUT" $'\033' "plain search off a terminal"
[ "$(printf '%s\n' "$OUT" | awk 'length > 200' | wc -l)" -eq 0 ] || fail "plain search lines should be short snippets"

# query: the extractive answer, citations and sources.
ok ragdb query --db "$DB" "How do I rotate the API signing keys?"
QOUT=$OUT
assert_contains "${QOUT,,}" "extractive" "query output (any case)"
assert_contains "$QOUT" "[1]" "query output"
assert_contains "$QOUT" "Sources:" "query output"
assert_contains "$QOUT" "[1] rotating-api-keys.md" "query sources"
ok ragdb query --db "$DB" "How do I rotate the API signing keys?" --json
printf '%s' "$OUT" | jcheck 'all(k in j for k in ("question","answer","model","extractive","took_ms","sources"))' "query --json keys"
printf '%s' "$OUT" | jcheck 'j["extractive"] is True and j["model"] == "extractive" and j["answer"] and "[" in j["answer"] and "]" in j["answer"]' "query --json answer"
printf '%s' "$OUT" | jcheck 'j["sources"][0]["n"] == 1 and j["sources"][0]["id"] == "rotating-api-keys.md"' "query --json first source"
printf '%s' "$OUT" | jcheck '[s["n"] for s in j["sources"]] == list(range(1, len(j["sources"]) + 1))' "sources numbered 1..n"
printf '%s' "$OUT" | jcheck 'any(("[%d]" % s["n"]) in j["answer"] for s in j["sources"])' "the answer cites a source"
printf '%s' "$OUT" | jcheck 'all(all(k in s for k in ("n","id","source","title","heading","start","end","score","text")) for s in j["sources"])' "query --json source keys"
# rag-query is the same command.
ok env RAGDB_DB="$DB" "$RAG_QUERY_BIN" "How do I rotate the API signing keys?"
assert_eq "$OUT" "$QOUT" "rag-query output"
ok "$RAG_QUERY_BIN" --db "$DB" -k 2 --json "How do I rotate the API signing keys?"
printf '%s' "$OUT" | jcheck 'j["sources"][0]["id"] == "rotating-api-keys.md"' "rag-query --json"

# list, list --json.
ok ragdb list --db "$DB"
for f in "$SAMPLE"/*; do assert_contains "$OUT" "$(basename "$f")" "ragdb list"; done
assert_contains "$OUT" "Rotating the API signing keys" "ragdb list titles"
ok ragdb list --db "$DB" --json
printf '%s' "$OUT" | jcheck 'isinstance(j, list) and len(j) == '"$N_SAMPLE" "list --json"
printf '%s' "$OUT" | jcheck 'all(all(k in d for k in ("id","source","title","chunks","size","hash","mtime","ingested","metadata")) for d in j)' "list --json keys"
printf '%s' "$OUT" | jcheck '[d["id"] for d in j] == sorted(d["id"] for d in j)' "list in id order"
printf '%s' "$OUT" | jcheck 'all(d["chunks"] >= 1 and d["size"] > 0 and len(d["hash"]) == 32 and d["mtime"] > 0 and d["ingested"] > 0 and isinstance(d["metadata"], dict) for d in j)' "list --json values"

# show, show --json.
ok ragdb show --db "$DB" rotating-api-keys.md
assert_contains "$OUT" "id:        rotating-api-keys.md" "show"
assert_contains "$OUT" "harborctl keys generate --type ed25519" "show text"
ok ragdb show --db "$DB" rotating-api-keys.md --json
printf '%s' "$OUT" | jcheck 'j["id"] == "rotating-api-keys.md" and j["title"] == "Rotating the API signing keys"' "show --json"
# The text is rebuilt from the chunks; whitespace between chunks may come
# back as spaces, so compare words and length.
printf '%s' "$OUT" | jcheck 'j["text"].split() == open("'"$SAMPLE"'/rotating-api-keys.md").read().split() and len(j["text"].encode()) == j["size"]' "show --json text equals the file"
expect_rc 1 ragdb show --db "$DB" no-such-doc.md
assert_contains "$ERR" "no-such-doc.md"

# stats.
ok ragdb stats --db "$DB"
assert_contains "$OUT" "documents       $N_SAMPLE"
ok ragdb stats --db "$DB" --json
printf '%s' "$OUT" | jcheck 'j["documents"] == '"$N_SAMPLE"' and j["chunks"] >= j["documents"] and j["dim"] > 0 and j["embedder"] == "local" and j["vectors_live"] == j["chunks"]' "stats --json"

# check and compact.
check_ok "$DB"
assert_contains "$OUT" "ok: $N_SAMPLE documents"
ok ragdb check --db "$DB" --json
printf '%s' "$OUT" | jcheck 'j["ok"] is True and j["problems"] == []' "check --json"
ok ragdb compact --db "$DB" --json
printf '%s' "$OUT" | jcheck 'j["freed_bytes"] >= 0' "compact --json"
check_ok "$DB"

echo "PASS $TEST_NAME"
