#!/usr/bin/env bash
# tests/e2e/test_badinput.sh — inputs that are wrong or odd: a path that
# does not exist (clear error, nothing stored, existing documents intact), an
# empty file (skipped, "empty"), a binary file (skipped with one message),
# invalid UTF-8 (replaced, a warning naming the file, still searchable), an
# unreadable file and an unwritable knowledge base (as nobody when the test
# runs as root), a large file
# (RAGDB_E2E_BIG_MB, default 200 MB) whose last phrase is found, and init on
# an existing knowledge base.
source "$(dirname "$0")/lib.sh"

DB="$WORK/db"
IN="$WORK/in"
mkdir -p "$IN"
ok ragdb init --db "$DB"
cp "$RAGDB_SRC/docs/sample/faq.md" "$RAGDB_SRC/docs/sample/backups.md" "$IN/"
ok ragdb ingest --db "$DB" "$IN"
BASE_IDS=$(list_ids "$DB")

# A path that does not exist: error naming it; nothing from the other path.
mkdir -p "$WORK/more"
echo "The marmot census counts burrows in the alpine meadow every June." >"$WORK/more/marmots.txt"
expect_rc 1 ragdb ingest --db "$DB" "$WORK/more" "$WORK/does-not-exist"
assert_contains "$ERR" "does-not-exist" "missing path error"
assert_eq "$(list_ids "$DB")" "$BASE_IDS" "ids after a failed ingest"
check_ok "$DB"

# An empty file is skipped with a reason.
: >"$WORK/more/empty.txt"
# A binary file is skipped, with one message naming it.
python3 -c 'import sys, random; r = random.Random(5); sys.stdout.buffer.write(bytes(r.randrange(256) for _ in range(8192)) + b"\0" * 64)' >"$WORK/more/blob.dat"
# Invalid UTF-8 is replaced, with a warning naming the file.
printf 'Caf\xe9 cr\xe8me \xff\xfe: the pelican quarantine protocol starts at dawn.\n' >"$WORK/more/latin1.txt"
ok ragdb ingest --db "$DB" "$WORK/more" --json
SUM=$OUT
printf '%s' "$SUM" | jcheck 'j["added"] == 2 and j["skipped"] == 2 and j["failed"] == 0' "odd files summary"
printf '%s' "$SUM" | jcheck 'any(i["action"] == "skipped" and i["id"] == "empty.txt" and "empty" in (i["reason"] or "") for i in j["items"])' "empty file skipped as empty"
printf '%s' "$SUM" | jcheck 'any(i["action"] == "skipped" and i["id"] == "blob.dat" and i["reason"] for i in j["items"])' "binary file skipped with a reason"
[ "$(printf '%s\n' "$ERR" | grep -c 'blob.dat')" -eq 1 ] || fail "the binary file should be reported exactly once:
$ERR"
assert_contains "$ERR" "skipped $WORK/more/empty.txt" "empty file message"
assert_contains "$ERR" "latin1.txt" "invalid UTF-8 warning"
printf '%s' "$SUM" | jcheck 'j["warnings"] >= 1' "warnings counted"
ok ragdb search --db "$DB" "pelican quarantine protocol dawn" --json
printf '%s' "$OUT" | jcheck 'j["results"][0]["id"] == "latin1.txt" and "pelican" in j["results"][0]["text"]' "invalid UTF-8 document searchable"
ok ragdb show --db "$DB" latin1.txt --json
printf '%s' "$OUT" | jcheck '"\ufffd" in j["text"]' "invalid bytes replaced by U+FFFD"
check_ok "$DB"

# Permission checks need a user that permissions apply to: as root, run
# ragdb as nobody (setpriv) in a directory nobody owns; else as ourselves.
AS=()
PRIV="$WORK"
if [ "$(id -u)" -eq 0 ]; then
	if setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
		AS=(setpriv --reuid=65534 --regid=65534 --clear-groups)
		chmod 755 "$WORK"
		PRIV="$WORK/unpriv"
		mkdir "$PRIV"
		chown 65534:65534 "$PRIV"
	else
		PRIV=""
		note "running as root without setpriv: skipping the permission checks"
	fi
fi
as_user() { "${AS[@]}" "$RAGDB_BIN" "$@"; }
if [ -n "$PRIV" ]; then
	UDB="$PRIV/udb"
	ok as_user init --db "$UDB"
	# An unreadable file: reported by name, the others still stored.
	mkdir -p "$WORK/locked"
	echo "The heron survey is unreadable to everyone." >"$WORK/locked/secret.txt"
	echo "The kingfisher survey is readable." >"$WORK/locked/open.txt"
	chmod 000 "$WORK/locked/secret.txt"
	run as_user ingest --db "$UDB" "$WORK/locked" --json
	[ "$RC" -le 1 ] || fail "unreadable file: unexpected exit $RC: $ERR"
	assert_contains "$ERR" "secret.txt" "unreadable file message"
	printf '%s' "$OUT" | jcheck 'any(i["id"] == "secret.txt" and i["action"] in ("skipped", "failed") and i["reason"] for i in j["items"])' "unreadable file in the summary"
	assert_contains "$(list_ids "$UDB")" "open.txt" "readable file next to an unreadable one"
	assert_not_contains "$(list_ids "$UDB")" "secret.txt" "unreadable file"
	chmod 644 "$WORK/locked/secret.txt"

	# A knowledge base the user may not write: a clear error, no damage.
	chmod -R a-w "$UDB"
	run as_user ingest --db "$UDB" "$WORK/more"
	[ "$RC" -eq 1 ] || fail "ingest into a read-only knowledge base should exit 1, got $RC: $ERR"
	assert_contains "$ERR" "ragdb" "read-only knowledge base message"
	note "read-only knowledge base: $ERR"
	chmod -R u+w "$UDB"
	check_ok "$UDB"
	assert_not_contains "$(list_ids "$UDB")" "marmots.txt" "documents after a refused ingest"
fi

# init on an existing knowledge base.
expect_rc 1 ragdb init --db "$DB"
assert_contains "$ERR" "already exists"
check_ok "$DB"

# A large file, with a unique phrase near its end.
BIG_MB=${RAGDB_E2E_BIG_MB:-200}
BIG="$WORK/big/huge.txt"
mkdir -p "$WORK/big"
python3 - "$BIG" "$BIG_MB" <<'PY'
import sys
path, mb = sys.argv[1], int(sys.argv[2])
lines = [
    "The night shift loads the parcels onto the northbound trailers before midnight.",
    "Every manifest is checked twice against the scanner log at the loading dock.",
    "Drivers report road closures to the dispatcher, who reroutes the later vans.",
    "Cold-chain pallets wait in the chilled bay until the refrigerated truck arrives.",
    "Returned items are weighed, photographed and shelved in the quarantine cage.",
    "The depot manager signs off the daily tally once the last van is back in the yard.",
    "Damaged boxes are re-taped and flagged so the customer is told about the delay.",
]
block = []
for i in range(4000):
    block.append(lines[i % len(lines)] + " Entry %d.\n" % i)
block = "".join(block).encode()
target = mb * 1024 * 1024
with open(path, "wb") as f:
    written = 0
    while written + len(block) < target:
        f.write(block)
        written += len(block)
    f.write(b"\nIn the final appendix, the zeppelin mooring mast at Akureyri is inspected with a brass theodolite.\n")
PY
note "ingesting a $BIG_MB MB file"
BIG_SIZE=$(stat -c %s "$BIG")
ok ragdb ingest --db "$DB" "$WORK/big" --json
printf '%s' "$OUT" | jcheck 'j["added"] == 1 and j["bytes"] == '"$BIG_SIZE" "large file ingest"
ok ragdb search --db "$DB" "zeppelin mooring mast Akureyri brass theodolite" -k 3 --json
printf '%s' "$OUT" | jcheck 'j["results"][0]["id"] == "huge.txt" and "zeppelin" in j["results"][0]["text"]' "phrase at the end of the large file"
check_ok "$DB"
assert_contains "$(list_ids "$DB")" "faq.md" "earlier documents after the large file"

echo "PASS $TEST_NAME"
