/*
 * engine/restage.h — the sequence of write txns that re-embeds every stored
 * vector (index/vstage.h) for `ragdb reembed` and `ragdb tune`: bounded
 * txns stage the new blocks, the last switches to them and records the new
 * embedder, and a quantized knowledge base is converted again afterwards.
 */
#ifndef RDB_RESTAGE_H
#define RDB_RESTAGE_H

#include "engine/internal.h"

typedef struct rdb_restage {
	/* in */
	uint32_t dim;          /* the new dimension */
	rdb_rewrite_fn fill;   /* embeds one block's live chunks */
	void *ctx;
	rdb_txn **txn;         /* where fill finds the txn it runs in */
	uint64_t *done;        /* fill's count of vectors embedded, kept right across retries */
	/* The last txn: record the new embedder. */
	ragdb_status (*identity)(rdb_txn *t, void *ctx, rdb_err *e);
	const char *again;     /* the command to run again, for messages */
	/* out */
	uint64_t vectors;      /* live vectors embedded (committed) */
	int dropped_ivf;       /* an IVF index held data and was dropped */
	uint32_t requant;      /* the quantization the knowledge base had (0: f32) */
	unsigned commits;
	/* private */
	uint64_t token, txn_vectors;
	uint32_t next_no, txn_next_no;
	int started, finished;
} rdb_restage;

/* Run the sequence under db->write_lock (the caller holds it). On failure
 * the staged blocks are removed and the knowledge base is as it was. */
ragdb_status rdb_restage_run(ragdb *db, rdb_restage *r, rdb_err *e);

/* After the caller has updated the handle: convert to r->requant again
 * (staged txns, engine/ivf_api.c); without the write lock. */
ragdb_status rdb_restage_requant(ragdb *db, const rdb_restage *r, rdb_err *e);

#endif
