#!/usr/bin/env bash
# tests/e2e/test_backup.sh — ragdb backup while an ingest writes and searches
# read: the copy passes check and holds a consistent prefix of the ingest;
# ragdb restore: into an empty directory, refused on a non-empty one without
# --force, refused on a directory that is not a knowledge base, refused while
# another process has the target open (target unchanged), refused for a
# damaged backup; with --force the target ends up exactly as the backup.
source "$(dirname "$0")/lib.sh"

state() { # DB — ids, hashes and chunk counts, one per line
	ragdb list --db "$1" --json | jget '"\n".join("%s %s %d" % (d["id"], d["hash"], d["chunks"]) for d in j)'
}

CORPUS="$WORK/corpus"
gen_files "$CORPUS" 1500 31 6
ok ragdb init --db "$WORK/kb"

# Hot backups while a writer and a reader run: each must pass check.
"$RAGDB_BIN" ingest --db "$WORK/kb" "$CORPUS" --quiet >/dev/null 2>"$WORK/ingest.err" &
ING=$!
( while kill -0 "$ING" 2>/dev/null; do "$RAGDB_BIN" search --db "$WORK/kb" "marker token" >/dev/null 2>&1; done ) &
RD=$!
n=0
while kill -0 "$ING" 2>/dev/null && [ $n -lt 5 ]; do
	n=$((n + 1))
	ok ragdb backup --db "$WORK/kb" "$WORK/hot$n"
	assert_contains "$OUT" "backed up"
	check_ok "$WORK/hot$n"
done
wait "$ING" || fail "the ingest failed: $(cat "$WORK/ingest.err")"
wait "$RD" || true
note "$n backups taken during the ingest"

# A backup of the finished knowledge base holds the same documents.
ok ragdb backup --db "$WORK/kb" "$WORK/bk" --json
echo "$OUT" | jcheck 'j["bytes"] > 0' "backup size"
assert_eq "$(state "$WORK/bk")" "$(state "$WORK/kb")" "backup contents"
expect_rc 1 ragdb backup --db "$WORK/kb" "$WORK/bk"
assert_contains "$ERR" "not empty"

# Restore into an absent and into an empty directory.
ok ragdb restore --db "$WORK/r1" "$WORK/bk"
assert_eq "$(state "$WORK/r1")" "$(state "$WORK/kb")" "restored contents"
mkdir "$WORK/r2"
ok ragdb restore --db "$WORK/r2" "$WORK/bk"
check_ok "$WORK/r2"
ls -a "$WORK" | grep -q '\.restore-\|\.backup-' && fail "a temporary copy was left behind"

# Refusals leave the target alone.
ok ragdb init --db "$WORK/small"
echo "a lone document about lighthouses" >"$WORK/lone.txt"
ok ragdb ingest --db "$WORK/small" "$WORK/lone.txt"
SMALL=$(state "$WORK/small")
expect_rc 1 ragdb restore --db "$WORK/small" "$WORK/bk"
assert_contains "$ERR" "--force"
mkdir "$WORK/notkb" && echo x >"$WORK/notkb/file"
expect_rc 1 ragdb restore --db "$WORK/notkb" "$WORK/bk" --force
assert_contains "$ERR" "no knowledge base"
assert_eq "$(cat "$WORK/notkb/file")" "x" "file in a non-knowledge-base target"

# Busy: a process holding the knowledge base open (LMDB's liveness lock on
# lock.mdb, taken here the way LMDB takes it) blocks the swap.
python3 - "$WORK/small/lock.mdb" "$WORK/locked" <<'PY' &
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_SH, 1, 0)
open(sys.argv[2], "w").close()
time.sleep(30)
PY
LK=$!
while [ ! -e "$WORK/locked" ]; do sleep 0.05; done
expect_rc 1 ragdb restore --db "$WORK/small" "$WORK/bk" --force
assert_contains "$ERR" "open in another process"
kill "$LK"; wait "$LK" 2>/dev/null || true
assert_eq "$(state "$WORK/small")" "$SMALL" "target after a refused restore"

# A damaged backup is refused before anything is copied.
cp -r "$WORK/bk" "$WORK/bad"
python3 - "$WORK/bad/data.mdb" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
# Flip bytes in the second half of the file (data pages, not the meta pages).
for off in range(len(b) // 2, len(b) - 64, 4099):
    b[off] ^= 0x5a
open(p, "wb").write(bytes(b))
PY
run ragdb restore --db "$WORK/small" "$WORK/bad" --force
[ "$RC" -ne 0 ] || fail "a damaged backup was restored"
assert_eq "$(state "$WORK/small")" "$SMALL" "target after a damaged backup"

# --force replaces the knowledge base with the backup.
ok ragdb restore --db "$WORK/small" "$WORK/bk" --force
assert_eq "$(state "$WORK/small")" "$(state "$WORK/kb")" "forced restore"
check_ok "$WORK/small"
ok ragdb search --db "$WORK/small" "marker token doc00042mark" --json
echo "$OUT" | jcheck 'len(j["results"]) > 0' "search in the restored knowledge base"
ls -a "$WORK" | grep -q '\.restore-\|\.backup-' && fail "a temporary copy was left behind"
exit 0
