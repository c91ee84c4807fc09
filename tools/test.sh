#!/usr/bin/env bash
# tools/test.sh — the test command: install what is missing, build (warnings
# as errors), run every test through ctest, then build again with
# AddressSanitizer + UndefinedBehaviorSanitizer and run every test again.
#   tools/test.sh            both builds
#   tools/test.sh --fast     the plain build only
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
FAST=0
[ "${1:-}" = "--fast" ] && FAST=1

# Beyond what builds ragdb: the tools some tests drive (valgrind memcheck,
# wrk for the server soak); each test also skips with a message without it.
bash tools/deps.sh valgrind wrk
JOBS=$(nproc 2>/dev/null || echo 2)

run_suite() { # build-dir, extra cmake args...
  local dir=$1; shift
  cmake -S "$ROOT" -B "$dir" -DRAGDB_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j"$JOBS"
  (cd "$dir" && ctest --output-on-failure -j"$JOBS" --timeout 1200)
}

echo "== build and test (release) =="
run_suite "$ROOT/build/release"
if [ "$FAST" = 0 ]; then
  echo "== build and test (ASan + UBSan) =="
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite "$ROOT/build/asan" -DRAGDB_SANITIZE=ON -DRAGDB_BENCHMARKS=OFF
fi
echo "== all tests passed =="
