/*
 * engine/providers/metrics.h — per-model counters of this process: calls to
 * embedders and language models, errors by kind, latency, tokens, cost,
 * requests per minute and LLM-cache hits. The public view is
 * ragdb_model_metrics_get / ragdb_model_metrics_prometheus (ragdb.h); the
 * latter also renders the per-endpoint counters of balanced models, which
 * the balancers keep (balance.h) and which share this file's buckets.
 *
 * Invariants: one registry per process, guarded by one mutex (a record is a
 * few additions, far cheaper than the HTTP call it describes); at most
 * RDB_METRICS_MAX_MODELS models are kept, later ones are counted under the
 * model "other", so memory and the scrape size stay bounded.
 */
#ifndef RDB_METRICS_H
#define RDB_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "index/err.h"

#define RDB_METRICS_MAX_MODELS 64
#define RDB_METRICS_RESERVOIR 1024 /* latest latencies kept for the percentiles */
#define RDB_METRICS_N_BUCKETS 14    /* latency histogram upper bounds, 5 ms .. 120 s */

typedef enum rdb_metric_kind { RDB_METRIC_LLM = 0, RDB_METRIC_EMBED = 1 } rdb_metric_kind;

/* The error kind of a failed call, from its status, the last HTTP status
 * (0 when none) and its message. */
ragdb_model_error rdb_metrics_classify(ragdb_status st, long http_status, const char *msg);

/* One finished call to @p model ("provider:model") that made @p requests
 * HTTP requests (as counted by the caller: one per batch). @p st RAGDB_OK or
 * the failure (then @p http_status and @p msg say which kind). */
void rdb_metrics_record(const char *model, rdb_metric_kind kind, size_t requests, ragdb_status st,
                        long http_status, const char *msg, double ms, uint64_t in_tok,
                        uint64_t out_tok, double cost);

/* An LLM-cache lookup for @p model: hit (1) or miss (0). */
void rdb_metrics_cache(const char *model, int hit);
/* A cache lookup of another kind (RDB_METRIC_EMBED: the query-vector cache). */
void rdb_metrics_cache_kind(const char *model, rdb_metric_kind kind, int hit);

/* The histogram bucket of a latency of @p ms: the first whose bound holds
 * it, RDB_METRICS_N_BUCKETS when above them all. */
size_t rdb_metrics_bucket(double ms);
/* The upper bound of bucket @p k in seconds. */
double rdb_metrics_bucket_le(size_t k);

/* Forget every counter (tests). */
void rdb_metrics_reset(void);

/* Monotonic milliseconds, for latencies. */
double rdb_metrics_now_ms(void);

#endif
