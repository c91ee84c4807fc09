/*
 * engine/db.c — the public handle: create, open, close, errors, interrupt.
 *
 * A handle owns the store and the embedder recorded in it. A handle whose
 * open failed still exists (when memory allows) so that ragdb_errmsg() can
 * say why; every other call on it fails with RAGDB_EINVAL.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "engine/internal.h"
#include "engine/providers/bm25_tokenize.h"
#include "engine/tune.h"
#include "ingest/ingest.h"

#define RDB_DEFAULT_CHUNK_TOKENS 256
#define RDB_DEFAULT_CHUNK_OVERLAP 32

const char *ragdb_version(void)
{
	return RAGDB_VERSION;
}

/* The last failure of each thread, with the handle it happened on: threads
 * sharing a handle (the server's request threads) each read their own
 * message, and no thread writes a buffer another one is reading. A handle
 * that is not open yet, or whose open failed, is used by one thread only and
 * also keeps its message in db->err (rdb_ready() quotes it). */
static _Thread_local struct {
	const ragdb *db;
	rdb_err err;
} rdb_last;

static void rdb_last_set(ragdb *db, const rdb_err *e)
{
	if (&rdb_last.err != e)
		rdb_last.err = *e;
	rdb_last.db = db;
	if (!db->store && &db->err != e)
		db->err = *e;
}

ragdb_status rdb_fail(ragdb *db, const rdb_err *e)
{
	if (db && e)
		rdb_last_set(db, e);
	return e ? e->status : RAGDB_EINVAL;
}

ragdb_status rdb_failf(ragdb *db, ragdb_status st, const char *fmt, ...)
{
	if (db) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(rdb_last.err.msg, sizeof rdb_last.err.msg, fmt, ap);
		va_end(ap);
		rdb_last.err.status = st;
		rdb_last_set(db, &rdb_last.err);
	}
	return st;
}

ragdb_status rdb_require_writable(ragdb *db)
{
	if (db->flags & RAGDB_RDONLY)
		return rdb_failf(db, RAGDB_EREADONLY,
		                 "the knowledge base was opened read-only; open it without RAGDB_RDONLY to change it");
	return RAGDB_OK;
}

ragdb_status rdb_ready_writable(ragdb *db)
{
	ragdb_status st = rdb_ready(db);
	return st == RAGDB_OK ? rdb_require_writable(db) : st;
}

ragdb_status rdb_ready(ragdb *db)
{
	if (!db)
		return RAGDB_EINVAL;
	if (!db->store) {
		char why[sizeof db->err.msg];
		snprintf(why, sizeof why, "%s", db->err.msg[0] ? db->err.msg : "no knowledge base");
		return rdb_failf(db, RAGDB_EINVAL, "this handle failed to open: %.900s", why);
	}
	return RAGDB_OK;
}

ragdb_status rdb_write_locked(ragdb *db, ragdb_status (*fn)(rdb_txn *t, void *ctx, rdb_err *e),
                              void *ctx, rdb_err *e)
{
	ragdb_status st;
	for (int attempt = 0;; attempt++) {
		rdb_txn *t = NULL;
		st = rdb_txn_begin(db->store, 1, &t, e);
		if (st == RAGDB_OK) {
			st = fn(t, ctx, e);
			if (st == RAGDB_OK)
				st = rdb_txn_commit(t, e);
			else
				rdb_txn_abort(t);
		}
		if (st != RAGDB_EMAPFULL || attempt >= 16)
			break;
		if (rdb_store_grow(db->store, e) != RAGDB_OK) {
			st = e->status;
			break;
		}
	}
	return st;
}

#define TXN_BYTES ((size_t)256 << 20)
static size_t g_txn_bytes;
static void (*g_after_commit)(ragdb *db, unsigned commits);

void rdb_txn_test_hooks(size_t txn_bytes, void (*after_commit)(ragdb *db, unsigned commits))
{
	g_txn_bytes = txn_bytes;
	g_after_commit = after_commit;
}

void rdb_txn_after_commit(ragdb *db, unsigned commits)
{
	if (g_after_commit)
		g_after_commit(db, commits);
}

size_t rdb_txn_budget(void)
{
	if (g_txn_bytes)
		return g_txn_bytes;
	/* RAGDB_IVF_TXN_BYTES: its name while only the IVF build used it. */
	const char *env = getenv("RAGDB_TXN_BYTES");
	if (!env || !*env)
		env = getenv("RAGDB_IVF_TXN_BYTES");
	char *end = NULL;
	unsigned long long v = env && *env ? strtoull(env, &end, 10) : 0;
	return v > 0 && end && !*end ? (size_t)v : TXN_BYTES;
}

ragdb_status rdb_write(ragdb *db, ragdb_status (*fn)(rdb_txn *t, void *ctx, rdb_err *e), void *ctx)
{
	ragdb_status st = rdb_ready_writable(db);
	if (st != RAGDB_OK)
		return st;
	rdb_err e = {0};
	pthread_mutex_lock(&db->write_lock);
	st = rdb_write_locked(db, fn, ctx, &e);
	pthread_mutex_unlock(&db->write_lock);
	return st == RAGDB_OK ? RAGDB_OK : rdb_fail(db, &e);
}

char *rdb_strdup(const char *s)
{
	return strdup(s ? s : "");
}

/* mkdir -p: the knowledge base directory may be nested in new directories. */
static int make_dirs(const char *dir)
{
	char buf[4096];
	if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0777) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return (mkdir(buf, 0777) != 0 && errno != EEXIST) ? -1 : 0;
}

static ragdb *handle_new(void)
{
	ragdb *db = calloc(1, sizeof *db);
	if (db) {
		pthread_mutex_init(&db->write_lock, NULL);
		rdb_share_init(&db->share);
	}
	return db;
}

/* Open the embedder the store was built with and verify its identity. */
static ragdb_status attach_embedder(ragdb *db)
{
	const rdb_meta *m = rdb_store_meta(db->store);
	rdb_err e = {0};
	/* A remote embedder is named provider:model; its endpoint and key come
	 * from the handle's configuration. No request is made: dim is known. */
	char spec[160];
	if (strcmp(m->embedder, "local") == 0)
		snprintf(spec, sizeof spec, "%s", m->embedder);
	else
		snprintf(spec, sizeof spec, "%s:%s", m->embedder, m->model);
	ragdb_status st = rdb_models_load(db, rdb_store_dir(db->store), NULL, NULL, &e);
	if (st != RAGDB_OK)
		return rdb_fail(db, &e);
	st = rdb_embedder_open_cfg(spec, m->dim, db->config, db->embed_endpoint, &db->embedder, &e);
	if (st != RAGDB_OK)
		return rdb_failf(db, RAGDB_EEMBEDDER,
		                 "%s: the knowledge base was built with embedder %s:%s (dim %u), which this build cannot open: %s",
		                 rdb_store_dir(db->store), m->embedder, m->model, m->dim, e.msg);
	/* A tuned local embedder: its weights are stored in the knowledge base. */
	if ((st = rdb_tune_attach(db->store, db->embedder, &e)) != RAGDB_OK) {
		rdb_embedder_close(db->embedder);
		db->embedder = NULL;
		return rdb_fail(db, &e);
	}
	if (strcmp(db->embedder->model, m->model) != 0 || db->embedder->dim != m->dim) {
		st = rdb_failf(db, RAGDB_EEMBEDDER,
		               "%s: the knowledge base was built with embedder %s:%s (dim %u), but this build's %s embedder is %s:%s (dim %u); "
		               "re-create the knowledge base (ragdb init) and ingest again",
		               rdb_store_dir(db->store), m->embedder, m->model, m->dim, db->embedder->name,
		               db->embedder->name, db->embedder->model, db->embedder->dim);
		rdb_embedder_close(db->embedder);
		db->embedder = NULL;
		return st;
	}
	return RAGDB_OK;
}

ragdb_status ragdb_create(const char *dir, const ragdb_create_options *opts, ragdb **out)
{
	ragdb_create_options o = {0};
	if (opts)
		o = *opts;
	ragdb *db = handle_new();
	if (!db)
		return RAGDB_ENOMEM;
	*out = db;
	if (!dir || !*dir)
		return rdb_failf(db, RAGDB_EINVAL, "no directory given for the knowledge base");

	rdb_err e = {0};
	rdb_embedder *emb = NULL;
	ragdb_status st = rdb_models_load(db, dir, o.config, o.endpoint, &e);
	if (st != RAGDB_OK)
		return rdb_fail(db, &e);
	st = rdb_embedder_open_cfg(o.embedder, o.dim, db->config, db->embed_endpoint, &emb, &e);
	if (st != RAGDB_OK)
		return rdb_fail(db, &e);

	rdb_meta m = {0};
	m.schema = RDB_SCHEMA_VERSION;
	snprintf(m.embedder, sizeof m.embedder, "%s", emb->name);
	snprintf(m.model, sizeof m.model, "%s", emb->model);
	m.dim = emb->dim;
	m.chunk_tokens = o.chunk_tokens ? o.chunk_tokens : RDB_DEFAULT_CHUNK_TOKENS;
	m.chunk_overlap = o.chunk_overlap == UINT32_MAX ? 0
	                  : o.chunk_overlap ? o.chunk_overlap : RDB_DEFAULT_CHUNK_OVERLAP;
	if (m.chunk_tokens < 16 || m.chunk_tokens > 8192) {
		rdb_embedder_close(emb);
		return rdb_failf(db, RAGDB_EINVAL, "chunk size %u tokens is out of range; use 16..8192",
		                 m.chunk_tokens);
	}
	if (m.chunk_overlap >= m.chunk_tokens / 2) {
		rdb_embedder_close(emb);
		return rdb_failf(db, RAGDB_EINVAL,
		                 "overlap %u tokens must be less than half the chunk size (%u tokens)",
		                 m.chunk_overlap, m.chunk_tokens);
	}
	m.created = (int64_t)time(NULL);
	const char *lang = o.language && *o.language ? o.language : "english";
	if (!rdb_language_supported(lang) || strlen(lang) >= sizeof m.language) {
		rdb_embedder_close(emb);
		return rdb_failf(db, RAGDB_EINVAL, "unknown full-text language \"%s\"; use one of: %s",
		                 lang, rdb_language_list());
	}
	snprintf(m.language, sizeof m.language, "%s", lang);
	if (o.quantize && *o.quantize && rdb_qkind_parse(o.quantize, &m.quant) != 0) {
		rdb_embedder_close(emb);
		return rdb_failf(db, RAGDB_EINVAL, "unknown quantization \"%s\"; use f32, bf16, int8 "
		                 "or binary", o.quantize);
	}

	if (make_dirs(dir) != 0) {
		rdb_embedder_close(emb);
		return rdb_failf(db, errno == EACCES ? RAGDB_EPERM : RAGDB_EIO,
		                 "cannot create directory %s: %s", dir, strerror(errno));
	}
	st = rdb_store_open(dir, RDB_STORE_CREATE, &m, &db->store, &e);
	if (st != RAGDB_OK) {
		rdb_embedder_close(emb);
		return rdb_fail(db, &e);
	}
	db->embedder = emb;
	rdb_cache_attach(db, dir);
	return RAGDB_OK;
}

ragdb_status ragdb_open(const char *dir, unsigned flags, ragdb **out)
{
	ragdb *db = handle_new();
	if (!db)
		return RAGDB_ENOMEM;
	*out = db;
	if (!dir || !*dir)
		return rdb_failf(db, RAGDB_EINVAL, "no directory given for the knowledge base");
	db->flags = flags;
	rdb_err e = {0};
	ragdb_status st = rdb_store_open(dir, (flags & RAGDB_RDONLY) ? RDB_STORE_RDONLY : 0, NULL,
	                                 &db->store, &e);
	if (st != RAGDB_OK)
		return rdb_fail(db, &e);
	st = attach_embedder(db);
	if (st == RAGDB_OK)
		rdb_cache_attach(db, dir);
	if (st != RAGDB_OK) {
		rdb_store_close(db->store);
		db->store = NULL;
		db->err = rdb_last.err; /* a failed handle keeps why (rdb_ready) */
	}
	return st;
}

void ragdb_close(ragdb *db)
{
	if (!db)
		return;
	if (rdb_last.db == db)
		rdb_last.db = NULL; /* a later handle may get this address */
	rdb_cache_detach(db);
	rdb_embedder_close(db->embedder);
	rdb_models_free(db);
	rdb_store_close(db->store);
	pthread_mutex_destroy(&db->write_lock);
	rdb_share_destroy(&db->share);
	free(db);
}

const char *ragdb_errmsg(const ragdb *db)
{
	if (!db)
		return "";
	if (rdb_last.db == db)
		return rdb_last.err.msg;
	return db->store ? "" : db->err.msg;
}

void ragdb_interrupt(ragdb *db)
{
	if (db)
		db->interrupted = 1;
}
