#!/usr/bin/env bash
# tests/e2e/test_serve_openai.sh — the official `openai` npm package (a
# version for Node 20, installed here under the build tree) calls a running
# `ragdb serve`: /v1/embeddings, /v1/chat/completions plain and streaming,
# /v1/models and errors; serve_openai.mjs checks what it got. Skips (77)
# only when node/npm are not installed.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"

npm_dir
# openai 6.x runs on Node 20 (7.x needs Node 22).
npm_need "openai@6"

DB="$WORK/db"
ok ragdb init --db "$DB"
ok ragdb ingest --db "$DB" "$RAGDB_SRC/docs/sample"
KEY="openai-e2e-key-1234"
RAGDB_API_KEYS="$KEY" serve_start "$DB"

set +e
BASE_URL="$SERVE_URL" API_KEY="$KEY" NPM_DIR="$NPM_DIR" \
	node "$RAGDB_SRC/tests/e2e/serve_openai.mjs" >"$WORK/node.out" 2>&1
NRC=$?
set -e
[ "$NRC" -eq 0 ] || fail "the openai client's checks failed:
$(cat "$WORK/node.out")
server log: $(tail -20 "$WORK/serve.err")"
note "$(cat "$WORK/node.out")"
serve_stop
assert_eq "$SERVE_RC" 0 "exit status after SIGTERM"
