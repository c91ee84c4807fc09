/*
 * engine/repair_api.c — ragdb_repair: the safe repairs of `ragdb check
 * --repair`, in one write transaction under the handle's write lock.
 */
#include "engine/internal.h"
#include "index/repair.h"

ragdb_status ragdb_repair(ragdb *db, void (*cb)(void *ctx, const char *repaired), void *ctx,
                          uint64_t *n_repaired)
{
	ragdb_status st = rdb_ready_writable(db);
	if (st != RAGDB_OK)
		return st;
	rdb_err e = {0};
	rdb_txn *t = NULL;
	uint64_t n = 0;
	pthread_mutex_lock(&db->write_lock);
	if ((st = rdb_txn_begin(db->store, 1, &t, &e)) == RAGDB_OK) {
		st = rdb_store_repair(t, cb, ctx, &n, &e);
		if (st == RAGDB_OK && n)
			st = rdb_txn_commit(t, &e);
		else
			rdb_txn_abort(t);
	}
	pthread_mutex_unlock(&db->write_lock);
	if (st != RAGDB_OK)
		return rdb_fail(db, &e);
	rdb_cache_check(db, 1, cb, ctx, &n); /* damaged cache entries are dropped */
	if (n_repaired)
		*n_repaired = n;
	return RAGDB_OK;
}
