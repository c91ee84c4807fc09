#!/usr/bin/env bash
# tests/e2e/test_eval.sh — `ragdb eval` on a tiny BEIR set made here, whose
# metrics are worked out by hand: q1's one relevant document ranks first
# (nDCG 1); q2 has a relevant document at rank 1 (gain 2) and one that is
# not in the corpus (gain 1), so nDCG = 2 / (2 + 1/log2(3)) = 0.760179,
# Recall 0.5, MRR 1; q3 has no judgements and is not scored. Means over the
# two judged queries: nDCG@10 0.880089, Recall@10 = Recall@100 = 0.75,
# MRR@10 1. Then: TREC 4-column qrels/test.tsv gives the same, the
# temporary knowledge base is removed, --db keeps one and a second run
# ingests nothing new, ragdb tune keeps the numbers sane, and bad input
# gets a clear message.
source "$(dirname "$0")/lib.sh"

SET=$WORK/tiny
mkdir -p "$SET"
cat >"$SET/corpus.jsonl" <<'J'
{"_id": "d1", "title": "Zebras", "text": "Zebra stripes on the savanna grassland."}
{"_id": "d2", "title": "Volcanoes", "text": "Volcano lava eruption and magma chambers."}
{"_id": "d3", "title": "Pianos", "text": "Piano keys play a melody at the concert."}
{"_id": "d4", "title": "Glaciers", "text": "Glacier ice is frozen near the polar caps."}
J
cat >"$SET/queries.jsonl" <<'J'
{"_id": "q1", "text": "zebra stripes"}
{"_id": "q2", "text": "piano melody"}
{"_id": "q3", "text": "volcano lava"}
J
printf 'query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t2\nq2\tmissing\t1\nq2\td2\t0\nq9\td4\t1\n' >"$SET/qrels.tsv"

# check_json FILE — every built mode has the hand-computed numbers.
check_json() {
	python3 - "$1" <<'PY' || fail "metrics differ from the hand-computed ones: $(cat "$1")"
import json, math, sys
r = json.load(open(sys.argv[1]))
assert r["set"] == "tiny" and r["documents"] == 4 and r["queries"] == 3 and r["judged"] == 2, r
want = {"ndcg@10": (1 + 2 / (2 + 1 / math.log2(3))) / 2, "recall@10": 0.75,
        "recall@100": 0.75, "mrr@10": 1.0}
built = [m for m in r["modes"] if m["built"]]
assert any(m["mode"] == "vector" for m in built), r
for m in built:
    for k, v in want.items():
        assert abs(m[k] - v) < 1e-6, (m["mode"], k, m[k], v)
PY
}

export TMPDIR=$WORK/tmp
mkdir -p "$TMPDIR"
ok ragdb eval "$SET" --json
printf '%s' "$OUT" >"$WORK/r1.json"
check_json "$WORK/r1.json"
[ -z "$(ls -A "$TMPDIR")" ] || fail "the temporary knowledge base was left behind: $(ls "$TMPDIR")"

note "plain output names the modes and the metrics"
ok ragdb eval "$SET" --mode vector
assert_contains "$OUT" "nDCG@10"
assert_contains "$OUT" "vector   0.8801   0.7500     0.7500      1.0000"

note "TREC qrels in qrels/test.tsv, no header"
mkdir -p "$SET/qrels"
mv "$SET/qrels.tsv" "$WORK/qrels.tsv.bak"
printf 'q1 0 d1 1\nq2 0 d3 2\nq2 0 missing 1\n' >"$SET/qrels/test.tsv"
ok ragdb eval "$SET" --json
printf '%s' "$OUT" >"$WORK/r2.json"
check_json "$WORK/r2.json"

note "--db keeps the knowledge base; a second run ingests nothing"
ok ragdb eval "$SET" --db "$WORK/kb" --json --mode vector
ok ragdb --db "$WORK/kb" list --json
python3 -c 'import json,sys; assert len(json.load(sys.stdin)) == 4' <<<"$OUT" || fail "--db did not keep 4 documents"
ok ragdb eval "$SET" --db "$WORK/kb" --json --mode vector
printf '%s' "$OUT" >"$WORK/r3.json"
check_json "$WORK/r3.json"
python3 -c 'import json,sys; r = json.load(sys.stdin); assert r["added"] == 0 and r["unchanged"] == 4, r' <<<"$OUT" || fail "the second --db run ingested again: $OUT"

note "after ragdb tune the same set still ranks right"
ok ragdb --db "$WORK/kb" tune
assert_contains "$OUT" "hash-v1+tuned-"
ok ragdb eval "$SET" --db "$WORK/kb" --json --mode vector
printf '%s' "$OUT" >"$WORK/r4.json"
check_json "$WORK/r4.json"
ok ragdb --db "$WORK/kb" check

note "bad input"
expect_rc 2 ragdb eval "$SET" --mode vector,nope
assert_contains "$ERR" "--mode expects"
expect_rc 1 ragdb eval "$WORK/nowhere"
assert_contains "$ERR" "corpus.jsonl"
printf 'q1 d1 2\nq1 d2 high\n' >"$SET/qrels/test.tsv"
expect_rc 1 ragdb eval "$SET"
assert_contains "$ERR" "not a whole number"
echo "PASS $TEST_NAME"
