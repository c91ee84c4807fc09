/*
 * engine/model_check.c — ragdb_check_model: is a language model reachable
 * and does it accept our key? One answer of one token, past the answer
 * cache (a cached answer would say nothing about the model now).
 */
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
