/*
 * engine/ecache_api.c — the handle's persistent cache (index/ecache.h):
 * which directory, and who uses it.
 *
 * The directory: $RAGDB_CACHE_DIR, else ragdb.json "cache": {"dir"}, else
 * DIR/cache inside the knowledge base; "cache": {"embed_max_bytes"} caps it.
 * $RAGDB_CACHE=off turns it off (the caches of this process then live in
 * memory only, as before).
 *
 * Users: a remote embedder (every text looked up before a provider call;
 * the local embedder computes a vector faster than a lookup, so it is never
 * given the cache) and the LLM answer cache's second level. The cache is
 * opened read-write even on a read-only handle: it never touches the
 * knowledge base's environment (but a read-only handle does not create the
 * default DIR/cache). Failing to open it is not an error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "engine/internal.h"
#include "engine/providers/config.h"
#include "engine/providers/llm_cache.h"
#include "index/ecache.h"

/* ragdb.json's "cache": {"dir", "embed_max_bytes"}, read from the file the
 * handle's configuration came from (config.c validates the rest of it).
 * A malformed field is ignored here: the cache is best effort. */
static void file_settings(const rdb_config *cfg, char *dir, size_t cap, uint64_t *max_bytes)
{
	dir[0] = 0;
	*max_bytes = 0;
	const char *path = cfg ? rdb_config_path(cfg) : NULL;
	FILE *f = path ? fopen(path, "rb") : NULL;
	if (!f)
		return;
	char *buf = malloc(RDB_CONFIG_MAX_BYTES + 1);
	size_t n = buf ? fread(buf, 1, RDB_CONFIG_MAX_BYTES, f) : 0;
	fclose(f);
	cJSON *root = buf ? cJSON_ParseWithLength(buf, n) : NULL;
	cJSON *co = root ? cJSON_GetObjectItemCaseSensitive(root, "cache") : NULL;
	cJSON *d = co ? cJSON_GetObjectItemCaseSensitive(co, "dir") : NULL;
	cJSON *b = co ? cJSON_GetObjectItemCaseSensitive(co, "embed_max_bytes") : NULL;
	if (cJSON_IsString(d) && strlen(d->valuestring) < cap)
		snprintf(dir, cap, "%s", d->valuestring);
	if (cJSON_IsNumber(b) && b->valuedouble >= 1 && b->valuedouble < 1e15)
		*max_bytes = (uint64_t)b->valuedouble;
	cJSON_Delete(root);
	free(buf);
}

void rdb_cache_detach(ragdb *db)
{
	if (!db || !db->ecache)
		return;
	if (db->embedder && db->embedder->cache == db->ecache)
		db->embedder->cache = NULL;
	rdb_llm_cache_detach_disk(db->ecache);
	rdb_ecache_close(db->ecache);
	db->ecache = NULL;
}

/* The remembered dimension of a remote embedder "provider:model": opening
 * one without a dimension asks its provider (a call), so the dimension of
 * every remote embedder a knowledge base was opened with is kept, and
 * `ragdb reembed` back to it costs nothing. */
static rdb_ekey dim_key(const char *spec)
{
	XXH3_state_t st;
	XXH3_128bits_reset(&st);
	XXH3_128bits_update(&st, "dim1", 5);
	XXH3_128bits_update(&st, spec, strlen(spec));
	XXH128_hash_t h = XXH3_128bits_digest(&st);
	rdb_ekey k = {h.low64, h.high64};
	return k;
}

uint32_t rdb_cache_dim_get(ragdb *db, const char *spec)
{
	char *blob = NULL;
	size_t len = 0;
	uint32_t dim = 0;
	if (db->ecache && rdb_ecache_get_blob(db->ecache, dim_key(spec), 0, &blob, &len) &&
	    len == sizeof dim)
		memcpy(&dim, blob, sizeof dim);
	free(blob);
	return dim <= 65536 ? dim : 0;
}

void rdb_cache_dim_put(ragdb *db, const char *spec, uint32_t dim)
{
	if (db->ecache && dim && rdb_cache_dim_get(db, spec) != dim)
		rdb_ecache_put_blob(db->ecache, dim_key(spec), &dim, sizeof dim, 0, 0);
}

void rdb_cache_attach(ragdb *db, const char *kb_dir)
{
	rdb_cache_detach(db);
	const char *off = getenv("RAGDB_CACHE");
	if (off && (strcmp(off, "off") == 0 || strcmp(off, "0") == 0))
		return;
	char cdir[PATH_MAX];
	uint64_t max_bytes = 0;
	rdb_err e = {0};
	file_settings(db->config, cdir, sizeof cdir, &max_bytes);
	char path[PATH_MAX];
	if (rdb_ecache_path(kb_dir, cdir, path, sizeof path) != 0)
		return;
	/* The default DIR/cache is made by writable handles (init, ingest): a
	 * read-only one (search, query, stats, the verification of a backup
	 * copy) uses it when it is there but leaves the directory as it is. A
	 * cache named by RAGDB_CACHE_DIR or the file is always made. */
	const char *env = getenv("RAGDB_CACHE_DIR");
	int named = (env && *env) || cdir[0];
	char probe[PATH_MAX + 16];
	struct stat sb;
	if (!named && (db->flags & RAGDB_RDONLY) &&
	    (snprintf(probe, sizeof probe, "%s/data.mdb", path) >= (int)sizeof probe ||
	     stat(probe, &sb) != 0))
		return;
	if (rdb_ecache_open(path, max_bytes, &db->ecache, &e) != RAGDB_OK) {
		db->ecache = NULL;
		return;
	}
	if (db->embedder && db->embedder->remote) {
		db->embedder->cache = db->ecache;
		char spec[160];
		snprintf(spec, sizeof spec, "%s:%s", db->embedder->name, db->embedder->model);
		rdb_cache_dim_put(db, spec, db->embedder->dim);
	}
	rdb_llm_cache_attach_disk(db->ecache);
}

typedef struct check_ctx {
	void (*cb)(void *ctx, const char *msg);
	void *ctx;
	int repair;
} check_ctx;

static void on_bad(void *vctx, const char *problem)
{
	check_ctx *x = vctx;
	if (!x->cb)
		return;
	if (x->repair) {
		char msg[600];
		snprintf(msg, sizeof msg, "dropped %s", problem);
		x->cb(x->ctx, msg);
	} else {
		x->cb(x->ctx, problem);
	}
}

void rdb_cache_check(ragdb *db, int repair, void (*cb)(void *ctx, const char *msg), void *ctx,
                     uint64_t *n)
{
	const char *off = getenv("RAGDB_CACHE");
	if (off && (strcmp(off, "off") == 0 || strcmp(off, "0") == 0))
		return;
	char path[PATH_MAX], cdir[PATH_MAX];
	uint64_t max_bytes;
	if (db->ecache) {
		snprintf(path, sizeof path, "%s", rdb_ecache_dir(db->ecache));
	} else {
		file_settings(db->config, cdir, sizeof cdir, &max_bytes);
		if (rdb_ecache_path(rdb_store_dir(db->store), cdir, path, sizeof path) != 0)
			return;
	}
	check_ctx x = {cb, ctx, repair};
	uint64_t entries = 0, bad = 0;
	rdb_err e = {0};
	if (rdb_ecache_verify(path, repair, on_bad, &x, &entries, &bad, &e) != RAGDB_OK) {
		/* A cache that cannot be read is a problem to report, not a reason
		 * to fail the check of the knowledge base. */
		if (!repair && cb)
			cb(ctx, e.msg);
		(*n)++;
		return;
	}
	*n += bad;
}

ragdb_status ragdb_cache_stats(ragdb *db, ragdb_cache_info *out)
{
	ragdb_status st = rdb_ready(db);
	if (st != RAGDB_OK)
		return st;
	memset(out, 0, sizeof *out);
	if (!db->ecache)
		return RAGDB_OK;
	rdb_ecache_stats s;
	rdb_ecache_stats_get(db->ecache, &s);
	out->enabled = 1;
	snprintf(out->dir, sizeof out->dir, "%s", rdb_ecache_dir(db->ecache));
	out->entries = s.entries;
	out->bytes = s.bytes;
	out->max_bytes = s.max_bytes;
	out->hits = s.hits;
	out->misses = s.misses;
	return RAGDB_OK;
}
