/*
 * engine/providers/local_tune.h — the corpus-fitted ("tuned") variant of the
 * local embedder: per-word-feature weights computed from a knowledge base's
 * own chunks (ragdb tune), applied on top of hash-v1.
 *
 * A tuned embedder multiplies each word feature (a stem, or a stopword) and
 * the character n-grams of that word by the feature's weight, the square
 * root of its inverse document frequency over the chunks (local_tune.c has
 * the measurements): words found in most chunks say little about any. Queries and documents are weighted alike. Features not
 * in the table (words first seen after the tune) get the table's default
 * weight. Its model string is RDB_LOCAL_TUNED_PREFIX + 16 hex digits of the
 * XXH3-64 of the weights blob, so two knowledge bases tuned alike carry the
 * same model, and a blob that does not match its model is refused.
 *
 * Weights blob (all little-endian; stored by index/ as opaque bytes, see
 * docs/ARCHITECTURE.md "meta"):
 *   0   u32 magic 0x57424452 ("RDBW")
 *   4   u32 version, 1
 *   8   u32 n, number of entries (<= RDB_LOCAL_TUNE_MAX_FEATURES)
 *   12  u32 chunks the weights were computed from
 *   16  f32 default weight, for features not listed
 *   20  u32 reserved, 0
 *   24  n x { u64 feature key, f32 weight }, keys strictly ascending, weights
 *       finite and > 0
 */
#ifndef RDB_LOCAL_TUNE_H
#define RDB_LOCAL_TUNE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/providers/embedder.h"

#define RDB_LOCAL_TUNED_PREFIX RDB_LOCAL_MODEL "+tuned-"
#define RDB_LOCAL_TUNE_MAGIC 0x57424452u
#define RDB_LOCAL_TUNE_HDR 24u
#define RDB_LOCAL_TUNE_ENTRY 12u
#define RDB_LOCAL_TUNE_MAX_FEATURES (16u << 20)

/* Decoded weights: an open-addressing table (keys are never 0). */
typedef struct rdb_local_weights {
	uint64_t *keys;
	float *w;
	size_t mask;       /* capacity - 1, a power of two minus one */
	float dflt;
	uint32_t n;
} rdb_local_weights;

static inline float rdb_local_weight(const rdb_local_weights *lw, uint64_t key)
{
	size_t j = (size_t)(key * 0x9E3779B97F4A7C15ull >> 20) & lw->mask;
	while (lw->keys[j]) {
		if (lw->keys[j] == key)
			return lw->w[j];
		j = (j + 1) & lw->mask;
	}
	return lw->dflt;
}

/* Validate and decode a weights blob. RAGDB_ECORRUPT names what is wrong. */
ragdb_status rdb_local_weights_decode(const void *blob, size_t len, rdb_local_weights **out,
                                      rdb_err *err);
void rdb_local_weights_free(rdb_local_weights *lw); /* accepts NULL */

/* The model string of the embedder tuned with @p blob into @p buf (64). */
void rdb_local_tuned_model(const void *blob, size_t len, char *buf, size_t cap);

/* The local embedder with the weights of @p blob (copied; may be freed after). */
ragdb_status rdb_local_embedder_open_tuned(uint32_t dim, const void *blob, size_t len,
                                           rdb_embedder **out, rdb_err *err);

/* Whether @p e is the local embedder (tuned or not). */
int rdb_local_is(const rdb_embedder *e);

/* Apply the weights of @p blob to the local embedder @p e (blob NULL: back
 * to plain hash-v1), model string included. Other threads may be embedding
 * with @p e meanwhile: they finish with the table they started with (old
 * tables are freed at close). Callers serialise retunes of one embedder.
 * RAGDB_EUNSUPPORTED when @p e is not the local embedder. */
ragdb_status rdb_local_retune(rdb_embedder *e, const void *blob, size_t len, rdb_err *err);

/* Call @p cb with the key of every word feature of @p text, in order, with
 * repeats (local.c: the same words, stems and stopwords embed_one uses). */
void rdb_local_word_keys(const char *text, size_t len, void (*cb)(void *ctx, uint64_t key),
                         void *ctx);

/* Document frequencies of word features over a set of texts. */
typedef struct rdb_local_df rdb_local_df;
ragdb_status rdb_local_df_create(rdb_local_df **out, rdb_err *err);
void rdb_local_df_free(rdb_local_df *df); /* accepts NULL */
/* Count each distinct word feature of @p text once. RAGDB_ENOMEM, or
 * RAGDB_EINVAL past RDB_LOCAL_TUNE_MAX_FEATURES distinct features. */
ragdb_status rdb_local_df_add(rdb_local_df *df, const char *text, size_t len, rdb_err *err);
/* The weights blob for the texts counted so far (malloc'd, *len bytes);
 * *n_features receives the number of entries. */
ragdb_status rdb_local_df_weights(const rdb_local_df *df, void **blob, size_t *len,
                                  uint64_t *n_features, rdb_err *err);

#endif
