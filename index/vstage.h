/*
 * index/vstage.h — every stored vector replaced by another embedder's (the
 * dimension may change), written over many write txns of bounded size and
 * switched to in the last, so that re-embedding a million chunks does not
 * hold a million rewritten blocks in one transaction's memory (LMDB keeps
 * a write txn's new pages until it commits). Used by `ragdb reembed` and
 * `ragdb tune` (engine/restage.c runs the sequence).
 *
 * Invariants (vstage.c keeps them):
 *   V1. Meta "vectors_db" counts the switches (absent: 0); the live vector
 *       blocks are in "vectors" when it is even, in "vectors.1" when odd;
 *       meta "schema" is RDB_SCHEMA_VECTORS1 exactly when it is odd, so a
 *       build that knows only "vectors" refuses the knowledge base. A
 *       handle whose meta was read at another count compares the embedder
 *       before a search (rdb_txn_embedder_current).
 *   V2. The other database is empty unless meta "vstaged" (a token the
 *       sequence chose) exists; then it holds blocks of a re-embed in
 *       progress, or left by a crash: each with the number, slots and ids
 *       the live block had when it was staged, at the new dimension. No
 *       search reads them; `ragdb compact` or the next re-embed removes
 *       them.
 *   V3. The switch happens in one txn (rdb_vstage_finish) together with
 *       the new identity the caller records, the IVF index dropped and
 *       the quantized blocks removed (meta "quantize" back to f32; the
 *       caller converts again in staged txns): live blocks whose ids differ
 *       from their staged copy (another process wrote in between) are
 *       embedded again in that txn, staged blocks the live side no longer
 *       has are deleted, then the old database is emptied. Blocks keep
 *       their numbers, slots and chunk ids (chunk records name block and
 *       slot), so nothing else changes.
 */
#ifndef RDB_VSTAGE_H
#define RDB_VSTAGE_H

#include <stdint.h>

#include "index/store.h"

/* Start a staged rewrite named @p token (nonzero): empty the database that
 * is not live (what an unfinished one left) and record the token. */
ragdb_status rdb_vstage_begin(rdb_txn *t, uint64_t token, rdb_err *err);

/* Stage live blocks from number *next_no on, at dimension @p dim with the
 * vectors @p fill gives, until about @p budget bytes are written; *next_no
 * moves past the last staged block, *done = 1 when none is left, *n_live
 * grows by the live vectors filled. EBUSY when the token is not the
 * recorded one (another re-embed began, or compact removed the staged
 * blocks). */
ragdb_status rdb_vstage_step(rdb_txn *t, uint64_t token, uint32_t dim, rdb_rewrite_fn fill,
                             void *ctx, uint32_t *next_no, size_t budget, int *done,
                             uint64_t *n_live, rdb_err *err);

/* The switch (V3). *requant receives the quantization the knowledge base
 * had (0: f32), *dropped_ivf 1 when an IVF index held data. The caller
 * then records the new embedder (meta "dim" included) in the same txn and,
 * after the commit, updates the handle (rdb_store_reembed_done). */
ragdb_status rdb_vstage_finish(rdb_txn *t, uint64_t token, uint32_t dim, rdb_rewrite_fn fill,
                               void *ctx, uint64_t *n_live, uint32_t *requant, int *dropped_ivf,
                               rdb_err *err);

/* Remove staged blocks: those of @p token, or with token 0 any (compact).
 * *bytes (may be NULL) grows by their size. */
ragdb_status rdb_vstage_abandon(rdb_txn *t, uint64_t token, uint64_t *bytes, rdb_err *err);

/* Report violations of V1 and V2 to @p problem. */
ragdb_status rdb_vstage_check(rdb_txn *t, void (*problem)(void *ctx, const char *msg), void *ctx,
                              rdb_err *err);

/* Bytes the staged blocks take (0 when there are none). */
ragdb_status rdb_vstage_usage(rdb_txn *t, uint64_t *bytes, rdb_err *err);

#endif
