/*
 * engine/compact_api.c — ragdb_compact: the vector blocks compacted in
 * steps of rdb_txn_budget() bytes, one write txn each (index/compact.c),
 * then the IVF lists rewritten in place without their tombstones, some
 * lists per txn (index/ivf.c).
 *
 * Every step commits a valid, partly compacted store, so the steps need no
 * staging (unlike an IVF build): an interrupt stops between two of them and
 * keeps what was done, a crash loses at most the step running, and the
 * next compact goes on from what the store holds.
 */
#include <pthread.h>

#include "engine/internal.h"

typedef struct compact_run {
	size_t budget;
	int blocks_done;        /* the blocks are; the lists' steps run */
	uint32_t next_list;     /* the lists' step goes on from here */
	/* of the txn running; kept once it commits */
	rdb_compact_step step;
	uint32_t txn_next_list;
	int lists_done;
} compact_run;

static ragdb_status step_txn(rdb_txn *t, void *arg, rdb_err *e)
{
	compact_run *c = arg;
	c->txn_next_list = c->next_list;
	c->lists_done = 0;
	c->step = (rdb_compact_step){ 0 };
	if (!c->blocks_done) {
		ragdb_status st = rdb_store_compact_step(t, c->budget, &c->step, e);
		if (st || !c->step.done)
			return st;
		/* Mostly there is nothing more (no index, or no tombstones in
		 * it): said in this txn, not another. */
	}
	return rdb_ivf_compact_step(t, c->budget, &c->txn_next_list, &c->lists_done, e);
}

ragdb_status ragdb_compact(ragdb *db, uint64_t *freed_bytes)
{
	ragdb_status st = rdb_ready_writable(db);
	if (st != RAGDB_OK)
		return st;
	rdb_err e = { 0 };
	compact_run c = { .budget = rdb_txn_budget() };
	uint64_t freed = 0;
	unsigned commits = 0;
	db->interrupted = 0; /* as an ingest: a Ctrl-C counts from here */
	pthread_mutex_lock(&db->write_lock);
	for (;;) {
		if ((st = rdb_write_locked(db, step_txn, &c, &e)))
			break;
		freed += c.step.freed;
		rdb_txn_after_commit(db, ++commits);
		if (c.lists_done)
			break;
		c.next_list = c.txn_next_list;
		c.blocks_done |= c.step.done;
		if (db->interrupted) {
			st = rdb_err_set(&e, RAGDB_EINTR, "interrupted with %s still to compact; %llu "
			                 "bytes were freed and stay freed, the knowledge base is valid; "
			                 "run `ragdb compact` again to finish",
			                 c.blocks_done ? "IVF lists" : "vector blocks",
			                 (unsigned long long)freed);
			break;
		}
	}
	pthread_mutex_unlock(&db->write_lock);
	if (st == RAGDB_EINTR)
		db->interrupted = 0; /* it stopped this call; the handle's later calls run */
	if (st != RAGDB_OK)
		return rdb_fail(db, &e);
	if (freed_bytes)
		*freed_bytes = freed;
	return RAGDB_OK;
}
