/*
 * tests/fuzz/fuzz_llm_response.c — the answer parsers of the language
 * models (engine/providers/llm.c through rdb_llm_parse_answer): Anthropic,
 * OpenAI, Ollama and Gemini, whole answers and streams (SSE; NDJSON for
 * Ollama) cut at arbitrary points, text and tool calls. The first byte
 * picks the provider (bits 0-1) and whole/stream (bit 2); then
 * fuzz_split.h's cuts; then the body.
 * Property: OK with a NUL-ended text of the length reported (no NUL
 * inside) and complete tool calls, or an error status with a message; a
 * stream gives the same result (status, text, usage, stop reason, tool
 * calls) in one piece as in the fuzzed pieces; no crash, leak or
 * over-read.
 */
#include "engine/providers/parse_entry.h"
#include "fuzz_split.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const rdb_provider provs[4] = { RDB_PROV_ANTHROPIC, RDB_PROV_OPENAI, RDB_PROV_OLLAMA,
                                       RDB_PROV_GEMINI };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	rdb_model_cfg m;
	memset(&m, 0, sizeof m);
	m.provider = provs[data[0] & 3];
	m.name = (char *)"fuzz-model";
	m.model = (char *)"m";
	m.endpoint = (char *)"http://127.0.0.1:1";
	int stream = (data[0] >> 2) & 1;
	const uint8_t *body;
	size_t len, cuts[FZ_MAX_CUTS];
	size_t n = fz_split(data + 1, size - 1, &body, &len, cuts);

	rdb_llm_result a, b;
	rdb_err ea = { 0 }, eb = { 0 };
	ragdb_status sa = rdb_llm_parse_answer(&m, (const char *)body, len, stream, NULL, 0, &a, &ea);
	if (sa == RAGDB_OK) {
		FZ_ASSERT(a.text && strlen(a.text) == a.len);
		FZ_ASSERT(memchr(a.stop_reason, 0, sizeof a.stop_reason));
		for (size_t i = 0; i < a.n_calls; i++)
			FZ_ASSERT(a.calls[i].id && a.calls[i].name && a.calls[i].args);
	} else {
		FZ_ASSERT(sa == RAGDB_EIO || sa == RAGDB_EINVAL || sa == RAGDB_ENOMEM);
		FZ_ASSERT(ea.msg[0] != 0);
	}
	if (stream) {
		ragdb_status sb = rdb_llm_parse_answer(&m, (const char *)body, len, 1, cuts, n, &b, &eb);
		FZ_ASSERT(sa == sb);
		if (sa == RAGDB_OK) {
			FZ_ASSERT(a.len == b.len && memcmp(a.text, b.text, a.len) == 0);
			FZ_ASSERT(a.input_tokens == b.input_tokens && a.output_tokens == b.output_tokens);
			FZ_ASSERT(strcmp(a.stop_reason, b.stop_reason) == 0);
			FZ_ASSERT(a.n_calls == b.n_calls);
			for (size_t i = 0; i < a.n_calls; i++)
				FZ_ASSERT(strcmp(a.calls[i].name, b.calls[i].name) == 0 &&
				          strcmp(a.calls[i].args, b.calls[i].args) == 0);
			rdb_llm_result_clear(&b);
		}
	}
	if (sa == RAGDB_OK)
		rdb_llm_result_clear(&a);
	return 0;
}
