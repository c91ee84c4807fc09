# tests/e2e/serve_lib.sh — helpers for the `ragdb serve` end-to-end tests
# (sourced after lib.sh): start the real server on 127.0.0.1 with an
# ephemeral port, wait for it, stop it with a signal; the npm directory for
# the JavaScript clients. A server still running when the test exits is
# killed.

SERVE_PID=""
SERVE_URL=""
# The build tree (npm packages and test artifacts live there).
BUILD_DIR=${RAGDB_BUILD_DIR:-$(cd "$(dirname "$RAGDB_BIN")" && pwd)}

serve_cleanup() {
	if [ -n "$SERVE_PID" ] && kill -0 "$SERVE_PID" 2>/dev/null; then
		kill -KILL "$SERVE_PID" 2>/dev/null || true
	fi
	cleanup
}
trap serve_cleanup EXIT

# serve_start DB [ARGS...] — start `ragdb serve` on DB; sets SERVE_PID and
# SERVE_URL (http://127.0.0.1:PORT). Its stdout/stderr go to
# $WORK/serve.out and $WORK/serve.err.
serve_start() {
	local db=$1 i
	shift
	: >"$WORK/serve.out"
	"$RAGDB_BIN" serve --db "$db" --listen 127.0.0.1:0 "$@" >"$WORK/serve.out" 2>"$WORK/serve.err" &
	SERVE_PID=$!
	for i in $(seq 1 200); do
		SERVE_URL=$(sed -n 's|^ragdb serve: \(http://127\.0\.0\.1:[0-9]*\)/.*|\1|p' "$WORK/serve.out")
		[ -n "$SERVE_URL" ] && return 0
		kill -0 "$SERVE_PID" 2>/dev/null || fail "ragdb serve exited at start: $(cat "$WORK/serve.err")"
		sleep 0.1
	done
	fail "ragdb serve did not print its address in 20 s: $(cat "$WORK/serve.err")"
}

# serve_stop [SIGNAL] — send SIGNAL (default TERM) and wait; SERVE_RC is the
# exit status.
serve_stop() {
	kill -"${1:-TERM}" "$SERVE_PID"
	set +e
	wait "$SERVE_PID"
	SERVE_RC=$?
	set -e
	SERVE_PID=""
}

# http METHOD PATH [CURL ARGS...] — a request to the server; sets STATUS and
# BODY. Never fails by itself.
http() {
	local m=$1 p=$2
	shift 2
	set +e
	BODY=$(curl -sS --noproxy '*' -X "$m" -o - -w '\n%{http_code}' "$SERVE_URL$p" "$@" 2>"$WORK/.curl.err")
	set -e
	STATUS=${BODY##*$'\n'}
	BODY=${BODY%$'\n'*}
}

# npm_dir — where the JavaScript clients are installed (under the build
# tree, kept between runs); exits 77 (skip) when npm is not there at all.
npm_dir() {
	command -v node >/dev/null && command -v npm >/dev/null || {
		echo "SKIP $TEST_NAME: node and npm are not installed (apt-get install nodejs npm)" >&2
		exit 77
	}
	# One directory per test: ctest runs the npm tests in parallel, and two
	# npm installs into one directory clobber each other.
	NPM_DIR="$BUILD_DIR/npm-$TEST_NAME"
	mkdir -p "$NPM_DIR"
	[ -f "$NPM_DIR/package.json" ] || echo '{"name":"ragdb-serve-tests","private":true}' >"$NPM_DIR/package.json"
}

# npm_need PKG@RANGE... — install the packages into NPM_DIR unless there.
npm_need() {
	local missing=() spec name
	for spec in "$@"; do
		name=${spec%@*}
		[ -d "$NPM_DIR/node_modules/$name" ] || missing+=("$spec")
	done
	[ "${#missing[@]}" -eq 0 ] && return 0
	note "npm install ${missing[*]} into $NPM_DIR"
	(cd "$NPM_DIR" && npm install --no-audit --no-fund --loglevel=error \
		--cache "$NPM_DIR/.cache" "${missing[@]}") >"$WORK/npm.log" 2>&1 ||
		fail "npm install ${missing[*]} failed: $(tail -20 "$WORK/npm.log")"
}
