#!/usr/bin/env bash
# tests/e2e/test_serve_vectors.sh — POST /v1/search with "vector" (the
# query embedding) on a knowledge base of vectors you bring: the hits and
# scores of `ragdb search --vectors` for the same vector, with k and a
# filter; twelve searches at once (the server shares scans between them)
# each get what they got one at a time; the bodies are what Python's
# json.dumps writes (exponents like 1e-05); and the 400s: wrong dimension,
# "query" and "vector" both, an entry that is not a number, an empty or
# non-array vector, a text mode; a text query names the "vector" field;
# /metrics counts the passes and the searches that shared one.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"

python3 - "$WORK" <<'PY'
import json, random, struct, sys
w = sys.argv[1]
random.seed(11)
d = 24
cent = [[random.gauss(0, 1) for _ in range(d)] for _ in range(20)]
rows = [[c + random.gauss(0, 0.4) for c in cent[i % 20]] for i in range(3000)]
with open(f"{w}/base.fbin", "wb") as f:
    f.write(struct.pack("<ii", len(rows), d))
    for r in rows:
        f.write(struct.pack(f"<{d}f", *r))
qs = [[c + random.gauss(0, 0.4) for c in cent[i % 20]] for i in range(12)]
for q in qs:
    q[3] = 1e-05  # json.dumps writes 1e-05: an exponent that starts with a zero
for i, q in enumerate(qs):
    with open(f"{w}/q{i}.fbin", "wb") as f:
        f.write(struct.pack("<ii", 1, d) + struct.pack(f"<{d}f", *q))
    with open(f"{w}/q{i}.json", "w") as f:
        f.write(json.dumps({"vector": q, "k": 7}))
    with open(f"{w}/qf{i}.json", "w") as f:
        f.write(json.dumps({"vector": q, "k": 7, "filter": "id:1*"}))
PY
grep -q 'e-05' "$WORK/q0.json" || fail "the test bodies should hold an exponent like 1e-05"

DB="$WORK/db"
ok ragdb init --db "$DB" --embedder external --dim 24
ok ragdb import-vectors --db "$DB" "$WORK/base.fbin"
serve_start "$DB"

# The CLI's hits for each query vector, then the server's, one at a time.
for i in $(seq 0 11); do
	ok ragdb search --db "$DB" --vectors "$WORK/q$i.fbin" -k 7 --no-text
	printf '%s\n' "$OUT" > "$WORK/cli$i.json"
	ok ragdb search --db "$DB" --vectors "$WORK/q$i.fbin" -k 7 --no-text --filter 'id:1*'
	printf '%s\n' "$OUT" > "$WORK/clif$i.json"
	http POST /v1/search -H 'Content-Type: application/json' --data-binary @"$WORK/q$i.json"
	assert_eq "$STATUS" 200 "POST /v1/search with vector $i: $BODY"
	printf '%s\n' "$BODY" > "$WORK/seq$i.json"
	http POST /v1/search -H 'Content-Type: application/json' --data-binary @"$WORK/qf$i.json"
	assert_eq "$STATUS" 200 "POST /v1/search with vector $i and a filter: $BODY"
	printf '%s\n' "$BODY" > "$WORK/seqf$i.json"
done

# Twelve at once, each with and without the filter.
pids=()
for i in $(seq 0 11); do
	curl -sS --noproxy '*' -o "$WORK/par$i.json" -H 'Content-Type: application/json' \
		--data-binary @"$WORK/q$i.json" "$SERVE_URL/v1/search" & pids+=($!)
	curl -sS --noproxy '*' -o "$WORK/parf$i.json" -H 'Content-Type: application/json' \
		--data-binary @"$WORK/qf$i.json" "$SERVE_URL/v1/search" & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent search failed"; done

python3 - "$WORK" <<'PY' || fail "server and CLI hits differ"
import json, sys
w = sys.argv[1]
def hits(path):
    j = json.load(open(path))
    assert "query" not in j or "query_id" in j, j  # the server echoes no query for a vector
    return [(h["id"], h["score"]) for h in j["results"]]
for i in range(12):
    for cli, seq, par, filtered in (("cli", "seq", "par", False), ("clif", "seqf", "parf", True)):
        c, s, p = hits(f"{w}/{cli}{i}.json"), hits(f"{w}/{seq}{i}.json"), hits(f"{w}/{par}{i}.json")
        assert len(c) == 7, (i, c)
        assert [x[0] for x in s] == [x[0] for x in c], (i, filtered, s, c)
        assert all(abs(a[1] - b[1]) <= 1e-6 for a, b in zip(s, c)), (i, s, c)
        assert p == s, (i, filtered, "concurrent", p, s)
        if filtered:
            assert all(x[0].startswith("1") for x in s), (i, s)
PY

# /metrics counts the scans' passes and the searches that shared one: every
# search above ran in some pass, so passes + shared >= the searches made.
http GET /metrics
assert_eq "$STATUS" 200 "GET /metrics"
passes=$(printf '%s\n' "$BODY" | sed -n 's/^ragdb_search_scan_passes_total \([0-9]*\)$/\1/p')
shared=$(printf '%s\n' "$BODY" | sed -n 's/^ragdb_search_scan_shared_total \([0-9]*\)$/\1/p')
[ -n "$passes" ] && [ -n "$shared" ] || fail "/metrics lacks the scan-sharing counters"
[ $((passes + shared)) -ge 48 ] && [ "$passes" -le 48 ] ||
	fail "scan counters do not add up: $passes passes, $shared shared, 48 searches"

# Bad requests: each a 400 that says what was wrong.
http POST /v1/search -H 'Content-Type: application/json' -d '{"vector": [0.5, 1, 2]}'
assert_eq "$STATUS" 400 "vector of the wrong dimension"
assert_contains "$BODY" "dimension 3"
assert_contains "$BODY" "dimension 24"
http POST /v1/search -H 'Content-Type: application/json' -d '{"vector": [1], "query": "x"}'
assert_eq "$STATUS" 400 "query and vector"
assert_contains "$BODY" "not both"
http POST /v1/search -H 'Content-Type: application/json' -d '{"vector": [1, "2"]}'
assert_eq "$STATUS" 400 "a string in the vector"
assert_contains "$BODY" '\"vector\"[1]'
http POST /v1/search -H 'Content-Type: application/json' -d '{"vector": []}'
assert_eq "$STATUS" 400 "an empty vector"
assert_contains "$BODY" "array of 1 to"
http POST /v1/search -H 'Content-Type: application/json' -d '{"vector": {"a": 1}}'
assert_eq "$STATUS" 400 "a vector that is not an array"
http POST /v1/search -H 'Content-Type: application/json' --data-binary \
	"$(python3 -c 'import json; print(json.dumps({"vector": [0.1] * 24, "mode": "bm25"}))')"
assert_eq "$STATUS" 400 "a vector in bm25 mode"
assert_contains "$BODY" "mode vector"
http POST /v1/search -H 'Content-Type: application/json' -d '{"query": "walrus"}'
assert_contains "$BODY" '\"vector\" in POST /v1/search'

serve_stop
assert_eq "$SERVE_RC" 0 "exit status after SIGTERM"
check_ok "$DB"
