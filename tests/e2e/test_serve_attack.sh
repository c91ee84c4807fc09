#!/usr/bin/env bash
# tests/e2e/test_serve_attack.sh — the short CI run of the `ragdb serve` soak
# (tests/soak/serve_soak.sh, which has the details): 15 s of wrk sending valid
# searches, questions, document writes and deletes, OpenAI calls, health and
# metrics, while an attack client sends bad requests (oversized, malformed,
# deeply nested, invalid UTF-8, wrong types, path tricks, wrong keys and
# methods, bad uploads) and holds 100 slow connections. Fails on any 5xx or
# socket error on a valid request, any bad request not answered with its 4xx
# and a JSON error, a sentinel file's content in any response, a file
# created outside the knowledge base, a slow connection not dropped, the
# process's memory not flat (release build), or a server that does not exit
# 0 on SIGTERM (under ASan: LeakSanitizer reports nothing). Skips (77) when
# wrk is not installed and cannot be.
source "$(dirname "$0")/lib.sh"
set +e
bash "$RAGDB_SRC/tests/soak/serve_soak.sh" --duration 15 --slow 100 --ragdb "$RAGDB_BIN" \
	--json "$WORK/soak.json" >"$WORK/soak.out" 2>"$WORK/soak.err"
RC=$?
set -e
cat "$WORK/soak.out" >&2
[ "$RC" = 77 ] && { echo "SKIP $TEST_NAME: $(tail -1 "$WORK/soak.err")" >&2; exit 77; }
[ "$RC" = 0 ] || fail "the soak found violations (exit $RC):
$(grep -v '^serve_soak: \(knowledge\|server pid\|warm-up\|run \|RSS after\)' "$WORK/soak.err" | head -40)"
# The run did what it says: requests served, bad requests sent, slow
# connections held and dropped, no leaks of the sentinel.
jcheck '(j["valid"]["requests"] > 0 and j["valid"]["5xx"] == 0 and j["attack"]["bad_requests"] > 100
        and j["attack"]["sentinel_leaks"] == 0 and j["attack"]["slow_clients"]["connections"] == 100
        and j["violations"] == 0)' "the soak's figures" <"$WORK/soak.json"
