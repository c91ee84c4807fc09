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
 * through the answer cache (llm_cache.h) unless the request says no_cache
 * or offers tools: a cached answer is handed to on_delta in one piece.
 *
 * Tool use: a request may offer tools and carry the earlier rounds of a
 * tool conversation (the model's calls and ragdb's results); the result
 * then holds the model's new calls, if any. Each provider's own wire format
 * is built and parsed here (Anthropic tool_use/tool_result blocks, OpenAI
 * tool_calls and role "tool" messages, Ollama the same with object
 * arguments and tool_name, Gemini functionCall/functionResponse parts).
 * While tools are offered, streamed text is held back until it is clearly
 * an answer (RDB_LLM_HOLD bytes, or the end of a reply without calls), so
 * the remarks a model makes before calling a tool are not streamed.
 */
#ifndef RDB_LLM_H
#define RDB_LLM_H

#include <stddef.h>
#include <stdint.h>

#include "index/err.h"
#include "engine/providers/config.h"

/* A tool offered to the model. */
typedef struct rdb_llm_tool {
	const char *name;
	const char *description;
	const char *parameters;  /* JSON Schema of its arguments, as JSON text */
} rdb_llm_tool;

/* A tool call the model made. */
typedef struct rdb_llm_call {
	char *id;         /* the provider's call id; "" when it gives none (Ollama) */
	char *name;
	char *args;       /* the arguments as JSON text, as the model wrote them:
	                     they may not be valid JSON */
	char *signature;  /* Gemini thoughtSignature to send back, or NULL */
} rdb_llm_call;

/* One earlier round of a tool conversation: the model's reply that made
 * calls, and ragdb's result for each call (same order). */
typedef struct rdb_llm_round {
	const char *text;             /* the model's text beside its calls, or NULL */
	const rdb_llm_call *calls;
	size_t n_calls;
	const char *const *results;   /* one per call */
	const int *is_error;          /* one per call (may be NULL: none) */
} rdb_llm_round;

typedef struct rdb_llm_request {
	const char *system;   /* instructions, or NULL */
	const char *user;     /* the prompt */
	int stream;           /* ask for a streamed answer */
	/* Each piece of the answer as it arrives (streamed) or once (not);
	 * may be NULL. Called on the calling thread. */
	void (*on_delta)(void *ctx, const char *text, size_t len);
	void *ctx;
	int no_cache;         /* neither read nor fill the answer cache */
	/* Tools offered (none: n_tools 0). tools_off: the tools stay declared
	 * (a conversation holding tool calls needs them on Anthropic) but the
	 * model is told not to call any (Ollama: they are left out). */
	const rdb_llm_tool *tools;
	size_t n_tools;
	int tools_off;
	const rdb_llm_round *rounds;  /* earlier rounds, after the user prompt */
	size_t n_rounds;
} rdb_llm_request;

typedef struct rdb_llm_result {
	char *text;           /* the whole answer, NUL-ended */
	size_t len;
	uint64_t input_tokens, output_tokens; /* as the provider reported them */
	double cost;          /* from the configured prices; 0 when unknown */
	char stop_reason[32];
	int cached;           /* from the answer cache: no call, usage and cost 0 */
	rdb_llm_call *calls;  /* the tool calls the model made (text then holds
	                         what it said beside them, not an answer) */
	size_t n_calls;
} rdb_llm_result;

#define RDB_LLM_MAX_ANSWER (8u << 20) /* bytes of answer text kept */
#define RDB_LLM_MAX_CALLS 16          /* tool calls kept from one reply */
#define RDB_LLM_MAX_ARGS (64u << 10)  /* bytes of one call's arguments */
#define RDB_LLM_HOLD 256              /* bytes held back while tools are offered */

/* Ask model @p m. @p out is written only on success (free with
 * rdb_llm_result_clear). Errors name the model and quote the provider:
 * RAGDB_EPERM (bad or missing key), RAGDB_ENOTFOUND (no such model or
 * path), RAGDB_EINVAL (request refused), RAGDB_EIO (network, overloaded,
 * cut off, malformed), RAGDB_ENOMEM. */
ragdb_status rdb_llm_complete(const rdb_model_cfg *m, const rdb_llm_request *req,
                              rdb_llm_result *out, rdb_err *err);
void rdb_llm_result_clear(rdb_llm_result *r);

#endif
