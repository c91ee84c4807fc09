/*
 * tests/unit/test_providers_llm_tools.c — the tool-call parsing of llm.c
 * (through rdb_llm_parse_answer, no server): each provider's tool calls,
 * whole and streamed, the stream cut at every byte boundary; Anthropic's
 * input_json_delta pieces and OpenAI's delta.tool_calls pieces by index
 * (two calls interleaved); Gemini's thoughtSignature; tool input for a block
 * that is not a tool_use is an error; more calls than RDB_LLM_MAX_CALLS are
 * an error.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "engine/providers/config.h"
#include "engine/providers/llm.h"
#include "engine/providers/parse_entry.h"
#include "testutil.h"

static rdb_model_cfg model(rdb_provider p)
{
	rdb_model_cfg m;
	memset(&m, 0, sizeof m);
	m.name = "test";
	m.provider = p;
	m.model = "m";
	m.endpoint = "http://127.0.0.1:1";
	return m;
}

/* Two JSON texts hold the same value. */
static int same_json(const char *a, const char *b)
{
	cJSON *x = cJSON_Parse(a), *y = cJSON_Parse(b);
	int eq = x && y && cJSON_Compare(x, y, 1);
	cJSON_Delete(x);
	cJSON_Delete(y);
	return eq;
}

/* Parse @p body whole (stream 0) or streamed in pieces cut at every byte
 * boundary and in one piece; the results must agree. */
static void parse_all_ways(rdb_provider p, const char *body, int stream, rdb_llm_result *out)
{
	rdb_model_cfg m = model(p);
	rdb_err e = {0};
	size_t len = strlen(body);
	ck_assert_int_eq(rdb_llm_parse_answer(&m, body, len, stream, NULL, 0, out, &e), RAGDB_OK);
	if (!stream)
		return;
	size_t *cuts = malloc(len * sizeof *cuts);
	ck_assert_ptr_nonnull(cuts);
	for (size_t i = 0; i < len; i++)
		cuts[i] = i + 1;
	rdb_llm_result r2;
	ck_assert_int_eq(rdb_llm_parse_answer(&m, body, len, 1, cuts, len, &r2, &e), RAGDB_OK);
	free(cuts);
	ck_assert_uint_eq(r2.n_calls, out->n_calls);
	ck_assert_str_eq(r2.text, out->text);
	for (size_t i = 0; i < out->n_calls; i++) {
		ck_assert_str_eq(r2.calls[i].id, out->calls[i].id);
		ck_assert_str_eq(r2.calls[i].name, out->calls[i].name);
		ck_assert_str_eq(r2.calls[i].args, out->calls[i].args);
	}
	rdb_llm_result_clear(&r2);
}

static const char ANTHROPIC_SSE[] =
	"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\","
	"\"role\":\"assistant\",\"content\":[],\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n"
	"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Let me look.\"}}\n\n"
	"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
	"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\","
	"\"id\":\"toolu_1\",\"name\":\"search_knowledge_base\",\"input\":{}}}\n\n"
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"query\\\": \\\"lan\"}}\n\n"
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"tern\\\", \\\"k\\\": 3}\"}}\n\n"
	"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
	"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":20}}\n\n"
	"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

/* Anthropic, streamed: the text before the call, the call's id and name,
 * its input rebuilt from the input_json_delta pieces, stop_reason tool_use. */
START_TEST(anthropic_stream)
{
	rdb_llm_result r;
	parse_all_ways(RDB_PROV_ANTHROPIC, ANTHROPIC_SSE, 1, &r);
	ck_assert_str_eq(r.text, "Let me look.");
	ck_assert_uint_eq(r.n_calls, 1);
	ck_assert_str_eq(r.calls[0].id, "toolu_1");
	ck_assert_str_eq(r.calls[0].name, "search_knowledge_base");
	ck_assert(same_json(r.calls[0].args, "{\"query\":\"lantern\",\"k\":3}"));
	ck_assert_str_eq(r.stop_reason, "tool_use");
	ck_assert_uint_eq(r.output_tokens, 20);
	rdb_llm_result_clear(&r);
}
END_TEST

/* Anthropic, whole: text and tool_use blocks; a tool_use with no input
 * properties gives "{}". */
START_TEST(anthropic_whole)
{
	rdb_llm_result r;
	parse_all_ways(RDB_PROV_ANTHROPIC,
	               "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":["
	               "{\"type\":\"text\",\"text\":\"Searching.\"},"
	               "{\"type\":\"tool_use\",\"id\":\"toolu_a\",\"name\":\"search_knowledge_base\",\"input\":{\"query\":\"x\"}},"
	               "{\"type\":\"tool_use\",\"id\":\"toolu_b\",\"name\":\"other\",\"input\":{}}],"
	               "\"stop_reason\":\"tool_use\",\"usage\":{\"input_tokens\":5,\"output_tokens\":6}}",
	               0, &r);
	ck_assert_str_eq(r.text, "Searching.");
	ck_assert_uint_eq(r.n_calls, 2);
	ck_assert_str_eq(r.calls[0].id, "toolu_a");
	ck_assert(same_json(r.calls[0].args, "{\"query\":\"x\"}"));
	ck_assert_str_eq(r.calls[1].name, "other");
	ck_assert(same_json(r.calls[1].args, "{}"));
	rdb_llm_result_clear(&r);
}
END_TEST

/* Anthropic: input_json_delta for a block that is no tool_use is an
 * error, not a crash or a silent call. */
START_TEST(anthropic_stray_input)
{
	static const char body[] =
		"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{}}}\n\n"
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":4,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\"}}\n\n"
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
	rdb_model_cfg m = model(RDB_PROV_ANTHROPIC);
	rdb_llm_result r;
	rdb_err e = {0};
	ck_assert_int_eq(rdb_llm_parse_answer(&m, body, strlen(body), 1, NULL, 0, &r, &e), RAGDB_EIO);
	ck_assert_ptr_nonnull(strstr(e.msg, "not a tool_use block"));
}
END_TEST

/* OpenAI, streamed: two calls whose pieces interleave by index; the id
 * and name come in the first piece, the arguments in several. */
START_TEST(openai_stream_two_calls)
{
	static const char body[] =
		"data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
		"{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"search_knowledge_base\",\"arguments\":\"\"}}]}}]}\n\n"
		"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"query\\\":\"}}]}}]}\n\n"
		"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":["
		"{\"index\":1,\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"search_knowledge_base\",\"arguments\":\"{\\\"query\\\":\\\"b\\\"}\"}}]}}]}\n\n"
		"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"a\\\"}\"}}]}}]}\n\n"
		"data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
		"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":8}}\n\n"
		"data: [DONE]\n\n";
	rdb_llm_result r;
	parse_all_ways(RDB_PROV_OPENAI, body, 1, &r);
	ck_assert_str_eq(r.text, "");
	ck_assert_uint_eq(r.n_calls, 2);
	ck_assert_str_eq(r.calls[0].id, "call_a");
	ck_assert_str_eq(r.calls[0].args, "{\"query\":\"a\"}");
	ck_assert_str_eq(r.calls[1].id, "call_b");
	ck_assert_str_eq(r.calls[1].args, "{\"query\":\"b\"}");
	ck_assert_str_eq(r.stop_reason, "tool_calls");
	ck_assert_uint_eq(r.input_tokens, 7);
	rdb_llm_result_clear(&r);
}
END_TEST

/* OpenAI, whole: arguments kept as the model wrote them, even when they
 * are not JSON (the agentic loop answers those with an error result). */
START_TEST(openai_whole_bad_args)
{
	rdb_llm_result r;
	parse_all_ways(RDB_PROV_OPENAI,
	               "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,"
	               "\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":"
	               "\"search_knowledge_base\",\"arguments\":\"{\\\"query\\\": \\\"unterminated\"}}]},"
	               "\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
	               0, &r);
	ck_assert_uint_eq(r.n_calls, 1);
	ck_assert_str_eq(r.calls[0].args, "{\"query\": \"unterminated");
	rdb_llm_result_clear(&r);
}
END_TEST

/* Ollama, streamed NDJSON: the call arrives whole in one chunk, arguments
 * an object; no id ("" then). */
START_TEST(ollama_stream)
{
	static const char body[] =
		"{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":["
		"{\"function\":{\"name\":\"search_knowledge_base\",\"arguments\":{\"query\":\"lantern\"}}}]},\"done\":false}\n"
		"{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,"
		"\"done_reason\":\"stop\",\"prompt_eval_count\":3,\"eval_count\":4}\n";
	rdb_llm_result r;
	parse_all_ways(RDB_PROV_OLLAMA, body, 1, &r);
	ck_assert_uint_eq(r.n_calls, 1);
	ck_assert_str_eq(r.calls[0].id, "");
	ck_assert_str_eq(r.calls[0].name, "search_knowledge_base");
	ck_assert(same_json(r.calls[0].args, "{\"query\":\"lantern\"}"));
	rdb_llm_result_clear(&r);
}
END_TEST

/* Gemini, streamed: a functionCall part with its thoughtSignature (sent
 * back with the call in the next request). */
START_TEST(gemini_stream)
{
	static const char body[] =
		"data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"functionCall\":"
		"{\"name\":\"search_knowledge_base\",\"args\":{\"query\":\"q\",\"k\":2}},\"thoughtSignature\":\"c2ln\"}]},"
		"\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":9,\"candidatesTokenCount\":1}}\r\n\r\n";
	rdb_llm_result r;
	parse_all_ways(RDB_PROV_GEMINI, body, 1, &r);
	ck_assert_uint_eq(r.n_calls, 1);
	ck_assert_str_eq(r.calls[0].name, "search_knowledge_base");
	ck_assert_str_eq(r.calls[0].signature, "c2ln");
	ck_assert(same_json(r.calls[0].args, "{\"query\":\"q\",\"k\":2}"));
	rdb_llm_result_clear(&r);
}
END_TEST

/* More calls in one reply than RDB_LLM_MAX_CALLS: an error naming it. */
START_TEST(too_many_calls)
{
	char body[8192];
	size_t o = (size_t)snprintf(body, sizeof body, "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[");
	for (unsigned i = 0; i <= RDB_LLM_MAX_CALLS; i++)
		o += (size_t)snprintf(body + o, sizeof body - o, "%s{\"function\":{\"name\":\"f\",\"arguments\":{}}}",
		                      i ? "," : "");
	snprintf(body + o, sizeof body - o, "]},\"done\":true}");
	rdb_model_cfg m = model(RDB_PROV_OLLAMA);
	rdb_llm_result r;
	rdb_err e = {0};
	ck_assert_int_eq(rdb_llm_parse_answer(&m, body, strlen(body), 0, NULL, 0, &r, &e), RAGDB_EIO);
	ck_assert_ptr_nonnull(strstr(e.msg, "tool calls in one reply"));
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("providers_llm_tools");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, anthropic_stream);
	tcase_add_test(tc, anthropic_whole);
	tcase_add_test(tc, anthropic_stray_input);
	tcase_add_test(tc, openai_stream_two_calls);
	tcase_add_test(tc, openai_whole_bad_args);
	tcase_add_test(tc, ollama_stream);
	tcase_add_test(tc, gemini_stream);
	tcase_add_test(tc, too_many_calls);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
