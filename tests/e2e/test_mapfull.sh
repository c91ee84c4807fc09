#!/usr/bin/env bash
# tests/e2e/test_mapfull.sh — a knowledge base created with a tiny LMDB map
# (RAGDB_MAP_SIZE=1 MiB): ingesting a few MB either grows the map and
# finishes, or stops with a clear message; either way check passes and the
# documents stored earlier are intact and searchable.
source "$(dirname "$0")/lib.sh"

DB="$WORK/db"
export RAGDB_MAP_SIZE=1048576
ok ragdb init --db "$DB"
ok ragdb ingest --db "$DB" "$RAGDB_SRC/docs/sample/rotating-api-keys.md"
check_ok "$DB"

gen_files "$WORK/corpus" 1500 7
note "corpus: $(du -sh "$WORK/corpus" | cut -f1)"
run ragdb ingest --db "$DB" "$WORK/corpus" --json
case "$RC" in
0)
	printf '%s' "$OUT" | jcheck 'j["added"] == 1500 and j["failed"] == 0' "ingest that grew the map"
	ok ragdb stats --db "$DB" --json
	printf '%s' "$OUT" | jcheck 'j["map_bytes"] > 1048576' "the map grew"
	;;
1)
	note "ingest stopped: $ERR"
	case "$ERR" in
	*map*|*full*|*space*) ;;
	*) fail "a full map should be reported clearly, got: $ERR" ;;
	esac
	;;
*) fail "ingest into a small map exited $RC: $ERR" ;;
esac
check_ok "$DB"
assert_contains "$(list_ids "$DB")" "rotating-api-keys.md" "earlier document"
ok ragdb search --db "$DB" "rotating the API signing keys JWKS kid" -k 1 --json
printf '%s' "$OUT" | jcheck 'j["results"][0]["id"] == "rotating-api-keys.md"' "earlier document searchable"
# The same ingest again finishes or fails the same clean way.
run ragdb ingest --db "$DB" "$WORK/corpus" --json
[ "$RC" -le 1 ] || fail "second ingest exited $RC: $ERR"
check_ok "$DB"

echo "PASS $TEST_NAME"
