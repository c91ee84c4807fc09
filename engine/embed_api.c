/*
 * engine/embed_api.c — ragdb_embed: the knowledge base's embedder offered to
 * callers (the server's embeddings endpoint), in the embedder's batch sizes.
 */
#include <string.h>
#include <stdlib.h>

#include "engine/internal.h"

ragdb_status ragdb_embed(ragdb *db, const char *const *texts, size_t n, int query, float *out)
{
	ragdb_status st = rdb_ready(db);
	if (st != RAGDB_OK)
		return st;
	if (n > 0 && (!texts || !out))
		return rdb_failf(db, RAGDB_EINVAL, "no texts or no output buffer given");
	size_t bmax = db->embedder->batch_max ? db->embedder->batch_max : 64;
	size_t dim = db->embedder->dim;
	size_t *lens = malloc(sizeof *lens * (bmax ? bmax : 1));
	if (!lens)
		return rdb_failf(db, RAGDB_ENOMEM, "out of memory");
	rdb_err e = {0};
	for (size_t i = 0; i < n && st == RAGDB_OK; i += bmax) {
		size_t m = n - i < bmax ? n - i : bmax;
		for (size_t j = 0; j < m; j++) {
			if (!texts[i + j]) {
				st = rdb_err_set(&e, RAGDB_EINVAL, "text %zu is NULL", i + j + 1);
				break;
			}
			lens[j] = strlen(texts[i + j]);
		}
		if (st == RAGDB_OK)
			st = rdb_embedder_embed(db->embedder, texts + i, lens, m,
			                        query ? RDB_EMBED_QUERY : RDB_EMBED_DOCUMENT, out + i * dim, &e);
	}
	free(lens);
	return st == RAGDB_OK ? RAGDB_OK : rdb_fail(db, &e);
}
