#!/usr/bin/env bash
# tests/e2e/test_caches.sh — the persistent cache (DIR/cache, or a shared
# RAGDB_CACHE_DIR) against the fake provider, which counts requests:
# a re-ingest of changed documents whose chunks are the same costs no
# embedding call; a repeated search costs no call in a second process; a
# new knowledge base sharing the cache ingests the same documents with zero
# calls; `ragdb query` asked twice answers the second time from the cache
# (cached, 0 tokens, no call) and --no-cache asks again; `ragdb reembed`
# to another model and back costs no call the second time, and `check`
# passes after it; a reembed's provider calls do not hold the writer lock
# (another process ingests meanwhile); `check` reports a damaged cache entry
# and --repair drops it.
source "$(dirname "$0")/lib.sh"
source "$RAGDB_SRC/tests/fake/fake.sh"

fake_start --dim 48
export RAGDB_HTTP_BACKOFF_MS=20
unset OPENAI_BASE_URL OPENAI_API_KEY OLLAMA_HOST GEMINI_API_KEY GEMINI_BASE_URL HF_TOKEN \
	HF_INFERENCE_ENDPOINT RAGDB_CONFIG RAGDB_EMBED_ENDPOINT ANTHROPIC_API_KEY ANTHROPIC_BASE_URL
export OPENAI_BASE_URL="$FAKE_URL/v1" OPENAI_API_KEY="sk-test"
unset RAGDB_CACHE # lib.sh turns it off for the other tests

DOCS="$WORK/docs"
mkdir -p "$DOCS"
echo "To rotate the signing keys run the rotate command. Old signing keys stay valid for one day." >"$DOCS/keys.md"
echo "Backups are taken nightly and kept in the vault for thirty days." >"$DOCS/backups.md"
echo "The pager alerts the incident commander when latency goes over the threshold." >"$DOCS/incidents.md"

emb_calls() { fake_stats 'j["paths"].get("/v1/embeddings", 0)'; }
chat_calls() { fake_stats 'j["paths"].get("/v1/chat/completions", 0)'; }

DB="$WORK/db"
ok ragdb init --db "$DB" --embedder openai:test-embed-1 --dim 48
ok ragdb ingest --db "$DB" "$DOCS" --json
printf '%s' "$OUT" | jcheck 'j["added"] == 3 and j["failed"] == 0' "first ingest"
[ -f "$DB/cache/data.mdb" ] || fail "no cache environment in $DB/cache"
c0=$(emb_calls)
[ "$c0" -ge 1 ] || fail "the first ingest made no embedding call"

note "changed documents with the same chunks: no call"
for f in "$DOCS"/*.md; do printf '\n\n' >>"$f"; done
ok ragdb ingest --db "$DB" "$DOCS" --json
printf '%s' "$OUT" | jcheck 'j["replaced"] == 3 and j["failed"] == 0' "re-ingest of changed files"
assert_eq "$(emb_calls)" "$c0" "embedding calls after re-ingesting changed files with the same chunks"

note "a repeated search in another process: no call"
ok ragdb search --db "$DB" "rotate the signing keys" -k 2 --json
assert_eq "$(printf '%s' "$OUT" | jget 'j["results"][0]["id"]')" "keys.md" "top hit"
c1=$(emb_calls)
assert_eq "$c1" "$((c0 + 1))" "a new query costs one call"
ok ragdb search --db "$DB" "rotate the signing keys" -k 2 --json
assert_eq "$(printf '%s' "$OUT" | jget 'j["results"][0]["id"]')" "keys.md" "top hit from the cached vector"
assert_eq "$(emb_calls)" "$c1" "embedding calls after a repeated search"
ok ragdb stats --db "$DB" --json
printf '%s' "$OUT" | jcheck 'j["cache"]["entries"] >= 4 and j["cache"]["dir"].endswith("/db/cache") and 0 < j["cache"]["bytes"] <= j["cache"]["max_bytes"]' "stats: the cache"

note "a new knowledge base sharing RAGDB_CACHE_DIR: zero calls"
export RAGDB_CACHE_DIR="$WORK/shared-cache"
ok ragdb init --db "$WORK/db2" --embedder openai:test-embed-1 --dim 48
ok ragdb ingest --db "$WORK/db2" "$DOCS" --json
c2=$(emb_calls)
[ "$c2" -gt "$c1" ] || fail "the first ingest into a new cache made no call"
ok ragdb init --db "$WORK/db3" --embedder openai:test-embed-1 --dim 48
ok ragdb ingest --db "$WORK/db3" "$DOCS" --json
printf '%s' "$OUT" | jcheck 'j["added"] == 3 and j["failed"] == 0' "ingest into db3"
assert_eq "$(emb_calls)" "$c2" "embedding calls for a second knowledge base sharing the cache"
[ -f "$WORK/shared-cache/data.mdb" ] || fail "no shared cache in RAGDB_CACHE_DIR"
[ ! -e "$WORK/db3/cache" ] || fail "db3 made its own cache although RAGDB_CACHE_DIR is set"
note "two processes ingesting at once into one shared cache"
MORE="$WORK/more"
mkdir -p "$MORE"
for i in $(seq 1 40); do
	echo "Document $i talks about topic $((i * 7)) and the number $((i * 13)) in some detail." >"$MORE/d$i.md"
done
ok ragdb init --db "$WORK/db4" --embedder openai:test-embed-1 --dim 48
ok ragdb init --db "$WORK/db5" --embedder openai:test-embed-1 --dim 48
"$RAGDB_BIN" ingest --db "$WORK/db4" "$MORE" --json >"$WORK/i4.json" 2>"$WORK/i4.err" &
p4=$!
"$RAGDB_BIN" ingest --db "$WORK/db5" "$MORE" --json >"$WORK/i5.json" 2>"$WORK/i5.err" &
p5=$!
wait "$p4" || fail "concurrent ingest into db4 failed: $(cat "$WORK/i4.err")"
wait "$p5" || fail "concurrent ingest into db5 failed: $(cat "$WORK/i5.err")"
jcheck 'j["added"] == 40 and j["failed"] == 0' "concurrent ingest db4" <"$WORK/i4.json"
jcheck 'j["added"] == 40 and j["failed"] == 0' "concurrent ingest db5" <"$WORK/i5.json"
ok ragdb check --db "$WORK/db4"
ok ragdb check --db "$WORK/db5"
ok ragdb search --db "$WORK/db5" "Document 17 talks about topic 119" -k 1 --json
assert_eq "$(printf '%s' "$OUT" | jget 'j["results"][0]["id"]')" "d17.md" "top hit after concurrent ingests"
unset RAGDB_CACHE_DIR

note "ragdb query twice: the second answer comes from the disk cache"
Q="How do I rotate the signing keys?"
ok ragdb query --db "$DB" "$Q" --model openai:test-chat-1 --json
printf '%s' "$OUT" | jcheck 'j["cached"] is False and j["output_tokens"] > 0' "first answer"
a1=$(printf '%s' "$OUT" | jget 'j["answer"]')
k1=$(chat_calls)
ok ragdb query --db "$DB" "$Q" --model openai:test-chat-1 --json
printf '%s' "$OUT" | jcheck 'j["cached"] is True and j["input_tokens"] == 0 and j["output_tokens"] == 0 and j["cost"] == 0' "second answer"
assert_eq "$(printf '%s' "$OUT" | jget 'j["answer"]')" "$a1" "cached answer text"
assert_eq "$(chat_calls)" "$k1" "chat calls after a repeated query"
ok ragdb query --db "$DB" "$Q" --model openai:test-chat-1 --json --no-cache
printf '%s' "$OUT" | jcheck 'j["cached"] is False' "--no-cache answer"
assert_eq "$(chat_calls)" "$((k1 + 1))" "chat calls with --no-cache"

if ragdb help 2>&1 | grep -q reembed; then
	note "a reembed the provider refuses changes nothing"
	fake_ctl '{"faults": [], "sticky": "400"}'
	expect_rc 1 ragdb reembed --db "$DB" --embedder openai:test-embed-9 --dim 48
	fake_ctl '{"faults": [], "sticky": null}'
	ok ragdb stats --db "$DB" --json
	printf '%s' "$OUT" | jcheck 'j["embedder_model"] == "test-embed-1" and j["dim"] == 48' "stats after a failed reembed"
	ok ragdb check --db "$DB"
	note "reembed to another model and back"
	c3=$(emb_calls)
	ok ragdb reembed --db "$DB" --embedder openai:test-embed-2
	assert_contains "$ERR" "re-embedded"
	[ "$(emb_calls)" -gt "$c3" ] || fail "re-embedding with a new model made no call"
	ok ragdb stats --db "$DB" --json
	printf '%s' "$OUT" | jcheck 'j["embedder_model"] == "test-embed-2" and j["dim"] == 48' "stats after reembed"
	ok ragdb check --db "$DB"
	ok ragdb search --db "$DB" "rotate the signing keys" -k 2 --json
	assert_eq "$(printf '%s' "$OUT" | jget 'j["results"][0]["id"]')" "keys.md" "top hit after reembed"
	c4=$(emb_calls)
	ok ragdb reembed --db "$DB" --embedder openai:test-embed-1
	assert_eq "$(emb_calls)" "$c4" "embedding calls re-embedding back to the earlier model"
	ok ragdb stats --db "$DB" --json
	printf '%s' "$OUT" | jcheck 'j["embedder_model"] == "test-embed-1"' "stats after reembed back"
	ok ragdb check --db "$DB"
	note "reembed to another dimension"
	fake_ctl '{"dim": 32}'
	ok ragdb quantize --db "$DB" int8
	ok ragdb reembed --db "$DB" --embedder openai:test-embed-3 --dim 32
	ok ragdb stats --db "$DB" --json
	printf '%s' "$OUT" | jcheck 'j["dim"] == 32' "stats after a dimension change"
	ok ragdb check --db "$DB"
	ok ragdb search --db "$DB" "backups nightly vault" -k 1 --json
	assert_eq "$(printf '%s' "$OUT" | jget 'j["results"][0]["id"]')" "backups.md" "top hit at the new dimension"
	if ragdb help index >/dev/null 2>&1; then
		note "reembed drops an IVF index"
		run ragdb index build --db "$DB" --ivf 1
		if [ "$RC" -eq 0 ]; then
			fake_ctl '{"dim": 48}'
			ok ragdb reembed --db "$DB" --embedder openai:test-embed-1 --json
			printf '%s' "$OUT" | jcheck 'j["index_dropped"] is True and j["dim"] == 48' "reembed over an IVF index"
			assert_contains "$ERR" "ragdb index build"
			ok ragdb check --db "$DB"
			ok ragdb search --db "$DB" "rotate the signing keys" -k 1 --json
			assert_eq "$(printf '%s' "$OUT" | jget 'j["results"][0]["id"]')" "keys.md" "top hit after the index was dropped"
		fi
	fi
fi

if ragdb help 2>&1 | grep -q reembed; then
	note "a reembed calls its provider before its write transaction: another process ingests meanwhile"
	fake_ctl '{"dim": 48, "delay_ms": 0}'
	DBR="$WORK/db-reembed"
	mkdir -p "$WORK/notes"
	for i in $(seq 1 24); do
		echo "Runbook note $i: drain queue $i, then restart worker pool $i before the deploy." >"$WORK/notes/n$i.md"
	done
	ok ragdb init --db "$DBR" --embedder openai:test-embed-1 --dim 48
	ok ragdb ingest --db "$DBR" "$WORK/notes" --json
	# One text per request, 400 ms each: the reembed's calls take about 10 s.
	printf '{ "models": { "slow": { "provider": "openai", "model": "test-embed-8", "endpoint": "%s/v1", "api_key": "sk-test", "batch_size": 1 } } }\n' \
		"$FAKE_URL" >"$DBR/ragdb.json"
	fake_ctl '{"delay_ms": 400}'
	"$RAGDB_BIN" reembed --db "$DBR" --embedder openai:test-embed-8 --dim 48 >"$WORK/re.out" 2>"$WORK/re.err" &
	RPID=$!
	sleep 1
	echo "Restore drills run every quarter from the vault copy." >"$WORK/drill.md"
	ok ragdb ingest --db "$DBR" "$WORK/drill.md" --json
	kill -0 "$RPID" 2>/dev/null || fail "the ingest waited for the reembed's provider calls to end"
	set +e
	wait "$RPID"
	RRC=$?
	set -e
	fake_ctl '{"delay_ms": 0}'
	[ "$RRC" -eq 0 ] || fail "reembed beside an ingest exited $RRC: $(cat "$WORK/re.err")"
	ok ragdb stats --db "$DBR" --json
	printf '%s' "$OUT" | jcheck 'j["embedder_model"] == "test-embed-8" and j["documents"] == 25' "stats after a reembed beside an ingest"
	ok ragdb check --db "$DBR"
	ok ragdb search --db "$DBR" "restore drills every quarter" -k 1 --json
	assert_eq "$(printf '%s' "$OUT" | jget 'j["results"][0]["id"]')" "drill.md" "the document ingested meanwhile, re-embedded"
	note "a reembed whose vectors do not fit in half the disk cache says what cap would"
	DBF="$WORK/db-nofit"
	python3 -c 'import json
for i in range(150): print(json.dumps({"id": "r%d" % i, "text": "release note %d: the scheduler moved shard %d" % (i, i)}))' >"$WORK/nofit.jsonl"
	ok ragdb init --db "$DBF" --embedder openai:test-embed-1 --dim 48
	printf '{ "cache": { "embed_max_bytes": 4096 } }\n' >"$DBF/ragdb.json" # 1 MiB, the least
	ok ragdb ingest --db "$DBF" "$WORK/nofit.jsonl" --format jsonl --json
	fake_ctl '{"dim": 1024}'
	ok ragdb reembed --db "$DBF" --embedder openai:test-embed-9 --dim 1024 --json
	fake_ctl '{"dim": 48}'
	printf '%s' "$OUT" | jcheck 'j["cache_needed"] > 1048576 and j["vectors"] == 150' "cache_needed of a reembed that did not fit"
	assert_contains "$ERR" "embed_max_bytes"
	ok ragdb check --db "$DBF"
fi

note "check verifies the cache; --repair drops a damaged entry"
ok ragdb check --db "$DB"
python3 - "$DB/cache/data.mdb" <<'PY'
import sys
# Flip one byte inside every vector payload found (an entry header starts
# with the magic "RDBE"; old copies of pages hold some too, so all of them).
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
n, i = 0, b.find(b"RDBE\x01\x00\x00\x00")
while i >= 0:
    b[i + 40] ^= 0xFF
    n += 1
    i = b.find(b"RDBE\x01\x00\x00\x00", i + 1)
assert n > 0, "no vector entry found in the cache file"
open(p, "r+b").write(b)
PY
expect_rc 1 ragdb check --db "$DB"
assert_contains "$OUT$ERR" "checksum"
ok ragdb check --db "$DB" --repair
ok ragdb check --db "$DB"
