/*
 * engine/providers/embedder.h — the embedder interface.
 *
 * An embedder turns texts into L2-normalised float vectors of a fixed
 * dimension. The knowledge base records its name, model and dimension at
 * creation; every later ingest and search must use the same identity.
 * Embedders are safe to call from several threads at once.
 * Remote embedders (remote_embed.c: openai, ollama, huggingface, gemini)
 * sit behind this same interface; they are named "provider:model".
 */
#ifndef RDB_EMBEDDER_H
#define RDB_EMBEDDER_H

#include <stddef.h>
#include <stdint.h>

#include "index/err.h"

typedef enum rdb_embed_purpose {
	RDB_EMBED_DOCUMENT = 0,
	RDB_EMBED_QUERY = 1,
} rdb_embed_purpose;

typedef struct rdb_embedder rdb_embedder;

struct rdb_embedder_ops {
	ragdb_status (*embed)(rdb_embedder *e, const char *const *texts, const size_t *lens, size_t n,
	                      rdb_embed_purpose purpose, float *out, rdb_err *err);
	void (*close)(rdb_embedder *e);
};

struct rdb_embedder {
	const struct rdb_embedder_ops *ops;
	char name[64];       /* provider name: "local" */
	char model[64];      /* model identity, versioned: "hash-v1" */
	uint32_t dim;
	size_t max_input;    /* bytes per text the embedder reads (longer: truncated) */
	size_t batch_max;    /* texts per embed call */
	int remote;          /* calls a provider over the network */
	uint64_t n_truncated; /* texts cut to max_input so far (atomic adds) */
	/* The persistent vector cache (index/ecache.h), or NULL: set by the
	 * handle that opened the embedder, not owned; remote embedders look
	 * every text up there before calling their provider. */
	struct rdb_ecache *cache;
};

/* Open an embedder by name: NULL, "local" or "local:hash-v1" for the
 * built-in one; "provider:model" or a model named in the configuration for
 * a remote one. dim 0 = its default (a remote embedder then asks its
 * provider once, with one short text, to learn the dimension).
 * RAGDB_EINVAL names the known embedders when @p name is unknown. */
ragdb_status rdb_embedder_open(const char *name, uint32_t dim, rdb_embedder **out, rdb_err *err);

struct rdb_config;
/* As rdb_embedder_open, with a configuration (may be NULL) and an endpoint
 * given on the command line (may be NULL; overrides every other source). */
ragdb_status rdb_embedder_open_cfg(const char *name, uint32_t dim, const struct rdb_config *cfg,
                                   const char *endpoint, rdb_embedder **out, rdb_err *err);

/* The remote embedders (remote_embed.c). */
ragdb_status rdb_remote_embedder_open(const struct rdb_config *cfg, const char *spec,
                                      const char *endpoint, uint32_t dim, rdb_embedder **out,
                                      rdb_err *err);

/* out receives n x dim floats, each row L2-normalised (an empty text gives a
 * zero vector). */
static inline ragdb_status rdb_embedder_embed(rdb_embedder *e, const char *const *texts,
                                              const size_t *lens, size_t n,
                                              rdb_embed_purpose purpose, float *out, rdb_err *err)
{
	return e->ops->embed(e, texts, lens, n, purpose, out, err);
}

static inline void rdb_embedder_close(rdb_embedder *e)
{
	if (e)
		e->ops->close(e);
}

/* The built-in local embedder (engine/providers/local.c). */
/* 768, not 384: on the manpages set nDCG@10 is 0.578 at 768 against 0.520
 * at 384 (hash collisions), for twice the vector bytes. */
#define RDB_LOCAL_DEFAULT_DIM 768
#define RDB_LOCAL_MODEL "hash-v1"
ragdb_status rdb_local_embedder_open(uint32_t dim, rdb_embedder **out, rdb_err *err);
/* For tests of the local embedder's n-gram cache (a thread gets one after
 * embedding 64 KB of text): the words whose n-grams the calling thread took
 * from it so far, and turning it off for the calling thread. */
size_t rdb_local_cache_hits(void);
void rdb_local_cache_disable(void);

/* The external embedder (engine/providers/external.c): vectors the caller
 * brings; dim is required; embedding text fails RAGDB_EEMBEDDER. */
ragdb_status rdb_external_embedder_open(uint32_t dim, rdb_embedder **out, rdb_err *err);

#endif
