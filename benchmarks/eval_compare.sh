#!/usr/bin/env bash
# benchmarks/eval_compare.sh — ragdb beside Xapian's BM25 on the shared BEIR
# sets, in one run: `ragdb eval --json` (every search mode the build has) and
# benchmarks/eval_xapian.py (same metric definitions), then one table with
# each ragdb mode's nDCG@10 as a ratio of Xapian's.
#
#   benchmarks/eval_compare.sh [--ragdb PATH] [SET_DIR...]
#
# Defaults: RAGDB_BIN or build/ragdb; the sets ../shared/data/manpages and
# ../shared/data/cranfield (relative to the repository root). Extra options
# for `ragdb eval` go in RAGDB_EVAL_ARGS (e.g. "--chunk-tokens 128").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RAGDB=${RAGDB_BIN:-$ROOT/build/ragdb}
if [ "${1:-}" = "--ragdb" ]; then
	RAGDB=$2
	shift 2
fi
SETS=("$@")
[ "${#SETS[@]}" -gt 0 ] || SETS=("$ROOT/../shared/data/manpages" "$ROOT/../shared/data/cranfield")
[ -x "$RAGDB" ] || { echo "eval_compare: $RAGDB is not an executable; build it or pass --ragdb PATH" >&2; exit 2; }

OUT=$(mktemp -d "${TMPDIR:-/tmp}/eval-compare.XXXXXX")
trap 'rm -rf "$OUT"' EXIT

i=0
for set in "${SETS[@]}"; do
	echo "eval_compare: $(basename "$set"): ragdb eval ..." >&2
	# shellcheck disable=SC2086
	"$RAGDB" eval "$set" --json ${RAGDB_EVAL_ARGS:-} >"$OUT/ragdb.$i.json"
	echo "eval_compare: $(basename "$set"): xapian ..." >&2
	python3 "$ROOT/benchmarks/eval_xapian.py" "$set" --json >"$OUT/xapian.$i.json"
	i=$((i + 1))
done

python3 - "$OUT" "$i" "$RAGDB" <<'PY'
import json, subprocess, sys
out, n, ragdb = sys.argv[1], int(sys.argv[2]), sys.argv[3]
version = subprocess.run([ragdb, "--version"], capture_output=True, text=True).stdout.strip()
print(f"{version} vs Xapian BM25; nDCG@10 ratio = ragdb / Xapian")
print(f"{'set':10} {'engine':14} {'nDCG@10':>8} {'R@10':>7} {'R@100':>7} {'MRR@10':>7} {'ratio':>6}  search")
for i in range(n):
    r = json.load(open(f"{out}/ragdb.{i}.json"))
    x = json.loads(open(f"{out}/xapian.{i}.json").read().strip().splitlines()[-1])
    base = x["ndcg@10"]
    print(f"{r['set']:10} {'xapian bm25':14} {base:8.4f} {x['recall@10']:7.4f} "
          f"{x['recall@100']:7.4f} {x['mrr@10']:7.4f} {1:6.3f}  {x['search_s']:.2f} s")
    for m in r["modes"]:
        name = "ragdb " + m["mode"]
        if not m["built"]:
            print(f"{r['set']:10} {name:14} {'not built':>8}")
            continue
        print(f"{r['set']:10} {name:14} {m['ndcg@10']:8.4f} {m['recall@10']:7.4f} "
              f"{m['recall@100']:7.4f} {m['mrr@10']:7.4f} {m['ndcg@10'] / base:6.3f}  "
              f"{m['search_s']:.2f} s")
    print(f"{'':10} ({r['documents']} docs, {r['chunks']} chunks, {r['queries']} queries; "
          f"ragdb {r['embedder']}:{r['embedder_model']} dim {r['dim']}, "
          f"chunks of {r['chunk_tokens']} tokens)")
PY
