#!/usr/bin/env bash
# tests/soak/serve_soak.sh — `ragdb serve` under load and attack, for a
# bounded time: wrk sends a mix of valid requests (tests/soak/mix.lua) while
# tests/soak/attack.py sends bad ones (each must get its own 4xx with a JSON
# error body), holds slow connections (which the server must drop by its
# timeouts while a probe search keeps being answered) and tries to reach a
# sentinel file outside the knowledge base through every id and path trick.
# The server's RSS is sampled after a warm-up, during and after the run.
#
#   tests/soak/serve_soak.sh [--duration SECONDS] [--ragdb PATH] [--keep]
#                            [--connections N] [--slow N] [--json FILE]
#
# Default 60 s. Exit 0 when every check held: zero 5xx, 4xx and socket
# errors from wrk, every bad request answered as expected, no sentinel in any
# response or log, no file created outside the knowledge base, the slow
# connections dropped, the server's own memory (RssAnon) after the run within
# max(+25%, +8 MB) of the warm-up figure and VmRSS within that plus the data
# file's growth (not checked under ASan, whose quarantine holds freed
# memory), and the server exits 0 on SIGTERM (under ASan: no leak reported).
# Exit 1 on a violation (the work directory is kept), 2 on a usage error,
# 77 when wrk is missing and cannot be installed. docs/reliability.md has the
# last figures.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
DURATION=60
RAGDB=${RAGDB_BIN:-$SRC/build/ragdb}
KEEP=0
CONNS=8
SLOW=200
JSON_OUT=""
while [ $# -gt 0 ]; do
	case $1 in
	--duration) DURATION=$2; shift 2 ;;
	--ragdb) RAGDB=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	--connections) CONNS=$2; shift 2 ;;
	--slow) SLOW=$2; shift 2 ;;
	--json) JSON_OUT=$2; shift 2 ;;
	-h|--help) sed -n '2,22p' "$0"; exit 0 ;;
	*) echo "serve_soak: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
RAGDB=$(cd "$(dirname "$RAGDB")" && pwd)/$(basename "$RAGDB")
[ -x "$RAGDB" ] || { echo "serve_soak: $RAGDB is not an executable (--ragdb PATH)" >&2; exit 2; }
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
if ! command -v wrk >/dev/null; then
	echo "serve_soak: installing wrk" >&2
	if [ "$(id -u)" = 0 ]; then
		apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq wrk >/dev/null 2>&1; } || true
	fi
	command -v wrk >/dev/null || { echo "serve_soak: wrk is not installed (apt-get install wrk)" >&2; exit 77; }
fi
ASAN=0
grep -q __asan_init "$RAGDB" 2>/dev/null && ASAN=1

WORK=$(mktemp -d "${RAGDB_TEST_TMP:-${TMPDIR:-/tmp}}/serve_soak.XXXXXX")
SERVE_PID=""
cleanup() {
	[ -n "$SERVE_PID" ] && kill -KILL "$SERVE_PID" 2>/dev/null || true
	[ -n "${WRK_PID:-}" ] && kill "$WRK_PID" 2>/dev/null || true
	[ -n "${ATTACK_PID:-}" ] && kill "$ATTACK_PID" 2>/dev/null || true
	if [ "$KEEP" = 1 ]; then echo "serve_soak: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
VIOLATIONS=()
violation() { VIOLATIONS+=("$*"); echo "serve_soak: VIOLATION: $*" >&2; }
note() { echo "serve_soak: $*" >&2; }

# --- the knowledge base: docs/sample and ~300 generated documents
KB="$WORK/kb"
LOGS="$WORK/logs"
OUTSIDE="$WORK/outside"
CWD="$WORK/cwd/a/b"        # the server's working directory: "../../x" from here is $WORK/cwd/x
mkdir -p "$LOGS" "$OUTSIDE" "$CWD" "$WORK/src"
MARKER="SOAK-SENTINEL-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
printf 'This file is outside the knowledge base. %s\n' "$MARKER" >"$OUTSIDE/outside.txt"
UPLOAD_ABS="$OUTSIDE/created-by-upload-$$.txt"
"$PY" - "$WORK/src/gen.jsonl" <<'EOF'
import json, random, sys
rnd = random.Random(7)
topics = {
    "backups": "backup restore snapshot replica retention offsite verify drill",
    "keys": "signing keys rotate secret vault expiry certificate token",
    "incidents": "incident severity pager on-call escalation postmortem timeline",
    "garden": "garden irrigation tomatoes compost pruning seedlings mulch",
    "coffee": "espresso grinder descaling milk crema beans roast",
    "sea": "lighthouse keeper lamp fog horn harbour tide storm",
    "money": "budget quarterly forecast invoice ledger audit expense",
}
filler = ("the a of to and in is that for on with as by this be are from or at it an which "
          "team week plan check note system process report").split()
teams = ["ops", "sales", "eng", "support"]
with open(sys.argv[1], "w") as f:
    for i in range(1, 301):
        t = rnd.choice(sorted(topics))
        words = topics[t].split()
        paras = []
        for _ in range(rnd.randint(2, 8)):
            s = " ".join(rnd.choice(words if rnd.random() < 0.35 else filler) for _ in range(rnd.randint(30, 90)))
            paras.append(s.capitalize() + ".")
        f.write(json.dumps({"id": "gen-%04d" % i, "title": "%s note %d" % (t, i),
                            "text": "\n\n".join(paras), "team": rnd.choice(teams),
                            "year": rnd.randint(2015, 2026)}) + "\n")
EOF
"$RAGDB" init --db "$KB" >/dev/null
"$RAGDB" ingest --db "$KB" --quiet "$SRC/docs/sample" >/dev/null
"$RAGDB" ingest --db "$KB" --quiet "$WORK/src/gen.jsonl" >/dev/null
NDOCS=$("$RAGDB" stats --db "$KB" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["documents"])')
note "knowledge base: $NDOCS documents"

# --- the server: read-write and read-only keys, no rate limit (wrk is one
# client), short timeouts so slow clients are dropped within the run
RW_KEY="soak-rw-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
RO_KEY="soak-ro-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
MAX_BODY=1048576
TIMEOUT=4
cat >"$WORK/serve.json" <<JSON
{"server": {"api_keys": ["$RW_KEY", "ro:$RO_KEY"], "rate_limit": 0, "request_timeout": $TIMEOUT,
            "max_body_bytes": $MAX_BODY, "max_streams": 64, "max_connections": 1024, "threads": 2}}
JSON
find "$WORK" -path "$KB" -prune -o -path "$LOGS" -prune -o -print | sort >"$LOGS/files.before"
: >"$LOGS/serve.out"
# --access-log: a line per request in serve.err, to find the request
# behind an unexpected status.
(cd "$CWD" && exec "$RAGDB" serve --db "$KB" --config "$WORK/serve.json" --listen 127.0.0.1:0 --access-log \
	>"$LOGS/serve.out" 2>"$LOGS/serve.err") &
SERVE_PID=$!
URL=""
for _ in $(seq 1 300); do
	URL=$(sed -n 's|^ragdb serve: \(http://127\.0\.0\.1:[0-9]*\)/.*|\1|p' "$LOGS/serve.out")
	[ -n "$URL" ] && break
	kill -0 "$SERVE_PID" 2>/dev/null || { cat "$LOGS/serve.err" >&2; echo "serve_soak: the server exited at start" >&2; exit 1; }
	sleep 0.1
done
[ -n "$URL" ] || { echo "serve_soak: the server did not start" >&2; exit 1; }
PORT=${URL##*:}
note "server pid $SERVE_PID at $URL (ASan: $ASAN)"

rss() { awk '/^VmRSS/ {print $2}' "/proc/$SERVE_PID/status"; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$SERVE_PID/status"; }
anon() { awk '/^RssAnon/ {print $2}' "/proc/$SERVE_PID/status"; }
export SOAK_RO_KEY=$RO_KEY SOAK_RW_KEY=$RW_KEY

run_wrk() { # seconds, output file
	wrk -t 2 -c "$CONNS" -d "${1}s" --timeout 10s -s "$HERE/mix.lua" "$URL" >"$2" 2>&1
}
run_attack() { # seconds, summary file, extra args...
	local s=$1 out=$2
	shift 2
	"$PY" "$HERE/attack.py" --port "$PORT" --rw-key "$RW_KEY" --ro-key "$RO_KEY" --max-body "$MAX_BODY" \
		--timeout "$TIMEOUT" --kb "$KB" --sentinel-file "$OUTSIDE/outside.txt" --marker "$MARKER" \
		--upload-abs "$UPLOAD_ABS" --duration "$s" --summary "$out" "$@"
}

# --- warm-up: the same traffic for a while, so the map pages, caches and
# allocator arenas the run needs are in place before the "before" figure
WARM=$(( DURATION / 6 ))
[ "$WARM" -lt 4 ] && WARM=4
[ "$WARM" -gt 15 ] && WARM=15
note "warm-up ${WARM}s"
run_wrk "$WARM" "$LOGS/wrk.warm" &
WRK_PID=$!
run_attack "$WARM" "$LOGS/attack.warm.json" --slow "$SLOW" 2>"$LOGS/attack.warm.err" || true
wait "$WRK_PID" || true
WRK_PID=""
sleep 1
RSS_BEFORE=$(rss)
HWM_BEFORE=$(hwm)
ANON_BEFORE=$(anon)
MDB_BEFORE=$(stat -c %s "$KB/data.mdb")
note "RSS after warm-up: $((RSS_BEFORE / 1024)) MB (peak $((HWM_BEFORE / 1024)) MB)"

# --- the run
note "run ${DURATION}s: wrk -c $CONNS, attack client with $SLOW slow connections"
run_wrk "$DURATION" "$LOGS/wrk.run" &
WRK_PID=$!
set +e
run_attack "$DURATION" "$LOGS/attack.json" --slow "$SLOW" 2>"$LOGS/attack.err" &
ATTACK_PID=$!
set -e
RSS_MAX=$RSS_BEFORE
T_RUN=$(date +%s)
while kill -0 "$WRK_PID" 2>/dev/null || kill -0 "$ATTACK_PID" 2>/dev/null; do
	kill -0 "$SERVE_PID" 2>/dev/null || break
	r=$(rss)
	[ "$r" -gt "$RSS_MAX" ] && RSS_MAX=$r
	echo "$(( $(date +%s) - T_RUN )) $r $(anon) $(stat -c %s "$KB/data.mdb" 2>/dev/null || echo 0)" >>"$LOGS/rss.tsv"
	sleep 1
done
set +e
wait "$WRK_PID"; WRK_RC=$?
wait "$ATTACK_PID"; ATTACK_RC=$?
set -e
WRK_PID=""
ATTACK_PID=""
kill -0 "$SERVE_PID" 2>/dev/null || violation "the server died during the run: $(tail -5 "$LOGS/serve.err")"
sleep 2
RSS_AFTER=$(rss)
HWM_AFTER=$(hwm)
ANON_AFTER=$(anon)
MDB_AFTER=$(stat -c %s "$KB/data.mdb")

# --- checks
MIX=$(sed -n 's/^MIX //p' "$LOGS/wrk.run")
# The requests of the valid mix (ids soak-*, the searches...) answered other
# than 2xx, from the access log: the soak's documents, with their history.
grep -E ' (GET|POST|DELETE) /v1/documents/soak-[0-9]+-[0-9]+ [^2][0-9][0-9] ' "$LOGS/serve.err" >"$LOGS/mix.non2xx" || true
while read -r _ _ _ _ path _; do
	grep -F -- " ${path##*/} " "$LOGS/serve.err" | head -5 >&2 || true
done < <(head -3 "$LOGS/mix.non2xx")
[ "$WRK_RC" = 0 ] && [ -n "$MIX" ] || violation "wrk failed (exit $WRK_RC): $(tail -5 "$LOGS/wrk.run")"
[ -n "$MIX" ] || MIX='{"requests":0,"2xx":0,"4xx":0,"5xx":0,"socket_errors":{}}'
echo "$MIX" >"$LOGS/mix.json"
"$PY" - "$LOGS/mix.json" <<'EOF' || violation "valid requests: $(cat "$LOGS/mix.check")"
import json, sys
m = json.load(open(sys.argv[1]))
bad = []
if m["5xx"]: bad.append("%d answered 5xx" % m["5xx"])
if m["4xx"]: bad.append("%d answered 4xx" % m["4xx"])
se = {k: v for k, v in m["socket_errors"].items() if v}
if se: bad.append("socket errors %s" % se)
if m["requests"] == 0: bad.append("no request served")
open(sys.argv[1].replace("mix.json", "mix.check"), "w").write("; ".join(bad) + " (statuses %s)" % m.get("statuses"))
sys.exit(1 if bad else 0)
EOF
[ "$ATTACK_RC" = 0 ] || violation "bad requests: $(grep -c 'FAIL' "$LOGS/attack.err" || true) failures, e.g.
$(head -15 "$LOGS/attack.err")"
grep -q "$MARKER" "$LOGS/serve.err" "$LOGS/serve.out" && violation "the sentinel is in the server's log"
find "$WORK" -path "$KB" -prune -o -path "$LOGS" -prune -o -print | sort >"$LOGS/files.after"
NEW=$(comm -13 "$LOGS/files.before" "$LOGS/files.after" || true)
[ -z "$NEW" ] || violation "files created outside the knowledge base: $NEW"
# (The check above sees any file under $WORK; uploads named ../../NAME from
# the server's working directory $WORK/cwd/a/b would land in $WORK/cwd.)
for f in "$UPLOAD_ABS"* "$WORK"/cwd/soak-upload-* "$WORK"/soak-upload-* /tmp/soak-upload-*; do
	[ -e "$f" ] && violation "an upload created $f"
done
if [ "$ASAN" = 0 ]; then
	# Flat: the process's own memory (RssAnon: heap, stacks, MHD's
	# connection pools) within +25% or +8 MB of the warm-up figure, whichever
	# is larger; VmRSS may grow by that plus what the knowledge base file
	# grew (its map is file-backed RSS, and deleted documents leave
	# tombstones until `ragdb compact`, so a write mix grows the file).
	ALLOW=$(( ANON_BEFORE / 4 ))
	[ "$ALLOW" -lt 8192 ] && ALLOW=8192
	[ "$ANON_AFTER" -le $(( ANON_BEFORE + ALLOW )) ] ||
		violation "RssAnon grew from $((ANON_BEFORE / 1024)) MB to $((ANON_AFTER / 1024)) MB (limit +$((ALLOW / 1024)) MB)"
	MDB_GROWTH=$(( (MDB_AFTER - MDB_BEFORE) / 1024 ))
	[ "$MDB_GROWTH" -lt 0 ] && MDB_GROWTH=0
	[ "$RSS_AFTER" -le $(( RSS_BEFORE + ALLOW + MDB_GROWTH )) ] ||
		violation "VmRSS grew from $((RSS_BEFORE / 1024)) MB to $((RSS_AFTER / 1024)) MB (limit +$(( (ALLOW + MDB_GROWTH) / 1024 )) MB: +$((ALLOW / 1024)) MB and the data file's growth)"
fi

# --- stop: SIGTERM must end the server with 0 (under ASan: no leak)
kill -TERM "$SERVE_PID"
set +e
wait "$SERVE_PID"
SERVE_RC=$?
set -e
SERVE_PID=""
[ "$SERVE_RC" = 0 ] || violation "the server exited $SERVE_RC on SIGTERM: $(grep -m3 -E 'ERROR|Sanitizer|SUMMARY' "$LOGS/serve.err")"
grep -qE 'LeakSanitizer|AddressSanitizer|runtime error' "$LOGS/serve.err" &&
	violation "sanitizer report: $(grep -m5 -E 'ERROR|SUMMARY|runtime error' "$LOGS/serve.err")"
grep -q "$MARKER" "$LOGS/serve.err" && violation "the sentinel is in the server's log"

# --- summary
echo "== wrk =="
sed '/^MIX /d' "$LOGS/wrk.run"
"$PY" - "$LOGS/mix.json" "$LOGS/attack.json" "$RSS_BEFORE" "$RSS_MAX" "$RSS_AFTER" "$HWM_AFTER" "$ASAN" \
	"$NDOCS" "$DURATION" "${#VIOLATIONS[@]}" "$JSON_OUT" "$ANON_BEFORE" "$ANON_AFTER" "$MDB_BEFORE" "$MDB_AFTER" <<'EOF'
import json, sys
mix = json.load(open(sys.argv[1]))
try:
    att = json.load(open(sys.argv[2]))
except (OSError, ValueError):
    att = {"bad_requests": 0, "by_kind": {}, "statuses": {}, "sentinel_leaks": "?", "slow_clients": None,
           "failures": "?", "responses_scanned": 0}
before, peak, after, hwm = (int(x) for x in sys.argv[3:7])
asan, ndocs, dur, nviol, out = sys.argv[7] == "1", sys.argv[8], sys.argv[9], int(sys.argv[10]), sys.argv[11]
anon_b, anon_a, mdb_b, mdb_a = (int(x) for x in sys.argv[12:16])
print("== ragdb serve soak: %s s, %s documents%s ==" % (dur, ndocs, " (ASan build)" if asan else ""))
print("valid requests (wrk): %d in %.1f s (%.0f/s): 2xx %d, 4xx %d, 5xx %d; socket errors %s; latency p50 %.1f ms, p99 %.1f ms"
      % (mix["requests"], mix.get("seconds", 0), mix["requests"] / max(mix.get("seconds", 1), 1e-9), mix["2xx"],
         mix["4xx"], mix["5xx"], {k: v for k, v in mix["socket_errors"].items() if v} or 0,
         mix.get("latency_ms", {}).get("p50", 0), mix.get("latency_ms", {}).get("p99", 0)))
print("  by status: %s; writes %d" % (json.dumps(mix.get("statuses", {}), sort_keys=True), mix.get("writes", 0)))
print("bad requests: %d sent, %d unexpected answers; by kind: %s" % (att["bad_requests"], att["failures"],
      ", ".join("%s %d" % kv for kv in sorted(att["by_kind"].items()))))
print("  answered: %s" % ", ".join("%s %d" % kv for kv in sorted(att["statuses"].items())))
sc = att.get("slow_clients")
if sc:
    print("slow clients: %d held (%s); all dropped within %.1f s; probe search during the phase: %d probes, median %.1f ms, max %.1f ms"
          % (sc["connections"], ", ".join("%s %d/%d dropped" % (k, v["dropped"], v["opened"]) for k, v in sorted(sc["by_kind"].items())),
             sc["max_lifetime_s"] or 0, sc["probes"], sc["probe_median_ms"] or 0, sc["probe_max_ms"] or 0))
print("sentinel leaks: %s (%d responses scanned)" % (att["sentinel_leaks"], att["responses_scanned"]))
print("RSS: %.1f MB after warm-up, %.1f MB peak during, %.1f MB after (%+.1f%%); VmHWM %.1f MB%s"
      % (before / 1024, peak / 1024, after / 1024, 100.0 * (after - before) / before, hwm / 1024,
         " (not checked under ASan)" if asan else ""))
print("  of which anonymous (heap): %.1f MB -> %.1f MB (%+.1f%%); data.mdb %.1f MB -> %.1f MB"
      % (anon_b / 1024, anon_a / 1024, 100.0 * (anon_a - anon_b) / max(anon_b, 1), mdb_b / 2**20, mdb_a / 2**20))
print("violations: %d" % nviol)
if out:
    json.dump({"duration_s": float(dur), "documents": int(ndocs), "asan": asan, "valid": mix, "attack": att,
               "rss_kb": {"before": before, "peak": peak, "after": after, "hwm": hwm, "anon_before": anon_b,
                          "anon_after": anon_a}, "data_mdb_bytes": {"before": mdb_b, "after": mdb_a}, "violations": nviol},
              open(out, "w"), indent=1)
EOF
if [ "${#VIOLATIONS[@]}" -gt 0 ]; then
	KEEP=1
	exit 1
fi
exit 0
