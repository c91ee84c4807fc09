# tests/e2e/lib.sh — helpers shared by the end-to-end scripts (sourced).
#
# Each test_*.sh runs under ctest with RAGDB_BIN (the ragdb binary),
# RAG_QUERY_BIN (its rag-query symlink), RAGDB_SRC (the source root) and
# RAGDB_TEST_TMP (a scratch root). Run one by hand with, e.g.:
#   RAGDB_BIN=build/ragdb RAGDB_SRC=. bash tests/e2e/test_basic.sh
# JSON is inspected with python3's standard library only.

set -euo pipefail

: "${RAGDB_SRC:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${RAGDB_BIN:=$RAGDB_SRC/build/ragdb}"
: "${RAG_QUERY_BIN:=$(dirname "$RAGDB_BIN")/rag-query}"
: "${RAGDB_TEST_TMP:=${TMPDIR:-/tmp}}"
export RAGDB_SRC RAGDB_BIN RAG_QUERY_BIN RAGDB_TEST_TMP
# No colours or terminal tricks in captured output; no inherited database.
export NO_COLOR=1
unset RAGDB_DB RAGDB_MAP_SIZE RAGDB_CACHE_DIR
# The persistent cache (DIR/cache: vectors and answers kept between
# processes) is off, so tests that count provider requests per process see
# every call; tests/e2e/test_caches.sh turns it on and tests it.
export RAGDB_CACHE=off

TEST_NAME=$(basename "$0" .sh)

[ -x "$RAGDB_BIN" ] || { echo "FAIL $TEST_NAME: RAGDB_BIN=$RAGDB_BIN is not an executable" >&2; exit 1; }
command -v python3 >/dev/null || { echo "FAIL $TEST_NAME: python3 is needed" >&2; exit 1; }

mkdir -p "$RAGDB_TEST_TMP"
WORK=$(mktemp -d "$RAGDB_TEST_TMP/$TEST_NAME.XXXXXX")
# Files a test made unreadable must become removable again.
cleanup() { chmod -R u+rwx "$WORK" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# fail MESSAGE — stop the test.
fail() {
	echo "FAIL $TEST_NAME: $*" >&2
	exit 1
}

# note MESSAGE — progress on stderr (shown by ctest --output-on-failure).
note() { echo "-- $TEST_NAME: $*" >&2; }

# ragdb ARGS... — the binary under test. (A function: to signal the process
# itself, start "$RAGDB_BIN" directly.)
ragdb() { "$RAGDB_BIN" "$@"; }

# run CMD... — run CMD with set -e off; sets RC, OUT (stdout), ERR (stderr).
run() {
	local o e
	o=$(mktemp "$WORK/.out.XXXXXX")
	e=$(mktemp "$WORK/.err.XXXXXX")
	set +e
	"$@" >"$o" 2>"$e"
	RC=$?
	set -e
	OUT=$(cat "$o")
	ERR=$(cat "$e")
	rm -f "$o" "$e"
}

# ok CMD... — run CMD, which must exit 0 (stdout in OUT, stderr in ERR).
ok() {
	run "$@"
	[ "$RC" -eq 0 ] || fail "expected exit 0 from: $*; got $RC
stdout: ${OUT:0:2000}
stderr: ${ERR:0:2000}"
}

# expect_rc N CMD... — CMD must exit N.
expect_rc() {
	local want=$1
	shift
	run "$@"
	[ "$RC" -eq "$want" ] || fail "expected exit $want from: $*; got $RC
stdout: ${OUT:0:2000}
stderr: ${ERR:0:2000}"
}

# assert_contains HAYSTACK NEEDLE [WHAT]
assert_contains() {
	case "$1" in
	*"$2"*) ;;
	*) fail "${3:-output} should contain '$2'; it is:
${1:0:3000}" ;;
	esac
}

# assert_matches HAYSTACK REGEX [WHAT] — bash extended regex.
assert_matches() {
	[[ "$1" =~ $2 ]] || fail "${3:-output} should match /$2/; it is:
${1:0:3000}"
}

# assert_not_contains HAYSTACK NEEDLE [WHAT]
assert_not_contains() {
	case "$1" in
	*"$2"*) fail "${3:-output} should not contain '$2'; it is:
${1:0:3000}" ;;
	*) ;;
	esac
}

# assert_eq GOT WANT [WHAT]
assert_eq() {
	[ "$1" = "$2" ] || fail "${3:-value}: expected '$2', got '$1'"
}

# jget EXPR — evaluate a Python expression over the JSON document on stdin,
# bound to `j`; strings print bare, everything else as JSON.
jget() {
	python3 -c '
import json, sys
j = json.load(sys.stdin)
v = eval(sys.argv[1], {"j": j, "len": len, "sorted": sorted, "all": all, "any": any,
                       "isinstance": isinstance, "str": str, "int": int, "float": float,
                       "bool": bool, "list": list, "dict": dict, "set": set})
print(v if isinstance(v, str) else json.dumps(v))
' "$1"
}

# jcheck EXPR [WHAT] — the JSON on stdin must make EXPR true.
jcheck() {
	local doc r
	doc=$(cat)
	r=$(printf '%s' "$doc" | jget "$1") || fail "${2:-JSON} is not valid JSON: ${doc:0:2000}"
	[ "$r" = "true" ] || fail "${2:-JSON} does not satisfy: $1
${doc:0:3000}"
}

# check_ok DB — `ragdb check` must pass.
check_ok() {
	ok ragdb check --db "$1"
	assert_contains "$OUT" "invariants hold" "ragdb check"
}

# list_ids DB — the stored document ids, one per line, sorted.
list_ids() {
	ragdb list --db "$1" --json | jget '"\n".join(sorted(d["id"] for d in j))'
}

# gen_files DIR N [SEED] [PARAS] — N text files of about PARAS (default 4)
# paragraphs each, with varied, searchable content, deterministic for a given
# SEED, in subdirectories of 100. Each file ends with a unique marker
# sentence ("... marker token doc00042mark."), so no two are the same.
gen_files() {
	python3 - "$1" "$2" "${3:-1}" "${4:-4}" <<'PY'
import os, random, sys
root, n, seed, paras_per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rnd = random.Random(seed)
words = ("harbor parcel carrier route customs ledger signing vault webhook retry "
         "backup restore incident pager latency shard replica token rotation depot "
         "freight manifest invoice courier sorting centre scan delivery window "
         "region failover queue partition tracker notifier dashboard metric alert").split()
# A pool of paragraphs, combined per file: fast, and still varied.
pool = []
for p in range(400):
    sent = []
    for s in range(rnd.randint(3, 7)):
        w = [rnd.choice(words) for _ in range(rnd.randint(6, 14))]
        sent.append(" ".join(w).capitalize() + ".")
    pool.append(" ".join(sent))
for i in range(n):
    d = os.path.join(root, "part%03d" % (i // 100))
    if i % 100 == 0:
        os.makedirs(d, exist_ok=True)
    body = rnd.sample(pool, paras_per)
    body.append("Document number %d carries the marker token doc%05dmark." % (i, i))
    with open(os.path.join(d, "file%05d.txt" % i), "w") as f:
        f.write("\n\n".join(body) + "\n")
PY
}
