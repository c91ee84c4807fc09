#!/usr/bin/env bash
# benchmarks/bench_peers.sh — ragdb against FAISS, hnswlib, sqlite-vec and
# usearch on the same vectors, measured the same way in one run, printed as
# one table (with the recall/QPS curves of the approximate indexes and the
# ratios issue #6 asks for), and written as CSV and JSON under --out.
#
#   bench_peers.sh [--quick] [--sets LIST] [--peers LIST] [--out DIR]
#                  [--ragdb PATH] [--threads T] [--single-seconds S]
#                  [--ef-construction E] [--row-timeout S] [--sift DIR]
#
#   --quick        sets syn100k384,sift5k, shorter timings: a few minutes on a
#                  quiet machine (5 min at load 3, 12 min at load 12-19, 2 cores)
#   --sets LIST    of syn1m384 (1M x 384), syn100k768, syn100k384, sift5k
#                  (default syn1m384,syn100k768,sift5k)
#   --peers LIST   of ragdb, faiss, hnswlib, sqlite-vec, usearch (default all)
#   --out DIR      results, data and indexes (default /tmp/ragdb-peers); the
#                  generated data and its exact top-10 are cached there
#   --ragdb PATH   the ragdb binary (default build/release/ragdb, built with
#                  cmake if missing); bench_vectors and bench_interleave
#                  are taken from PATH's build directory (benchmarks/)
#   --threads T    threads for every engine's batch and ragdb's scans
#                  (default: all cores); single queries of the peers run on
#                  one thread (their libraries parallelise across queries)
#
# How each row is measured (benchmarks/README.md, "bench_peers", has more):
# a build step (import or index build, into a file; wall time and the
# process's peak RSS), then a new process that opens the file from the page
# cache and runs the first query (cold start), single queries one after
# another for --single-seconds (at least 5), all 1,000 queries in one batch
# call, recall@10 of the batch against the exact top-10 by inner product,
# and its peak RSS (with the anonymous / file-map split). Approximate
# indexes are measured at every point of a parameter sweep. A peer that
# cannot be installed or fails is reported as such, never left out. The
# ratios of ragdb's quantized knowledge bases to f32 also come from single
# queries taking turns on the four (bench_interleave, 30 s; 5 s with
# --quick), since rows measured one after another drift with the machine.
#
# Installs what is missing: Debian python3-faiss, python3-hnswlib,
# python3-numpy (apt-get) and the npm packages sqlite-vec and
# usearch (into OUT/npm). Uses /usr/bin/python3 (Debian's, where those
# packages live), not a python3 earlier on PATH.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEERS_DIR=$ROOT/benchmarks/peers
PY=/usr/bin/python3
OUT=/tmp/ragdb-peers
RAGDB=$ROOT/build/release/ragdb
QUICK=0
SETS=""
PEERS="ragdb,faiss,hnswlib,sqlite-vec,usearch"
THREADS=$(nproc 2>/dev/null || echo 2)
SINGLE_S=""
EFC=""
ROW_TIMEOUT=""
SIFT=$ROOT/../shared/data/vectors/sift5k
ARGS="$*"

usage() { sed -n '2,38p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--sets) SETS=$2; shift ;;
	--peers) PEERS=$2; shift ;;
	--out) OUT=$2; shift ;;
	--ragdb) RAGDB=$2; shift ;;
	--threads) THREADS=$2; shift ;;
	--single-seconds) SINGLE_S=$2; shift ;;
	--ef-construction) EFC=$2; shift ;;
	--row-timeout) ROW_TIMEOUT=$2; shift ;;
	--sift) SIFT=$2; shift ;;
	-h|--help) usage ;;
	*) echo "bench_peers: unknown option $1" >&2; usage ;;
	esac
	shift
done
if [ "$QUICK" = 1 ]; then
	SETS=${SETS:-syn100k384,sift5k}; SINGLE_S=${SINGLE_S:-1}; EFC=${EFC:-40}; INTERLEAVE_S=5
	ROW_TIMEOUT=${ROW_TIMEOUT:-900}; BATCH_S=30
else
	SETS=${SETS:-syn1m384,syn100k768,sift5k}; SINGLE_S=${SINGLE_S:-3}; EFC=${EFC:-100}; INTERLEAVE_S=30
	ROW_TIMEOUT=${ROW_TIMEOUT:-5400}; BATCH_S=120
fi
IVF_SWEEP=1,2,4,8,16,32,64
HNSW_SWEEP=10,20,40,80,160,320

mkdir -p "$OUT" || exit 1
OUT=$(cd "$OUT" && pwd)
RES=$OUT/results
LOG=$OUT/log.txt
rm -rf "$RES" && mkdir -p "$RES"
: > "$LOG"
T_START=$(date +%s)
log() { echo "[bench_peers $(date -u +%H:%M:%S)] $*" | tee -a "$LOG" >&2; }
has_peer() { case ",$PEERS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
now() { date +%s.%N; }

# --- 1. peers ---------------------------------------------------------------
# OUT/peers.txt: one line per peer, "NAME ok DETAIL" or "NAME unavailable WHY".
: > "$OUT/peers.txt"
avail() { echo "$1 $2 ${3:-}" >> "$OUT/peers.txt"; [ "$2" = ok ] || log "$1: not available: ${3:-}"; }
ok_peer() { grep -q "^$1 ok" "$OUT/peers.txt"; }

apt_missing=()
"$PY" -c 'import numpy' 2>/dev/null || apt_missing+=(python3-numpy)
has_peer faiss && { "$PY" -c 'import faiss' 2>/dev/null || apt_missing+=(python3-faiss); }
has_peer hnswlib && { "$PY" -c 'import hnswlib' 2>/dev/null || apt_missing+=(python3-hnswlib); }
if [ ${#apt_missing[@]} -gt 0 ]; then
	log "installing ${apt_missing[*]} (apt-get)"
	{ DEBIAN_FRONTEND=noninteractive apt-get install -y "${apt_missing[@]}" ||
	  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "${apt_missing[@]}"; }
	} >> "$LOG" 2>&1 || log "apt-get install ${apt_missing[*]} failed (see $LOG)"
fi
if ! "$PY" -c 'import numpy' 2>/dev/null; then
	log "numpy is needed for the data and could not be installed: stopping"
	exit 1
fi
if has_peer faiss; then
	if v=$("$PY" -c 'import faiss; print(faiss.__version__)' 2>/dev/null); then
		avail faiss ok "faiss $v (Debian python3-faiss)"
	else avail faiss unavailable "python3-faiss does not install or import"; fi
fi
if has_peer hnswlib; then
	if "$PY" -c 'import hnswlib' 2>/dev/null; then
		avail hnswlib ok "hnswlib $(dpkg-query -W -f='${Version}' python3-hnswlib 2>/dev/null) (Debian python3-hnswlib)"
	else avail hnswlib unavailable "python3-hnswlib does not install or import"; fi
fi
NPM=$OUT/npm
if has_peer sqlite-vec || has_peer usearch; then
	mkdir -p "$NPM"
	[ -f "$NPM/package.json" ] || (cd "$NPM" && npm init -y >/dev/null 2>&1)
	if ! command -v npm >/dev/null; then
		log "npm is missing: installing (apt-get install npm)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y npm >> "$LOG" 2>&1
	fi
fi
SQLITE_VEC_EXT=""
if has_peer sqlite-vec; then
	[ -d "$NPM/node_modules/sqlite-vec" ] ||
		(cd "$NPM" && timeout 600 npm install --no-audit --no-fund sqlite-vec >> "$LOG" 2>&1)
	so=$(find "$NPM/node_modules" -path '*sqlite-vec*' -name 'vec0.so' 2>/dev/null | head -1)
	if [ -n "$so" ] && v=$("$PY" -c "
import sqlite3, sys
c = sqlite3.connect(':memory:'); c.enable_load_extension(True); c.load_extension(sys.argv[1])
print(c.execute('select vec_version()').fetchone()[0])" "${so%.so}" 2>>"$LOG"); then
		SQLITE_VEC_EXT=${so%.so}
		avail sqlite-vec ok "sqlite-vec $v (npm prebuilt vec0.so in python3's sqlite3 $("$PY" -c 'import sqlite3; print(sqlite3.sqlite_version)'))"
	else avail sqlite-vec unavailable "npm install sqlite-vec gave no loadable vec0.so (see $LOG)"; fi
fi
if has_peer usearch; then
	[ -d "$NPM/node_modules/usearch" ] ||
		(cd "$NPM" && timeout 600 npm install --no-audit --no-fund usearch >> "$LOG" 2>&1)
	if v=$(cd "$NPM" && node -e "const u=require('usearch'); new u.Index({dimensions:8,metric:'ip'}); console.log(JSON.parse(require('fs').readFileSync('node_modules/usearch/package.json')).version)" 2>>"$LOG"); then
		avail usearch ok "usearch $v (npm, prebuilt addon)"
	else avail usearch unavailable "npm install usearch failed or its addon does not load (see $LOG)"; fi
fi

# --- ragdb and bench_vectors ------------------------------------------------
BV=""
if has_peer ragdb; then
	BUILD=$(dirname "$RAGDB")
	BV=$BUILD/benchmarks/bench_vectors
	BI=$BUILD/benchmarks/bench_interleave
	if [ ! -x "$RAGDB" ] || [ ! -x "$BV" ] || [ ! -x "$BI" ]; then
		if [ ! -f "$BUILD/CMakeCache.txt" ]; then
			log "configuring $BUILD (cmake)"
			cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >> "$LOG" 2>&1
		fi
		log "building ragdb and bench_vectors in $BUILD"
		cmake --build "$BUILD" -j"$THREADS" --target ragdb bench_vectors bench_interleave >> "$LOG" 2>&1
	fi
	if [ -x "$RAGDB" ] && [ -x "$BV" ] && [ -x "$BI" ]; then
		avail ragdb ok "$("$RAGDB" --version 2>/dev/null | head -1) ($RAGDB)"
		if "$RAGDB" index --help >/dev/null 2>&1; then HAVE_IVF=1; else
			HAVE_IVF=0; log "ragdb has no 'index build --ivf': no ragdb IVF rows"; fi
	else avail ragdb unavailable "$RAGDB, $BV or $BI missing and the build failed (see $LOG)"; fi
fi

# --- helpers for rows ---------------------------------------------------------
# A row ROW of set SET leaves RES/SET/ROW.build.json (one JSON object) and
# RES/SET/ROW.query.jsonl (one per sweep point), or RES/SET/ROW.error.
row_error() { echo "$3" > "$RES/$1/$2.error"; log "$1 $2: $3"; }
run_json() { # set row kind(build|query) command...: stdout into the row's file
	local set=$1 row=$2 kind=$3; shift 3
	local f=$RES/$set/$row.$kind.json
	[ "$kind" = query ] && f=${f}l
	timeout "$ROW_TIMEOUT" "$@" > "$f.tmp" 2>>"$LOG"
	local rc=$?
	if [ $rc -ne 0 ] || [ ! -s "$f.tmp" ]; then
		[ $rc = 124 ] && row_error "$set" "$row" "$kind timed out after $ROW_TIMEOUT s" ||
			row_error "$set" "$row" "$kind failed (exit $rc; see $LOG)"
		rm -f "$f.tmp"; return 1
	fi
	if [ "$kind" = query ]; then cat "$f.tmp" >> "$f"; rm -f "$f.tmp"; else mv "$f.tmp" "$f"; fi
}
disk_mb() { du -sk "$1" | awk '{printf "%.1f", $1 / 1024}'; }

# ragdb: init (+ --quantize), import-vectors timed, one build JSON.
ragdb_import() { # set row mode dir base dim
	local set=$1 row=$2 mode=$3 dir=$4 base=$5 dim=$6
	rm -rf "$dir"
	"$RAGDB" init --db "$dir" --embedder external --dim "$dim" --quantize "$mode" >> "$LOG" 2>&1 ||
		{ row_error "$set" "$row" "ragdb init failed (see $LOG)"; return 1; }
	local t0 t1
	t0=$(now)
	timeout "$ROW_TIMEOUT" /usr/bin/time -f %M -o "$dir.rss" \
		"$RAGDB" import-vectors --db "$dir" "$base" >> "$LOG" 2>&1 ||
		{ row_error "$set" "$row" "ragdb import-vectors failed (see $LOG)"; return 1; }
	t1=$(now)
	echo "{\"system\":\"ragdb\",\"kind\":\"$mode\",\"build_s\":$(awk "BEGIN { print $t1 - $t0 }"),\"build_rss_mb\":$(awk '{printf "%.1f", $1/1024}' "$dir.rss"),\"disk_mb\":$(disk_mb "$dir")}" \
		> "$RES/$set/$row.build.json"
}
ragdb_query() { # set row dir q gt [bench_vectors options]
	local set=$1 row=$2 dir=$3 q=$4 gt=$5; shift 5
	cat "$dir/data.mdb" > /dev/null
	run_json "$set" "$row" query "$BV" --db "$dir" --queries "$q" --gt "$gt" -k 10 \
		--threads "$THREADS" --single-seconds "$SINGLE_S" "$@"
}

# --- 2 and 3: per data set ----------------------------------------------------
IFS=, read -r -a SET_LIST <<< "$SETS"
for set in "${SET_LIST[@]}"; do
	D=$OUT/data/$set
	W=$OUT/work/$set
	mkdir -p "$RES/$set" "$W"
	case $set in
	syn1m384) gen=(syn 1000000 384) ;;
	syn100k768) gen=(syn 100000 768) ;;
	syn100k384) gen=(syn 100000 384) ;;
	sift5k) gen=(fvecs "$SIFT/holdout/base.fvecs" "$SIFT/holdout/query.fvecs") ;;
	*) row_error "$set" data "unknown set $set (syn1m384, syn100k768, syn100k384, sift5k)"; continue ;;
	esac
	log "== $set: data"
	if ! "$PY" "$PEERS_DIR/gen_data.py" "${gen[@]}" "$D" 2>&1 | tee -a "$LOG" >&2; then
		row_error "$set" data "generating the data failed (see $LOG)"; continue
	fi
	[ -f "$D/gt.ibin" ] || { row_error "$set" data "no data (see $LOG)"; continue; }
	read -r N DIM NQ < <("$PY" -c "import json,sys; m=json.load(open(sys.argv[1])); print(m['n'], m['dim'], m['nq'])" "$D/meta.json")
	NLIST=$("$PY" -c "import math,sys; print(max(1, round(4 * math.sqrt(int(sys.argv[1])))))" "$N")
	B=$D/base.fbin Q=$D/queries.fbin G=$D/gt.ibin
	echo "{\"set\":\"$set\",\"n\":$N,\"dim\":$DIM,\"nq\":$NQ,\"nlist\":$NLIST,\"threads\":$THREADS}" > "$RES/$set/set.json"

	if has_peer ragdb && ok_peer ragdb; then
		for mode in f32 bf16 int8 binary; do
			log "$set: ragdb $mode"
			ragdb_import "$set" "ragdb-$mode" "$mode" "$W/ragdb-$mode" "$B" "$DIM" &&
				ragdb_query "$set" "ragdb-$mode" "$W/ragdb-$mode" "$Q" "$G" --exact
		done
		# The quantized/f32 ratios, from single queries taking turns on the
		# four knowledge bases (bench_interleave.c says why).
		kbs=()
		for mode in f32 bf16 int8 binary; do
			[ -d "$W/ragdb-$mode" ] && kbs+=("$W/ragdb-$mode") && cat "$W/ragdb-$mode/data.mdb" > /dev/null
		done
		if [ "${#kbs[@]}" -gt 1 ] && [ "${kbs[0]}" = "$W/ragdb-f32" ]; then
			log "$set: ragdb f32/bf16/int8/binary single queries taking turns"
			timeout "$ROW_TIMEOUT" "$BI" --queries "$Q" -k 10 --threads "$THREADS" \
				--seconds "$INTERLEAVE_S" "${kbs[@]}" > "$RES/$set/interleave.json" 2>>"$LOG" ||
				{ rm -f "$RES/$set/interleave.json"; log "$set: bench_interleave failed (see $LOG)"; }
		fi
		for mode in bf16 int8 binary; do rm -rf "$W/ragdb-$mode"; done
		if [ "${HAVE_IVF:-0}" = 1 ] && [ -d "$W/ragdb-f32" ]; then
			log "$set: ragdb IVF (nlist $NLIST)"
			t0=$(now)
			if timeout "$ROW_TIMEOUT" /usr/bin/time -f %M -o "$W/ivf.rss" "$RAGDB" index build \
				--db "$W/ragdb-f32" --ivf "$NLIST" --threads "$THREADS" --json > "$W/ivf.json" 2>>"$LOG"; then
				t1=$(now)
				"$PY" - "$RES/$set/ragdb-f32.build.json" "$W/ivf.json" "$W/ivf.rss" "$(awk "BEGIN { print $t1 - $t0 }")" "$(disk_mb "$W/ragdb-f32")" \
					> "$RES/$set/ragdb-ivf.build.json" <<-'PY'
				import json, sys
				imp, ivf = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
				print(json.dumps({"system": "ragdb", "kind": "ivf", "import_s": imp["build_s"],
				      "index_s": round(float(sys.argv[4]), 3),
				      "build_s": round(imp["build_s"] + float(sys.argv[4]), 3),
				      "build_rss_mb": round(max(imp["build_rss_mb"], int(open(sys.argv[3]).read().split()[-1]) / 1024), 1),
				      "disk_mb": float(sys.argv[5]), "nlist": ivf.get("nlist"),
				      "default_nprobe": ivf.get("nprobe"), "train_points": ivf.get("sample"),
				      "niter": ivf.get("iters")}))
				PY
				for np in 0 ${IVF_SWEEP//,/ }; do
					ragdb_query "$set" ragdb-ivf "$W/ragdb-f32" "$Q" "$G" --nprobe "$np" --label ivf
				done
			else row_error "$set" ragdb-ivf "ragdb index build failed (see $LOG)"; fi
		fi
		rm -rf "$W/ragdb-f32"
	elif has_peer ragdb; then row_error "$set" ragdb "not available: $(grep '^ragdb' "$OUT/peers.txt" | cut -d' ' -f3-)"; fi

	if has_peer faiss && ok_peer faiss; then
		for kind in flat sq8 ivf hnsw; do
			log "$set: faiss $kind"
			sweep=""
			[ "$kind" = ivf ] && sweep=$IVF_SWEEP
			[ "$kind" = hnsw ] && sweep=$HNSW_SWEEP
			idx=$W/faiss-$kind.index
			run_json "$set" "faiss-$kind" build "$PY" "$PEERS_DIR/run_faiss.py" build "$kind" "$B" "$idx" \
				--threads "$THREADS" --nlist "$NLIST" --M 32 --ef-construction "$EFC" &&
			run_json "$set" "faiss-$kind" query "$PY" "$PEERS_DIR/run_faiss.py" query "$kind" "$idx" "$Q" "$G" \
				--threads "$THREADS" --sweep "$sweep" --single-seconds "$SINGLE_S" --batch-seconds "$BATCH_S"
			rm -f "$idx"
		done
	elif has_peer faiss; then row_error "$set" faiss "not available: $(grep '^faiss' "$OUT/peers.txt" | cut -d' ' -f3-)"; fi

	if has_peer hnswlib && ok_peer hnswlib; then
		for M in 16 32; do
			log "$set: hnswlib M=$M"
			idx=$W/hnswlib-M$M.index
			run_json "$set" "hnswlib-M$M" build "$PY" "$PEERS_DIR/run_hnswlib.py" build "$B" "$idx" \
				--M "$M" --ef-construction "$EFC" --threads "$THREADS" &&
			run_json "$set" "hnswlib-M$M" query "$PY" "$PEERS_DIR/run_hnswlib.py" query "$idx" "$Q" "$G" \
				--M "$M" --sweep "$HNSW_SWEEP" --threads "$THREADS" --single-seconds "$SINGLE_S" \
				--batch-seconds "$BATCH_S"
			rm -f "$idx"
		done
	elif has_peer hnswlib; then row_error "$set" hnswlib "not available: $(grep '^hnswlib' "$OUT/peers.txt" | cut -d' ' -f3-)"; fi

	if has_peer sqlite-vec && ok_peer sqlite-vec; then
		log "$set: sqlite-vec"
		db=$W/sqlite-vec.db
		run_json "$set" sqlite-vec build "$PY" "$PEERS_DIR/run_sqlitevec.py" build "$SQLITE_VEC_EXT" "$B" "$db" &&
		run_json "$set" sqlite-vec query "$PY" "$PEERS_DIR/run_sqlitevec.py" query "$SQLITE_VEC_EXT" "$db" "$Q" "$G" \
			--single-seconds "$SINGLE_S"
		rm -f "$db"
	elif has_peer sqlite-vec; then row_error "$set" sqlite-vec "not available: $(grep '^sqlite-vec' "$OUT/peers.txt" | cut -d' ' -f3-)"; fi

	if has_peer usearch && ok_peer usearch; then
		log "$set: usearch M=16"
		idx=$W/usearch-M16.index
		run_json "$set" usearch-M16 build node "$PEERS_DIR/run_usearch.js" build "$NPM/node_modules" "$B" "$idx" 16 "$EFC" "$THREADS" &&
		run_json "$set" usearch-M16 query node "$PEERS_DIR/run_usearch.js" query "$NPM/node_modules" "$idx" "$Q" "$G" 16 \
			"$HNSW_SWEEP" "$THREADS" "$SINGLE_S" 10
		rm -f "$idx"
	elif has_peer usearch; then row_error "$set" usearch "not available: $(grep '^usearch' "$OUT/peers.txt" | cut -d' ' -f3-)"; fi
	rm -rf "$W"
done

# --- 4 and 5: the table, the curves, the ratios -------------------------------
log "done in $(( $(date +%s) - T_START )) s; report:"
"$PY" "$PEERS_DIR/report.py" "$OUT" --threads "$THREADS" --cmd "$0 $ARGS" | tee "$OUT/table.txt"
echo "(also $OUT/results.csv, $OUT/results.json, $OUT/table.txt; log $LOG)"
