/*
 * engine/block_embed.h — re-embedding the live chunks of one vector block,
 * shared by `ragdb tune` (engine/tune.c) and `ragdb reembed`
 * (engine/reembed_api.c), whose block rewriters call it per block.
 */
#ifndef RDB_ENGINE_BLOCK_EMBED_H
#define RDB_ENGINE_BLOCK_EMBED_H

#include "engine/internal.h"

/* The caller's buffers, sized for one block of @p cap slots. */
typedef struct rdb_block_embed_bufs {
	rdb_buf *text, *scratch; /* the text embedded; chunk decoding */
	char **texts;            /* cap entries, NULL between calls */
	size_t *lens;            /* cap entries */
	float *tmp;              /* cap x work->dim */
	uint32_t cap;
} rdb_block_embed_bufs;

/* Embed, with @p work, the text (as the ingest pipeline builds it) of every
 * live chunk (ids[i] != 0) of a block of @p count slots read in @p t, into
 * vecs (count x work->dim; dead slots untouched); *n_live = chunks embedded.
 * RAGDB_EINTR when db was interrupted (nothing embedded). */
ragdb_status rdb_block_embed(ragdb *db, rdb_txn *t, rdb_embedder *work,
                             const rdb_block_embed_bufs *b, const uint64_t *ids, uint32_t count,
                             float *vecs, uint32_t *n_live, rdb_err *err);

#endif
