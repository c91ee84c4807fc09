/*
 * engine/providers/balance.h — load balancing across several endpoints
 * (servers) of one model: which base URL the next request attempt goes to.
 *
 * A model configured with "endpoints": [...] and "balance" gets one
 * balancer for the whole process (rdb_balancer_get: keyed by provider,
 * model, policy and endpoint list), shared by every thread and every
 * handle, so what one request learns (latency, a dead server) steers the
 * next. http.c picks an endpoint per attempt and reports how it went; the
 * providers do not see it.
 *
 * Invariants (all state under the balancer's mutex):
 *  - every pick is matched by exactly one report of the same endpoint
 *    (in_flight counts picks not yet reported, never below zero);
 *  - an endpoint is ejected for RDB_BAL_EJECT_MS after RDB_BAL_EJECT_AFTER
 *    consecutive failures (network errors, 429, 5xx); a pick never returns
 *    an ejected endpoint while another is available, and when all are
 *    ejected it returns the one whose ejection ends first (a probe), so a
 *    request is never refused by the balancer itself; one more failure of
 *    a probed endpoint ejects it again at once;
 *  - a pick avoids the endpoint of the attempt that just failed (a retry
 *    goes elsewhere) unless it is the only one left.
 *  - every report counts its attempt once by how it ended (ok or one
 *    error kind) and once in the latency histogram, so for each endpoint
 *    requests == ok + errors + in_flight whenever no pick or report is
 *    half-way (these counters are atomics, updated outside the mutex: a
 *    scrape reads them without stopping the picks).
 * Policies: round_robin (rotate; a process-wide balancer starts its
 * rotation at a random place, so one-shot CLI processes spread too),
 * least_load (fewest requests in flight,
 * rotating among ties), least_latency (an endpoint never measured first,
 * then the lowest EWMA of successful latencies times (1 + in flight)).
 */
#ifndef RDB_BALANCE_H
#define RDB_BALANCE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/providers/metrics.h"
#include "index/err.h"

#define RDB_BAL_MAX_ENDPOINTS 32
#define RDB_BAL_EJECT_AFTER 2     /* consecutive failures */
#define RDB_BAL_EJECT_MS 5000.0   /* cool-down before it is tried again */
#define RDB_BAL_EWMA_ALPHA 0.3

typedef enum rdb_balance_policy {
	RDB_BAL_ROUND_ROBIN = 0,
	RDB_BAL_LEAST_LATENCY,
	RDB_BAL_LEAST_LOAD
} rdb_balance_policy;

/* How an attempt ended, for the balancer. */
typedef enum rdb_bal_outcome {
	RDB_BAL_OK = 0,   /* 2xx: latency counts */
	RDB_BAL_FAIL,     /* network error, timeout, 429, 5xx: the server's fault */
	RDB_BAL_NEUTRAL   /* 4xx, our own parse failure: says nothing of the server */
} rdb_bal_outcome;

/* What became of an attempt, for the per-endpoint metrics: finer than the
 * outcome (a 4xx is RDB_BAL_NEUTRAL yet an error of the endpoint's). */
typedef enum rdb_bal_err {
	RDB_BAL_E_NONE = 0,      /* a 2xx read whole: ok */
	RDB_BAL_E_TIMEOUT,       /* no complete answer in time */
	RDB_BAL_E_CONNECT,       /* connection refused or the host unknown */
	RDB_BAL_E_NETWORK,       /* any other transport error (reset, cut off) */
	RDB_BAL_E_HTTP_4XX,      /* 4xx but 429 */
	RDB_BAL_E_RATE_LIMITED,  /* 429 */
	RDB_BAL_E_HTTP_5XX,
	RDB_BAL_E_OTHER,         /* refused by us (too large, stream reader failed), abandoned */
	RDB_BAL_E_COUNT
} rdb_bal_err;

typedef struct rdb_balancer rdb_balancer;

typedef struct rdb_balancer_stat {
	const char *endpoint;  /* valid while the balancer lives */
	uint64_t requests;     /* attempts sent to it */
	uint64_t failures;     /* RDB_BAL_FAIL reports: what ejects */
	double ewma_ms;        /* 0 = never succeeded */
	uint32_t in_flight;
	int ejected;           /* ejected now */
	/* [RDB_BAL_E_NONE] = attempts that succeeded; the others errors by kind */
	uint64_t ended[RDB_BAL_E_COUNT];
	uint64_t hist[RDB_METRICS_N_BUCKETS + 1]; /* latencies, non-cumulative; last = above the top */
	uint64_t latency_count;
	double latency_sum_ms;
} rdb_balancer_stat;

/* One endpoint of one model as /metrics shows it: every process-wide
 * balancer's endpoint with this model and public URL summed (a changed
 * configuration makes a second balancer over the same servers). */
typedef struct rdb_endpoint_metrics {
	char model[128];                 /* "provider:model" */
	char endpoint[256];              /* rdb_endpoint_public of the URL */
	rdb_balancer_stat s;             /* s.endpoint = NULL; ejected = any */
} rdb_endpoint_metrics;

#define RDB_BAL_METRICS_MAX 512      /* rows a scrape shows; later ones left out */

/* "round_robin", "least_latency", "least_load" */
const char *rdb_balance_name(rdb_balance_policy p);
/* The policy named @p s; -1 if unknown. */
int rdb_balance_parse(const char *s);

/* A private balancer over @p n (1..RDB_BAL_MAX_ENDPOINTS) base URLs
 * (copied). Free with rdb_balancer_free. */
ragdb_status rdb_balancer_create(const char *const *endpoints, size_t n, rdb_balance_policy p,
                                 rdb_balancer **out, rdb_err *err);
void rdb_balancer_free(rdb_balancer *b);

/* The process-wide balancer for @p model_id ("provider:model") over these
 * endpoints with this policy: created on first use, the same one after
 * (never freed; it lives as long as the process). */
ragdb_status rdb_balancer_get(const char *model_id, const char *const *endpoints, size_t n,
                              rdb_balance_policy p, rdb_balancer **out, rdb_err *err);

size_t rdb_balancer_count(const rdb_balancer *b);
const char *rdb_balancer_endpoint(const rdb_balancer *b, size_t i);
rdb_balance_policy rdb_balancer_policy(const rdb_balancer *b);

/* The endpoint @p url begins with (its index; *prefix_len its length), or
 * -1 when none does. */
int rdb_balancer_match(const rdb_balancer *b, const char *url, size_t *prefix_len);

/* The endpoint for the next attempt (counted in flight until reported).
 * @p avoid: the endpoint whose attempt just failed, or -1. @p now_ms:
 * a monotonic clock in ms. */
size_t rdb_balancer_pick(rdb_balancer *b, int avoid, double now_ms);

/* The attempt sent to endpoint @p i ended: @p latency_ms counts for the
 * least_latency policy when @p o is RDB_BAL_OK, and in the metrics always;
 * @p e says how it ended (RDB_BAL_E_NONE when it succeeded). */
void rdb_balancer_report_err(rdb_balancer *b, size_t i, rdb_bal_outcome o, rdb_bal_err e,
                             double latency_ms, double now_ms);
/* As rdb_balancer_report_err with the kind from the outcome alone (ok, or
 * "other"). */
void rdb_balancer_report(rdb_balancer *b, size_t i, rdb_bal_outcome o, double latency_ms,
                         double now_ms);

/* "timeout", "connect", "network", "http_4xx", "rate_limited", "http_5xx",
 * "other"; "ok" for RDB_BAL_E_NONE. */
const char *rdb_bal_err_name(rdb_bal_err e);

/* @p url without what may carry a secret: the user and password before '@'
 * and the query and fragment; cut to fit @p cap (> 0). */
void rdb_endpoint_public(const char *url, char *out, size_t cap);

/* A snapshot: up to @p cap endpoints into @p out; returns the count. */
size_t rdb_balancer_stats(rdb_balancer *b, rdb_balancer_stat *out, size_t cap, double now_ms);

/* Every endpoint of every process-wide balancer (rdb_balancer_get), summed
 * by model and public URL and sorted by both; at most RDB_BAL_METRICS_MAX
 * rows. *out NULL when there are none. Free with free(). */
ragdb_status rdb_balancer_metrics_all(rdb_endpoint_metrics **out, size_t *n, double now_ms);

#endif
