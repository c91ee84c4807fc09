#!/usr/bin/env bash
# benchmarks/bench_serve.sh — load on `ragdb serve`: POST /v1/search on a
# knowledge base of 100,000 chunks with 64 connections for 30 s (wrk), while
# `ragdb ingest` writes more documents into the same knowledge base from
# another process. Prints requests/s, p50/p99 latency, errors (non-2xx and
# socket errors; must be 0), the server's RSS before and after, and how
# many documents the ingest wrote meanwhile.
#   benchmarks/bench_serve.sh [--ragdb PATH] [--chunks N] [--connections C]
#                             [--duration S] [--threads T] [--mode M] [--keep DIR]
# --mode vector|bm25|hybrid sends that search mode (default: the knowledge
# base's default). wrk's timeout is 30 s, so a slow answer counts in the
# latency and only a failed one as an error.
# Needs wrk (apt-get install wrk), python3, curl.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RAGDB="$ROOT/build/release/ragdb"
CHUNKS=100000
CONNS=64
DURATION=30
THREADS=0
MODE=""
KEEP=""
while [ $# -gt 0 ]; do
	case "$1" in
	--ragdb) RAGDB=$2; shift 2 ;;
	--chunks) CHUNKS=$2; shift 2 ;;
	--connections) CONNS=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--threads) THREADS=$2; shift 2 ;;
	--keep) KEEP=$2; shift 2 ;;
	--mode) MODE=$2; shift 2 ;;
	*) echo "bench_serve: unknown option $1" >&2; exit 2 ;;
	esac
done
command -v wrk >/dev/null || { echo "bench_serve: wrk is needed: apt-get install wrk" >&2; exit 1; }
[ -x "$RAGDB" ] || { echo "bench_serve: no ragdb at $RAGDB (build it, or give --ragdb)" >&2; exit 1; }

WORK=${KEEP:-$(mktemp -d "${TMPDIR:-/tmp}/bench_serve.XXXXXX")}
mkdir -p "$WORK"
SERVER_PID=""; INGEST_PID=""
cleanup() {
	[ -n "$INGEST_PID" ] && kill "$INGEST_PID" 2>/dev/null || true
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
	wait 2>/dev/null || true
	[ -z "$KEEP" ] && rm -rf "$WORK"
}
trap cleanup EXIT

# Short records: one chunk each, so N records = N chunks. Deterministic.
gen() { # FILE N SEED PREFIX
	python3 - "$@" <<'PY'
import json, random, sys
path, n, seed, prefix = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rnd = random.Random(seed)
words = ("harbor parcel carrier route customs ledger signing vault webhook retry backup restore "
         "incident pager latency shard replica token rotation depot freight manifest invoice "
         "courier sorting centre scan delivery window region failover queue partition tracker "
         "notifier dashboard metric alert orchid greenhouse lighthouse keeper bicycle storage "
         "espresso machine descaling parking permit library aquarium filter").split()
with open(path, "w") as f:
    for i in range(n):
        sents = [" ".join(rnd.choice(words) for _ in range(rnd.randint(8, 16))).capitalize() + "."
                 for _ in range(rnd.randint(3, 5))]
        f.write(json.dumps({"id": "%s%07d" % (prefix, i), "title": "Record %d" % i,
                            "text": " ".join(sents)}) + "\n")
PY
}

DB="$WORK/kb"
if [ ! -e "$DB/data.mdb" ]; then
	echo "bench_serve: generating $CHUNKS records and ingesting them" >&2
	gen "$WORK/corpus.jsonl" "$CHUNKS" 1 doc
	"$RAGDB" init --db "$DB" >/dev/null
	"$RAGDB" ingest --db "$DB" --format jsonl -q "$WORK/corpus.jsonl"
fi
for b in $(seq 0 15); do
	[ -e "$WORK/more$b.jsonl" ] || gen "$WORK/more$b.jsonl" 5000 $((100 + b)) "more${b}-"
done
STATS=$("$RAGDB" stats --db "$DB" --json)
CH=$(printf '%s' "$STATS" | python3 -c 'import json,sys; print(json.load(sys.stdin)["chunks"])')
DIM=$(printf '%s' "$STATS" | python3 -c 'import json,sys; print(json.load(sys.stdin)["dim"])')

cat >"$WORK/serve.json" <<JSON
{"server": {"rate_limit": 0, "max_connections": 4096, "threads": $THREADS}}
JSON
"$RAGDB" serve --db "$DB" --listen 127.0.0.1:0 --config "$WORK/serve.json" >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER_PID=$!
URL=""
for _ in $(seq 1 100); do
	URL=$(sed -n 's|^ragdb serve: \(http://127\.0\.0\.1:[0-9]*\)/.*|\1|p' "$WORK/serve.out")
	[ -n "$URL" ] && break
	sleep 0.1
done
[ -n "$URL" ] || { echo "bench_serve: the server did not start: $(cat "$WORK/serve.err")" >&2; exit 1; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status"; }

# Warm up (page in the vectors), then measure the resident size.
for q in "carrier route" "backup restore incident" "orchid greenhouse"; do
	curl -s --noproxy '*' -o /dev/null -H 'Content-Type: application/json' \
		-d "{\"query\": \"$q\", \"k\": 10}" "$URL/v1/search"
done
RSS_BEFORE=$(rss)

MODE_FIELD=""
[ -n "$MODE" ] && MODE_FIELD=", \"mode\": \"$MODE\""
cat >"$WORK/search.lua" <<LUA
-- A rotating set of queries, k = 10.
local extra = [[$MODE_FIELD]]
local queries = { "carrier route customs", "backup restore after an incident",
  "signing key rotation vault", "webhook retry latency", "freight manifest invoice",
  "failover region replica", "orchid greenhouse keeper", "parking permit library",
  "courier sorting centre scan", "dashboard metric alert notifier", "espresso descaling",
  "lighthouse bicycle storage", "queue partition tracker", "pager incident shard" }
local i = 0
request = function()
  i = i + 1
  local q = queries[(i % #queries) + 1]
  return wrk.format("POST", "/v1/search", { ["Content-Type"] = "application/json" },
                    '{"query": "' .. q .. '", "k": 10' .. extra .. '}')
end
LUA

# The writer: ingest batches from another process for the whole run.
(
	b=0
	while :; do
		"$RAGDB" ingest --db "$DB" --format jsonl -q "$WORK/more$b.jsonl" || exit 1
		b=$((b + 1))
		[ $b -ge 16 ] && exit 0
	done
) >"$WORK/ingest.log" 2>&1 &
INGEST_PID=$!
DOCS_BEFORE=$(printf '%s' "$STATS" | python3 -c 'import json,sys; print(json.load(sys.stdin)["documents"])')

CMD="wrk -t2 -c$CONNS -d${DURATION}s --timeout 30s --latency -s search.lua $URL/v1/search"
wrk -t2 -c"$CONNS" -d"${DURATION}s" --timeout 30s --latency -s "$WORK/search.lua" "$URL/v1/search" \
	>"$WORK/wrk.out" 2>&1
INGEST_RUNNING=no
kill -0 "$INGEST_PID" 2>/dev/null && INGEST_RUNNING=yes
RSS_AFTER=$(rss)
kill "$INGEST_PID" 2>/dev/null || true
wait "$INGEST_PID" 2>/dev/null || true
INGEST_PID=""
DOCS_AFTER=$("$RAGDB" stats --db "$DB" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["documents"])')
kill -TERM "$SERVER_PID"
wait "$SERVER_PID"
SERVER_RC=$?
SERVER_PID=""

cat "$WORK/wrk.out" >&2
python3 - "$WORK/wrk.out" "$CH" "$DIM" "$CONNS" "$DURATION" "$RSS_BEFORE" "$RSS_AFTER" \
	"$((DOCS_AFTER - DOCS_BEFORE))" "$INGEST_RUNNING" "$SERVER_RC" "$CMD" "$MODE" <<'PY'
import re, sys
out = open(sys.argv[1]).read()
chunks, dim, conns, dur, rb, ra, written, still, rc, cmd, mode = sys.argv[2:]
def lat(p):
    m = re.search(r"^\s*%s%%\s+([\d.]+)(us|ms|s)\s*$" % p, out, re.M)
    if not m:
        return float("nan")
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
total = int(re.search(r"(\d+) requests in", out).group(1))
non2xx = int((re.search(r"Non-2xx or 3xx responses: (\d+)", out) or [0, 0])[1])
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
sockerr = sum(int(x) for x in sock.groups()) if sock else 0
print("bench_serve: POST /v1/search (mode %s), %s chunks (dim %s), %s connections, %s s, ingest writing meanwhile"
      % (mode or "default", chunks, dim, conns, dur))
print("  requests     %d (%.1f/s)" % (total, rps))
print("  latency      p50 %.2f ms   p99 %.2f ms" % (lat(50), lat(99)))
print("  errors       %d (non-2xx %d, socket %d)" % (non2xx + sockerr, non2xx, sockerr))
print("  server RSS   before %.1f MB, after %.1f MB" % (int(rb) / 1024, int(ra) / 1024))
print("  ingest       %s documents written during the run%s" % (written, " (still writing at the end)" if still == "yes" else ""))
print("  server exit  %s after SIGTERM" % rc)
print("  command      %s" % cmd)
sys.exit(1 if non2xx + sockerr > 0 or rc != "0" else 0)
PY
