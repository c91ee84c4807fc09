/*
 * ingest/pipeline.h — the ingest pipeline: a reader thread turns files (or
 * given texts) into documents, worker threads hash, chunk and embed them,
 * and the calling thread writes them to the store in batched transactions.
 */
#ifndef RDB_PIPELINE_H
#define RDB_PIPELINE_H

#include <pthread.h>
#include <signal.h>

#include "ragdb.h"
#include "index/store.h"
#include "engine/providers/embedder.h"

typedef struct rdb_pipeline_env {
	rdb_store *store;
	rdb_embedder *embedder;
	volatile sig_atomic_t *interrupted;  /* set asynchronously to stop */
} rdb_pipeline_env;

/* ragdb_ingest_paths() and ragdb_ingest_text() (see ragdb.h), minus the
 * handle. The caller holds its write lock. */
ragdb_status rdb_pipeline_paths(const rdb_pipeline_env *env, const char *const *paths, size_t n,
                                const ragdb_ingest_options *opts, ragdb_ingest_summary *summary,
                                rdb_err *err);
ragdb_status rdb_pipeline_texts(const rdb_pipeline_env *env, const ragdb_document *docs, size_t n,
                                const ragdb_ingest_options *opts, ragdb_ingest_summary *summary,
                                rdb_err *err);

#endif
