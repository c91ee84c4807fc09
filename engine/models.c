/*
 * engine/models.c — the handle's provider settings: which ragdb.json it
 * reads, the embedder endpoint override, and answering with a language
 * model for ragdb_query().
 *
 * Where the configuration comes from, first found wins: the path given to
 * ragdb_set_config() or ragdb_create_options.config; $RAGDB_CONFIG;
 * ragdb.json in the knowledge base directory (optional). An explicitly
 * named file must exist.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"
#include "engine/providers/config.h"
#include "engine/providers/llm.h"

ragdb_status rdb_models_load(ragdb *db, const char *dir, const char *path, const char *endpoint,
                             rdb_err *e)
{
	char buf[4096];
	int required = 1;
	if (!path || !*path)
		path = getenv("RAGDB_CONFIG");
	if (!path || !*path) {
		required = 0;
		path = NULL;
		if (dir && snprintf(buf, sizeof buf, "%s/%s", dir, RDB_CONFIG_FILE) < (int)sizeof buf)
			path = buf;
	}
	rdb_config *c = NULL;
	ragdb_status st = rdb_config_load(path, required, &c, e);
	if (st != RAGDB_OK)
		return st;
	if (!endpoint || !*endpoint)
		endpoint = getenv("RAGDB_EMBED_ENDPOINT");
	char *ep = NULL;
	if (endpoint && *endpoint && !(ep = strdup(endpoint))) {
		rdb_config_free(c);
		return rdb_err_set(e, RAGDB_ENOMEM, "out of memory");
	}
	rdb_config_free(db->config);
	free(db->embed_endpoint);
	db->config = c;
	db->embed_endpoint = ep;
	return RAGDB_OK;
}

void rdb_models_free(ragdb *db)
{
	rdb_config_free(db->config);
	free(db->embed_endpoint);
	db->config = NULL;
	db->embed_endpoint = NULL;
}

/* Re-open a remote embedder with the handle's current settings (its
 * identity, from the store, does not change). */
static ragdb_status reopen_embedder(ragdb *db, rdb_err *e)
{
	if (!db->embedder || !db->embedder->remote)
		return RAGDB_OK;
	char spec[160];
	snprintf(spec, sizeof spec, "%s:%s", db->embedder->name, db->embedder->model);
	rdb_embedder *ne = NULL;
	ragdb_status st = rdb_embedder_open_cfg(spec, db->embedder->dim, db->config,
	                                        db->embed_endpoint, &ne, e);
	if (st != RAGDB_OK)
		return st;
	rdb_embedder_close(db->embedder);
	db->embedder = ne;
	ne->cache = db->ecache;
	return RAGDB_OK;
}

ragdb_status ragdb_set_config(ragdb *db, const char *path)
{
	ragdb_status st = rdb_ready(db);
	if (st != RAGDB_OK)
		return st;
	rdb_err e = {0};
	char *ep = db->embed_endpoint ? strdup(db->embed_endpoint) : NULL;
	st = rdb_models_load(db, rdb_store_dir(db->store), path, ep, &e);
	free(ep);
	if (st == RAGDB_OK)
		st = reopen_embedder(db, &e);
	if (st == RAGDB_OK)
		rdb_cache_attach(db, rdb_store_dir(db->store)); /* the file may name another cache */
	return st == RAGDB_OK ? RAGDB_OK : rdb_fail(db, &e);
}

ragdb_status ragdb_set_endpoint(ragdb *db, const char *url)
{
	ragdb_status st = rdb_ready(db);
	if (st != RAGDB_OK)
		return st;
	if (url && *url && !strstr(url, "://"))
		return rdb_failf(db, RAGDB_EINVAL, "endpoint \"%s\" is not a URL; give http://HOST:PORT or https://...", url);
	char *ep = url && *url ? strdup(url) : NULL;
	if (url && *url && !ep)
		return rdb_failf(db, RAGDB_ENOMEM, "out of memory");
	free(db->embed_endpoint);
	db->embed_endpoint = ep;
	rdb_err e = {0};
	st = reopen_embedder(db, &e);
	return st == RAGDB_OK ? RAGDB_OK : rdb_fail(db, &e);
}

const char *rdb_models_default(const ragdb *db)
{
	return rdb_config_default_model(db->config);
}

#define ANSWER_SYSTEM                                                                         \
	"You are the answering step of a retrieval-augmented knowledge base. Answer from the " \
	"numbered sources you are given, cite them as [n], and say so when they do not hold " \
	"the answer."

ragdb_status rdb_models_answer(ragdb *db, const char *model, const char *prompt,
                               void (*on_delta)(void *, const char *, size_t), void *ctx,
                               ragdb_answer *a, rdb_err *e)
{
	return rdb_models_answer_nc(db, model, prompt, on_delta, ctx, 0, a, e);
}

ragdb_status rdb_models_answer_nc(ragdb *db, const char *model, const char *prompt,
                                  void (*on_delta)(void *, const char *, size_t), void *ctx,
                                  int no_cache, ragdb_answer *a, rdb_err *e)
{
	rdb_model_cfg m;
	ragdb_status st = rdb_config_resolve(db->config, model, NULL, &m, e);
	if (st != RAGDB_OK)
		return st;
	rdb_llm_request req = {.system = ANSWER_SYSTEM, .user = prompt, .stream = on_delta != NULL,
	                       .on_delta = on_delta, .ctx = ctx, .no_cache = no_cache};
	rdb_llm_result r;
	st = rdb_llm_complete(&m, &req, &r, e);
	if (st == RAGDB_OK) {
		char *name = malloc(strlen(rdb_provider_name(m.provider)) + strlen(m.model) + 2);
		if (!name) {
			rdb_llm_result_clear(&r);
			st = rdb_err_set(e, RAGDB_ENOMEM, "out of memory");
			goto out;
		}
		sprintf(name, "%s:%s", rdb_provider_name(m.provider), m.model);
		a->answer = r.text;
		r.text = NULL;
		a->model = name;
		a->extractive = 0;
		a->input_tokens = r.input_tokens;
		a->output_tokens = r.output_tokens;
		a->cost = r.cost;
		a->cached = r.cached;
		rdb_llm_result_clear(&r);
	}
out:
	rdb_model_cfg_clear(&m);
	return st;
}
