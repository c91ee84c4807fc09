#!/usr/bin/env bash
# tests/e2e/test_search_modes.sh — search modes, filters, MMR and metadata
# through the CLI: --mode vector|bm25|hybrid on search and query, --filter
# (metadata comparisons, source/id globs) returning exactly min(k, matches),
# a bad filter refused by name (exit 1), --mmr, ingest --meta, init
# --language, and check after deletes and replaces.
source "$(dirname "$0")/lib.sh"

DB="$WORK/db"
ok ragdb init --db "$DB" --language english
python3 - "$WORK/docs.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(300):
        f.write(json.dumps({"id": f"doc{i}", "title": f"Report {i}",
                            "text": f"quarterly budget report number {i} for the finance team",
                            "year": 2000 + i % 30, "lang": "en" if i % 3 else "de"}) + "\n")
    f.write(json.dumps({"id": "walrus", "text": "the walrus rests on the ice floe",
                        "year": 1999, "lang": "en"}) + "\n")
PY
ok ragdb ingest --db "$DB" --format jsonl "$WORK/docs.jsonl" --meta team=finance
check_ok "$DB"

count() { ragdb search --db "$DB" "$@" --json | jget 'len(j["results"])'; }
for mode in vector bm25 hybrid; do
  assert_eq "$(count "walrus ice" --mode $mode -k 5 --filter 'year<2000')" 1 "$mode: year<2000"
  assert_eq "$(count "budget" --mode $mode -k 10 --filter 'year>=2029')" 10 "$mode: year>=2029 (10 of 10 matches)"
  assert_eq "$(count "budget" --mode $mode -k 50 --filter 'year<2003' --filter 'lang=de')" 10 "$mode: two filters"
  assert_eq "$(count "budget" --mode $mode -k 5 --filter 'id:doc1?')" 5 "$mode: id glob"
  assert_eq "$(count "budget" --mode $mode -k 5 --filter 'team=finance')" 5 "$mode: --meta field"
  assert_eq "$(count "budget" --mode $mode -k 5 --filter 'source:*.jsonl')" 5 "$mode: source glob"
  assert_eq "$(count "budget" --mode $mode -k 5 --filter 'team=ops')" 0 "$mode: no match"
done
# BM25 finds the walrus by its exact word; the mode shows in the scores'
# scale (BM25 scores exceed 1 here).
ok ragdb search --db "$DB" "walrus" --mode bm25 -k 1 --json
printf '%s' "$OUT" | jcheck 'j["results"][0]["id"] == "walrus" and j["results"][0]["score"] > 1' "bm25 top hit"
# A bad filter names itself; a bad mode is a usage error.
expect_rc 1 ragdb search --db "$DB" "budget" --filter 'year=>2000'
assert_contains "$ERR" "year=>2000" "bad filter message"
expect_rc 2 ragdb search --db "$DB" "budget" --mode fuzzy
expect_rc 2 ragdb search --db "$DB" "budget" --mmr 2
# MMR and query with a mode and a filter.
ok ragdb search --db "$DB" "quarterly budget report" --mmr 0.5 -k 5 --json
printf '%s' "$OUT" | jcheck 'len(j["results"]) == 5' "mmr returns k"
ok ragdb query --db "$DB" "where does the walrus rest?" --mode bm25 --filter 'lang=en' --json
assert_contains "$OUT" "walrus" "query with mode and filter"
# Deleting and replacing keeps the full-text index exact.
ok ragdb delete --db "$DB" doc5
sed -i 's/number 7 for/number seven for/' "$WORK/docs.jsonl"
ok ragdb ingest --db "$DB" --format jsonl "$WORK/docs.jsonl" --meta team=finance
check_ok "$DB"
expect_rc 1 ragdb init --db "$WORK/db2" --language klingon
assert_contains "$ERR" "klingon" "unknown language"
echo "PASS $TEST_NAME"
