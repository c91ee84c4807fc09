#!/usr/bin/env bash
# benchmarks/bench_ivf_memory.sh — the memory of `ragdb index build`: the
# same build twice in one run, once in a single write transaction
# (RAGDB_IVF_TXN_BYTES above the lists' size: how builds ran before
# 2026-11-28) and once with the default budget per transaction, each
# sampled every 0.2 s from /proc/PID/status for its peak private memory
# (RssAnon: the txn's new pages, the build's arrays) and peak mapped file
# pages (RssFile: page cache the kernel can drop), against the vectors'
# bytes. Both builds start from the same copy of the knowledge base.
#
#   bench_ivf_memory.sh [N] [D] [NLIST]     synthetic N x D vectors
#                                            (peers/gen_data.py's mixture;
#                                            default 300000 768 512)
#   bench_ivf_memory.sh --db DIR NLIST       a copy of the knowledge base DIR
#
# RAGDB=path/to/ragdb (default build/ragdb). Needs python3-numpy for the
# synthetic set.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
RAGDB=${RAGDB:-$HERE/../build/ragdb}
W=$(mktemp -d /tmp/bench_ivf_memory.XXXXXX)
trap 'rm -rf "$W"' EXIT
if [ "${1:-}" = "--db" ]; then
	SRC=$2; NLIST=${3:?give NLIST after --db DIR}
	cp -r "$SRC" "$W/base"
else
	N=${1:-300000}; D=${2:-768}; NLIST=${3:-512}
	/usr/bin/python3 "$HERE/peers/gen_data.py" syn "$N" "$D" "$W/data" --queries 10 >&2
	"$RAGDB" init --db "$W/base" --embedder external --dim "$D" >/dev/null
	RAGDB_IVF_HINT_BYTES=$((1 << 62)) "$RAGDB" import-vectors --db "$W/base" "$W/data/base.fbin" >/dev/null
fi
read -r DIM LIVE < <("$RAGDB" stats --db "$W/base" --json |
	/usr/bin/python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["dim"], s["vectors_live"])')
VBYTES=$((DIM * LIVE * 4))

# peak RssAnon and RssFile (KiB) and seconds of one build on a fresh copy
measure() {
	rm -rf "$W/kb" && cp -r "$W/base" "$W/kb" && sync
	local t0 t1 pa=0 pf=0 a f
	t0=$(date +%s.%N)
	env "$@" "$RAGDB" index build --db "$W/kb" --ivf "$NLIST" > "$W/out" 2>&1 & local P=$!
	while kill -0 $P 2>/dev/null; do
		read -r a f < <(awk '/RssAnon/{a=$2} /RssFile/{f=$2} END{print a+0, f+0}' \
			/proc/$P/status 2>/dev/null || echo 0 0)
		[ "$a" -gt "$pa" ] && pa=$a
		[ "$f" -gt "$pf" ] && pf=$f
		sleep 0.2
	done
	wait $P || { cat "$W/out" >&2; exit 1; }
	t1=$(date +%s.%N)
	echo "$pa $pf $(echo "$t1 - $t0" | bc)"
}

read -r A1 F1 S1 < <(measure RAGDB_IVF_TXN_BYTES=$((1 << 62)))
read -r A2 F2 S2 < <(measure)
mb() { echo "scale=0; $1 / 1024" | bc; }
printf '%d vectors x %d (%d MB of vectors), --ivf %s\n' "$LIVE" "$DIM" $((VBYTES >> 20)) "$NLIST"
printf '%-26s %12s %12s %10s %16s\n' build "private MB" "file MB" seconds "private/vectors"
printf '%-26s %12s %12s %10.1f %16.2f\n' "one write txn" "$(mb "$A1")" "$(mb "$F1")" "$S1" \
	"$(echo "scale=4; $A1 * 1024 / $VBYTES" | bc)"
printf '%-26s %12s %12s %10.1f %16.2f\n' "txns of 256 MiB (default)" "$(mb "$A2")" "$(mb "$F2")" \
	"$S2" "$(echo "scale=4; $A2 * 1024 / $VBYTES" | bc)"
printf 'private memory, default / one txn: %.3f\n' "$(echo "scale=4; $A2 / $A1" | bc)"
