#!/usr/bin/env bash
# tests/e2e/test_incremental.sh — re-ingesting: unchanged files cost no
# embeddings; an edited file is replaced (and only it is embedded); a new
# file is added; --sync removes documents whose files are gone (and they
# leave search); delete by id (unknown ids reported, the rest deleted);
# delete --source for a directory; check passes after each step.
source "$(dirname "$0")/lib.sh"

DB="$WORK/db"
DOCS="$WORK/docs"
cp -r "$RAGDB_SRC/docs/sample" "$DOCS"
N=$(find "$DOCS" -type f | wc -l)

ok ragdb init --db "$DB"
ok ragdb ingest --db "$DB" "$DOCS" --json
printf '%s' "$OUT" | jcheck 'j["added"] == '"$N" "first ingest"
check_ok "$DB"

# Re-ingest: nothing to do.
ok ragdb ingest --db "$DB" "$DOCS" --json
printf '%s' "$OUT" | jcheck 'j["unchanged"] == '"$N"' and j["embeddings"] == 0 and j["added"] == 0 and j["replaced"] == 0 and j["chunks"] == 0' "re-ingest is a no-op"
HASH_BEFORE=$(ragdb list --db "$DB" --json | jget '[d["hash"] for d in j if d["id"] == "faq.md"][0]')

# Edit one file: it alone is replaced and embedded.
cat >>"$DOCS/faq.md" <<'MD'

### Do you support carrier pigeons?

No. Harbor tracks parcels carried by vehicles; the quartermaster of the
pigeon loft in Ghent asked twice, and the answer is still no.
MD
ok ragdb ingest --db "$DB" "$DOCS" --json
SUM=$OUT
printf '%s' "$SUM" | jcheck 'j["replaced"] == 1 and j["unchanged"] == '"$((N - 1))"' and j["added"] == 0' "edit one file"
printf '%s' "$SUM" | jcheck 'any(i["action"] == "replaced" and i["id"] == "faq.md" for i in j["items"])' "edited file listed in items"
FAQ_CHUNKS=$(ragdb list --db "$DB" --json | jget '[d["chunks"] for d in j if d["id"] == "faq.md"][0]')
printf '%s' "$SUM" | jcheck '1 <= j["embeddings"] <= '"$FAQ_CHUNKS" "embeddings only for the edited file's chunks"
HASH_AFTER=$(ragdb list --db "$DB" --json | jget '[d["hash"] for d in j if d["id"] == "faq.md"][0]')
[ "$HASH_BEFORE" != "$HASH_AFTER" ] || fail "the edited document's hash did not change"
assert_eq "$(ragdb search --db "$DB" "quartermaster pigeon loft Ghent" --json | jget 'j["results"][0]["id"]')" "faq.md" "edited text searchable"
check_ok "$DB"

# Add a file.
mkdir -p "$DOCS/team"
cat >"$DOCS/team/holidays.md" <<'MD'
# Holiday calendar

The office is closed on the first Monday of August for the regatta. Team
members in the Lisbon office also take the feast of Saint Anthony off.
MD
cat >"$DOCS/team/desks.txt" <<'TXT'
Hot desks on the fourth floor are booked through the facilities kiosk; the
standing desks near the aquarium are reserved for the design team.
TXT
ok ragdb ingest --db "$DB" "$DOCS" --json
printf '%s' "$OUT" | jcheck 'j["added"] == 2 and j["unchanged"] == '"$N"' and j["replaced"] == 0' "add two files"
assert_eq "$(ragdb search --db "$DB" "regatta Saint Anthony holiday" --json | jget 'j["results"][0]["id"]')" "team/holidays.md" "new file searchable"
check_ok "$DB"

# Delete a file, ingest with --sync: removed, gone from search.
rm "$DOCS/release-notes.txt"
ok ragdb ingest --db "$DB" "$DOCS" --json
printf '%s' "$OUT" | jcheck 'j["removed"] == 0' "without --sync nothing is removed"
ok ragdb ingest --db "$DB" "$DOCS" --sync --json
printf '%s' "$OUT" | jcheck 'j["removed"] == 1 and any(i["action"] == "removed" and i["source"].endswith("/release-notes.txt") for i in j["items"])' "--sync removes the deleted file"
ok ragdb search --db "$DB" "batch tracking endpoint deprecations release notes" -k 20 --json
printf '%s' "$OUT" | jcheck 'all(r["id"] != "release-notes.txt" for r in j["results"])' "removed file gone from search"
expect_rc 1 ragdb show --db "$DB" release-notes.txt
check_ok "$DB"

# Delete by id; an unknown id is reported, the known one still goes.
expect_rc 1 ragdb delete --db "$DB" no-such-id backups.md
assert_contains "$OUT" "deleted backups.md"
assert_contains "$ERR" "no-such-id"
assert_not_contains "$(list_ids "$DB")" "backups.md" "ids after delete"
ok ragdb delete --db "$DB" architecture.md --json
printf '%s' "$OUT" | jcheck 'j["deleted"] == ["architecture.md"] and j["not_found"] == []' "delete --json"
check_ok "$DB"

# delete --source DIR removes everything under it.
ok ragdb delete --db "$DB" --source "$DOCS/team"
assert_contains "$OUT" "deleted 2 documents"
IDS=$(list_ids "$DB")
assert_not_contains "$IDS" "team/" "ids after delete --source"
assert_contains "$IDS" "faq.md" "other documents stay"
check_ok "$DB"

# Re-ingesting brings the deleted (still existing) files back as added.
ok ragdb ingest --db "$DB" "$DOCS" --json
printf '%s' "$OUT" | jcheck 'j["added"] == 4 and j["embeddings"] >= 0' "re-ingest after deletes"
ok ragdb compact --db "$DB"
check_ok "$DB"
ok ragdb stats --db "$DB" --json
printf '%s' "$OUT" | jcheck 'j["vectors_dead"] == 0 and j["documents"] == '"$((N + 1))" "stats after compact"

echo "PASS $TEST_NAME"
