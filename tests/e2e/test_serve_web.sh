#!/usr/bin/env bash
# tests/e2e/test_serve_web.sh — the web page of `ragdb serve` in headless
# Chromium (Debian `chromium`, installed here with apt-get if missing) driven
# by playwright-core from npm (installed under the build tree): type a query
# and see results, a document holding HTML shown as text, ask and see the
# streamed answer and its citations, upload a file and find it, delete it.
# The screenshot is kept in the build tree (test-artifacts/serve-web.png).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"

npm_dir
if [ ! -x /usr/bin/chromium ]; then
	[ "$(id -u)" -eq 0 ] || fail "chromium is missing; install it with: apt-get install chromium"
	note "installing chromium with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	{ apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; } \
		>"$WORK/apt.log" 2>&1 || fail "apt-get install chromium failed: $(tail -20 "$WORK/apt.log")"
fi
npm_need "playwright-core@1"

DB="$WORK/db"
ok ragdb init --db "$DB"
ok ragdb ingest --db "$DB" "$RAGDB_SRC/docs/sample"
mkdir -p "$WORK/evil"
cat >"$WORK/evil/evil.html.txt" <<'DOC'
Zebracorn xss marker: <img src=x onerror="window.__xss=1"><script>window.__xss=2</script>
<b>bold?</b> This document must show as text.
DOC
ok ragdb ingest --db "$DB" "$WORK/evil"
serve_start "$DB"

mkdir -p "$BUILD_DIR/test-artifacts"
SHOT="$BUILD_DIR/test-artifacts/serve-web.png"
rm -f "$SHOT"
set +e
BASE_URL="$SERVE_URL" NPM_DIR="$NPM_DIR" SHOT="$SHOT" \
	node "$RAGDB_SRC/tests/e2e/serve_web.cjs" >"$WORK/node.out" 2>&1
NRC=$?
set -e
[ "$NRC" -eq 0 ] || fail "the browser checks failed:
$(cat "$WORK/node.out")
server log: $(tail -20 "$WORK/serve.err")"
note "$(cat "$WORK/node.out")"
[ -s "$SHOT" ] || fail "no screenshot at $SHOT"
note "screenshot: $SHOT"
serve_stop
assert_eq "$SERVE_RC" 0 "exit status after SIGTERM"
