/*
 * engine/ingest_api.c — ragdb_ingest_paths and ragdb_ingest_text: the
 * handle's side of the ingest pipeline (ingest/pipeline.c does the work).
 */
#include <string.h>

#include "engine/internal.h"
#include "ingest/pipeline.h"

typedef ragdb_status (*run_fn)(const rdb_pipeline_env *env, const void *in, size_t n,
                               const ragdb_ingest_options *opts, ragdb_ingest_summary *sum,
                               rdb_err *err);

static ragdb_status run_paths(const rdb_pipeline_env *env, const void *in, size_t n,
                              const ragdb_ingest_options *opts, ragdb_ingest_summary *sum, rdb_err *err)
{
	return rdb_pipeline_paths(env, in, n, opts, sum, err);
}

static ragdb_status run_texts(const rdb_pipeline_env *env, const void *in, size_t n,
                              const ragdb_ingest_options *opts, ragdb_ingest_summary *sum, rdb_err *err)
{
	return rdb_pipeline_texts(env, in, n, opts, sum, err);
}

static ragdb_status ingest(ragdb *db, run_fn fn, const void *in, size_t n,
                           const ragdb_ingest_options *opts, ragdb_ingest_summary *summary)
{
	ragdb_ingest_summary local;
	ragdb_status st = rdb_ready_writable(db);
	if (st != RAGDB_OK)
		return st;
	rdb_err e = {0};
	rdb_pipeline_env env = {db->store, db->embedder, &db->interrupted};
	pthread_mutex_lock(&db->write_lock);
	st = fn(&env, in, n, opts, summary ? summary : &local, &e);
	/* Cleared after, not before: a Ctrl-C that lands just before the call
	 * must still stop it. */
	db->interrupted = 0;
	pthread_mutex_unlock(&db->write_lock);
	return st == RAGDB_OK ? RAGDB_OK : rdb_fail(db, &e);
}

ragdb_status ragdb_ingest_paths(ragdb *db, const char *const *paths, size_t n_paths,
                                const ragdb_ingest_options *opts, ragdb_ingest_summary *summary)
{
	return ingest(db, run_paths, paths, n_paths, opts, summary);
}

ragdb_status ragdb_ingest_text(ragdb *db, const ragdb_document *docs, size_t n_docs,
                               const ragdb_ingest_options *opts, ragdb_ingest_summary *summary)
{
	return ingest(db, run_texts, docs, n_docs, opts, summary);
}
