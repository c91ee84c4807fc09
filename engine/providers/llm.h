/*
 * engine/providers/llm.h — language models over their own wire protocols:
 * Anthropic Messages, OpenAI-compatible chat completions, Ollama /api/chat,
 * Gemini generateContent; streamed (SSE or NDJSON) or not.
 *
 * A streamed answer is complete only when the provider's end marker
 * arrives (Anthropic message_stop, OpenAI [DONE], Ollama "done": true,
 * Gemini a finishReason); a stream that ends without it is an error, and
 * the text received so far is not returned as an answer.
 *
 * Every call is counted in the model's metrics (metrics.h), and answers go
 * through the answer cache (llm_cache.h) unless the request says no_cache:
 * a cached answer is handed to on_delta in one piece.
 */
#ifndef RDB_LLM_H
#define RDB_LLM_H

#include <stddef.h>
#include <stdint.h>

#include "index/err.h"
#include "engine/providers/config.h"

typedef struct rdb_llm_request {
	const char *system;   /* instructions, or NULL */
	const char *user;     /* the prompt */
	int stream;           /* ask for a streamed answer */
	/* Each piece of the answer as it arrives (streamed) or once (not);
	 * may be NULL. Called on the calling thread. */
	void (*on_delta)(void *ctx, const char *text, size_t len);
	void *ctx;
	int no_cache;         /* neither read nor fill the answer cache */
} rdb_llm_request;

typedef struct rdb_llm_result {
	char *text;           /* the whole answer, NUL-ended */
	size_t len;
	uint64_t input_tokens, output_tokens; /* as the provider reported them */
	double cost;          /* from the configured prices; 0 when unknown */
	char stop_reason[32];
	int cached;           /* from the answer cache: no call, usage and cost 0 */
} rdb_llm_result;

#define RDB_LLM_MAX_ANSWER (8u << 20) /* bytes of answer text kept */

/* Ask model @p m. @p out is written only on success (free with
 * rdb_llm_result_clear). Errors name the model and quote the provider:
 * RAGDB_EPERM (bad or missing key), RAGDB_ENOTFOUND (no such model or
 * path), RAGDB_EINVAL (request refused), RAGDB_EIO (network, overloaded,
 * cut off, malformed), RAGDB_ENOMEM. */
ragdb_status rdb_llm_complete(const rdb_model_cfg *m, const rdb_llm_request *req,
                              rdb_llm_result *out, rdb_err *err);
void rdb_llm_result_clear(rdb_llm_result *r);

#endif
