#!/usr/bin/env bash
# tests/e2e/test_diskfull.sh — the disk fills during an ingest: the ingest
# stops with a message that says so, exit 1; what was stored before stays
# intact, checked and searchable; after space is freed the same ingest
# finishes. Needs a small tmpfs, so it runs only as root where mount works;
# otherwise it is skipped (exit 77) with a message.
source "$(dirname "$0")/lib.sh"

MNT="$WORK/small"
mkdir -p "$MNT"
if [ "$(id -u)" -ne 0 ] || ! mount -t tmpfs -o size=3m tmpfs "$MNT" 2>/dev/null; then
	echo "SKIP $TEST_NAME: needs root and permission to mount a tmpfs" >&2
	exit 77
fi
trap 'umount "$MNT" 2>/dev/null || true; cleanup' EXIT

DB="$MNT/db"
ok ragdb init --db "$DB"
ok ragdb ingest --db "$DB" "$RAGDB_SRC/docs/sample"
check_ok "$DB"
before=$(list_ids "$DB")

gen_files "$WORK/corpus" 1500 7
run ragdb ingest --db "$DB" "$WORK/corpus" --json
[ "$RC" -eq 1 ] || fail "ingest onto a full disk should exit 1, got $RC"
assert_contains "$ERR" "No space left on device" "disk-full message"
assert_contains "$ERR" "free disk space" "what to do"
check_ok "$DB"
after=$(list_ids "$DB")
for id in $before; do
	assert_contains "$after" "$id" "document stored before the disk filled"
done
ok ragdb search --db "$DB" "rotating the API signing keys" -k 1 --json
printf '%s' "$OUT" | jcheck 'j["results"][0]["id"] == "rotating-api-keys.md"' "earlier document searchable"

# More room: the same ingest now finishes, and nothing is lost or doubled.
mount -o remount,size=256m "$MNT"
ok ragdb ingest --db "$DB" "$WORK/corpus" --json
printf '%s' "$OUT" | jcheck 'j["failed"] == 0' "ingest after freeing space"
check_ok "$DB"
n=$(list_ids "$DB" | wc -l)
[ "$n" -eq $((1500 + $(echo "$before" | wc -l))) ] || fail "expected $((1500 + $(echo "$before" | wc -l))) documents, found $n"

echo "PASS $TEST_NAME"
