#!/usr/bin/env bash
# benchmarks/bench_txn_memory.sh — the memory of the commands that rewrite
# much of a knowledge base: `ragdb index build`, `ragdb quantize int8`,
# `ragdb quantize bf16` (through f32 since session 13) and `ragdb quantize
# f32` (which re-encode the index's lists), then, after
# deleting one document in 100, `ragdb compact` (the blocks from the first
# tombstone on, and the lists without their tombstones), then, on a knowledge
# base of the local embedder (texts to embed), `ragdb tune` and `ragdb
# reembed --embedder local --dim 384` (every vector staged in the other
# vector database and switched to; an index is dropped). The sequence runs
# twice in one run: once with every command in a single write transaction
# (RAGDB_TXN_BYTES above everything's size: how they ran before session 11
# for the index, before session 12 for compact, before session 13 for tune
# and reembed) and once with the default
# budget per transaction. Each command is sampled every 0.2 s from
# /proc/PID/status for its peak private memory (RssAnon: the txn's new
# pages, the arrays) and peak mapped file pages (RssFile: page cache the
# kernel can drop), against the vectors' bytes; compact also reports how
# much the data file grew (a single txn needs room for every new page
# before it frees the old). Both sequences start from the same copy of the
# knowledge base (f32).
#
#   bench_txn_memory.sh [N] [D] [NLIST]     synthetic N x D vectors
#                                            (peers/gen_data.py's mixture;
#                                            default 300000 768 512)
#   bench_txn_memory.sh --db DIR NLIST       a copy of the knowledge base DIR
#
# RAGDB=path/to/ragdb (default build/ragdb). ONLY="tune reembed" runs only
# the commands whose first word is listed. Needs python3-numpy for the
# synthetic set.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
RAGDB=${RAGDB:-$HERE/../build/ragdb}
W=$(mktemp -d /tmp/bench_txn_memory.XXXXXX)
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
read -r DIM LIVE EMB < <("$RAGDB" stats --db "$W/base" --json |
	/usr/bin/python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["dim"], s["vectors_live"], s["embedder"])')
VBYTES=$((DIM * LIVE * 4))

# peak RssAnon and RssFile (KiB) and seconds of one command on $W/kb
measure() {
	local t0 t1 pa=0 pf=0 a f
	t0=$(date +%s.%N)
	env "$@" > "$W/out" 2>&1 & local P=$!
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

mb() { echo "scale=0; $1 / 1024" | bc; }
label() { local c=${1%% --ivf*}; echo "${c%% --embedder*}"; }
# One document in 100, spread over the whole knowledge base.
"$RAGDB" list --db "$W/base" --json | /usr/bin/python3 -c '
import json, sys
for i, d in enumerate(json.load(sys.stdin)):
    if i % 100 == 50:
        print(d["id"])' > "$W/doomed"
printf '%d vectors x %d (%d MB of vectors), --ivf %s; compact after deleting %d documents\n' \
	"$LIVE" "$DIM" $((VBYTES >> 20)) "$NLIST" "$(wc -l < "$W/doomed")"
printf '%-16s %-12s %12s %12s %10s %16s %14s\n' command txns "private MB" "file MB" seconds \
	"private/vectors" "file grew MB"
CMDS=()
for c in "index build --ivf $NLIST" "quantize int8" "quantize bf16" "quantize f32" "compact" "tune" \
	"reembed --embedder local --dim 384"; do
	case "$c" in tune*|reembed*) [ "$EMB" = local ] || continue ;; esac
	[ -n "${ONLY:-}" ] && [[ " $ONLY " != *" ${c%% *} "* ]] && continue
	CMDS+=("$c")
done
declare -A PRIV
for mode in one default; do
	rm -rf "$W/kb" && cp -r "$W/base" "$W/kb" && sync
	budget=()
	[ "$mode" = one ] && budget=(RAGDB_TXN_BYTES=$((1 << 62)))
	for cmd in "${CMDS[@]}"; do
		[ "$cmd" = compact ] && xargs "$RAGDB" delete --db "$W/kb" < "$W/doomed" > /dev/null
		size0=$(stat -c %s "$W/kb/data.mdb")
		# shellcheck disable=SC2086
		read -r A F S < <(measure "${budget[@]}" "$RAGDB" $cmd --db "$W/kb")
		grew=$((($(stat -c %s "$W/kb/data.mdb") - size0) >> 20))
		PRIV["$cmd/$mode"]=$A
		printf '%-16s %-12s %12s %12s %10.1f %16.2f %14s\n' "$(label "$cmd")" \
			"$([ "$mode" = one ] && echo "one" || echo "256 MiB each")" "$(mb "$A")" "$(mb "$F")" \
			"$S" "$(echo "scale=4; $A * 1024 / $VBYTES" | bc)" "$grew"
	done
done
for cmd in "${CMDS[@]}"; do
	printf 'private memory of %s, default / one txn: %.3f\n' "$(label "$cmd")" \
		"$(echo "scale=4; ${PRIV["$cmd/default"]} / ${PRIV["$cmd/one"]}" | bc)"
done
