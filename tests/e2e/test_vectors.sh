#!/usr/bin/env bash
# tests/e2e/test_vectors.sh — vectors you bring, and quantized blocks,
# through the CLI: init --embedder external --dim, import-vectors (.fvecs
# and .fbin, --ids), search --vectors (one JSON line per query vector with
# took_ms), ingest --embedding-field (text and metadata kept, a record of
# the wrong dimension fails alone), dimension mismatches, init --quantize
# and quantize (scores equal to f32's), delete + compact + check; and the
# shared sift5k set when it is present.
source "$(dirname "$0")/lib.sh"

# Two `search --vectors` outputs (JSON lines) list the same ids in the same
# order, with scores equal up to the last printed digit: several query
# vectors go through the batch kernels, whose f32 sums run in another order
# than the single-query dot kernel's. Which batch path a process takes is
# calibrated at its start (BLAS or our kernel, whichever measured faster, so
# it can differ under load), and BLAS may sum identical vectors at
# different places in different orders: results whose scores agree within
# 2e-6 may come in either order (the base holds exact duplicates, "i" and
# "bi"), and a tie at the last rank may keep either one.
same_results() {
  python3 - "$1" "$2" <<'PY'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) > 0, (len(a), len(b))
def groups(hits):
    out = []
    for h in hits:
        if out and abs(out[-1][0] - h["score"]) <= 2e-6:
            out[-1][1].add(h["id"])
        else:
            out.append((h["score"], {h["id"]}))
    return out
for x, y in zip(a, b):
    assert len(x["results"]) == len(y["results"]), (x, y)
    for h, g in zip(x["results"], y["results"]):
        assert abs(h["score"] - g["score"]) <= 2e-6, (h, g)
    gx, gy = groups(x["results"]), groups(y["results"])
    assert len(gx) == len(gy), (x, y)
    for i, ((_, ix), (_, iy)) in enumerate(zip(gx, gy)):
        assert ix == iy or i == len(gx) - 1, (x, y)
PY
}

python3 - "$WORK" <<'PY'
import json, random, struct, sys
w = sys.argv[1]
random.seed(7)
d = 24
cent = [[random.gauss(0, 1) for _ in range(d)] for _ in range(12)]
rows = [[c + random.gauss(0, 0.3) for c in cent[i % 12]] for i in range(1200)]
with open(f"{w}/base.fvecs", "wb") as f:
    for r in rows:
        f.write(struct.pack("<i", d) + struct.pack(f"<{d}f", *r))
with open(f"{w}/base.fbin", "wb") as f:
    f.write(struct.pack("<ii", 300, d))
    for r in rows[:300]:
        f.write(struct.pack(f"<{d}f", *r))
with open(f"{w}/ids.txt", "w") as f:
    f.write("".join(f"b{i}\n" for i in range(300)))
with open(f"{w}/q.fvecs", "wb") as f:
    for r in rows[:20]:
        f.write(struct.pack("<i", d) + struct.pack(f"<{d}f", *[x * 2 for x in r]))
with open(f"{w}/q8.fbin", "wb") as f:
    f.write(struct.pack("<ii", 1, 8) + struct.pack("<8f", *([1.0] * 8)))
with open(f"{w}/recs.jsonl", "w") as f:
    f.write(json.dumps({"id": "walrus", "text": "the walrus rests on the ice", "lang": "en",
                        "emb": rows[0]}) + "\n")
    f.write(json.dumps({"id": "short", "text": "wrong size", "emb": rows[1][:5]}) + "\n")
    f.write(json.dumps({"id": "zero", "text": "zero", "emb": [0] * d}) + "\n")
PY

DB="$WORK/db"
# No dimension: the external embedder asks for one.
expect_rc 1 ragdb init --db "$WORK/nodim" --embedder external
assert_contains "$ERR" "--dim"
ok ragdb init --db "$DB" --embedder external --dim 24 --json
printf '%s' "$OUT" | jcheck 'j["embedder"] == "external" and j["dim"] == 24 and j["quantize"] == "f32"' "init json"
ok ragdb import-vectors --db "$DB" "$WORK/base.fvecs" --json
printf '%s' "$OUT" | jcheck 'j["imported"] == 1200 and j["dim"] == 24' "import fvecs"
ok ragdb import-vectors --db "$DB" "$WORK/base.fbin" --ids "$WORK/ids.txt"
assert_contains "$OUT" "imported 300 vectors"
check_ok "$DB"
# Wrong dimension, wrong id count, unknown extension.
expect_rc 1 ragdb import-vectors --db "$DB" "$WORK/q8.fbin"
assert_contains "$ERR" "dimension 8"
head -n 5 "$WORK/ids.txt" > "$WORK/ids5.txt"
expect_rc 1 ragdb import-vectors --db "$DB" "$WORK/base.fbin" --ids "$WORK/ids5.txt"
assert_contains "$ERR" "one id per vector"
expect_rc 1 ragdb search --db "$DB" --vectors "$WORK/q8.fbin"
assert_contains "$ERR" "dimension 8"
expect_rc 1 ragdb search --db "$DB" --vectors "$WORK/ids.txt"
assert_contains "$ERR" ".fvecs or .fbin"
# Text has no model here: a clear refusal.
expect_rc 1 ragdb search --db "$DB" "walrus"
assert_contains "$ERR" "pass vectors"

# One JSON line per query vector; each finds itself (row i, and b<i>).
ok ragdb search --db "$DB" --vectors "$WORK/q.fvecs" -k 5 --no-text
assert_eq "$(printf '%s\n' "$OUT" | wc -l)" 20 "lines of search --vectors"
printf '%s\n' "$OUT" | python3 -c '
import json, sys
for n, line in enumerate(sys.stdin):
    j = json.loads(line)
    assert j["query_id"] == n and j["took_ms"] >= 0, j
    top = {h["id"] for h in j["results"][:2]}
    assert top == {str(n), "b%d" % n}, (n, top)
    assert abs(j["results"][0]["score"] - 1) < 1e-5, j
' || fail "search --vectors results"

# JSONL with its own vectors: the good record kept with text and metadata,
# the short and the zero one fail alone.
expect_rc 1 ragdb ingest --db "$DB" --embedding-field emb "$WORK/recs.jsonl"
assert_contains "$ERR" "dimension 5"
assert_contains "$ERR" "all zeros"
assert_contains "$OUT" "stored 1 records"
ok ragdb show --db "$DB" walrus --json
printf '%s' "$OUT" | jcheck '"walrus rests" in json.dumps(j) and "lang" in json.dumps(j)' "show walrus" 2>/dev/null || \
  { ok ragdb show --db "$DB" walrus; assert_contains "$OUT" "walrus rests"; }
ok ragdb search --db "$DB" walrus --mode bm25 --json
printf '%s' "$OUT" | jcheck 'j["results"][0]["id"] == "walrus"' "bm25 finds the record's text"
check_ok "$DB"
ok ragdb search --db "$DB" --vectors "$WORK/q.fvecs" -k 5 --no-text
printf '%s\n' "$OUT" > "$WORK/f32.jsonl"

# Quantize: the same results and scores as f32 (exact rescoring).
for mode in int8 bf16 binary; do
  ok ragdb quantize --db "$DB" $mode --json
  printf '%s' "$OUT" | jcheck "j[\"quantize\"] == \"$mode\"" "quantize $mode"
  check_ok "$DB"
  # binary on 24 dimensions is coarse: compare with a deep rescoring.
  os=""; [ $mode = binary ] && os="--oversample 300"
  ok ragdb search --db "$DB" --vectors "$WORK/q.fvecs" -k 5 --no-text $os
  printf '%s\n' "$OUT" > "$WORK/$mode.jsonl"
  same_results "$WORK/f32.jsonl" "$WORK/$mode.jsonl" || fail "$mode results differ from f32"
done

# Deletes and compact keep the quantized blocks consistent.
for i in $(seq 0 7 300); do ok ragdb delete --db "$DB" "b$i"; done
check_ok "$DB"
ok ragdb compact --db "$DB"
check_ok "$DB"
ok ragdb search --db "$DB" --vectors "$WORK/q.fvecs" -k 3 --no-text
printf '%s\n' "$OUT" | head -1 | jcheck 'j["results"][0]["id"] == "0" and "b0" not in [h["id"] for h in j["results"]]' "deleted b0 gone"

# Created quantized.
ok ragdb init --db "$WORK/db8" --embedder external --dim 24 --quantize int8
ok ragdb import-vectors --db "$WORK/db8" "$WORK/base.fvecs"
check_ok "$WORK/db8"
expect_rc 2 ragdb quantize --db "$WORK/db8" int4

# Text through the local embedder on an int8 knowledge base: vector and
# hybrid results (ids and scores) equal an f32 knowledge base's.
python3 -c "
import json
with open('$WORK/t.jsonl', 'w') as f:
    for i in range(300):
        f.write(json.dumps({'id': f'd{i}', 'text': f'report {i} on the walrus {i % 7} ice floe budget {i % 13}'}) + '\\n')
"
for q in f32 int8; do
  ok ragdb init --db "$WORK/t$q" --quantize $q
  ok ragdb ingest --db "$WORK/t$q" --format jsonl "$WORK/t.jsonl" -q
done
check_ok "$WORK/tint8"
for mode in vector hybrid; do
  a=$(ragdb search --db "$WORK/tf32" "walrus ice 3" -k 8 --mode $mode --json | jget '[(h["id"], h["score"]) for h in j["results"]]')
  b=$(ragdb search --db "$WORK/tint8" "walrus ice 3" -k 8 --mode $mode --json | jget '[(h["id"], h["score"]) for h in j["results"]]')
  assert_contains "$a" '"d3"' "f32 $mode results"
  assert_eq "$b" "$a" "int8 $mode results"
done

# The shared SIFT sample (5000 x 128), when present: int8 top-10 equals f32.
SIFT="$(dirname "$0")/../../../shared/data/vectors/sift5k"
if [ -f "$SIFT/base.fvecs" ]; then
  ok ragdb init --db "$WORK/sift" --embedder external --dim 128
  ok ragdb import-vectors --db "$WORK/sift" "$SIFT/base.fvecs"
  ok ragdb search --db "$WORK/sift" --vectors "$SIFT/query.fvecs" -k 10 --no-text
  printf '%s\n' "$OUT" > "$WORK/sift_f32.jsonl"
  # Each batch path, forced, gives those results: AMX tiles with their
  # rescoring and proof, the AVX-512 and the AVX2 micro-kernels (where the
  # CPU and Linux allow the path; elsewhere the variable is reported and
  # another path runs).
  for path in amx avx512 avx2; do
    RAGDB_BATCH=$path ok ragdb search --db "$WORK/sift" --vectors "$SIFT/query.fvecs" -k 10 --no-text
    printf '%s\n' "$OUT" > "$WORK/sift_$path.jsonl"
    same_results "$WORK/sift_f32.jsonl" "$WORK/sift_$path.jsonl" || fail "sift5k batch path $path differs"
  done
  ok ragdb quantize --db "$WORK/sift" int8
  check_ok "$WORK/sift"
  ok ragdb search --db "$WORK/sift" --vectors "$SIFT/query.fvecs" -k 10 --no-text
  printf '%s\n' "$OUT" > "$WORK/sift_i8.jsonl"
  same_results "$WORK/sift_f32.jsonl" "$WORK/sift_i8.jsonl" || fail "sift5k int8 differs from f32"
else
  note "sift5k not found at $SIFT; skipped"
fi
note "ok"
