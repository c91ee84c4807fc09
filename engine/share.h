/*
 * engine/share.h — concurrent exact vector searches of one handle share a
 * pass over the vectors (internal; see share.c).
 */
#ifndef RDB_ENGINE_SHARE_H
#define RDB_ENGINE_SHARE_H

#include <pthread.h>
#include <stdint.h>

#include "index/err.h"

typedef struct rdb_share_req rdb_share_req;

typedef struct rdb_share {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int busy;               /* a pass is running (or held by a test) */
	int off;                /* RAGDB_SHARED_SCANS=0: every search scans alone */
	rdb_share_req *head;    /* waiting searches, oldest first */
	size_t waiting;
	uint64_t passes, shared; /* passes over the vectors; searches that shared one */
	uint64_t arrivals;      /* searches that came to share a pass, ever */
	double last_pass_s;     /* how long the last pass took */
	int last_concurrent;    /* it shared, or a search arrived while it ran */
} rdb_share;

void rdb_share_init(rdb_share *sh);
void rdb_share_destroy(rdb_share *sh);

/* Runs the scans of n searches in one pass: @p payloads are theirs, as
 * given to rdb_share_scan; @p ctx is the running search's own (its
 * snapshot's blocks, which hold the same vectors as every other member's).
 * Each search's results must be exactly those of its own scan. */
typedef ragdb_status (*rdb_share_run_fn)(void *ctx, void *const *payloads, size_t n,
                                         rdb_err *err);

/* Run this search's scan (@p payload, by @p run) in a pass shared with the
 * handle's other searches. While another search's pass runs, this one
 * waits; then the searches that waited with the same snapshot @p snap
 * (rdb_txn_snapshot), thread count and run function go together in one
 * pass, run by one of them with its own @p ctx. snap 0 runs alone. */
ragdb_status rdb_share_scan(rdb_share *sh, uint64_t snap, int threads, rdb_share_run_fn run,
                            void *ctx, void *payload, rdb_err *err);

/* Tests: hold (1) makes searches wait as if a pass were running, release
 * (0) lets them go; how many wait; passes run and searches that shared. */
void rdb_share_hold(rdb_share *sh, int hold);
size_t rdb_share_waiting(rdb_share *sh);
void rdb_share_stats(rdb_share *sh, uint64_t *passes, uint64_t *shared);

#endif
