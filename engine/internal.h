/*
 * engine/internal.h — the ragdb handle behind the public API, shared by the
 * engine's API files (db.c, search.c, query.c, docs.c) and nothing else.
 */
#ifndef RDB_ENGINE_INTERNAL_H
#define RDB_ENGINE_INTERNAL_H

#include <pthread.h>
#include <signal.h>

#include "ragdb.h"
#include "index/store.h"
#include "engine/providers/embedder.h"
#include "engine/share.h"

struct ragdb {
	rdb_store *store;          /* NULL on a handle that failed to open */
	rdb_embedder *embedder;
	unsigned flags;
	pthread_mutex_t write_lock; /* serialises this handle's writers */
	volatile sig_atomic_t interrupted;
	rdb_err err;               /* last failure, for ragdb_errmsg() */
	struct rdb_config *config; /* ragdb.json (or none): provider settings (models.c) */
	char *embed_endpoint;      /* endpoint override for a remote embedder, or NULL */
	struct rdb_ecache *ecache; /* the persistent cache (ecache_api.c), or NULL */
	rdb_share share;           /* concurrent exact scans share a pass (share.c) */
};

/* Record a failure on the handle and return its status. */
ragdb_status rdb_fail(ragdb *db, const rdb_err *e);
ragdb_status rdb_failf(ragdb *db, ragdb_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Fail with RAGDB_EREADONLY unless the handle may write. */
ragdb_status rdb_require_writable(ragdb *db);
/* rdb_ready, then rdb_require_writable: the preamble of every write call. */
ragdb_status rdb_ready_writable(ragdb *db);

/* Fail with RAGDB_EINVAL on a NULL handle or one whose open failed. */
ragdb_status rdb_ready(ragdb *db);

/* Search internals shared with the query layer: embed @p query, scan, and
 * resolve the hits into *out; doc_nums (may be NULL) receives each hit's
 * internal document number (malloc'd, n entries). */
ragdb_status rdb_search_internal(ragdb *db, const char *query, const ragdb_search_options *opts,
                                 ragdb_results **out, uint64_t **doc_nums);

/* Run @p fn in a write transaction under the handle's write lock and commit.
 * When the map fills, the transaction is aborted, the map doubled and @p fn
 * run again (so @p fn must be repeatable); other failures abort. */
ragdb_status rdb_write(ragdb *db, ragdb_status (*fn)(rdb_txn *t, void *ctx, rdb_err *e), void *ctx);
/* rdb_write's transaction and retries for a caller that holds
 * db->write_lock already (a sequence of transactions no other writer of
 * this handle may come between); failures are left in @p e. */
ragdb_status rdb_write_locked(ragdb *db, ragdb_status (*fn)(rdb_txn *t, void *ctx, rdb_err *e),
                              void *ctx, rdb_err *e);

/* The bytes a command that rewrites much of the store (an IVF build,
 * quantize, compact) writes per write transaction: LMDB keeps a txn's new
 * pages in memory until it commits, so one txn needed about the size of
 * what it rewrote (3.1 GB for an IVF build of 1.1M x 768, 4.7 GB for a
 * compact of the same). RAGDB_TXN_BYTES overrides the default 256 MiB
 * (benchmarks compare one txn against it), tests rdb_txn_test_hooks. */
size_t rdb_txn_budget(void);
/* Call the tests' hook after commit @p commits of such a sequence. */
void rdb_txn_after_commit(ragdb *db, unsigned commits);
/* Tests: write in txns of @p txn_bytes (0: the default) and call
 * @p after_commit (may be NULL) after each commit of such a sequence. */
void rdb_txn_test_hooks(size_t txn_bytes, void (*after_commit)(ragdb *db, unsigned commits));

/* Provider settings (models.c): load the configuration for the knowledge
 * base in @p dir (@p path: an explicit file, else $RAGDB_CONFIG, else
 * DIR/ragdb.json if present) and the embedder endpoint override (@p
 * endpoint, else $RAGDB_EMBED_ENDPOINT). */
ragdb_status rdb_models_load(ragdb *db, const char *dir, const char *path, const char *endpoint,
                             rdb_err *e);
void rdb_models_free(ragdb *db);
/* The configured default language model, or NULL. */
const char *rdb_models_default(const ragdb *db);
/* Answer @p prompt with language model @p model; fills a->answer, model,
 * extractive = 0, tokens and cost. */
ragdb_status rdb_models_answer(ragdb *db, const char *model, const char *prompt,
                               void (*on_delta)(void *, const char *, size_t), void *ctx,
                               ragdb_answer *a, rdb_err *e);
/* As rdb_models_answer; @p no_cache: bypass the answer cache (a->cached
 * says whether the answer came from it). */
ragdb_status rdb_models_answer_nc(ragdb *db, const char *model, const char *prompt,
                                  void (*on_delta)(void *, const char *, size_t), void *ctx,
                                  int no_cache, ragdb_answer *a, rdb_err *e);

/* The persistent cache (ecache_api.c): open it for the handle (again, after
 * a configuration change) and hand it to a remote embedder and the answer
 * cache; best effort (no cache when it cannot be opened). Detach at close. */
void rdb_cache_attach(ragdb *db, const char *kb_dir);
void rdb_cache_detach(ragdb *db);
/* The dimension remembered for remote embedder @p spec (0: unknown), and
 * remembering one (ecache_api.c). */
uint32_t rdb_cache_dim_get(ragdb *db, const char *spec);
void rdb_cache_dim_put(ragdb *db, const char *spec, uint32_t dim);
/* Verify the cache's entries (or, with @p repair, drop the bad ones),
 * reporting each to @p cb and adding their number to *n. */
void rdb_cache_check(ragdb *db, int repair, void (*cb)(void *ctx, const char *msg), void *ctx,
                     uint64_t *n);

/* Strict helpers for the JSON-like outputs. */
char *rdb_strdup(const char *s);

#endif
