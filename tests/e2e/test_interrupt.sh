#!/usr/bin/env bash
# tests/e2e/test_interrupt.sh — Ctrl-C during an ingest: exit 130 with the
# "run the same command again" message (or 0 if it had already finished),
# check passes, and re-running ends in the same state (ids and content
# hashes) as an uninterrupted ingest of the same files.
source "$(dirname "$0")/lib.sh"

CORPUS="$WORK/corpus"
N_FILES=${RAGDB_E2E_INTERRUPT_FILES:-3000}
gen_files "$CORPUS" "$N_FILES" 23

state() { # DB — ids and hashes, one per line
	ragdb list --db "$1" --json | jget '"\n".join("%s %s %d" % (d["id"], d["hash"], d["chunks"]) for d in j)'
}

# Reference: an uninterrupted ingest.
ok ragdb init --db "$WORK/ref"
ok ragdb ingest --db "$WORK/ref" "$CORPUS" --quiet
REF=$(state "$WORK/ref")

interrupted=0
for delay in 0.3 0.1 0.6; do
	DB="$WORK/db-$delay"
	ok ragdb init --db "$DB"
	ragdb ingest --db "$DB" "$CORPUS" >"$WORK/out" 2>"$WORK/err" &
	PID=$!
	sleep "$delay"
	kill -INT "$PID" 2>/dev/null || true
	set +e
	wait "$PID"
	IRC=$?
	set -e
	case "$IRC" in
	130)
		interrupted=$((interrupted + 1))
		assert_contains "$(cat "$WORK/err")" "interrupted:" "interrupt message"
		assert_contains "$(cat "$WORK/err")" "run the same command again" "interrupt message"
		;;
	0) note "ingest finished before SIGINT after ${delay}s" ;;
	*) fail "interrupted ingest exited $IRC: $(cat "$WORK/err")" ;;
	esac
	check_ok "$DB"
	# The committed documents are whole: each has chunks, and search works.
	ok ragdb list --db "$DB" --json
	printf '%s' "$OUT" | jcheck 'all(d["chunks"] >= 1 for d in j)' "documents after an interrupt"
	ok ragdb search --db "$DB" "harbor parcel" -k 3 --json
	# Re-running finishes the work: the same state as the reference.
	ok ragdb ingest --db "$DB" "$CORPUS" --quiet
	check_ok "$DB"
	assert_eq "$(state "$DB")" "$REF" "state after interrupt + rerun (delay $delay)"
done
[ "$interrupted" -gt 0 ] || note "no run was interrupted in time (the machine is fast); state equality still checked"

# The interrupted --json summary says so.
DB="$WORK/db-json"
ok ragdb init --db "$DB"
ragdb ingest --db "$DB" "$CORPUS" --json >"$WORK/out" 2>"$WORK/err" &
PID=$!
sleep 0.2
kill -INT "$PID" 2>/dev/null || true
set +e
wait "$PID"
IRC=$?
set -e
if [ "$IRC" -eq 130 ]; then
	jcheck 'j.get("interrupted") is True and "error" in j' "interrupted --json summary" <"$WORK/out"
fi
check_ok "$DB"

echo "PASS $TEST_NAME"
