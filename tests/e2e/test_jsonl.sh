#!/usr/bin/env bash
# tests/e2e/test_jsonl.sh — BEIR-style JSONL corpora: record ids become
# document ids, titles are kept; a malformed line fails the file (named with
# its line, nothing of the file stored) unless --skip-bad-records; duplicate
# ids in one file are reported; search --batch answers a queries file with
# one line per query, in order, with query_id.
source "$(dirname "$0")/lib.sh"

DB="$WORK/db"
ok ragdb init --db "$DB"

python3 - "$WORK/corpus.jsonl" <<'PY'
import json, sys
topics = [
    ("glacier", "Glaciers carve valleys as compacted snow slowly flows downhill under its own weight."),
    ("volcano", "A stratovolcano is built from alternating layers of lava, ash and pumice over centuries."),
    ("coral", "Coral reefs grow where warm shallow seawater lets symbiotic algae photosynthesise."),
    ("comet", "A comet's tail of dust and ionised gas always points away from the sun."),
    ("bread", "Sourdough bread rises because wild yeast and lactobacilli ferment the flour."),
    ("violin", "A violin's sound post transmits vibrations from the top plate to the back."),
    ("tides", "Spring tides happen when the sun and moon align and their pulls add up."),
    ("beekeeping", "Beekeepers smoke the hive entrance so guard bees do not raise the alarm."),
    ("chess", "In chess, castling moves the king two squares toward a rook at once."),
    ("tea", "Green tea is steamed or pan-fired soon after picking to stop oxidation."),
]
with open(sys.argv[1], "w") as f:
    for i, (title, text) in enumerate(topics):
        f.write(json.dumps({"_id": "doc-%d" % i, "title": title.capitalize(), "text": text,
                            "metadata": {"topic": title}}) + "\n")
    f.write("\n")  # blank lines are ignored
    f.write(json.dumps({"_id": 42, "title": "Numbers", "text": "The answer to the ultimate question is forty-two."}) + "\n")
PY

ok ragdb ingest --db "$DB" "$WORK/corpus.jsonl" --format jsonl --id-field _id --text-field text --title-field title --json
printf '%s' "$OUT" | jcheck 'j["added"] == 11 and j["failed"] == 0' "jsonl ingest"
IDS=$(list_ids "$DB")
for i in 0 1 2 3 4 5 6 7 8 9; do assert_contains "$IDS" "doc-$i" "record ids"; done
assert_contains "$IDS" "42" "numeric record id"
ok ragdb show --db "$DB" doc-3 --json
printf '%s' "$OUT" | jcheck 'j["title"] == "Comet" and "ionised gas" in j["text"]' "record title and text"
assert_eq "$(ragdb search --db "$DB" "sourdough wild yeast lactobacilli ferment" --json | jget 'j["results"][0]["id"]')" "doc-4" "search a record"
# Re-ingesting the same corpus changes nothing.
ok ragdb ingest --db "$DB" "$WORK/corpus.jsonl" --format jsonl --id-field _id --json
printf '%s' "$OUT" | jcheck 'j["unchanged"] == 11 and j["embeddings"] == 0' "jsonl re-ingest"

# Auto format by extension, default id field "id" then "_id".
printf '%s\n' '{"id": "auto-1", "text": "Lighthouses use Fresnel lenses to throw a beam far out to sea."}' >"$WORK/auto.jsonl"
ok ragdb ingest --db "$DB" "$WORK/auto.jsonl" --json
printf '%s' "$OUT" | jcheck 'j["added"] == 1' "jsonl by extension"
assert_contains "$(list_ids "$DB")" "auto-1"

# A malformed line: the file fails, named with the line; nothing of it stored.
{
	echo '{"_id": "bad-1", "text": "Owls swallow small prey whole and cough up pellets."}'
	echo '{"_id": "bad-2", "text": "Otters hold hands while sleeping so they do not drift apart."}'
	echo '{"_id": "bad-3", "text": "this line is cut'
	echo '{"_id": "bad-4", "text": "Ravens can solve puzzles that need several steps."}'
} >"$WORK/bad.jsonl"
run ragdb ingest --db "$DB" "$WORK/bad.jsonl" --format jsonl --id-field _id
[ "$RC" -ne 0 ] || fail "a malformed JSONL line should fail the ingest"
assert_contains "$ERR" "bad.jsonl" "malformed line message"
assert_matches "$ERR" "line 3|bad\.jsonl:3" "malformed line message"
IDS=$(list_ids "$DB")
assert_not_contains "$IDS" "bad-" "records of a failed file"
check_ok "$DB"

# --skip-bad-records: the good lines are stored, the bad one reported.
ok ragdb ingest --db "$DB" "$WORK/bad.jsonl" --format jsonl --id-field _id --skip-bad-records --json
assert_matches "$ERR" "line 3|bad\.jsonl:3" "skipped line report"
IDS=$(list_ids "$DB")
for i in 1 2 4; do assert_contains "$IDS" "bad-$i" "records kept with --skip-bad-records"; done
assert_not_contains "$IDS" "bad-3" "the bad record"
check_ok "$DB"

# Duplicate ids in one file: reported (error, or skipped with a message).
{
	echo '{"_id": "dup-1", "text": "Penguins huddle together to share warmth in winter storms."}'
	echo '{"_id": "dup-1", "text": "A second record that reuses the same id."}'
} >"$WORK/dup.jsonl"
run ragdb ingest --db "$DB" "$WORK/dup.jsonl" --format jsonl --id-field _id
assert_contains "$ERR" "dup" "duplicate id report"
assert_matches "$ERR" "line 2|dup\.jsonl:2" "duplicate id report"
if [ "$RC" -eq 0 ]; then
	note "duplicate id was skipped (exit 0)"
fi
run ragdb ingest --db "$DB" "$WORK/dup.jsonl" --format jsonl --id-field _id --skip-bad-records
[ "$RC" -eq 0 ] || fail "--skip-bad-records with a duplicate id should succeed: $ERR"
assert_matches "$ERR" "line 2|dup\.jsonl:2" "duplicate id report with --skip-bad-records"
ok ragdb show --db "$DB" dup-1 --json
printf '%s' "$OUT" | jcheck '"Penguins" in j["text"]' "the first of duplicate records is kept"
check_ok "$DB"

# search --batch: one line per query, in order, with query_id.
cat >"$WORK/queries.jsonl" <<'Q'
{"_id": "q-tides", "text": "spring tides sun and moon align"}
{"id": "q-chess", "query": "castling the king toward a rook"}

{"_id": 7, "text": "steamed green tea oxidation"}
{"_id": "q-glacier", "text": "compacted snow flows downhill carving valleys", "metadata": {}}
Q
ok ragdb search --db "$DB" --batch "$WORK/queries.jsonl" -k 3
[ "$(printf '%s\n' "$OUT" | wc -l)" -eq 4 ] || fail "search --batch should print 4 lines, got:
$OUT"
printf '%s\n' "$OUT" | python3 -c '
import json, sys
lines = [json.loads(l) for l in sys.stdin if l.strip()]
assert [l["query_id"] for l in lines] == ["q-tides", "q-chess", "7", "q-glacier"], lines
assert all(set(l) == {"query_id", "results"} for l in lines)
assert all(1 <= len(l["results"]) <= 3 for l in lines)
assert all(list(r)[:8] == ["rank","score","id","source","chunk","start","end","text"] for l in lines for r in l["results"])
top = [l["results"][0]["id"] for l in lines]
assert top == ["doc-6", "doc-8", "doc-9", "doc-0"], top
' || fail "search --batch output is wrong:
$OUT"
# Batch results equal single searches.
SINGLE=$(ragdb search --db "$DB" "spring tides sun and moon align" -k 3 --json | jget '[(r["id"], r["chunk"]) for r in j["results"]]')
BATCH=$(printf '%s\n' "$OUT" | head -1 | jget '[(r["id"], r["chunk"]) for r in j["results"]]')
assert_eq "$BATCH" "$SINGLE" "batch vs single search"
# From stdin, without text.
ok ragdb search --db "$DB" --batch - --no-text -k 2 <"$WORK/queries.jsonl"
printf '%s\n' "$OUT" | python3 -c '
import json, sys
lines = [json.loads(l) for l in sys.stdin if l.strip()]
assert len(lines) == 4 and all("text" not in r for l in lines for r in l["results"]), lines
' || fail "search --batch - --no-text output is wrong"
# A bad queries line names the line.
printf '%s\n' '{"_id": "a", "text": "tea"}' '{"_id": "b"}' >"$WORK/badq.jsonl"
expect_rc 1 ragdb search --db "$DB" --batch "$WORK/badq.jsonl"
assert_contains "$ERR" "line 2"
printf '%s\n' 'not json' >"$WORK/badq2.jsonl"
expect_rc 1 ragdb search --db "$DB" --batch "$WORK/badq2.jsonl"
assert_contains "$ERR" "line 1"
expect_rc 1 ragdb search --db "$DB" --batch "$WORK/missing.jsonl"
assert_contains "$ERR" "missing.jsonl"
expect_rc 2 ragdb search --db "$DB" --batch "$WORK/queries.jsonl" "and a query"

echo "PASS $TEST_NAME"
