/*
 * engine/providers/external.c — the "external" embedder: no text model at
 * all, for knowledge bases whose vectors the caller brings (ragdb
 * import-vectors, ingest --embedding-field, search --vectors). It records
 * the identity and dimension like any embedder and refuses to embed text,
 * saying how to pass vectors instead.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/providers/embedder.h"

static ragdb_status ext_embed(rdb_embedder *e, const char *const *texts, const size_t *lens,
                              size_t n, rdb_embed_purpose purpose, float *out, rdb_err *err)
{
	(void)texts; (void)lens; (void)n; (void)out;
	return rdb_err_set(err, RAGDB_EEMBEDDER,
	                   "this knowledge base uses the external embedder (dimension %u): it has "
	                   "no text model to embed %s; pass vectors instead (ragdb import-vectors, "
	                   "ingest --embedding-field FIELD, search --vectors FILE, \"vector\" "
	                   "in POST /v1/search, or the bm25 search mode for text)",
	                   e->dim, purpose == RDB_EMBED_QUERY ? "a query" : "documents");
}

static void ext_close(rdb_embedder *e)
{
	free(e);
}

static const struct rdb_embedder_ops ext_ops = { ext_embed, ext_close };

ragdb_status rdb_external_embedder_open(uint32_t dim, rdb_embedder **out, rdb_err *err)
{
	if (dim == 0 || dim > 65536)
		return rdb_err_set(err, RAGDB_EINVAL, "the external embedder needs the dimension of "
		                   "your vectors: give --dim D (1..65536), got %u", dim);
	rdb_embedder *e = calloc(1, sizeof *e);
	if (!e)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory");
	e->ops = &ext_ops;
	strcpy(e->name, "external");
	strcpy(e->model, "external");
	e->dim = dim;
	e->max_input = 1;
	e->batch_max = 64;
	*out = e;
	return RAGDB_OK;
}
