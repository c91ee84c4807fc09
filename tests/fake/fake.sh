# tests/fake/fake.sh — start and drive tests/fake/fake_provider.py from an
# end-to-end script (sourced after tests/e2e/lib.sh).
#
#   fake_start [ARGS...]   start a server on 127.0.0.1 (ephemeral port) -> FAKE_URL
#   fake_ctl JSON          POST /_control (faults, sticky, mix, stall_ms, delay_ms, dim, answer, key, reset)
#   fake_stats EXPR        evaluate EXPR over GET /_stats (as jget)
#   fake_total             requests the providers' paths received so far
# The server is stopped when the script exits.

FAKE_PID=""
fake_start() {
	local pf="$WORK/.fake_port.$RANDOM"
	python3 "$RAGDB_SRC/tests/fake/fake_provider.py" --port-file "$pf" "$@" &
	FAKE_PID=$!
	for _ in $(seq 1 100); do
		[ -s "$pf" ] && break
		sleep 0.05
	done
	[ -s "$pf" ] || fail "the fake provider server did not start"
	FAKE_PORT=$(cat "$pf")
	FAKE_URL="http://127.0.0.1:$FAKE_PORT"
	trap 'fake_stop; cleanup' EXIT
}
fake_stop() {
	if [ -n "$FAKE_PID" ]; then
		kill "$FAKE_PID" 2>/dev/null || true
		wait "$FAKE_PID" 2>/dev/null || true
		FAKE_PID=""
	fi
}
fake_ctl() {
	python3 - "$FAKE_URL/_control" "$1" <<'PY' >/dev/null
import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(),
                       headers={"Content-Type": "application/json"}), timeout=10).read()
PY
}
fake_stats() {
	python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' "$FAKE_URL/_stats" | jget "$1"
}
fake_total() { fake_stats 'j["total"]'; }
# fake_no_violations — every request so far matched the specs.
fake_no_violations() {
	local v
	v=$(fake_stats 'j["violations"]')
	[ "$v" = "[]" ] || fail "requests that violate the provider specs: $v"
}
