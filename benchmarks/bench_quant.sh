#!/usr/bin/env bash
# benchmarks/bench_quant.sh — quantized blocks against f32 through the CLI:
# a clustered Gaussian mixture (N x D, 100 centres, noise 0.5 per
# coordinate relative to unit-variance centres) imported with
# import-vectors, Q query vectors from the same mixture, then for f32,
# bf16, int8 and binary (each after `ragdb quantize`): mean took_ms per
# query (one thread) and recall@10 against the f32 lists, over a sweep of
# --oversample. Usage: bench_quant.sh [N] [D] [Q] (default 200000 384 200).
# RAGDB=path/to/ragdb (default build/ragdb).
set -euo pipefail
N=${1:-200000}; D=${2:-384}; Q=${3:-200}
RAGDB=${RAGDB:-$(dirname "$0")/../build/ragdb}
W=$(mktemp -d /tmp/bench_quant.XXXXXX)
trap 'rm -rf "$W"' EXIT
cat > "$W/gen.c" <<'C'
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
static uint64_t s = 88172645463325252ull;
static double u(void) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return ((s >> 11) + 0.5) / 9007199254740992.0; }
static double g(void) { return sqrt(-2 * log(u())) * cos(6.283185307179586 * u()); }
int main(int argc, char **argv)
{
	int n = atoi(argv[1]), d = atoi(argv[2]), q = atoi(argv[3]), C = 100;
	float *c = malloc(sizeof(float) * C * d), *row = malloc(sizeof(float) * d);
	for (int i = 0; i < C * d; i++) c[i] = (float)g();
	FILE *fb = fopen(argv[4], "wb"), *fq = fopen(argv[5], "wb");
	int32_t h[2] = { n, d }, hq[2] = { q, d };
	fwrite(h, 4, 2, fb); fwrite(hq, 4, 2, fq);
	for (int i = 0; i < n + q; i++) {
		int k = (int)(u() * C);
		for (int j = 0; j < d; j++) row[j] = c[k * d + j] + 0.5f * (float)g();
		fwrite(row, 4, d, i < n ? fb : fq);
	}
	fclose(fb); fclose(fq);
	return 0;
}
C
cc -O2 -o "$W/gen" "$W/gen.c" -lm
"$W/gen" "$N" "$D" "$Q" "$W/base.fbin" "$W/q.fbin"
"$RAGDB" init --db "$W/db" --embedder external --dim "$D" >/dev/null
/usr/bin/time -f "import: %e s, peak RSS %M KB" "$RAGDB" import-vectors --db "$W/db" "$W/base.fbin"
run() { "$RAGDB" search --db "$W/db" --vectors "$W/q.fbin" -k 10 --no-text --threads 1 "$@"; }
run > "$W/f32.jsonl"; run > "$W/f32.jsonl"   # second run: warm page cache
summ() {
  python3 - "$W/f32.jsonl" "$1" "$2" "$3" <<'PY'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
rec = sum(len({h["id"] for h in x["results"]} & {h["id"] for h in y["results"]}) for x, y in zip(a, b)) / sum(len(x["results"]) for x in a)
exact = all(h["score"] == {g["id"]: g["score"] for g in x["results"]}.get(h["id"], h["score"]) for x, y in zip(a, b) for h in y["results"])
ms = sum(y["took_ms"] for y in b) / len(b)
ms32 = sum(x["took_ms"] for x in a) / len(a)
print(f"{sys.argv[3]:7s} oversample {sys.argv[4]:>4s}: {ms:7.2f} ms/query ({ms32/ms:4.2f}x f32), recall@10 {rec:.4f}, scores exact: {exact}")
PY
}
summ "$W/f32.jsonl" f32 -
for mode in bf16 int8 binary; do
  "$RAGDB" quantize --db "$W/db" $mode >/dev/null
  for os in 1 2 4 8 16 32; do
    run --oversample $os > "$W/$mode.jsonl"
    run --oversample $os > "$W/$mode.jsonl"
    summ "$W/$mode.jsonl" $mode $os
  done
done
du -sh "$W/db"
