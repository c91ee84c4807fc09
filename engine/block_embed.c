/*
 * engine/block_embed.c — re-embedding the live chunks of one vector block
 * (block_embed.h).
 */
#include <stdlib.h>
#include <string.h>

#include "engine/block_embed.h"
#include "engine/providers/text.h"

ragdb_status rdb_block_embed(ragdb *db, rdb_txn *t, rdb_embedder *work,
                             const rdb_block_embed_bufs *b, const uint64_t *ids, uint32_t count,
                             float *vecs, uint32_t *n_live, rdb_err *err)
{
	uint32_t dim = work->dim, n = 0;
	ragdb_status st = RAGDB_OK;
	if (db->interrupted)
		return rdb_err_set(err, RAGDB_EINTR, "interrupted; nothing was changed");
	for (uint32_t i = 0; i < count && i < b->cap; i++) {
		if (!ids[i])
			continue;
		rdb_chunk c;
		rdb_doc d;
		if ((st = rdb_chunk_get(t, ids[i], &c, b->scratch, err)) ||
		    (st = rdb_doc_get(t, c.doc, &d, err)) ||
		    (st = rdb_buf_reserve(b->text, rdb_embed_text_size(d.title, c.heading, c.text_len),
		                          err)))
			goto out_free;
		size_t len = rdb_embed_text_build(b->text->data, d.title, c.heading, c.text, c.text_len);
		if (!(b->texts[n] = malloc(len + 1))) {
			st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory re-embedding");
			goto out_free;
		}
		memcpy(b->texts[n], b->text->data, len + 1);
		b->lens[n++] = len;
	}
	size_t bmax = work->batch_max ? work->batch_max : 64;
	for (size_t i = 0; i < n && !st; i += bmax)
		st = rdb_embedder_embed(work, (const char *const *)b->texts + i, b->lens + i,
		                        n - i < bmax ? n - i : bmax, RDB_EMBED_DOCUMENT,
		                        b->tmp + i * dim, err);
	for (uint32_t i = 0, j = 0; !st && i < count; i++)
		if (ids[i])
			memcpy(vecs + (size_t)i * dim, b->tmp + (size_t)j++ * dim, sizeof(float) * dim);
	if (!st)
		*n_live = n;
out_free:
	for (uint32_t i = 0; i < n; i++) {
		free(b->texts[i]);
		b->texts[i] = NULL;
	}
	return st;
}
