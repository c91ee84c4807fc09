#!/usr/bin/env bash
# tests/e2e/test_agentic.sh — `ragdb query --agentic` against the fake
# provider server, for anthropic, openai, ollama and gemini, streamed and
# --no-stream: a two-hop question whose answer needs a passage only the
# tool's search finds (the answer cites it with the next source number, the
# sources list it, the tool-call round's text is not printed, usage sums
# both calls, the tool conversation matches each provider's format — the
# fake refuses what the real API would); the bound on tool calls (a model
# that always calls the tool is stopped after --max-tool-calls and still
# answers); malformed calls (arguments that are not JSON or lack "query",
# an unknown tool) get an error result, not a crash; --agentic without a
# language model is refused, naming what to configure.
source "$(dirname "$0")/lib.sh"
source "$RAGDB_SRC/tests/fake/fake.sh"

SECRET="sk-test-agentic-7"
fake_start --key "$SECRET"
export RAGDB_HTTP_BACKOFF_MS=20
unset RAGDB_CONFIG RAGDB_EMBED_ENDPOINT HF_TOKEN
export ANTHROPIC_BASE_URL="$FAKE_URL" ANTHROPIC_API_KEY="$SECRET"
export OPENAI_BASE_URL="$FAKE_URL/v1" OPENAI_API_KEY="$SECRET"
export OLLAMA_HOST="$FAKE_URL"
export GEMINI_BASE_URL="$FAKE_URL" GEMINI_API_KEY="$SECRET"

DB="$WORK/db"
DOCS="$WORK/docs"
mkdir -p "$DOCS"
# Hop 1 (the question finds it): Zephyr is maintained by the Lantern team.
# Hop 2 (only a search for the team finds it): who leads that team.
echo "The Zephyr project is maintained by the Lantern team. Zephyr project maintainers meet weekly to plan Zephyr releases." >"$DOCS/zephyr.md"
echo "Marta Okafor leads the Lantern group and approves every release it ships." >"$DOCS/lantern.md"
echo "Backups are taken nightly and kept for thirty days." >"$DOCS/backups.md"
echo "The office coffee machine is cleaned on Fridays." >"$DOCS/coffee.md"
ok ragdb init --db "$DB"
ok ragdb ingest --db "$DB" "$DOCS"

Q="Which team maintains the Zephyr project, and who leads it? lookup: Lantern group leads"
# Without the tool, one chunk retrieved: the Zephyr passage only.
ok ragdb query --db "$DB" "$Q" -k 1 --json
printf '%s' "$OUT" | jcheck '[s["id"] for s in j["sources"]] == ["zephyr.md"]' "first retrieval"

# --agentic needs a language model.
expect_rc 1 ragdb query --db "$DB" "$Q" --agentic --model extractive
assert_contains "$ERR" "need a language model" "agentic without a model"
assert_contains "$ERR" "default_model" "agentic without a model names the setting"
# --max-tool-calls only with --agentic, and within 1..16.
expect_rc 2 ragdb query --db "$DB" "$Q" --max-tool-calls 2 --model openai:test-chat-1
assert_contains "$ERR" "--max-tool-calls applies with --agentic" "max-tool-calls alone"
expect_rc 2 ragdb query --db "$DB" "$Q" --agentic --max-tool-calls 17 --model openai:test-chat-1

for prov in anthropic openai ollama gemini; do
	M="$prov:test-chat-1"
	case $prov in
	anthropic) P="/v1/messages" ;;
	openai) P="/v1/chat/completions" ;;
	ollama) P="/api/chat" ;;
	gemini) P="" ;;
	esac
	for stream in yes no; do
		flag=""
		[ $stream = no ] && flag="--no-stream"
		if [ $prov = gemini ]; then
			P="/v1beta/models/test-chat-1:streamGenerateContent"
			[ $stream = no ] && P="/v1beta/models/test-chat-1:generateContent"
		fi
		note "$M stream=$stream: two hops"
		fake_ctl '{"reset": true}'
		fake_ctl '{"key": "'"$SECRET"'", "tool_mode": "lookup"}'
		ok ragdb query --db "$DB" "$Q" -k 1 --model "$M" --agentic $flag
		assert_contains "$OUT" "After 1 tool results: Marta Okafor leads the Lantern group and approves every release it ships [2]." "$M $stream answer cites the searched passage"
		assert_contains "$OUT" "[1] zephyr.md" "$M $stream first source"
		assert_contains "$OUT" "[2] lantern.md" "$M $stream searched source listed"
		assert_contains "$OUT" "2000 input + 1000 output tokens, 1 tool call" "$M $stream usage sums both calls"
		assert_not_contains "$OUT" "Let me search" "$M $stream tool round text not printed"
		assert_contains "$ERR" "searching: Lantern group leads" "$M $stream search shown on stderr"
		assert_eq "$(fake_stats 'j["paths"]["'"$P"'"]')" "2" "$M $stream model calls"
		fake_no_violations
		# The second request carries the tool conversation in the provider's format.
		case $prov in
		anthropic) fake_stats 'j["last"]["'"$P"'"]' | jcheck 'j["tools"][0]["name"] == "search_knowledge_base" and j["tools"][0]["input_schema"]["required"] == ["query"] and [m["role"] for m in j["messages"]] == ["user", "assistant", "user"] and j["messages"][1]["content"][-1]["type"] == "tool_use" and j["messages"][1]["content"][-1]["input"] == {"query": "Lantern group leads"} and j["messages"][2]["content"][0]["type"] == "tool_result" and j["messages"][2]["content"][0]["tool_use_id"] == j["messages"][1]["content"][-1]["id"] and "<source n=\"2\">" in j["messages"][2]["content"][0]["content"]' "$M $stream tool conversation" ;;
		openai) fake_stats 'j["last"]["'"$P"'"]' | jcheck 'j["tools"][0]["type"] == "function" and j["tools"][0]["function"]["name"] == "search_knowledge_base" and [m["role"] for m in j["messages"]] == ["system", "user", "assistant", "tool"] and j["messages"][2]["tool_calls"][0]["function"]["arguments"] == "{\"query\": \"Lantern group leads\"}" and j["messages"][3]["tool_call_id"] == j["messages"][2]["tool_calls"][0]["id"] and "<source n=\"2\">" in j["messages"][3]["content"]' "$M $stream tool conversation" ;;
		ollama) fake_stats 'j["last"]["'"$P"'"]' | jcheck '[m["role"] for m in j["messages"]] == ["system", "user", "assistant", "tool"] and j["messages"][2]["tool_calls"][0]["function"]["arguments"] == {"query": "Lantern group leads"} and j["messages"][3]["tool_name"] == "search_knowledge_base" and "<source n=\"2\">" in j["messages"][3]["content"]' "$M $stream tool conversation" ;;
		gemini) fake_stats 'j["last"]["'"$P"'"]' | jcheck 'j["tools"][0]["functionDeclarations"][0]["name"] == "search_knowledge_base" and [c["role"] for c in j["contents"]] == ["user", "model", "user"] and j["contents"][1]["parts"][0]["functionCall"]["args"] == {"query": "Lantern group leads"} and j["contents"][1]["parts"][0]["thoughtSignature"] == "c2lnbmF0dXJl" and j["contents"][2]["parts"][0]["functionResponse"]["name"] == "search_knowledge_base" and "<source n=\"2\">" in j["contents"][2]["parts"][0]["functionResponse"]["response"]["result"]' "$M $stream tool conversation" ;;
		esac

		note "$M stream=$stream: the bound"
		fake_ctl '{"tool_mode": "always", "reset": false}'
		ok ragdb query --db "$DB" "$Q" -k 1 --model "$M" --agentic --max-tool-calls 2 $flag
		assert_contains "$OUT" "After 2 tool results" "$M $stream bounded answer"
		assert_contains "$OUT" "3000 input + 1500 output tokens, 2 tool calls" "$M $stream bounded usage"
		assert_eq "$(fake_stats 'sum(j["paths"].values())')" "5" "$M $stream model calls with the bound (2 + 3)"
		ok ragdb query --db "$DB" "$Q" -k 1 --model "$M" --agentic --max-tool-calls 3 --json
		printf '%s' "$OUT" | jcheck 'j["tool_calls"] == 3 and j["answer"].startswith("After 3 tool results") and j["input_tokens"] == 4000 and [s["n"] for s in j["sources"]] == list(range(1, len(j["sources"]) + 1))' "$M bounded json"
		# The last request says why there are no more searches, and switched the tools off.
		assert_contains "$(fake_stats 'j["last"]["'"$P"'"]')" "No more searches: the limit of" "$M $stream limit note"
		# The last request switched the tools off.
		case $prov in
		anthropic) fake_stats 'j["last"]["'"$P"'"]' | jcheck 'j["tool_choice"] == {"type": "none"}' "$M tools off" ;;
		openai) fake_stats 'j["last"]["'"$P"'"]' | jcheck 'j["tool_choice"] == "none"' "$M tools off" ;;
		ollama) fake_stats 'j["last"]["'"$P"'"]' | jcheck '"tools" not in j' "$M tools off" ;;
		gemini) fake_stats 'j["last"]["'"$P"'"]' | jcheck 'j["toolConfig"]["functionCallingConfig"]["mode"] == "NONE"' "$M tools off" ;;
		esac

		note "$M stream=$stream: malformed calls"
		for mode in bad_args unknown_tool; do
			fake_ctl '{"tool_mode": "'$mode'"}'
			ok ragdb query --db "$DB" "$Q" -k 1 --model "$M" --agentic $flag
			assert_contains "$OUT" "Marta Okafor leads the Lantern group and approves every release it ships [2]." "$M $stream $mode answer"
			assert_contains "$OUT" "[2] lantern.md" "$M $stream $mode source"
			assert_contains "$OUT" ", 2 tool calls" "$M $stream $mode counted"
			case $mode in
			bad_args) want='the arguments' ;;
			unknown_tool) want='there is no tool named' ;;
			esac
			case $prov in
			anthropic) fake_stats 'j["last"]["'"$P"'"]' | jcheck '"'"$want"'" in j["messages"][2]["content"][0]["content"] and j["messages"][2]["content"][0]["is_error"] is True' "$M $mode error result" ;;
			openai | ollama) fake_stats 'j["last"]["'"$P"'"]' | jcheck '"'"$want"'" in j["messages"][3]["content"]' "$M $mode error result" ;;
			gemini) fake_stats 'j["last"]["'"$P"'"]' | jcheck '"'"$want"'" in j["contents"][2]["parts"][0]["functionResponse"]["response"]["error"]' "$M $mode error result" ;;
			esac
		done
		fake_no_violations
	done
done

# ragdb chat --agentic: the same loop inside a conversation.
fake_ctl '{"reset": true}'
fake_ctl '{"key": "'"$SECRET"'", "tool_mode": "lookup"}'
ok sh -c 'printf "%s\n" "$1" | "$RAGDB_BIN" chat --db "$2" --model openai:test-chat-1 --agentic' - "$Q" "$DB"
assert_contains "$OUT" "(1 tool results)" "chat --agentic answer"
assert_contains "$ERR" "searching: Lantern group leads" "chat --agentic search shown"
fake_no_violations

# A model that answers at once, with tools offered: the answer streams
# through whole, and nothing is searched.
fake_ctl '{"reset": true}'
fake_ctl '{"key": "'"$SECRET"'", "tool_mode": "never"}'
ok ragdb query --db "$DB" "$Q" -k 1 --model anthropic:test-chat-1 --agentic
assert_contains "$OUT" "Rotate the signing keys every 90 days" "answer without a tool call"
assert_not_contains "$ERR" "searching:" "no search"
fake_no_violations
echo "PASS $TEST_NAME"
