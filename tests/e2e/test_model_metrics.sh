#!/usr/bin/env bash
# tests/e2e/test_model_metrics.sh — per-model metrics and the LLM answer
# cache against the fake provider: `ragdb stats --models [--json]` counts
# requests, errors by kind (http_5xx, rate_limited, http_4xx, stream_cut,
# malformed), tokens and the embedder's batches across CLI runs; under
# `ragdb serve` a repeated query is embedded once, a second identical
# question is answered from the cache with no HTTP request (also streamed), /metrics is valid Prometheus text
# with the per-model families, and /ready asks the default language model
# (503 naming it when the key is refused, never showing the key); a model
# balanced over the fake and a dead endpoint (named with a user and the key
# as password) shows per-endpoint lines in /metrics with the right counts
# and neither the key nor the user.
source "$(dirname "$0")/lib.sh"
source "$RAGDB_SRC/tests/e2e/serve_lib.sh"
source "$RAGDB_SRC/tests/fake/fake.sh"

SECRET="sk-test-metrics-SECRET-7"
fake_start --key "$SECRET"
trap 'fake_stop; serve_cleanup' EXIT
export RAGDB_HTTP_RETRIES=0 RAGDB_HTTP_BACKOFF_MS=20
unset RAGDB_CONFIG RAGDB_EMBED_ENDPOINT HF_TOKEN
export OPENAI_BASE_URL="$FAKE_URL/v1" OPENAI_API_KEY="$SECRET"
M=openai:test-chat-1
Q="How do I rotate the signing keys?"

DB="$WORK/db"
mkdir -p "$WORK/docs"
echo "To rotate the signing keys run the rotate command. Old keys stay valid for one day." >"$WORK/docs/keys.md"
ok ragdb init --db "$DB"
ok ragdb ingest --db "$DB" "$WORK/docs"

note "no model called yet"
ok ragdb stats --db "$DB" --models --json
printf '%s' "$OUT" | jcheck 'j["models"] == []' "stats --models before any call"

note "CLI: one answer, then one failure of each kind"
ok ragdb query --db "$DB" "$Q" --model "$M"
for f in 500 429 cut; do
	fake_ctl '{"faults": ["'"$f"'"]}'
	expect_rc 1 ragdb query --db "$DB" "$Q" --model "$M"
done
fake_ctl '{"faults": ["malformed"]}'
expect_rc 1 ragdb query --db "$DB" "$Q" --model "$M" --no-stream
OPENAI_API_KEY=wrong-key expect_rc 1 ragdb query --db "$DB" "$Q" --model "$M"
fake_ctl '{"faults": []}'
ok ragdb stats --db "$DB" --models --json
printf '%s' "$OUT" | jcheck 'len(j["models"]) == 1 and j["models"][0]["model"] == "'"$M"'" and j["models"][0]["kind"] == "llm"' "one model"
printf '%s' "$OUT" | jcheck '(lambda m: m["requests"] == 6 and m["errors"] == 5 and m["errors_by_kind"] == {"timeout": 0, "http_4xx": 1, "http_5xx": 1, "rate_limited": 1, "network": 0, "malformed": 1, "stream_cut": 1, "other": 0})(j["models"][0])' "errors by kind"
printf '%s' "$OUT" | jcheck '(lambda m: m["input_tokens"] == 1000 and m["output_tokens"] == 500 and m["calls"] == 6 and m["latency_mean_ms"] > 0 and m["latency_ms"]["p99"] >= m["latency_ms"]["p50"] > 0 and m["cache_hits"] == 0 and m["cache_misses"] == 6)(j["models"][0])' "tokens, latency, cache lookups"
ok ragdb stats --db "$DB" --models
assert_contains "$OUT" "$M (llm)" "stats --models text"
assert_contains "$OUT" "requests      6, errors 5" "stats --models text counts"
assert_contains "$OUT" "rate_limited 1" "stats --models text error kinds"

note "CLI: a remote embedder's batches"
DBE="$WORK/dbe"
ok ragdb init --db "$DBE" --embedder openai:text-embedding-3-small --dim 32
ok ragdb ingest --db "$DBE" "$WORK/docs"
ok ragdb stats --db "$DBE" --models --json
printf '%s' "$OUT" | jcheck '[(m["kind"], m["model"]) for m in j["models"]] == [("embed", "openai:text-embedding-3-small")] and j["models"][0]["requests"] >= 1 and j["models"][0]["errors"] == 0' "embedder counted"

note "serve: a repeated query is embedded once"
serve_start "$DBE"
T0=$(fake_total)
for i in 1 2 3; do
	http POST /v1/search -H 'Content-Type: application/json' -d '{"query": "rotate the signing keys", "k": 1}'
	assert_eq "$STATUS" 200 "search $i on a remote embedder"
	assert_contains "$BODY" "keys.md" "search $i"
done
assert_eq "$(fake_total)" "$((T0 + 1))" "embedding requests for three identical queries"
http GET /metrics
assert_contains "$BODY" 'ragdb_llm_cache_lookups_total{model="openai:text-embedding-3-small",kind="embed",result="hit"} 2' "query-vector cache hits"
serve_stop

note "serve: answer cache, /metrics, /ready"
cat >"$DB/ragdb.json" <<JSON
{ "default_model": "chat",
  "cache": { "ttl_seconds": 600, "max_entries": 50, "max_bytes": 1000000 },
  "models": { "chat": { "provider": "openai", "model": "test-chat-1",
                        "price_input": 3.0, "price_output": 15.0 } } }
JSON
serve_start "$DB"
http GET /ready
assert_eq "$STATUS" 200 "/ready with a reachable default model"
printf '%s' "$BODY" | jcheck 'j["checks"]["answerer"] == "ok"' "/ready answerer"
http POST /v1/query -H 'Content-Type: application/json' -d '{"question": "'"$Q"'"}'
assert_eq "$STATUS" 200 "first query"
printf '%s' "$BODY" | jcheck 'j["model"] == "'"$M"'" and j["usage"]["cached"] is False and j["usage"]["input_tokens"] == 1000' "first answer from the model"
FIRST=$(printf '%s' "$BODY" | jget 'j["answer"]')
T1=$(fake_total)
http POST /v1/query -H 'Content-Type: application/json' -d '{"question": "'"$Q"'"}'
assert_eq "$STATUS" 200 "second query"
printf '%s' "$BODY" | jcheck 'j["usage"]["cached"] is True and j["usage"]["input_tokens"] == 0 and j["usage"]["cost"] == 0' "second answer from the cache"
assert_eq "$(printf '%s' "$BODY" | jget 'j["answer"]')" "$FIRST" "cached answer"
http POST /v1/query -H 'Content-Type: application/json' -d '{"question": "'"$Q"'", "stream": true}'
assert_eq "$STATUS" 200 "streamed query"
assert_contains "$BODY" "signing keys every 90 days" "cached answer streamed"
assert_eq "$(fake_total)" "$T1" "HTTP requests for the cached answers"
http GET /metrics
assert_eq "$STATUS" 200 "/metrics"
printf '%s' "$BODY" >"$WORK/metrics.txt"
python3 - "$WORK/metrics.txt" "$M" <<'PY' || fail "/metrics is not valid Prometheus text or lacks the model metrics (see above)"
import re, sys
text = open(sys.argv[1]).read()
model = sys.argv[2]
name_re = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
label_re = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
sample_re = re.compile(r"^(%s)(\{%s(?:,%s)*\})? (-?[0-9.eE+-]+|\+Inf|NaN)$" % (name_re, label_re, label_re))
types, samples = {}, {}
for ln in text.splitlines():
    if ln.startswith("# HELP "):
        continue
    if ln.startswith("# TYPE "):
        _, _, n, t = ln.split(" ", 3)
        assert t in ("counter", "gauge", "histogram", "summary", "untyped"), ln
        assert n not in types, "TYPE twice: " + n
        types[n] = t
        continue
    m = sample_re.match(ln)
    assert m, "not a sample line: %r" % ln
    fam = m.group(1)
    base = re.sub(r"_(bucket|sum|count)$", "", fam)
    assert fam in types or (base in types and types[base] == "histogram"), "no TYPE before " + ln
    samples[fam + (m.group(2) or "")] = float(m.group(3))
lab = 'model="%s",kind="llm"' % model
def get(k):
    assert k in samples, "missing " + k
    return samples[k]
assert types["ragdb_model_requests_total"] == "counter"
assert types["ragdb_model_latency_seconds"] == "histogram"
assert get("ragdb_model_requests_total{%s}" % lab) == 2          # the /ready check and one answer
assert get('ragdb_llm_cache_lookups_total{%s,result="hit"}' % lab) == 2
assert get('ragdb_llm_cache_lookups_total{%s,result="miss"}' % lab) == 1
# Two calls (the /ready check, one answer) of 1000 + 500 tokens at 3 and 15 per 1M.
assert get('ragdb_model_tokens_total{%s,direction="input"}' % lab) == 2000
assert get('ragdb_model_tokens_total{%s,direction="output"}' % lab) == 1000
assert abs(get("ragdb_model_cost_total{%s}" % lab) - 0.021) < 1e-9
assert get("ragdb_llm_cache_entries") == 1
buckets = sorted(((float(re.search(r'le="([^"]+)"', k).group(1).replace("+Inf", "inf")), v)
                  for k, v in samples.items() if k.startswith("ragdb_model_latency_seconds_bucket{%s," % lab)))
assert buckets and buckets[-1][0] == float("inf"), buckets
assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), "buckets not cumulative"
assert buckets[-1][1] == get("ragdb_model_latency_seconds_count{%s}" % lab) == 2
for k in ("timeout", "http_4xx", "http_5xx", "rate_limited", "network", "malformed", "stream_cut", "other"):
    get('ragdb_model_errors_total{%s,error="%s"}' % (lab, k))
assert "ragdb_http_requests_total" in types or any(n.startswith("ragdb_http") for n in types)
PY
serve_stop
ok ragdb stats --db "$DB" --models --json
printf '%s' "$OUT" | jcheck '(lambda m: m["requests"] == 8 and m["cache_hits"] == 2)(j["models"][0])' "the server's counters kept at exit"

note "serve: /ready when the default model refuses the key"
OPENAI_API_KEY=wrong-key serve_start "$DB"
http GET /ready
assert_eq "$STATUS" 503 "/ready with a refused key"
assert_contains "$BODY" "chat" "/ready names the model"
assert_not_contains "$BODY" "$SECRET" "/ready"
assert_not_contains "$BODY" "wrong-key" "/ready"
serve_stop

note "serve: per-endpoint counters of a balanced model"
DEADPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
DEAD_PUB="http://127.0.0.1:$DEADPORT/v1"
cat >"$DB/ragdb.json" <<JSON
{ "models": { "lb": { "provider": "openai", "model": "test-chat-1", "balance": "round_robin",
                      "endpoints": ["$FAKE_URL/v1", "http://admin:$SECRET@127.0.0.1:$DEADPORT/v1"] } } }
JSON
# Retries on: a question whose attempt meets the dead endpoint goes on to the fake.
# OPENAI_BASE_URL would override the list (the environment wins over the file).
OPENAI_BASE_URL= RAGDB_HTTP_RETRIES=2 serve_start "$DB"
for i in 1 2 3 4; do
	http POST /v1/query -H 'Content-Type: application/json' \
		-d '{"question": "What does part '"$i"' say about the signing keys?", "model": "lb"}'
	assert_eq "$STATUS" 200 "balanced question $i: $BODY"
done
http GET /metrics
assert_eq "$STATUS" 200 "/metrics with endpoints"
printf '%s' "$BODY" >"$WORK/metrics_ep.txt"
assert_not_contains "$BODY" "$SECRET" "/metrics never shows the API key"
assert_not_contains "$BODY" "admin" "/metrics never shows an endpoint's user"
python3 - "$WORK/metrics_ep.txt" "$M" "$FAKE_URL/v1" "$DEAD_PUB" <<'PY' || fail "/metrics lacks the per-endpoint lines or their counts (see above)"
import re, sys
text = open(sys.argv[1]).read()
model, live, dead = sys.argv[2:5]
samples = {}
for ln in text.splitlines():
    if ln.startswith("ragdb_model_endpoint_"):
        k, v = ln.rsplit(" ", 1)
        samples[k] = float(v)
def get(fam, ep, extra=""):
    k = '%s{model="%s",endpoint="%s"%s}' % (fam, model, ep, extra)
    assert k in samples, "missing " + k + "; have " + repr(sorted(samples)[:8])
    return samples[k]
kinds = ("timeout", "connect", "network", "http_4xx", "rate_limited", "http_5xx", "other")
# Every question is answered by the live endpoint, at its one attempt there.
assert get("ragdb_model_endpoint_requests_total", live) == 4
assert sum(get("ragdb_model_endpoint_errors_total", live, ',error="%s"' % k) for k in kinds) == 0
assert get("ragdb_model_endpoint_latency_seconds_count", live) == 4
assert get("ragdb_model_endpoint_latency_seconds_bucket", live, ',le="+Inf"') == 4
# Round robin sends the dead one at least two attempts before its cool-down;
# each is a connect error and nothing else.
d = get("ragdb_model_endpoint_requests_total", dead)
assert d >= 2, d
assert get("ragdb_model_endpoint_errors_total", dead, ',error="connect"') == d
assert sum(get("ragdb_model_endpoint_errors_total", dead, ',error="%s"' % k) for k in kinds) == d
for ep in (live, dead):
    assert get("ragdb_model_endpoint_in_flight", ep) == 0
    assert get("ragdb_model_endpoint_skipped", ep) in (0, 1)
assert get("ragdb_model_endpoint_skipped", live) == 0
assert "# TYPE ragdb_model_endpoint_latency_seconds histogram" in text
PY
serve_stop
fake_no_violations
note "ok"
