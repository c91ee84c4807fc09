/*
 * engine/providers/config.h — ragdb.json and the provider defaults: which
 * endpoint, key, limits and prices a model name stands for.
 *
 * A model is named "provider:model" (openai:text-embedding-3-small) or by a
 * name defined in ragdb.json. Resolution gives an rdb_model_cfg with every
 * field decided, by this precedence: command-line flag > environment
 * variable > configuration file > built-in default. API keys stay
 * references ("${OPENAI_API_KEY}") in memory; rdb_model_key() expands one
 * at the moment of use into a buffer the caller wipes.
 *
 * File format (all fields optional but a model's provider and model):
 *   {
 *     "timeout": 120, "connect_timeout": 10, "max_retries": 4,   (seconds)
 *     "default_model": "claude",
 *     "cache": { "ttl_seconds": 3600, "max_entries": 1000, "max_bytes": 67108864 },
 *     "models": {
 *       "claude": { "provider": "anthropic", "model": "claude-sonnet-4-5",
 *                   "api_key": "${ANTHROPIC_API_KEY}", "max_tokens": 1024,
 *                   "temperature": 0.2, "context_window": 200000,
 *                   "price_input": 3.0, "price_output": 15.0 },      (per 1M tokens)
 *       "emb": { "provider": "openai", "model": "text-embedding-3-small",
 *                "endpoint": "http://localhost:8000/v1", "dimensions": 512,
 *                "batch_size": 256, "max_input_bytes": 24000, "parallel": 8 },
 *       "local-llm": { "provider": "openai", "model": "qwen",
 *                      "endpoints": ["http://a:8000/v1", "http://b:8000/v1"],
 *                      "balance": "least_latency", "kind": "chat" }
 *                (several servers of one model: balance.h; "endpoint", if
 *                 also given, is the first; "kind": "embedding" | "chat")
 *     }
 *   }
 */
#ifndef RDB_CONFIG_H
#define RDB_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "index/err.h"
#include "engine/providers/http.h"
#include "engine/providers/llm_cache.h"

#define RDB_CONFIG_FILE "ragdb.json"
#define RDB_CONFIG_MAX_BYTES (1u << 20)

typedef enum rdb_provider {
	RDB_PROV_OPENAI = 0,
	RDB_PROV_ANTHROPIC,
	RDB_PROV_OLLAMA,
	RDB_PROV_GEMINI,
	RDB_PROV_HUGGINGFACE,
	RDB_PROV_COUNT
} rdb_provider;

/* A model with everything decided. Strings are owned (rdb_model_cfg_clear). */
typedef struct rdb_model_cfg {
	char *name;          /* as the user named it */
	rdb_provider provider;
	char *model;         /* the provider's model id */
	char *endpoint;      /* base URL, no trailing slash (openai: including /v1) */
	char *api_key;       /* a reference "${VAR}" or a literal; NULL = none */
	const char *key_var; /* the env variable the key comes from, for messages */
	uint32_t max_tokens;     /* LLM answer cap */
	double temperature;      /* < 0 = the provider's default */
	uint32_t context_window; /* tokens; 0 = unknown */
	double price_input, price_output; /* per 1M tokens; 0 = unknown */
	uint32_t dimensions;     /* embedders: ask for this many (OpenAI v3 models) */
	uint32_t batch_size;     /* embedders: texts per request */
	size_t max_input_bytes;  /* embedders: longer texts are truncated */
	uint32_t parallel;       /* requests in flight per call */
	rdb_http_opts http;
	rdb_cache_opts cache;    /* LLM answer cache: the file's top-level "cache" */
	/* "endpoints" (several servers of this model) with "balance": the
	 * process-wide balancer (balance.h; not owned, lives as long as the
	 * process), NULL with one endpoint. endpoint is then the first. */
	struct rdb_balancer *bal;
	/* An embedding model: "kind": "embedding" in the file, or (no "kind")
	 * a huggingface model, an entry with embedding options (dimensions,
	 * batch_size, max_input_bytes), or a model id naming it (embed, bge,
	 * minilm). `models check` embeds with it instead of asking it. */
	int embedding;
} rdb_model_cfg;

typedef struct rdb_config rdb_config;

/* Load @p path; NULL @p path = no file (defaults and environment only).
 * A missing file is RAGDB_ENOTFOUND only when @p required. Errors name the
 * file and the field. */
ragdb_status rdb_config_load(const char *path, int required, rdb_config **out, rdb_err *err);
void rdb_config_free(rdb_config *c);
/* The file it came from, or NULL. */
const char *rdb_config_path(const rdb_config *c);
/* The configured default LLM ("default_model"), or NULL. */
const char *rdb_config_default_model(const rdb_config *c);

/* Resolve @p spec ("provider:model" or a configured name). @p endpoint_flag
 * (may be NULL) overrides every other endpoint source. @p c may be NULL. */
ragdb_status rdb_config_resolve(const rdb_config *c, const char *spec, const char *endpoint_flag,
                                rdb_model_cfg *out, rdb_err *err);
void rdb_model_cfg_clear(rdb_model_cfg *m);

const char *rdb_provider_name(rdb_provider p);
/* The provider named @p s (length @p n); -1 if unknown. */
int rdb_provider_parse(const char *s, size_t n);

/* Expand the model's key: "${VAR}" reads the environment now; a literal is
 * copied. *key = NULL when the model has none (allowed: local servers).
 * Free with rdb_key_free (wipes). */
ragdb_status rdb_model_key(const rdb_model_cfg *m, char **key, rdb_err *err);
void rdb_key_free(char *key);

#endif
