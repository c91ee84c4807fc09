/*
 * index/viewcache.h — the block listings of the last read snapshot, kept
 * so that the next read txns of the same snapshot skip listing them again
 * (internal to index/).
 *
 * A search lists every vector block (rdb_blocks_get) and, on a quantized
 * knowledge base, every quantized block (rdb_qblocks_get): at 1M vectors
 * that is ~2,000 LMDB lookups plus a cache miss on each block's header
 * page, 0.5-1 ms per query, against ~15 ms for an int8 scan of the lot.
 *
 * Why reuse is safe: a read txn's snapshot is named by its txn id, which
 * LMDB never reuses, and a snapshot's pages do not change while any txn
 * reads it. Two read txns with the same txn id and the same map address
 * therefore see every block at the same address, so a listing of one is a
 * listing of the other. Listings that hold copies (small blocks copied to
 * aligned memory, freed with their txn) are never cached; write txns never
 * use the cache. Reads copy the listing out under the lock: each caller
 * still owns and frees what it gets.
 */
#ifndef RDB_INDEX_VIEWCACHE_H
#define RDB_INDEX_VIEWCACHE_H

#include <pthread.h>
#include <stdint.h>

#include "index/store.h"

typedef struct rdb_viewcache {
	pthread_mutex_t lock;
	uint64_t txnid;          /* snapshot of the cached listings; 0 = none */
	void *map;               /* map address they point into */
	rdb_block_view *views;
	size_t n;
	uint32_t qkind;          /* quantized listing of the same snapshot (0 = none) */
	rdb_qview *qviews;       /* n entries when qkind */
} rdb_viewcache;

void rdb_viewcache_init(rdb_viewcache *c);
void rdb_viewcache_free(rdb_viewcache *c);

/* A malloc'd copy of the cached block listing of @p t's snapshot: 1 on a
 * hit (*out, *n set), 0 on a miss or for write txns, -1 out of memory. */
int rdb_viewcache_blocks(rdb_txn *t, rdb_block_view **out, size_t *n);
/* Remember @p t's block listing (read txns only; a copy is taken). */
void rdb_viewcache_put_blocks(rdb_txn *t, const rdb_block_view *views, size_t n);

/* The same for the quantized listing of kind @p kind parallel to the n
 * cached views. */
int rdb_viewcache_qblocks(rdb_txn *t, uint32_t kind, size_t n, rdb_qview **out);
void rdb_viewcache_put_qblocks(rdb_txn *t, uint32_t kind, const rdb_qview *qv, size_t n);

#endif
