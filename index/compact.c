/* index/compact.c — rdb_store_compact: rewrites vector blocks without tombstones. */
#include "index/store_int.h"

ragdb_status rdb_store_compact(rdb_store *s, uint64_t *freed_bytes, rdb_err *err)
{
	return rdb_err_set(err, RAGDB_EUNSUPPORTED, "compact: not written yet");
}
