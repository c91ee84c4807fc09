/*
 * index/reembed.h — what a re-embed records besides the vectors (which
 * vstage.h rewrites): the new embedder's identity.
 *
 * Invariants (reembed.c keeps them):
 *   R1. meta "embedder", "model" and "dim" change in the txn that switches
 *       to the new vectors (vstage.h V3): a crash leaves the old state.
 *   R2. A tuned-embedder blob (meta "tune", index/tune.c T1) is removed: the
 *       new model is not a tuned one.
 */
#ifndef RDB_REEMBED_H
#define RDB_REEMBED_H

#include <stdint.h>

#include "index/store.h"

/* Record embedder @p name / @p model / @p dim in write txn @p t, after
 * rdb_vstage_finish. After the commit, call rdb_store_reembed_done. */
ragdb_status rdb_store_reembed_identity(rdb_txn *t, const char *name, const char *model,
                                        uint32_t dim, rdb_err *err);

/* The store's cached identity after a committed re-embed (the caller
 * excludes other users of rdb_store_meta meanwhile). */
void rdb_store_reembed_done(rdb_store *s, const char *name, const char *model, uint32_t dim);

#endif
