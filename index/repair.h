/*
 * index/repair.h — `ragdb check --repair`: fix what the check finds that can
 * be fixed without losing anything (implemented in check.c, beside the
 * check whose counts it uses).
 */
#ifndef RDB_REPAIR_H
#define RDB_REPAIR_H

#include "index/err.h"
#include "index/store.h"

/* In the write transaction @p t, run the check and set the meta counters
 * that disagree with the stored records (documents, chunks, vectors_live,
 * vectors_dead, text_bytes; next_doc/next_chunk/next_block when not above
 * the largest in use) to what was counted. Each repair is passed to @p fix
 * (may be NULL) as a message. Other violations are left alone: the records
 * themselves are the truth, and there is no safe way to invent missing ones.
 * The caller commits. */
ragdb_status rdb_store_repair(rdb_txn *t, void (*fix)(void *ctx, const char *repaired), void *ctx,
                              uint64_t *n_repaired, rdb_err *err);

#endif
