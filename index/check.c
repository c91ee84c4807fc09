/* index/check.c — rdb_store_check: verifies the invariants of store.h. */
#include "index/store_int.h"

ragdb_status rdb_store_check(rdb_txn *t, void (*cb)(void *ctx, const char *problem), void *ctx,
                             uint64_t *n_problems, rdb_err *err)
{
	return rdb_err_set(err, RAGDB_EUNSUPPORTED, "check: not written yet");
}
