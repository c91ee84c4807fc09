#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS [TARGET...] — fuzz each target (default: all
# fuzz_*.c) with libFuzzer for SECONDS, built with clang-14
# -fsanitize=fuzzer,address,undefined in build-fuzz/ (or $RAGDB_FUZZ_BUILD).
# Installs clang-14 and libclang-rt-14-dev if missing (tools/deps.sh).
# Each target starts from its committed seeds (corpus/<name>/) plus what
# earlier runs found (kept in the build directory); a crash, leak or
# timeout is copied into corpus/<name>/ as crash-<hash> and makes the run
# fail, so it becomes a regression input that the normal test run replays.
# Prints the executions per target.
set -euo pipefail
SECONDS_EACH=${1:?usage: tests/fuzz/run.sh SECONDS [TARGET...]}
shift
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
BUILD=${RAGDB_FUZZ_BUILD:-$SRC/build-fuzz}

"$SRC/tools/deps.sh" clang-14 libclang-rt-14-dev

if [ "$#" -gt 0 ]; then
	targets=("$@")
else
	targets=()
	for f in "$HERE"/fuzz_*.c; do t=$(basename "$f" .c); targets+=("${t#fuzz_}"); done
fi

if [ ! -f "$BUILD/CMakeCache.txt" ]; then
	cmake -S "$SRC" -B "$BUILD" -DCMAKE_C_COMPILER=clang-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DRAGDB_LIBFUZZER=ON -DRAGDB_BENCHMARKS=OFF \
		-DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
		-DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
fi
names=()
for t in "${targets[@]}"; do names+=("fuzz_$t"); done
cmake --build "$BUILD" -j"$(nproc)" --target "${names[@]}" >/dev/null

status=0
printf '%-15s %12s %8s %s\n' target executions seconds result
for t in "${targets[@]}"; do
	work="$BUILD/fuzz-corpus/$t"
	art="$BUILD/fuzz-artifacts/$t/"
	mkdir -p "$work" "$art"
	dict=()
	[ -f "$HERE/$t.dict" ] && dict=(-dict="$HERE/$t.dict")
	log="$BUILD/fuzz-$t.log"
	set +e
	ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	"$BUILD/tests/fuzz/fuzz_$t" -max_total_time="$SECONDS_EACH" -timeout=20 -rss_limit_mb=3072 \
		-max_len=65536 -print_final_stats=1 -artifact_prefix="$art" "${dict[@]}" \
		"$work" "$HERE/corpus/$t" >"$log" 2>&1
	rc=$?
	set -e
	execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
	result=ok
	for a in "$art"*; do
		[ -f "$a" ] || continue
		h=$(sha1sum "$a" | cut -c1-12)
		cp "$a" "$HERE/corpus/$t/crash-$h"
		rm -f "$a"
		result="FOUND $(basename "$a") -> corpus/$t/crash-$h (see $log)"
		status=1
	done
	[ "$rc" -ne 0 ] && [ "$result" = ok ] && { result="exit $rc (see $log)"; status=1; }
	printf '%-15s %12s %8s %s\n' "$t" "${execs:-?}" "$SECONDS_EACH" "$result"
done
exit $status
