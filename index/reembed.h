/*
 * index/reembed.h — replacing every stored vector with another embedder's
 * (the dimension may change), in one write transaction.
 *
 * Invariants (reembed.c keeps them):
 *   R1. Blocks keep their numbers, slots and chunk ids (so chunk records,
 *       which name block and slot, stay right); only the vectors and the
 *       dimension in each block header change.
 *   R2. meta "embedder", "model" and "dim", the vectors, the quantized
 *       copies and the absence of any derived vector index change together
 *       in the caller's write txn: a crash leaves the old state.
 *   R3. A tuned-embedder blob (meta "tune", index/tune.c T1) is removed: the
 *       new model is not a tuned one.
 */
#ifndef RDB_REEMBED_H
#define RDB_REEMBED_H

#include <stdint.h>

#include "index/store.h"

/* Rewrite every vector block with @p dim-dimensional vectors from @p fill
 * (called once per block with count x dim floats to fill for the live ids),
 * record embedder @p name / @p model / @p dim, rebuild the quantized blocks
 * and empty any IVF index (databases named "ivf*"; *dropped_ivf = 1 when one
 * held data), in write txn @p t. After the commit, call
 * rdb_store_reembed_done; on failure abort the txn. */
ragdb_status rdb_store_reembed(rdb_txn *t, const char *name, const char *model, uint32_t dim,
                               rdb_rewrite_fn fill, void *ctx, int *dropped_ivf, rdb_err *err);

/* The store's cached identity after a committed re-embed (the caller
 * excludes other users of rdb_store_meta meanwhile). */
void rdb_store_reembed_done(rdb_store *s, const char *name, const char *model, uint32_t dim);

#endif
