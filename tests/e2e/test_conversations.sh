#!/usr/bin/env bash
# tests/e2e/test_conversations.sh — conversations from the command line:
# `ragdb query --conversation` keeps the turns across runs and rewrites a
# follow-up so it finds the earlier subject; `ragdb chat` reads piped
# questions, prints its conversation id, /sources and /new, and continues a
# conversation across sessions; `conversations list|show|delete`;
# `export-finetune` writes OpenAI chat JSONL and input,output CSV with a
# deterministic split of the requested size; with a language model (the fake
# OpenAI server) the earlier turns reach the request body.
source "$(dirname "$0")/lib.sh"
source "$RAGDB_SRC/tests/fake/fake.sh"

DB="$WORK/db"
DOCS="$WORK/docs"
mkdir -p "$DOCS"
echo "The Acme widget weighs 3 kilograms. Its price is 40 euros and it ships from Lyon." >"$DOCS/widget.md"
printf 'The Zeta gadget runs on batteries. The gadget price is 90 euros.\n\nPrices of things vary across many shops.\n' >"$DOCS/gadget.md"
ok ragdb init --db "$DB"
ok ragdb ingest --db "$DB" "$DOCS"

note "query --conversation across runs"
ok ragdb query --db "$DB" "what about its price?" --json
printf '%s' "$OUT" | jcheck 'j["sources"][0]["id"] == "gadget.md"' "follow-up alone"
ok ragdb query --db "$DB" "How much does the Acme widget weigh?" --conversation q1
assert_contains "$OUT" "3 kilograms" "first answer"
ok ragdb query --db "$DB" "what about its price?" --conversation q1 --json
printf '%s' "$OUT" | jcheck 'j["sources"][0]["id"] == "widget.md" and "widget" in j["search_query"] and j["conversation"] == "q1"' "rewritten follow-up"
ok ragdb conversations show q1 --json --db "$DB"
printf '%s' "$OUT" | jcheck '[t["role"] for t in j["turns"]] == ["user", "assistant", "user", "assistant"] and j["turns"][2]["text"] == "what about its price?" and j["turns"][1]["sources"][0]["id"] == "widget.md"' "stored turns"

note "chat sessions"
ok bash -c "printf 'How much does the Acme widget weigh?\n/sources\n/quit\nnever asked\n' | '$RAGDB_BIN' chat --db '$DB' --conversation s1"
assert_contains "$OUT" "conversation s1" "chat id"
assert_contains "$OUT" "3 kilograms" "chat answer"
assert_contains "$OUT" "[1] widget.md" "/sources"
ok bash -c "printf 'what about its price?\n' | '$RAGDB_BIN' chat --db '$DB' --conversation s1"
assert_contains "$OUT" "40 euros" "second session answer"
ok ragdb conversations show s1 --json --db "$DB"
printf '%s' "$OUT" | jcheck 'len(j["turns"]) == 4 and "widget" in j["turns"][2]["search_query"]' "chat turns across sessions"
ok bash -c "printf 'How much does the Acme widget weigh?\n/new\nWhat does the gadget run on?\n' | '$RAGDB_BIN' chat --db '$DB'"
ids=$(printf '%s\n' "$OUT" | sed -n 's/^conversation \(c-[0-9a-f]\{16\}\)$/\1/p')
assert_eq "$(printf '%s\n' "$ids" | sort -u | wc -l)" "2" "two generated ids (start and /new)"
ok ragdb conversations list --db "$DB" --json
printf '%s' "$OUT" | jcheck 'len(j["conversations"]) == 4 and all(c["turns"] == (4 if c["id"] in ("q1", "s1") else 2) for c in j["conversations"])' "list"
ok ragdb conversations list --db "$DB"
assert_contains "$OUT" "How much does the Acme widget weigh?" "list title"

note "export-finetune"
ok ragdb query --db "$DB" "Where does the widget ship from?" --conversation z5
ok ragdb export-finetune --db "$DB" --out "$WORK/ft" --split 0.8 --json
printf '%s' "$OUT" | jcheck 'j["train_conversations"] == 4 and j["valid_conversations"] == 1 and j["train_pairs"] + j["valid_pairs"] == 7' "split counts"
assert_eq "$(wc -l <"$WORK/ft-train.jsonl")" "4" "train lines"
assert_eq "$(wc -l <"$WORK/ft-valid.jsonl")" "1" "valid lines"
python3 - "$WORK/ft-train.jsonl" "$WORK/ft-valid.jsonl" <<'PY' || fail "JSONL is not OpenAI chat format"
import json, sys
for p in sys.argv[1:]:
    for line in open(p):
        m = json.loads(line)["messages"]
        assert len(m) % 2 == 0 and m
        assert [x["role"] for x in m] == ["user", "assistant"] * (len(m) // 2)
        assert all(isinstance(x["content"], str) and x["content"] for x in m)
PY
cp "$WORK/ft-train.jsonl" "$WORK/first.jsonl"
ok ragdb export-finetune --db "$DB" --out "$WORK/ft"
cmp -s "$WORK/ft-train.jsonl" "$WORK/first.jsonl" || fail "the split is not deterministic"
ok ragdb export-finetune --db "$DB" --out "$WORK/ft" --format csv --split 0
python3 - "$WORK/ft-train.csv" "$WORK/ft-valid.csv" <<'PY' || fail "CSV export"
import csv, sys
t = list(csv.reader(open(sys.argv[1], newline="")))
v = list(csv.reader(open(sys.argv[2], newline="")))
assert t == [["input", "output"]], t
assert v[0] == ["input", "output"] and len(v) == 8, len(v)
assert any(r[0] == "what about its price?" and "40 euros" in r[1] for r in v[1:])
PY
expect_rc 2 ragdb export-finetune --db "$DB" --format xml

note "delete"
ok ragdb conversations delete q1 --db "$DB"
assert_contains "$OUT" "deleted conversation q1"
expect_rc 1 ragdb conversations show q1 --db "$DB"
assert_contains "$ERR" "no conversation q1"
expect_rc 1 ragdb conversations delete q1 --db "$DB"
ok ragdb conversations list --db "$DB" --json
printf '%s' "$OUT" | jcheck 'len(j["conversations"]) == 4 and "q1" not in [c["id"] for c in j["conversations"]]' "after delete"
check_ok "$DB"

note "history reaches the language model"
SECRET="sk-test-conv-1"
fake_start --key "$SECRET"
export RAGDB_HTTP_BACKOFF_MS=20
unset RAGDB_CONFIG RAGDB_EMBED_ENDPOINT
export OPENAI_BASE_URL="$FAKE_URL/v1" OPENAI_API_KEY="$SECRET"
M=openai:test-chat-1
ok ragdb query --db "$DB" "How much does the Acme widget weigh?" --model "$M" --conversation m1
ok ragdb query --db "$DB" "what about its price?" --model "$M" --conversation m1 --json
printf '%s' "$OUT" | jcheck 'j["model"] == "openai:test-chat-1"' "model answer"
fake_stats 'j["last"]["/v1/chat/completions"]' | jcheck '"<turn role=\"user\">\nHow much does the Acme widget weigh?\n</turn>" in j["messages"][1]["content"] and "<turn role=\"assistant\">" in j["messages"][1]["content"] and "Question: what about its price?" in j["messages"][1]["content"]' "history in the request"
# Three requests: the first answer, the rewrite, the second answer.
assert_eq "$(fake_stats 'j["paths"]["/v1/chat/completions"]')" "3" "requests"
ok ragdb conversations show m1 --db "$DB" --json
printf '%s' "$OUT" | jcheck 'j["turns"][3]["model"] == "openai:test-chat-1" and j["turns"][3]["output_tokens"] == 500' "stored model turn"

note "routing and fallback"
cat >"$WORK/ragdb.json" <<JSON
{
  "models": {
    "cheap": {"provider": "openai", "model": "cheap-1", "endpoint": "$FAKE_URL/v1"},
    "smart": {"provider": "anthropic", "model": "smart-1", "endpoint": "$FAKE_URL",
              "api_key": "$SECRET"}
  },
  "routing": [
    {"keywords": ["refund", "price list"], "model": "cheap"},
    {"regex": "^(why|explain)[[:space:]]", "model": "smart"}
  ],
  "fallback": {"smart": ["cheap"]}
}
JSON
export RAGDB_CONFIG="$WORK/ragdb.json"
ok ragdb query --db "$DB" "Can I get a refund for the widget?" --json
printf '%s' "$OUT" | jcheck 'j["model"] == "openai:cheap-1"' "keyword route"
ok ragdb query --db "$DB" "Explain the widget price" --json
printf '%s' "$OUT" | jcheck 'j["model"] == "anthropic:smart-1"' "regex route"
ok ragdb query --db "$DB" "How much does the Acme widget weigh?" --json
printf '%s' "$OUT" | jcheck 'j["model"] == "extractive"' "no rule: the default"
# smart fails (401, not retried): cheap answers, and says so.
fake_ctl '{"faults": ["401"], "sticky": null}'
ok ragdb query --db "$DB" "Why is the widget heavy?" --json
printf '%s' "$OUT" | jcheck 'j["model"] == "openai:cheap-1"' "fallback answered"
# Every model of the chain failing is an error naming the first failure.
fake_ctl '{"faults": ["401", "401"], "sticky": null}'
expect_rc 1 ragdb query --db "$DB" "Why is the widget heavy?"
assert_contains "$ERR" "2 models failed" "chain failure"
fake_ctl '{"faults": [], "sticky": null}'

note "models list and check"
ok ragdb models list --db "$DB" --json
printf '%s' "$OUT" | jcheck '[m["name"] for m in j["models"]] == ["cheap", "smart"] and j["models"][1]["fallback"] == "cheap" and j["models"][1]["provider"] == "anthropic" and j["models"][0]["model"] == "cheap-1"' "models list"
ok ragdb models check --db "$DB"
assert_matches "$OUT" "cheap +openai:cheap-1  ok  [0-9]+ ms" "check ok"
assert_matches "$OUT" "smart +anthropic:smart-1  ok" "check ok"
fake_ctl '{"faults": [], "sticky": "401"}'
expect_rc 1 ragdb models check --db "$DB" --json
printf '%s' "$OUT" | jcheck 'all(not m["ok"] and m["error"] for m in j["models"])' "check failures"
assert_not_contains "$OUT" "$SECRET" "the key"
fake_ctl '{"faults": [], "sticky": null}'
unset RAGDB_CONFIG
fake_no_violations
note "ok"
