#!/usr/bin/env bash
# tests/e2e/test_provider_faults.sh — a bulk ingest against a misbehaving
# embedding provider (tests/fake/fake_provider.py in its seeded random-mix
# mode: 429 with Retry-After, 500, 529, stalls past the timeout, cut
# connections, malformed JSON, wrong dimensions, empty answers), once through
# the OpenAI-compatible API and once through Ollama's. Each document is one
# generated file with a unique marker word. Asserts:
#   - the ingest finishes (no hang; exit 0, or 1 when documents failed);
#   - every document is either stored whole (its chunks and content hash
#     equal an undisturbed run's, its marker found by a bm25 search) or
#     listed as failed in the --json summary: never both, never neither;
#   - ragdb check passes; the vectors have the knowledge base's dimension;
#   - re-running the same ingest with a healthy provider sends exactly one
#     request per failed document (none for the stored ones), stores them,
#     and ends in the state of an uninterrupted healthy run.
# CI runs a short version; by hand:
#   tests/e2e/test_provider_faults.sh --docs 3000 --seed 7 [--provider openai|ollama]
source "$(dirname "$0")/lib.sh"
source "$RAGDB_SRC/tests/fake/fake.sh"

NDOCS=400
SEED=1
PROVIDERS="openai ollama"
while [ $# -gt 0 ]; do
	case "$1" in
	--docs) NDOCS=$2; shift 2 ;;
	--seed) SEED=$2; shift 2 ;;
	--provider) PROVIDERS=$2; shift 2 ;;
	*) fail "unknown argument $1 (use --docs N --seed S --provider openai|ollama)" ;;
	esac
done

DIM=32
fake_start --dim "$DIM"
unset OPENAI_BASE_URL OPENAI_API_KEY OLLAMA_HOST RAGDB_CONFIG RAGDB_EMBED_ENDPOINT \
	RAGDB_HTTP_TIMEOUT_MS RAGDB_HTTP_RETRIES
# Backoff between retries: short, so the run is fast (Retry-After is still honoured).
export RAGDB_HTTP_BACKOFF_MS=5

CORPUS="$WORK/corpus"
gen_files "$CORPUS" "$NDOCS" "$SEED" 1

# Fault rates per provider request: about one request in five misbehaves.
# 429 is rare because its Retry-After (1 s) is waited for.
RATES='{"429": 0.01, "500": 0.04, "529": 0.03, "stall": 0.01, "cut": 0.03,
        "malformed": 0.02, "wrongdim": 0.02, "empty": 0.02}'

# kb_with PROVIDER DIR — a knowledge base whose embedder is the fake, through
# ragdb.json: low timeout and retry settings so faults cost little time.
kb_with() {
	mkdir -p "$2"
	cat >"$2/ragdb.json" <<JSON
{ "timeout": 0.5, "connect_timeout": 2, "max_retries": 2,
  "models": { "emb": { "provider": "$1", "model": "fault-embed",
                        "endpoint": "$FAKE_URL$([ "$1" = openai ] && echo /v1)",
                        "api_key": "sk-fault-test", "batch_size": 8 } } }
JSON
	fake_ctl '{"faults": [], "sticky": null, "mix": null}'
	ok ragdb init --db "$2" --embedder emb --json
	printf '%s' "$OUT" | jcheck 'j["dim"] == '"$DIM" "init $1"
}

# digest DB — ids, chunk counts and content hashes of every stored document.
digest() {
	ragdb list --db "$1" --json | jget '"\n".join("%s %d %s" % (d["id"], d["chunks"], d["hash"]) for d in sorted(j, key=lambda d: d["id"]))'
}

for prov in $PROVIDERS; do
	note "provider $prov: $NDOCS documents, seed $SEED ($(date +%T))"
	# The undisturbed run.
	REF="$WORK/ref-$prov"
	kb_with "$prov" "$REF"
	ok ragdb ingest --db "$REF" "$CORPUS" --json
	printf '%s' "$OUT" | jcheck 'j["added"] == '"$NDOCS"' and j["failed"] == 0' "healthy ingest ($prov)"
	digest "$REF" >"$WORK/ref.digest"

	note "healthy run done ($(date +%T))"
	# The ingest under faults.
	DB="$WORK/db-$prov"
	kb_with "$prov" "$DB"
	fake_ctl '{"reset": false, "stall_ms": 1500, "mix": {"seed": '"$SEED"', "rates": '"$RATES"'}}'
	python3 - "$FAKE_URL" <<'PY' >"$WORK/injected.before"
import json, sys, urllib.request
print(json.dumps(json.load(urllib.request.urlopen(sys.argv[1] + "/_stats"))["injected"]))
PY
	run timeout 900 "$RAGDB_BIN" ingest --db "$DB" "$CORPUS" --json
	[ "$RC" -ne 124 ] || fail "$prov: the ingest under faults did not finish in 900 s (a hang)"
	[ "$RC" -eq 0 ] || [ "$RC" -eq 1 ] || fail "$prov: ingest exit $RC (0 or 1 expected)
${ERR:0:2000}"
	fake_ctl '{"mix": null}'
	printf '%s' "$OUT" >"$WORK/faulty.json"
	injected=$(fake_stats 'j["injected"]')
	# The injected faults of this round: now minus before.
	injected=$(python3 -c 'import json,sys; a=json.loads(sys.argv[1]); b=json.loads(sys.argv[2]); print(json.dumps({k: a[k]-b.get(k,0) for k in sorted(a) if a[k]-b.get(k,0)}))' \
		"$injected" "$(cat "$WORK/injected.before")")
	failed=$(jget 'j["failed"]' <"$WORK/faulty.json")
	if [ "$failed" -gt 0 ]; then
		[ "$RC" -eq 1 ] || fail "$prov: $failed documents failed but the exit code is 0"
		assert_contains "$ERR" "failed" "$prov: stderr summary"
	fi
	check_ok "$DB"
	# Every document stored whole or listed failed, never both, never neither.
	digest "$DB" >"$WORK/faulty.digest"
	python3 - "$WORK/faulty.json" "$WORK/faulty.digest" "$WORK/ref.digest" "$NDOCS" <<'PY' ||
import json, sys
summary = json.load(open(sys.argv[1]))
got = dict((l.split(" ", 1)[0], l) for l in open(sys.argv[2]).read().split("\n") if l)
ref = dict((l.split(" ", 1)[0], l) for l in open(sys.argv[3]).read().split("\n") if l)
n = int(sys.argv[4])
failed = [i["id"] for i in summary.get("items", []) if i["action"] == "failed"]
bad = []
if len(failed) != summary["failed"] or len(set(failed)) != len(failed):
    bad.append("failed count %d, %d listed" % (summary["failed"], len(failed)))
if summary["added"] + summary["failed"] != n:
    bad.append("added %d + failed %d != %d documents" % (summary["added"], summary["failed"], n))
for i in failed:
    if i in got:
        bad.append("%s listed failed but stored" % i)
    if i not in ref:
        bad.append("%s listed failed: not a document" % i)
for i, line in got.items():
    if ref.get(i) != line:
        bad.append("stored differently: %s (undisturbed: %s)" % (line, ref.get(i)))
missing = set(ref) - set(got) - set(failed)
if missing:
    bad.append("silently missing: %s" % sorted(missing)[:10])
reasons = [i["reason"] for i in summary.get("items", []) if i["action"] == "failed"]
if not all(reasons):
    bad.append("a failed document without a reason")
if bad:
    print("\n".join(bad[:20]), file=sys.stderr)
    sys.exit(1)
PY
		fail "$prov: documents not stored whole or reported failed"
	# The marker of each stored document finds it in bm25 mode (no embedder
	# call); a failed document's marker finds nothing.
	python3 - "$NDOCS" >"$WORK/markers.jsonl" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"_id": "part%03d/file%05d.txt" % (i // 100, i), "text": "doc%05dmark" % i}))
PY
	before=$(fake_total)
	ok ragdb search --db "$DB" --batch "$WORK/markers.jsonl" --mode bm25 -k 1 --no-text
	assert_eq "$(fake_total)" "$before" "$prov: requests made by bm25 searches"
	printf '%s\n' "$OUT" >"$WORK/markers.out"
	python3 - "$WORK/faulty.json" "$WORK/markers.out" <<'PY' || fail "$prov: a marker search found the wrong document"
import json, sys
failed = set(i["id"] for i in json.load(open(sys.argv[1])).get("items", []) if i["action"] == "failed")
bad = []
n = 0
for line in open(sys.argv[2]):
    if not line.strip():
        continue
    q = json.loads(line)
    n += 1
    hits = [r["id"] for r in q["results"]]
    want = [] if q["query_id"] in failed else [q["query_id"]]
    if hits != want:
        bad.append("%s: %s" % (q["query_id"], hits))
if n != len(open(sys.argv[2].replace("markers.out", "markers.jsonl")).readlines()):
    bad.append("%d answers to the marker searches" % n)
if bad:
    print("\n".join(bad[:20]), file=sys.stderr)
    sys.exit(1)
PY
	ok ragdb stats --db "$DB" --json
	printf '%s' "$OUT" | jcheck 'j["dim"] == '"$DIM"' and j["vectors_live"] == j["chunks"]' "$prov: vectors after the faulty ingest"

	note "faulty run checked ($(date +%T))"
	# The re-run with a healthy provider: one request per failed document.
	before=$(fake_total)
	ok ragdb ingest --db "$DB" "$CORPUS" --json
	printf '%s' "$OUT" | jcheck 'j["added"] == '"$failed"' and j["unchanged"] == '"$((NDOCS - failed))"' and j["failed"] == 0' "$prov: re-run"
	assert_eq "$(($(fake_total) - before))" "$failed" "$prov: requests made by the re-run (one per failed document)"
	check_ok "$DB"
	digest "$DB" >"$WORK/final.digest"
	cmp -s "$WORK/final.digest" "$WORK/ref.digest" || fail "$prov: the final state differs from an uninterrupted run:
$(diff "$WORK/ref.digest" "$WORK/final.digest" | head -20)"
	ok ragdb search --db "$DB" --batch "$WORK/markers.jsonl" --mode bm25 -k 1 --no-text
	printf '%s\n' "$OUT" | python3 -c '
import json, sys
bad = [q["query_id"] for q in map(json.loads, filter(str.strip, sys.stdin))
       if [r["id"] for r in q["results"]] != [q["query_id"]]]
sys.exit(1 if bad else 0)' || fail "$prov: after the re-run, a marker search missed its document"
	note "provider $prov: $NDOCS documents; faults injected $injected; $failed failed, stored by the re-run; data lost 0"
	echo "$prov docs=$NDOCS seed=$SEED injected=$injected failed=$failed rerun_stored=$failed lost=0" >>"${RAGDB_FAULTS_REPORT:-/dev/null}"
done
fake_no_violations
note "ok"
