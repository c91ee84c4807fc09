/*
 * engine/providers/embedder.c — opening an embedder by name.
 *
 * The one place that knows which embedders exist: the built-in local one,
 * and the remote providers of remote_embed.c ("provider:model", or a model
 * named in ragdb.json).
 */
#include "engine/providers/embedder.h"

#include <string.h>

#include "engine/providers/config.h"

ragdb_status rdb_embedder_open_cfg(const char *name, uint32_t dim, const struct rdb_config *cfg,
                                   const char *endpoint, rdb_embedder **out, rdb_err *err)
{
	if (!name || !*name || strcmp(name, "local") == 0 ||
	    strcmp(name, "local:" RDB_LOCAL_MODEL) == 0)
		return rdb_local_embedder_open(dim, out, err);
	if (strcmp(name, "external") == 0 || strcmp(name, "external:external") == 0)
		return rdb_external_embedder_open(dim, out, err);
	const char *colon = strchr(name, ':');
	int named = 0;
	if (cfg) {
		rdb_model_cfg m;
		rdb_err ignore = {0};
		if (!colon && rdb_config_resolve(cfg, name, NULL, &m, &ignore) == RAGDB_OK) {
			named = 1;
			rdb_model_cfg_clear(&m);
		}
	}
	if (!colon && !named)
		return rdb_err_set(err, RAGDB_EINVAL,
		                   "unknown embedder \"%s\"; known: local, external (vectors you "
		                   "bring), or provider:model with provider "
		                   "openai, ollama, huggingface or gemini (e.g. openai:text-embedding-3-small), "
		                   "or a model named in ragdb.json",
		                   name);
	return rdb_remote_embedder_open(cfg, name, endpoint, dim, out, err);
}

ragdb_status rdb_embedder_open(const char *name, uint32_t dim, rdb_embedder **out, rdb_err *err)
{
	return rdb_embedder_open_cfg(name, dim, NULL, NULL, out, err);
}
