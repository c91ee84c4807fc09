#!/usr/bin/env bash
# tests/e2e/test_cli.sh — the command line itself: every command's --help,
# usage errors (exit 2 with a hint), the "no knowledge base" hint, where the
# database directory comes from (--db before/after the command, $RAGDB_DB),
# init on an existing knowledge base, --version and `ragdb help`.
source "$(dirname "$0")/lib.sh"

COMMANDS="init ingest search query list show delete stats check compact help"

# No arguments: usage on stderr, exit 2.
expect_rc 2 ragdb
assert_contains "$ERR" "usage: ragdb" "ragdb with no arguments"

# --version and top-level --help.
ok ragdb --version
assert_contains "$OUT" "ragdb 0." "--version"
ok ragdb --help
for c in $COMMANDS; do assert_contains "$OUT" "  $c " "ragdb --help"; done

# Every command's --help and -h: exit 0, usage on stdout.
for c in $COMMANDS; do
	ok ragdb "$c" --help
	assert_contains "$OUT" "usage: ragdb $c" "ragdb $c --help"
	ok ragdb "$c" -h
	assert_contains "$OUT" "usage: ragdb $c" "ragdb $c -h"
	ok ragdb help "$c"
	assert_contains "$OUT" "usage: ragdb $c" "ragdb help $c"
done
ok "$RAG_QUERY_BIN" --help
assert_contains "$OUT" "usage: ragdb query" "rag-query --help"
expect_rc 2 ragdb help frobnicate
assert_contains "$ERR" "unknown command" "ragdb help frobnicate"

# Unknown command and unknown options: exit 2 and a pointer to --help.
expect_rc 2 ragdb frobnicate
assert_contains "$ERR" "unknown command 'frobnicate'"
assert_contains "$ERR" "ragdb --help"
expect_rc 2 ragdb --frobnicate list
assert_contains "$ERR" "unknown option"
for c in init ingest search query list show delete stats check compact; do
	expect_rc 2 ragdb "$c" --no-such-option x
	assert_contains "$ERR" "unknown option '--no-such-option'" "ragdb $c --no-such-option"
	assert_contains "$ERR" "see ragdb $c --help" "ragdb $c --no-such-option"
done
expect_rc 2 ragdb search -Z q
assert_contains "$ERR" "unknown option -Z"

# Missing and malformed arguments.
expect_rc 2 ragdb search "some query" -k
assert_contains "$ERR" "needs an argument"
assert_contains "$ERR" "see ragdb search --help"
expect_rc 2 ragdb search -k many "some query"
assert_contains "$ERR" "-k expects a whole number"
expect_rc 2 ragdb search -k 0 "some query"
expect_rc 2 ragdb ingest --format rtf somewhere
assert_contains "$ERR" "--format expects"
expect_rc 2 ragdb ingest
assert_contains "$ERR" "PATH"
expect_rc 2 ragdb search
expect_rc 2 ragdb query
expect_rc 2 ragdb show
expect_rc 2 ragdb delete
expect_rc 2 ragdb search one two
assert_contains "$ERR" "in quotes"
expect_rc 2 ragdb --db
assert_contains "$ERR" "--db"

# No knowledge base: every command but init says so and how to make one.
NODB="$WORK/nodb"
for c in "ingest $WORK" "search q" "query q" list "show x" "delete x" stats check compact; do
	# shellcheck disable=SC2086
	expect_rc 1 ragdb --db "$NODB" $c
	assert_contains "$ERR" "ragdb: no knowledge base in $NODB" "ragdb $c without a database"
	assert_contains "$ERR" "create one with: ragdb init --db $NODB" "ragdb $c without a database"
done
[ ! -e "$NODB" ] || fail "a read command created $NODB"

# The default is ./.ragdb, then $RAGDB_DB; --db wins, before or after the command.
mkdir "$WORK/cwd"
(cd "$WORK/cwd" && expect_rc 1 ragdb stats && assert_contains "$ERR" "no knowledge base in ./.ragdb")
(cd "$WORK/cwd" && ok ragdb init) || exit 1
[ -d "$WORK/cwd/.ragdb" ] || fail "ragdb init without --db did not create ./.ragdb"
(cd "$WORK/cwd" && ok ragdb stats --json && printf '%s' "$OUT" | jcheck 'j["documents"] == 0') || exit 1

DB="$WORK/db"
ok ragdb init --db "$DB"
assert_contains "$OUT" "created knowledge base in $DB"
ok ragdb --db "$DB" stats
ok ragdb stats --db "$DB"
ok ragdb --db="$DB" stats
ok env RAGDB_DB="$DB" "$RAGDB_BIN" stats --json
printf '%s' "$OUT" | jcheck 'j["db"] == "'"$DB"'"' "stats with RAGDB_DB"
# --db overrides $RAGDB_DB.
expect_rc 1 env RAGDB_DB="$DB" "$RAGDB_BIN" stats --db "$NODB"
assert_contains "$ERR" "no knowledge base in $NODB"

# init on an existing knowledge base refuses and says why; nothing changes.
expect_rc 1 ragdb init --db "$DB"
assert_contains "$ERR" "already exists"
ok ragdb init --db "$WORK/db128" --dim 128 --chunk-tokens 200 --overlap 0 --json
printf '%s' "$OUT" | jcheck 'j["dim"] == 128 and j["chunk_tokens"] == 200' "init --json"
expect_rc 2 ragdb init --db "$WORK/dbx" --dim 0
expect_rc 1 ragdb init --db "$WORK/dbx" --embedder no-such-embedder

# Options may follow positional arguments (getopt permutes).
ok ragdb search "anything" -k 3 --db "$DB" --json
printf '%s' "$OUT" | jcheck 'j["results"] == []' "search on an empty knowledge base"
ok ragdb list --db "$DB"
assert_contains "$OUT" "no documents"
check_ok "$DB"

# Another embedder than the knowledge base's is refused, naming both.
expect_rc 1 ragdb search --db "$DB" "anything" --embedder openai:text-embedding-3-small
assert_contains "$ERR" "openai:text-embedding-3-small" "the embedder asked for"
assert_contains "$ERR" "local:hash-v1" "the knowledge base's embedder"
expect_rc 1 ragdb ingest --db "$DB" "$RAGDB_SRC/docs/sample" --embedder ollama
ok ragdb list --db "$DB"
assert_contains "$OUT" "no documents" "nothing ingested by the refused command"
ok ragdb search --db "$DB" "anything" --embedder local

echo "PASS $TEST_NAME"
