/*
 * engine/restage.c — re-embedding every stored vector over write txns of
 * about rdb_txn_budget() bytes (index/vstage.h): the first records a token
 * and stages, the next ones stage on, the last brings the staged blocks up
 * to whatever another process wrote meanwhile, switches to them and
 * records the new embedder. One txn holding every rewritten block needed
 * about the size of all the vectors in memory (LMDB keeps a txn's new pages
 * until it commits): 3 GB for a million 768-dimensional vectors.
 *
 * This handle's other writers wait for the whole sequence (the caller
 * holds db->write_lock); another process may write between two txns, and
 * the last txn embeds the blocks it changed again, so nothing it added is
 * left with the old embedder's vectors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "engine/ivf_api.h"
#include "engine/restage.h"
#include "index/vstage.h"

#define RESTAGE_EINTR "interrupted; the knowledge base is as it was"

static ragdb_status step(rdb_txn *t, void *arg, rdb_err *e)
{
	rdb_restage *r = arg;
	ragdb_status st;
	*r->txn = t;
	r->txn_vectors = 0;
	r->txn_next_no = r->next_no;
	if (r->done)
		*r->done = r->vectors;
	if (!r->started && (st = rdb_vstage_begin(t, r->token, e)))
		return st;
	int done = 0;
	if ((st = rdb_vstage_step(t, r->token, r->dim, r->fill, r->ctx, &r->txn_next_no,
	                          rdb_txn_budget(), &done, &r->txn_vectors, e)))
		return st;
	if (!done)
		return RAGDB_OK;
	if ((st = rdb_vstage_finish(t, r->token, r->dim, r->fill, r->ctx, &r->txn_vectors,
	                            &r->requant, &r->dropped_ivf, e)))
		return st;
	r->finished = 1;
	return r->identity(t, r->ctx, e);
}

static ragdb_status abandon(rdb_txn *t, void *arg, rdb_err *e)
{
	rdb_restage *r = arg;
	return rdb_vstage_abandon(t, r->token, NULL, e);
}

static uint64_t new_token(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t x = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec << 20 ^
	             (uint64_t)getpid() << 40;
	return x ? x : 1;
}

ragdb_status rdb_restage_run(ragdb *db, rdb_restage *r, rdb_err *e)
{
	ragdb_status st;
	r->token = new_token();
	r->vectors = 0;
	r->next_no = 0;
	r->commits = 0;
	r->started = r->finished = 0;
	for (;;) {
		r->finished = 0;
		st = rdb_write_locked(db, step, r, e);
		*r->txn = NULL;
		if (st)
			break;
		r->started = 1;
		r->commits++;
		r->vectors += r->txn_vectors;
		r->next_no = r->txn_next_no;
		if (r->finished)
			break;
		rdb_txn_after_commit(db, r->commits);
		if (db->interrupted) {
			st = rdb_err_set(e, RAGDB_EINTR, RESTAGE_EINTR);
			break;
		}
	}
	if (r->done)
		*r->done = r->vectors;
	if (st && r->started) {
		rdb_err e2 = { 0 };
		(void)rdb_write_locked(db, abandon, r, &e2);
	}
	return st;
}

ragdb_status rdb_restage_requant(ragdb *db, const rdb_restage *r, rdb_err *e)
{
	if (!r->requant)
		return RAGDB_OK;
	ragdb_status st = rdb_ivf_quantize(db, r->requant);
	if (st)
		return rdb_err_set(e, st, "the vectors were re-embedded, but converting them to %s "
		                   "again failed (%s); searches use the f32 vectors until `ragdb "
		                   "quantize %s` finishes", rdb_qkind_name(r->requant), ragdb_errmsg(db),
		                   rdb_qkind_name(r->requant));
	return RAGDB_OK;
}
