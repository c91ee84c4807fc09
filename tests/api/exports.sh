#!/usr/bin/env bash
# tests/api/exports.sh — every function declared in include/ragdb.h is
# exported by libragdb.so, and nothing else is: programs that embed ragdb
# link against the shared library, and the library is built with hidden
# visibility, so a declaration outside the header's "visibility push" block
# compiles in the CLI (static) but fails to link for users.
# Usage: exports.sh LIBRAGDB_SO RAGDB_H
set -euo pipefail
so=$1 header=$2
# Declarations start at column 0 (comments and struct fields are indented or
# start with /* or *); the name is the last ragdb_ word before "(".
declared=$(grep -E '^[A-Za-z].*\bragdb_[a-z0-9_]+\(' "$header" | grep -v '^typedef' |
  sed -E 's/^.*\b(ragdb_[a-z0-9_]+)\(.*$/\1/' | sort -u)
exported=$(nm -D --defined-only "$so" | awk '$2 == "T" {print $3}' | sort -u)
[ -n "$declared" ] || { echo "FAIL: no declarations found in $header"; exit 1; }
missing=$(comm -23 <(printf '%s\n' "$declared") <(printf '%s\n' "$exported"))
extra=$(comm -13 <(printf '%s\n' "$declared") <(printf '%s\n' "$exported") | grep -v '^_' || true)
rc=0
if [ -n "$missing" ]; then
  echo "FAIL: declared in ragdb.h but not exported by $so:"; printf '  %s\n' $missing; rc=1
fi
if [ -n "$extra" ]; then
  echo "FAIL: exported by $so but not declared in ragdb.h (internal symbols leak):"
  printf '  %s\n' $extra; rc=1
fi
[ $rc = 0 ] && echo "ok: $(printf '%s\n' "$declared" | wc -l) functions declared and exported, nothing else"
exit $rc
