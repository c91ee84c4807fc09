#!/usr/bin/env bash
# tests/e2e/test_interrupt.sh — Ctrl-C during an ingest: exit 130 with the
# "run the same command again" message (or 0 if it had already finished),
# check passes, and re-running ends in the same state (ids and content
# hashes) as an uninterrupted ingest of the same files. Then Ctrl-C during
# a compact in small steps: exit 130 with "run `ragdb compact` again" (or
# 0), check passes, and the next compact leaves no tombstone.
source "$(dirname "$0")/lib.sh"

CORPUS="$WORK/corpus"
N_FILES=${RAGDB_E2E_INTERRUPT_FILES:-4000}
gen_files "$CORPUS" "$N_FILES" 23 24

state() { # DB — ids, hashes and chunk counts, one per line
	ragdb list --db "$1" --json | jget '"\n".join("%s %s %d" % (d["id"], d["hash"], d["chunks"]) for d in j)'
}

# Reference: an uninterrupted ingest.
ok ragdb init --db "$WORK/ref"
ok ragdb ingest --db "$WORK/ref" "$CORPUS" --quiet
REF=$(state "$WORK/ref")
assert_eq "$(printf '%s\n' "$REF" | wc -l)" "$N_FILES" "documents in the reference"

# A background job of a non-interactive shell starts with SIGINT ignored,
# so wait until ragdb has installed its handler (Linux: the SigCgt mask in
# /proc), else the signal would be lost. (Until the exec, the child is a
# copy of bash, which catches SIGINT.)
wait_handler() { # PID
	local comm cgt
	while kill -0 "$1" 2>/dev/null; do
		comm=$(cat "/proc/$1/comm" 2>/dev/null || true)
		cgt=$(awk '/^SigCgt:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0)
		[ "$comm" = ragdb ] && [ $((16#${cgt:-0} & 2)) -ne 0 ] && break
		sleep 0.005
	done
}

# Two rounds: SIGINT once the first commit is visible to readers, and
# SIGINT almost at once (during the walk or the first batch).
interrupted=0
for mode in after-first-commit early; do
	DB="$WORK/db-$mode"
	ok ragdb init --db "$DB"
	"$RAGDB_BIN" ingest --db "$DB" "$CORPUS" --json >"$WORK/out" 2>"$WORK/err" &
	PID=$!
	wait_handler "$PID"
	if [ "$mode" = after-first-commit ]; then
		while kill -0 "$PID" 2>/dev/null; do
			ragdb stats --db "$DB" --json 2>/dev/null | grep -Eq '"documents":[[:space:]]*[1-9]' && break
			sleep 0.01
		done
	fi
	kill -INT "$PID" 2>/dev/null || true
	set +e
	wait "$PID"
	IRC=$?
	set -e
	case "$IRC" in
	130)
		interrupted=$((interrupted + 1))
		assert_contains "$(cat "$WORK/err")" "interrupted:" "interrupt message ($mode)"
		assert_contains "$(cat "$WORK/err")" "run the same command again" "interrupt message ($mode)"
		jcheck 'j.get("interrupted") is True and "error" in j and j["added"] < '"$N_FILES" "interrupted --json summary ($mode)" <"$WORK/out"
		note "$mode: interrupted after $(jget 'j["added"]' <"$WORK/out") documents"
		;;
	0) note "$mode: the ingest finished before SIGINT arrived" ;;
	*) fail "interrupted ingest ($mode) exited $IRC: $(cat "$WORK/err")" ;;
	esac
	check_ok "$DB"
	# What was committed is whole: every document has its chunks.
	ok ragdb list --db "$DB" --json
	printf '%s' "$OUT" | jcheck 'all(d["chunks"] >= 1 for d in j)' "documents after an interrupt ($mode)"
	ok ragdb search --db "$DB" "harbor parcel" -k 3 --json
	# Re-running finishes the work: the same state as the reference.
	ok ragdb ingest --db "$DB" "$CORPUS" --json
	printf '%s' "$OUT" | jcheck 'j["added"] + j["unchanged"] == '"$N_FILES"' and j["replaced"] == 0' "rerun after interrupt ($mode)"
	check_ok "$DB"
	assert_eq "$(state "$DB")" "$REF" "state after interrupt + rerun ($mode)"
done
[ "$interrupted" -gt 0 ] || note "no run was interrupted in time (the machine is fast); state equality still checked"

# Compact in steps of two blocks (RAGDB_TXN_BYTES=1) after deleting the
# first part of the corpus, so that nearly every block moves.
DB="$WORK/db-compact"
cp -r "$WORK/ref" "$DB"
ok ragdb delete --db "$DB" --source "$CORPUS/part001"
AFTER=$(state "$DB")
RAGDB_TXN_BYTES=1 "$RAGDB_BIN" compact --db "$DB" >"$WORK/out" 2>"$WORK/err" &
PID=$!
wait_handler "$PID"
sleep 0.05
kill -INT "$PID" 2>/dev/null || true
set +e
wait "$PID"
IRC=$?
set -e
case "$IRC" in
130)
	assert_contains "$(cat "$WORK/err")" "run \`ragdb compact\` again to finish" "compact interrupt message"
	ok ragdb stats --db "$DB" --json
	note "compact interrupted: $(jget '"%d tombstones left, %d blocks" % (j["vectors_dead"], j["blocks"])' <<<"$OUT")"
	;;
0) note "the compact finished before SIGINT arrived" ;;
*) fail "interrupted compact exited $IRC: $(cat "$WORK/err")" ;;
esac
check_ok "$DB"
assert_eq "$(state "$DB")" "$AFTER" "documents after an interrupted compact"
ok ragdb compact --db "$DB"
ok ragdb stats --db "$DB" --json
printf '%s' "$OUT" | jcheck 'j["vectors_dead"] == 0' "tombstones after the second compact"
BLOCKS=$(jget 'j["blocks"]' <<<"$OUT")
cp -r "$WORK/ref" "$WORK/db-compact-ref"
ok ragdb delete --db "$WORK/db-compact-ref" --source "$CORPUS/part001"
ok ragdb compact --db "$WORK/db-compact-ref"
ok ragdb stats --db "$WORK/db-compact-ref" --json
assert_eq "$BLOCKS" "$(jget 'j["blocks"]' <<<"$OUT")" "blocks after an interrupted compact and a rerun"
check_ok "$DB"

echo "PASS $TEST_NAME"
