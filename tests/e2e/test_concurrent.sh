#!/usr/bin/env bash
# tests/e2e/test_concurrent.sh — readers during a write: while an ingest of
# ~2,000 files runs in the background, repeated `ragdb search --json` and
# `ragdb stats --json` from other processes all succeed with valid JSON and
# never see a partial document; afterwards check passes and every file is
# stored.
source "$(dirname "$0")/lib.sh"

DB="$WORK/db"
CORPUS="$WORK/corpus"
N_FILES=${RAGDB_E2E_CONCURRENT_FILES:-2000}
gen_files "$CORPUS" "$N_FILES" 11 24
ok ragdb init --db "$DB"
# Something to find from the start.
ok ragdb ingest --db "$DB" "$RAGDB_SRC/docs/sample/faq.md"

"$RAGDB_BIN" ingest --db "$DB" "$CORPUS" --json >"$WORK/ingest.json" 2>"$WORK/ingest.err" &
PID=$!

searches=0
while kill -0 "$PID" 2>/dev/null; do
	run ragdb search --db "$DB" "carrier webhook retry backup restore" -k 5 --json
	[ "$RC" -eq 0 ] || fail "search during ingest failed (exit $RC): $ERR"
	printf '%s' "$OUT" | jcheck 'isinstance(j["results"], list) and len(j["results"]) >= 1 and all(r["text"] and r["id"] for r in j["results"])' "search during ingest"
	run ragdb stats --db "$DB" --json
	[ "$RC" -eq 0 ] || fail "stats during ingest failed (exit $RC): $ERR"
	printf '%s' "$OUT" | jcheck 'j["vectors_live"] == j["chunks"]' "stats during ingest (a snapshot)"
	searches=$((searches + 1))
done
set +e
wait "$PID"
IRC=$?
set -e
[ "$IRC" -eq 0 ] || fail "background ingest failed (exit $IRC): $(cat "$WORK/ingest.err")"
note "$searches searches ran during the ingest"
jcheck 'j["added"] == '"$N_FILES"' and j["failed"] == 0' "background ingest summary" <"$WORK/ingest.json"

check_ok "$DB"
ok ragdb stats --db "$DB" --json
printf '%s' "$OUT" | jcheck 'j["documents"] == '"$((N_FILES + 1))" "documents after the ingest"
ok ragdb show --db "$DB" part012/file01234.txt
assert_contains "$OUT" "doc01234mark" "a document from the middle of the corpus"

echo "PASS $TEST_NAME"
