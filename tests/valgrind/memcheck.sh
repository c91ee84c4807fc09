#!/usr/bin/env bash
# tests/valgrind/memcheck.sh — the CLI end-to-end tests (tests/e2e/test_*.sh)
# with every ragdb and rag-query process run under valgrind memcheck, against
# a non-sanitized -O1 -g build; reports, per test, memcheck errors and
# definitely lost blocks, and fails if any test has one (or fails itself).
#
#   tests/valgrind/memcheck.sh [--all] [--build DIR] [TEST...]
#
# Default: a representative subset (a few minutes); --all: every CLI test
# (the ones that start a server, a browser or npm are left out: a server
# under valgrind is too slow for their readiness waits). TEST names a test
# (test_basic or tests/e2e/test_basic.sh). The build (default build-mx):
#   cmake -S . -B build-mx -DCMAKE_BUILD_TYPE=RelWithDebInfo \
#         -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" && cmake --build build-mx --target ragdb
#
# How: RAGDB_BIN and RAG_QUERY_BIN point at small wrapper scripts that exec
# valgrind on the real binary (so commands the tests start directly, in the
# background or as another user, are covered too), with
# --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite and
# one log file per process. The map is 1 GiB unless the test sets
# RAGDB_MAP_SIZE (valgrind cannot reserve the default 64 GiB). Suppressions
# (tests/valgrind/ragdb.supp) are for third-party libraries only.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD="$SRC/build-mx"
ALL=0
TESTS=()
while [ $# -gt 0 ]; do
	case "$1" in
	--all) ALL=1; shift ;;
	--build) BUILD=$(cd "$2" && pwd); shift 2 ;;
	-h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "memcheck.sh: unknown option $1" >&2; exit 2 ;;
	*) t=$(basename "$1" .sh); TESTS+=("$t"); shift ;;
	esac
done
command -v valgrind >/dev/null || { echo "memcheck.sh: valgrind is not installed; skipped" >&2; exit 77; }
[ -x "$BUILD/ragdb" ] || { echo "memcheck.sh: no $BUILD/ragdb; build it first (see the top of this script)" >&2; exit 1; }
if grep -q 'fsanitize' "$BUILD/CMakeCache.txt" 2>/dev/null && grep -q 'RAGDB_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt"; then
	echo "memcheck.sh: $BUILD is a sanitizer build; valgrind needs a plain one" >&2
	exit 1
fi

# The default subset: ingest and search, every reader, the remote embedders
# and language models (HTTP, SSE and NDJSON parsing) with their faults.
SUBSET="test_basic test_readers test_search_modes test_providers_embed test_providers_llm"
if [ ${#TESTS[@]} -eq 0 ]; then
	if [ "$ALL" = 1 ]; then
		for f in "$SRC"/tests/e2e/test_*.sh; do
			# Tests that start a server, a browser, npm or wrk: not under valgrind.
			grep -qE 'serve_lib\.sh|serve_start|npm |node |wrk ' "$f" && continue
			# A 200 MB file, a 1 MiB map grown many times: hours under valgrind.
			case "$(basename "$f" .sh)" in test_badinput|test_mapfull) continue ;; esac
			TESTS+=("$(basename "$f" .sh)")
		done
	else
		read -ra TESTS <<<"$(echo $SUBSET)"
	fi
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/memcheck.XXXXXX")
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"
mkdir -p "$T/bin" "$T/logs" "$T/tmp"
chmod 755 "$T/bin"
chmod 1777 "$T/logs"
for b in ragdb rag-query; do
	real="$BUILD/$b"
	[ -e "$real" ] || real="$BUILD/ragdb" # rag-query is a symlink made at build time
	cat >"$T/bin/$b" <<EOF
#!/bin/sh
# memcheck wrapper for $real
export RAGDB_MAP_SIZE="\${RAGDB_MAP_SIZE:-1073741824}"
exec valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \\
	--show-leak-kinds=definite --num-callers=30 --track-origins=no \\
	--suppressions="$SRC/tests/valgrind/ragdb.supp" \\
	--log-file="\${MEMCHECK_LOGDIR:-$T/logs}/vg.%p.log" "$real" "\$@"
EOF
	chmod 755 "$T/bin/$b"
done

printf '%-26s %6s %8s %7s %8s %s\n' test result seconds procs errors "definite leaks (blocks)"
bad=0
total_procs=0
total_err=0
total_leak=0
ran=0
for t in "${TESTS[@]}"; do
	script="$SRC/tests/e2e/$t.sh"
	[ -f "$script" ] || { echo "memcheck.sh: no test $script" >&2; bad=1; continue; }
	logs="$T/logs/$t"
	mkdir -p "$logs"
	chmod 1777 "$logs"
	start=$(date +%s)
	set +e
	MEMCHECK_LOGDIR="$logs" RAGDB_BIN="$T/bin/ragdb" RAG_QUERY_BIN="$T/bin/rag-query" \
		RAGDB_BUILD_DIR="$BUILD" RAGDB_SRC="$SRC" RAGDB_TEST_TMP="$T/tmp" \
		bash "$script" >"$T/$t.out" 2>&1
	rc=$?
	set -e
	secs=$(($(date +%s) - start))
	# Per process: its ERROR SUMMARY count and its definitely lost blocks.
	read -r procs errs leaks < <(python3 - "$logs" <<'PY'
import os, re, sys
procs = errs = leaks = 0
for f in os.listdir(sys.argv[1]):
    text = open(os.path.join(sys.argv[1], f), errors="replace").read()
    procs += 1
    m = re.search(r"ERROR SUMMARY: ([\d,]+) errors", text)
    errs += int(m.group(1).replace(",", "")) if m else 0
    m = re.search(r"definitely lost: [\d,]+ bytes in ([\d,]+) blocks", text)
    leaks += int(m.group(1).replace(",", "")) if m else 0
print(procs, errs, leaks)
PY
)
	# Leak records are counted in ERROR SUMMARY too: report the others as errors.
	nonleak=$(cat "$logs"/vg.*.log 2>/dev/null | grep -c 'are definitely lost in loss record' || true)
	errs=$((errs - nonleak))
	case $rc in 0) res=ok ;; 77) res=skip ;; *) res="FAIL($rc)" ;; esac
	printf '%-26s %6s %8s %7s %8s %s\n' "$t" "$res" "$secs" "$procs" "$errs" "$leaks"
	[ "$rc" = 77 ] || ran=$((ran + 1))
	total_procs=$((total_procs + procs))
	total_err=$((total_err + errs))
	total_leak=$((total_leak + leaks))
	if [ "$errs" -gt 0 ] || [ "$leaks" -gt 0 ]; then
		bad=1
		for f in "$logs"/vg.*.log; do
			grep -q -E 'ERROR SUMMARY: [1-9]' "$f" || continue
			echo "---- $t: $(basename "$f")"
			sed -n '/^==[0-9]*== Command:/p; /^==[0-9]*== [A-Z][a-z].*\(Invalid\|uninitialised\|Conditional\|Syscall\|Mismatched\|definitely lost in\|overlap\|fishy\)/,/^==[0-9]*== $/p' "$f" | head -80
		done
	fi
	if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
		bad=1
		echo "---- $t: the test failed (exit $rc); its output ends with:"
		tail -15 "$T/$t.out"
	fi
done
echo "memcheck: $ran tests run, $total_procs processes under valgrind, $total_err errors, $total_leak definitely lost blocks"
exit $bad
