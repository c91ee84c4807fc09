#!/usr/bin/env bash
# tests/crash/crash_test.sh — kill -9 at random moments: an ingest of a few
# thousand generated documents, (every fourth trial) a `delete --source` and
# a `compact`, and (every fourth, offset by two) an `index build` replacing
# an IVF index of 16 lists with one of 32, then a `quantize int8` re-encoding
# its lists, then a `reembed --embedder local --dim 384` of that quantized
# knowledge base; compact, build, quantize and reembed write in many small
# write transactions (RAGDB_TXN_BYTES=262144; the reference compact in one). After
# every kill `ragdb check` must pass; re-running the
# killed command to the end must leave exactly the state of an uninterrupted
# run, compared through the CLI (documents with their content hashes and
# chunk counts, the counters of `stats`, and the top hits of a few searches),
# never the file bytes; a killed index build must leave the old index or the
# new one, never a mix or none, a killed quantize f32 or int8 lists and
# blocks, never a mix, and a killed reembed dimension 768 or 384, never a
# mix (a kill after its switch, while it converts to int8 again, leaves f32:
# `ragdb quantize int8` finishes that, as stats and the message say).
#
#   tests/crash/crash_test.sh [--trials N] [--docs N] [--seed S]
#
# Defaults: $RAGDB_CRASH_TRIALS (20) trials, $RAGDB_CRASH_DOCS (3000)
# documents. Needs RAGDB_BIN (default build/ragdb). Prints one summary line:
# "crash_test: T trials (I ingest kills, D delete kills, C compact kills, X
# index build kills, Q quantize kills, R reembed kills, K killed before the
# end), 0 failures".
source "$(dirname "$0")/../e2e/lib.sh"

TRIALS=${RAGDB_CRASH_TRIALS:-20}
DOCS=${RAGDB_CRASH_DOCS:-3000}
SEED=${RAGDB_CRASH_SEED:-$$}
while [ $# -gt 0 ]; do
	case "$1" in
	--trials) TRIALS=$2; shift 2 ;;
	--docs) DOCS=$2; shift 2 ;;
	--seed) SEED=$2; shift 2 ;;
	-h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "crash_test: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
RANDOM=$SEED
note "seed $SEED, $TRIALS trials, $DOCS documents"

CORPUS="$WORK/corpus"
gen_files "$CORPUS" "$DOCS" 41 4

# The real interpreter, not a version manager's shim (those cost ~100 ms a call).
PY=$(python3 -c 'import sys; print(sys.executable)')

# digest DB — what a user can see of the knowledge base, in a stable form.
digest() {
	local q i=0
	"$RAGDB_BIN" list --db "$1" --json >"$WORK/d.list" || fail "list failed on $1"
	"$RAGDB_BIN" stats --db "$1" --json >"$WORK/d.stats" || fail "stats failed on $1"
	for q in "harbor parcel customs" "replica failover shard" "marker token doc00042mark"; do
		i=$((i + 1))
		"$RAGDB_BIN" search --db "$1" "$q" -k 5 --json >"$WORK/d.s$i" || fail "search failed on $1"
	done
	"$PY" - "$WORK" <<'PYEOF'
import json, sys
w = sys.argv[1]
for d in json.load(open(w + "/d.list")):
    print(d["id"], d["hash"], d["chunks"])
s = json.load(open(w + "/d.stats"))
print("docs=%d chunks=%d live=%d dead=%d text=%d" % (s["documents"], s["chunks"], s["vectors_live"], s["vectors_dead"], s["text_bytes"]))
for i in (1, 2, 3):
    hits = json.load(open(w + "/d.s%d" % i))["results"]
    for h in sorted(hits, key=lambda h: (-h["score"], h["id"], h["chunk"])):
        print("%s %d %.6f" % (h["id"], h["chunk"], h["score"]))
PYEOF
}

# check_fast DB — `ragdb check` must pass (no python: it runs after every kill).
check_fast() {
	local out
	out=$("$RAGDB_BIN" check --db "$1" 2>&1) || fail "ragdb check failed on $1 (seed $SEED): $out"
	case "$out" in *"invariants hold"*) ;; *) fail "ragdb check on $1 said: $out" ;; esac
}

# millis CMD... — run CMD to the end; print how long it took in ms.
millis() {
	local t0 t1
	t0=$(date +%s%N)
	"$@" >/dev/null 2>&1 || fail "reference run failed: $*"
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000 + 1))
}

# kill_at MS CMD... — start CMD, SIGKILL it after a random delay in
# [0, MS] ms (or let it finish first). Sets KILLED=1 when it was still running.
kill_at() {
	local max=$1 d pid
	shift
	d=$(((RANDOM * 32768 + RANDOM) % (max + 1)))
	"$@" >/dev/null 2>"$WORK/killed.err" &
	pid=$!
	sleep "$(printf '%d.%03d' $((d / 1000)) $((d % 1000)))"
	kill -KILL "$pid" 2>/dev/null || true
	local rc=0
	wait "$pid" 2>/dev/null || rc=$?
	# 128 + SIGKILL: it was still running; anything else: it had finished.
	KILLED=$((rc == 137 ? 1 : 0))
}

# Reference: uninterrupted runs.
ok ragdb init --db "$WORK/ref"
T_INGEST=$(millis "$RAGDB_BIN" ingest --db "$WORK/ref" "$CORPUS" --quiet)
REF_INGEST=$(digest "$WORK/ref")
cp -r "$WORK/ref" "$WORK/full"   # closed: a file copy is a faithful one
T_DELETE=$(millis "$RAGDB_BIN" delete --db "$WORK/ref" --source "$CORPUS/part001")
REF_DELETE=$(digest "$WORK/ref")
T_COMPACT=$(millis "$RAGDB_BIN" compact --db "$WORK/ref")
REF_COMPACT=$(digest "$WORK/ref")
[ "$REF_DELETE" != "$REF_INGEST" ] || fail "the delete changed nothing"
# An index of 16 lists to replace; 256 KiB per write txn, so a rebuild (and
# a compact of the trials) commits many times before it switches.
cp -r "$WORK/full" "$WORK/ivf16"
ok ragdb index build --db "$WORK/ivf16" --ivf 16
cp -r "$WORK/ivf16" "$WORK/ivfref"
export RAGDB_TXN_BYTES=262144
T_INDEX=$(millis "$RAGDB_BIN" index build --db "$WORK/ivfref" --ivf 32)
T_QUANT=$(millis "$RAGDB_BIN" quantize int8 --db "$WORK/ivfref")
T_REEMBED=$(millis "$RAGDB_BIN" reembed --db "$WORK/ivfref" --embedder local --dim 384)
REF_REEMBED=$(digest "$WORK/ivfref")
note "reference: ingest ${T_INGEST} ms, delete ${T_DELETE} ms, compact ${T_COMPACT} ms, index build ${T_INDEX} ms, quantize ${T_QUANT} ms, reembed ${T_REEMBED} ms"

# nlist DB — the lists of the index `index stats` reports.
nlist() {
	"$RAGDB_BIN" index stats --db "$1" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["nlist"])' ||
		fail "index stats failed on $1"
}

# stat DB KEY — one field of `stats --json`.
stat() {
	"$RAGDB_BIN" stats --db "$1" --json | "$PY" -c "import json,sys; print(json.load(sys.stdin)['$2'])" ||
		fail "stats failed on $1"
}

n_ingest=0 n_delete=0 n_compact=0 n_index=0 n_quant=0 n_reembed=0 n_hit=0
for ((trial = 1; trial <= TRIALS; trial++)); do
	DB="$WORK/t$trial"
	if ((trial % 4 == 2)); then
		cp -r "$WORK/ivf16" "$DB"
		kill_at "$((T_INDEX + T_INDEX / 5))" "$RAGDB_BIN" index build --db "$DB" --ivf 32
		n_index=$((n_index + 1)); n_hit=$((n_hit + KILLED))
		check_fast "$DB"
		got=$(nlist "$DB")
		[ "$got" = 16 ] || [ "$got" = 32 ] ||
			fail "trial $trial (seed $SEED): after a kill during index build the index has $got lists, neither the old 16 nor the new 32"
		ok ragdb search --db "$DB" "harbor parcel customs" --nprobe 4 -k 5
		ok ragdb index build --db "$DB" --ivf 32
		check_fast "$DB"
		[ "$(nlist "$DB")" = 32 ] || fail "trial $trial (seed $SEED): the re-run index build did not leave 32 lists"
		[ "$(digest "$DB")" = "$REF_INGEST" ] ||
			fail "trial $trial (seed $SEED): after a kill during index build and a re-run, documents, counters or exact searches differ"
		kill_at "$((T_QUANT + T_QUANT / 5))" "$RAGDB_BIN" quantize int8 --db "$DB"
		n_quant=$((n_quant + 1)); n_hit=$((n_hit + KILLED))
		check_fast "$DB"
		ok ragdb quantize int8 --db "$DB" --json
		grep -Eq '"before":[[:space:]]*"(f32|int8)"' <<<"$OUT" ||
			fail "trial $trial (seed $SEED): after a kill during quantize: $OUT"
		check_fast "$DB"
		[ "$(nlist "$DB")" = 32 ] || fail "trial $trial (seed $SEED): quantize changed the index's lists"
		kill_at "$((T_REEMBED + T_REEMBED / 5))" "$RAGDB_BIN" reembed --db "$DB" --embedder local --dim 384
		n_reembed=$((n_reembed + 1)); n_hit=$((n_hit + KILLED))
		check_fast "$DB"
		got=$(stat "$DB" dim)
		[ "$got" = 768 ] || [ "$got" = 384 ] ||
			fail "trial $trial (seed $SEED): after a kill during reembed the dimension is $got"
		ok ragdb search --db "$DB" "harbor parcel customs" -k 5
		ok ragdb reembed --db "$DB" --embedder local --dim 384
		ok ragdb quantize int8 --db "$DB"
		check_fast "$DB"
		[ "$(stat "$DB" unfinished_reembed_bytes)" = 0 ] ||
			fail "trial $trial (seed $SEED): staged vectors left after a re-run reembed"
		[ "$(digest "$DB")" = "$REF_REEMBED" ] ||
			fail "trial $trial (seed $SEED): after a kill during reembed and a re-run, documents, counters or searches differ"
	elif ((trial % 4 != 0)); then
		ok ragdb init --db "$DB"
		kill_at "$((T_INGEST + T_INGEST / 5))" "$RAGDB_BIN" ingest --db "$DB" "$CORPUS" --quiet
		n_ingest=$((n_ingest + 1)); n_hit=$((n_hit + KILLED))
		check_fast "$DB"
		ok ragdb ingest --db "$DB" "$CORPUS" --quiet
		check_fast "$DB"
		[ "$(digest "$DB")" = "$REF_INGEST" ] ||
			fail "trial $trial (seed $SEED): after a kill during ingest and a re-run, the state differs from an uninterrupted ingest"
	else
		cp -r "$WORK/full" "$DB"
		kill_at "$((T_DELETE + T_DELETE / 5))" "$RAGDB_BIN" delete --db "$DB" --source "$CORPUS/part001"
		n_delete=$((n_delete + 1)); n_hit=$((n_hit + KILLED))
		check_fast "$DB"
		run ragdb delete --db "$DB" --source "$CORPUS/part001"
		check_fast "$DB"
		[ "$(digest "$DB")" = "$REF_DELETE" ] ||
			fail "trial $trial (seed $SEED): after a kill during delete --source and a re-run, the state differs"
		kill_at "$((T_COMPACT + T_COMPACT / 5))" "$RAGDB_BIN" compact --db "$DB"
		n_compact=$((n_compact + 1)); n_hit=$((n_hit + KILLED))
		check_fast "$DB"
		ok ragdb compact --db "$DB"
		check_fast "$DB"
		[ "$(digest "$DB")" = "$REF_COMPACT" ] ||
			fail "trial $trial (seed $SEED): after a kill during compact and a re-run, the state differs"
	fi
	rm -rf "$DB"
done
echo "crash_test: $TRIALS trials ($n_ingest ingest kills, $n_delete delete kills, $n_compact compact kills, $n_index index build kills, $n_quant quantize kills, $n_reembed reembed kills, $n_hit killed before the end), 0 failures, seed $SEED"
