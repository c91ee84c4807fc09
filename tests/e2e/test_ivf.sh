#!/usr/bin/env bash
# tests/e2e/test_ivf.sh — the IVF index through the CLI on clustered vectors
# (20k x 32, a Gaussian mixture): `ragdb index build --ivf` with its errors
# (nlist 0, nlist above the vectors, recall target outside (0,1], an empty
# knowledge base, --nprobe without an index), `index stats --json`, search
# --vectors with --nprobe (recall@10 >= 0.95 at the tuned nprobe against
# --exact; every list probed = the exact ids), vectors imported after the
# build found, deleted ones gone, check passing, `ragdb quantize` converting
# the lists to int8 codes (smaller, still exact with every list probed), a
# build on the int8 knowledge base, `index drop`.
. "$(dirname "$0")/lib.sh"

python3 - "$WORK" <<'PY'
import random, struct, sys
w = sys.argv[1]
random.seed(11)
d, n, nc = 32, 20000, 200
cent = [[random.gauss(0, 1) for _ in range(d)] for _ in range(nc)]
def row():
    c = cent[random.randrange(nc)]
    return [x + random.gauss(0, 0.6) for x in c]
def write(path, rows):
    with open(path, "wb") as f:
        f.write(struct.pack("<ii", len(rows), d))
        for r in rows:
            f.write(struct.pack(f"<{d}f", *r))
write(f"{w}/base.fbin", [row() for _ in range(n)])
write(f"{w}/q.fbin", [row() for _ in range(100)])
new = [row() for _ in range(30)]
write(f"{w}/new.fbin", new)
with open(f"{w}/new_ids.txt", "w") as f:
    f.write("".join(f"new{i}\n" for i in range(30)))
PY

DB="$WORK/db"
ok ragdb init --db "$DB" --embedder external --dim 32
# An empty knowledge base has nothing to train on.
expect_rc 1 ragdb index build --db "$DB" --ivf 8
assert_contains "$ERR" "no vectors"
ok ragdb import-vectors --db "$DB" "$WORK/base.fbin"

# Argument errors say what is wrong.
expect_rc 2 ragdb index build --db "$DB" --ivf 0
assert_contains "$ERR" "--ivf"
expect_rc 1 ragdb index build --db "$DB" --ivf 30000
assert_contains "$ERR" "20000 vectors"
expect_rc 2 ragdb index build --db "$DB" --ivf 64 --recall-target 1.5
assert_contains "$ERR" "(0,1]"
expect_rc 2 ragdb index build --db "$DB" --ivf 64 --recall-target 0
assert_contains "$ERR" "(0,1]"
expect_rc 2 ragdb index build --db "$DB"
assert_contains "$ERR" "--ivf NLIST"
expect_rc 1 ragdb index stats --db "$DB"
assert_contains "$ERR" "no IVF index"
expect_rc 1 ragdb search --db "$DB" --vectors "$WORK/q.fbin" --nprobe 4
assert_contains "$ERR" "index build"

ok ragdb index build --db "$DB" --ivf 64 --recall-target 0.95 --json
printf '%s' "$OUT" | jcheck 'j["nlist"] == 64 and j["vectors"] == 20000 and 1 <= j["nprobe"] <= 64 and j["recall"] >= 0.95 and j["list_min"] <= j["list_median"] <= j["list_max"] and j["imbalance"] >= 1' "build json"
NPROBE=$(printf '%s' "$OUT" | jget 'j["nprobe"]')
note "tuned nprobe $NPROBE"
check_ok "$DB"
ok ragdb index stats --db "$DB"
assert_contains "$OUT" "64 lists"

ragdb search --db "$DB" --vectors "$WORK/q.fbin" -k 10 --no-text --exact > "$WORK/exact.jsonl"
ragdb search --db "$DB" --vectors "$WORK/q.fbin" -k 10 --no-text --nprobe "$NPROBE" > "$WORK/ivf.jsonl"
ragdb search --db "$DB" --vectors "$WORK/q.fbin" -k 10 --no-text --nprobe 64 > "$WORK/all.jsonl"
python3 - "$WORK" <<'PY' || fail "IVF results against exact"
import json, sys
w = sys.argv[1]
load = lambda n: [json.loads(l) for l in open(f"{w}/{n}.jsonl")]
ex, iv, al = load("exact"), load("ivf"), load("all")
assert len(ex) == len(iv) == len(al) == 100
hit = sum(len({h["id"] for h in a["results"]} & {h["id"] for h in b["results"]}) for a, b in zip(ex, iv))
recall = hit / sum(len(a["results"]) for a in ex)
assert recall >= 0.95, recall
for a, b in zip(ex, al):
    assert [h["id"] for h in a["results"]] == [h["id"] for h in b["results"]], (a, b)
    for h, g in zip(a["results"], b["results"]):
        assert abs(h["score"] - g["score"]) <= 2e-6, (h, g)
for b in iv:
    assert len(b["results"]) == 10
print(f"recall@10 {recall:.3f}", file=sys.stderr)
PY

# New vectors go to their nearest list; deleted ones disappear.
ok ragdb import-vectors --db "$DB" "$WORK/new.fbin" --ids "$WORK/new_ids.txt"
ok ragdb index stats --db "$DB" --json
printf '%s' "$OUT" | jcheck 'j["added"] == 30 and j["vectors"] == 20030' "stats after import"
for i in 0 1 2 3 4; do ok ragdb delete --db "$DB" "new$i"; done
ok ragdb index stats --db "$DB" --json
printf '%s' "$OUT" | jcheck 'j["deleted"] == 5 and j["vectors"] == 20025' "stats after delete"
check_ok "$DB"
ragdb search --db "$DB" --vectors "$WORK/new.fbin" -k 3 --no-text --nprobe 2 > "$WORK/new.jsonl"
python3 - "$WORK" <<'PY' || fail "new vectors after the build"
import json, sys
rows = [json.loads(l) for l in open(f"{sys.argv[1]}/new.jsonl")]
for i, r in enumerate(rows):
    ids = [h["id"] for h in r["results"]]
    if i < 5:
        assert f"new{i}" not in ids, (i, ids)
    else:
        assert ids[0] == f"new{i}", (i, ids)
PY
ok ragdb compact --db "$DB"
check_ok "$DB"
ok ragdb index stats --db "$DB" --json
printf '%s' "$OUT" | jcheck 'j["deleted"] == 0 and j["vectors"] == 20025' "stats after compact"

# Quantizing with an index converts its lists to codes in the same txn
# (and says so); every list probed is still the exact search; a build on
# the int8 knowledge base writes int8 lists; check stays clean.
F32_BYTES=$(printf '%s' "$OUT" | jget 'j["bytes"]')
ok ragdb quantize --db "$DB" int8
assert_contains "$OUT" "IVF index: lists converted to int8"
check_ok "$DB"
ok ragdb index stats --db "$DB" --json
printf '%s' "$OUT" | jcheck "j['bytes'] * 2 < $F32_BYTES and j['vectors'] == 20025" "int8 lists smaller"
ragdb search --db "$DB" --vectors "$WORK/q.fbin" -k 10 --no-text --exact > "$WORK/qexact.jsonl"
ragdb search --db "$DB" --vectors "$WORK/q.fbin" -k 10 --no-text --nprobe 64 > "$WORK/qall.jsonl"
python3 - "$WORK" <<'PY' || fail "int8 IVF lists against the exact int8 search"
import json, sys
w = sys.argv[1]
load = lambda n: [json.loads(l) for l in open(f"{w}/{n}.jsonl")]
ex, al = load("qexact"), load("qall")
assert len(ex) == len(al) == 100
for a, b in zip(ex, al):
    assert [h["id"] for h in a["results"]] == [h["id"] for h in b["results"]], (a, b)
    for h, g in zip(a["results"], b["results"]):
        assert abs(h["score"] - g["score"]) <= 2e-6, (h, g)
PY
ok ragdb quantize --db "$DB" bf16 --json
printf '%s' "$OUT" | jcheck 'j["ivf_lists"] == "converted"' "quantize json"
check_ok "$DB"
ok ragdb quantize --db "$DB" int8
ok ragdb index build --db "$DB" --ivf 64 --json
printf '%s' "$OUT" | jcheck 'j["recall"] >= 0.95' "int8 build"
check_ok "$DB"

ok ragdb index drop --db "$DB"
expect_rc 1 ragdb index stats --db "$DB"
check_ok "$DB"

# An ingest or import that leaves many vectors says what would make searches
# cheaper (threshold lowered from 512 MiB: these are 32 dimensions): an IVF
# index, or int8 blocks with the local embedder; not below 50,000 vectors,
# under the default threshold, with an index, or once quantized.
python3 - "$WORK" <<'PY'
import random, struct, sys
random.seed(3)
d, n = 32, 60000  # ids 0..59999: replaces base.fbin's 0..19999
with open(sys.argv[1] + "/more.fbin", "wb") as f:
    f.write(struct.pack("<ii", n, d))
    for _ in range(n):
        f.write(struct.pack(f"<{d}f", *[random.gauss(0, 1) for _ in range(d)]))
PY
DB3="$WORK/db3"
ok ragdb init --db "$DB3" --embedder external --dim 32
RAGDB_IVF_HINT_BYTES=1 ok ragdb import-vectors --db "$DB3" "$WORK/base.fbin"
assert_not_contains "$ERR" "note:" "no note below 50,000 vectors"
ok ragdb import-vectors --db "$DB3" "$WORK/more.fbin"
assert_not_contains "$ERR" "note:" "no note below the default 512 MiB"
RAGDB_IVF_HINT_BYTES=1 ok ragdb import-vectors --db "$DB3" "$WORK/more.fbin"
assert_contains "$ERR" "note: 60000 vectors (7.3 MB) and no IVF index" "the note"
assert_contains "$ERR" "ragdb index build --ivf 256" "the nlist it suggests"
ok ragdb index build --db "$DB3" --ivf 64
RAGDB_IVF_HINT_BYTES=1 ok ragdb import-vectors --db "$DB3" "$WORK/more.fbin"
assert_not_contains "$ERR" "note:" "no note with an index"

printf 'a walrus rests on the ice\n' >"$WORK/walrus.txt"
printf 'a seal sleeps on the ice\n' >"$WORK/seal.txt"
DB2="$WORK/db2"
ok ragdb init --db "$DB2" --dim 32
ok ragdb import-vectors --db "$DB2" "$WORK/more.fbin"
RAGDB_IVF_HINT_BYTES=1 ok ragdb ingest --db "$DB2" "$WORK/walrus.txt"
assert_contains "$ERR" "note: 60001 vectors" "the note after an ingest"
assert_contains "$ERR" "ragdb quantize int8" "int8 for the local embedder"
assert_not_contains "$ERR" "index build" "no IVF for the local embedder"
ok ragdb quantize --db "$DB2" int8
RAGDB_IVF_HINT_BYTES=1 ok ragdb ingest --db "$DB2" "$WORK/seal.txt"
assert_not_contains "$ERR" "note:" "no note once quantized"
# binary codes on the local embedder's vectors come with a warning
ok ragdb quantize --db "$DB2" binary
assert_contains "$ERR" "int8 keeps results exact" "binary on the local embedder"
ok ragdb quantize --db "$DB3" binary
assert_not_contains "$ERR" "note:" "binary on own vectors"
echo "PASS $TEST_NAME"
