#!/usr/bin/env bash
# tools/quickstart.sh — from a fresh clone to a cited answer: install what is
# missing, build, create a knowledge base, ingest the bundled sample docs
# (docs/sample/) and answer a sample question.
#   tools/quickstart.sh [--db DIR]      (default: ./.ragdb)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DB="$ROOT/.ragdb"
if [ "${1:-}" = "--db" ] && [ -n "${2:-}" ]; then DB=$2; fi

bash tools/deps.sh
cmake -S "$ROOT" -B "$ROOT/build/release" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRAGDB_TESTS=OFF >/dev/null
cmake --build "$ROOT/build/release" -j"$(nproc 2>/dev/null || echo 2)" --target ragdb
RAGDB="$ROOT/build/release/ragdb"

if [ ! -e "$DB/data.mdb" ]; then
  "$RAGDB" init --db "$DB"
fi
"$RAGDB" ingest --db "$DB" "$ROOT/docs/sample"
echo
echo "\$ ragdb query \"How do I rotate the API signing keys?\""
"$RAGDB" query --db "$DB" "How do I rotate the API signing keys?"
echo
echo "The knowledge base is in $DB. Try:"
echo "  $RAGDB search --db $DB \"restore from backup\""
echo "  $RAGDB query  --db $DB \"who does what during an incident?\""
