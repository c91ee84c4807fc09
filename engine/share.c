/*
 * engine/share.c — concurrent vector searches of one handle share a pass
 * over the vectors.
 *
 * Why: an exact scan is bound by memory bandwidth (benchmarks/README.md),
 * so N searches at once, each with its own scan, read every vector N
 * times and each takes ~N times as long. Like a group commit, a search
 * that arrives while a pass runs waits for it; when it ends, one waiting
 * search takes every waiting search of the same snapshot and runs them in
 * one pass (rdb_scan_topk_multi, rdb_qsearch_rescore_blocks_multi), which
 * reads the vectors once and scores each run of rows against every query
 * while it is in cache. A search that finds no pass running, when no
 * search arrived during the last pass, starts at once, alone, as before:
 * sharing adds no wait when there is nothing to share (see lingering
 * below for when there is).
 *
 * Results are exactly what each search's own scan would give (see
 * scan_multi.c), so they do not depend on load. Searches go together only
 * when they read the same committed state (LMDB txn id), ask for the same
 * thread count and scan the same way (run function: f32 or quantized);
 * the leader scans its own snapshot's blocks, which hold the same vectors
 * as every other member's. This file knows nothing of what is scanned.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/share.h"

/* Most searches in one pass: bounds the pass's heaps and its latency. */
#define RDB_SHARE_MAX 256

/* Lingering: when searches have been arriving while passes ran, the
 * search that leads the next pass first waits a little (this fraction of
 * the last pass's time, at most RDB_SHARE_LINGER_MAX s) for more. Without
 * it, clients that search one after another split into two alternating
 * groups: the searches of one pass come back just after the next pass
 * started and wait for the one after (two clients never shared a pass at
 * all). Passes shorter than RDB_SHARE_LINGER_MIN s gain too little to be
 * worth any wait. A search alone never lingers. */
#define RDB_SHARE_LINGER_FRACTION 0.02
#define RDB_SHARE_LINGER_MAX 0.002
#define RDB_SHARE_LINGER_MIN 0.002

struct rdb_share_req {
	uint64_t snap;
	int threads;
	rdb_share_run_fn run;
	void *ctx, *payload;
	ragdb_status st;
	rdb_err *err;
	int done;
	rdb_share_req *next;
};

void rdb_share_init(rdb_share *sh)
{
	memset(sh, 0, sizeof *sh);
	pthread_mutex_init(&sh->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sh->cv, &ca);
	pthread_condattr_destroy(&ca);
	const char *v = getenv("RAGDB_SHARED_SCANS");
	sh->off = v && strcmp(v, "0") == 0;
}

void rdb_share_destroy(rdb_share *sh)
{
	pthread_cond_destroy(&sh->cv);
	pthread_mutex_destroy(&sh->mu);
}

/* Take r and every waiting search that may share its pass out of the list
 * (oldest first) into group; returns how many. Called with mu held. */
static size_t take_group(rdb_share *sh, const rdb_share_req *r, rdb_share_req **group)
{
	size_t n = 0;
	for (rdb_share_req **pp = &sh->head; *pp && n < RDB_SHARE_MAX;) {
		rdb_share_req *x = *pp;
		if (x == r || (x->snap == r->snap && x->threads == r->threads && x->run == r->run)) {
			*pp = x->next;
			group[n++] = x;
			sh->waiting--;
		} else {
			pp = &x->next;
		}
	}
	return n;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Wait (mu held, busy set) up to @p s seconds for more searches to join. */
static void linger(rdb_share *sh, double s)
{
	const double until = now_s() + s;
	struct timespec dl;
	dl.tv_sec = (time_t)until;
	dl.tv_nsec = (long)((until - (double)dl.tv_sec) * 1e9);
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	while (pthread_cond_timedwait(&sh->cv, &sh->mu, &dl) != ETIMEDOUT && now_s() < until)
		;
}

ragdb_status rdb_share_scan(rdb_share *sh, uint64_t snap, int threads, rdb_share_run_fn run,
                            void *ctx, void *payload, rdb_err *err)
{
	if (sh->off || snap == 0)
		return run(ctx, &payload, 1, err);
	rdb_share_req r = {snap, threads, run, ctx, payload, RAGDB_OK, err, 0, NULL};
	rdb_share_req *group[RDB_SHARE_MAX];
	void *payloads[RDB_SHARE_MAX];
	pthread_mutex_lock(&sh->mu);
	rdb_share_req **tail = &sh->head;
	while (*tail)
		tail = &(*tail)->next;
	*tail = &r;
	sh->waiting++;
	sh->arrivals++;
	while (!r.done) {
		/* The oldest waiting search leads the next pass, so a search of
		 * an older snapshot is not passed over again and again. */
		if (sh->busy || sh->head != &r) {
			pthread_cond_wait(&sh->cv, &sh->mu);
			continue;
		}
		sh->busy = 1;
		if (sh->last_concurrent && sh->last_pass_s >= RDB_SHARE_LINGER_MIN) {
			const double l = sh->last_pass_s * RDB_SHARE_LINGER_FRACTION;
			linger(sh, l < RDB_SHARE_LINGER_MAX ? l : RDB_SHARE_LINGER_MAX);
		}
		const size_t n = take_group(sh, &r, group);
		const uint64_t arrived = sh->arrivals;
		pthread_mutex_unlock(&sh->mu);
		for (size_t i = 0; i < n; i++)
			payloads[i] = group[i]->payload;
		rdb_err e = {0};
		const double t0 = now_s();
		ragdb_status st = run(ctx, payloads, n, &e);
		const double took = now_s() - t0;
		pthread_mutex_lock(&sh->mu);
		sh->last_pass_s = took;
		sh->last_concurrent = n > 1 || sh->arrivals != arrived;
		for (size_t i = 0; i < n; i++) {
			group[i]->st = st;
			if (st != RAGDB_OK)
				*group[i]->err = e;
			group[i]->done = 1;
		}
		sh->passes++;
		sh->shared += n > 1 ? n : 0;
		sh->busy = 0;
		pthread_cond_broadcast(&sh->cv);
	}
	pthread_mutex_unlock(&sh->mu);
	return r.st;
}

void rdb_share_hold(rdb_share *sh, int hold)
{
	pthread_mutex_lock(&sh->mu);
	sh->busy = hold;
	if (!hold)
		pthread_cond_broadcast(&sh->cv);
	pthread_mutex_unlock(&sh->mu);
}

size_t rdb_share_waiting(rdb_share *sh)
{
	pthread_mutex_lock(&sh->mu);
	size_t n = sh->waiting;
	pthread_mutex_unlock(&sh->mu);
	return n;
}

void rdb_share_stats(rdb_share *sh, uint64_t *passes, uint64_t *shared)
{
	pthread_mutex_lock(&sh->mu);
	if (passes)
		*passes = sh->passes;
	if (shared)
		*shared = sh->shared;
	pthread_mutex_unlock(&sh->mu);
}
