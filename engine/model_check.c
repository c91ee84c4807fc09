/*
 * engine/model_check.c — ragdb_check_model: is a language model reachable
 * and does it accept our key? One answer of one token, past the answer
 * cache (a cached answer would say nothing about the model now).
 * ragdb_check_embedder: the same for an embedding model, with one short
 * text embedded past the vector caches, and the dimension it returned.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"
#include "engine/providers/config.h"
#include "engine/providers/llm.h"

ragdb_status ragdb_check_model(ragdb *db, const char *model)
{
	if (!db)
		return RAGDB_EINVAL;
	const char *spec = model && *model ? model : rdb_models_default(db);
	if (!spec || strcmp(spec, "extractive") == 0)
		return rdb_failf(db, RAGDB_ENOTFOUND,
		                 "no language model is configured (default_model in ragdb.json); the built-in "
		                 "extractive answerer needs no check");
	rdb_err e = {0};
	rdb_model_cfg m;
	ragdb_status st = rdb_config_resolve(db->config, spec, NULL, &m, &e);
	if (st != RAGDB_OK)
		return rdb_fail(db, &e);
	m.max_tokens = 1;
	rdb_llm_request req = {.user = "Reply with the single word: ok", .no_cache = 1};
	rdb_llm_result r;
	st = rdb_llm_complete(&m, &req, &r, &e);
	if (st == RAGDB_OK)
		rdb_llm_result_clear(&r);
	rdb_model_cfg_clear(&m);
	return st == RAGDB_OK ? RAGDB_OK : rdb_fail(db, &e);
}

ragdb_status ragdb_check_embedder(ragdb *db, const char *model, uint32_t *dim)
{
	ragdb_status st = rdb_ready(db);
	if (st != RAGDB_OK)
		return st;
	rdb_err e = {0};
	rdb_embedder *emb = NULL;
	float *v = NULL;
	static const char text[] = "ragdb models check";
	const char *texts[1] = {text};
	size_t lens[1] = {sizeof text - 1};
	int own = !model || !*model;
	char spec[160];
	uint32_t want = 0;
	if (own) {
		if (!db->embedder)
			return rdb_failf(db, RAGDB_ENOTFOUND, "this knowledge base has no embedder to check");
		if (!db->embedder->remote && strcmp(db->embedder->name, "local") != 0) {
			/* External vectors: the caller embeds; nothing here to call. */
			if (dim)
				*dim = db->embedder->dim;
			return RAGDB_OK;
		}
		snprintf(spec, sizeof spec, "%s:%s", db->embedder->name, db->embedder->model);
		/* Opened with the recorded dimension (the dimensions parameter of
		 * models that take one), so a server that now returns another
		 * size fails as an ingest would. */
		want = db->embedder->dim;
	} else {
		snprintf(spec, sizeof spec, "%s", model);
	}
	/* A fresh embedder: no persistent vector cache attached; dim 0 makes
	 * it ask its provider once. */
	if ((st = rdb_embedder_open_cfg(spec, want, db->config, own ? db->embed_endpoint : NULL, &emb,
	                                &e)) != RAGDB_OK)
		goto out_free;
	v = malloc((size_t)(emb->dim ? emb->dim : 1) * sizeof *v);
	if (!v) {
		st = rdb_err_set(&e, RAGDB_ENOMEM, "out of memory");
		goto out_free;
	}
	/* As a document: queries also go through the process's query cache. */
	if (want > 0 &&
	    (st = rdb_embedder_embed(emb, texts, lens, 1, RDB_EMBED_DOCUMENT, v, &e)) != RAGDB_OK)
		goto out_free;
	if (dim)
		*dim = emb->dim;
out_free:
	free(v);
	rdb_embedder_close(emb);
	return st == RAGDB_OK ? RAGDB_OK : rdb_fail(db, &e);
}
