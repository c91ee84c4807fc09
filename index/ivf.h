/*
 * index/ivf.h — the inverted-file (IVF) index stored in the knowledge base:
 * centroids and, per list, its vectors in contiguous segments (block
 * layout, chunk ids alongside), so scanning a list is a straight pass over
 * the memory map. Training, assignment and search are the engine's
 * (engine/ivf_api.c); this module stores, appends, tombstones and checks.
 *
 * Databases (docs/ARCHITECTURE.md, "On disk"):
 *   ivf       "h" -> header (nlist, dim, default nprobe, segment capacity,
 *                    counters); "c" -> centroids, nlist x dim f32.
 *   ivflists  list (u32 BE) + segment (u32 BE) -> segment: u32 magic "RDBL",
 *             u32 count, u32 dim, u32 live, u64 ids[count], zero padding to
 *             a multiple of 64 bytes, f32 vecs[count x dim] (copies of the
 *             f32 vectors of the blocks, also on quantized knowledge bases).
 *
 * Invariants (rdb_ivf_check verifies them):
 *   I1. With an index, every live vector of the blocks is live in exactly
 *       one list, with the same vector bytes; no list holds another live id.
 *   I2. Segment headers are valid (magic, dim, count <= seg_cap, live
 *       exact, size); a list's segments are numbered 0..n-1 without gaps;
 *       every list number is < nlist.
 *   I3. Header live and dead equal the live and tombstoned list entries.
 *   I4. The index changes with the vectors in the same write transaction:
 *       a vector appended to the blocks goes to its nearest list (by inner
 *       product with the centroids), a tombstoned one is tombstoned in its
 *       list, re-embedding the vectors (rdb_vectors_rewrite) drops the index.
 */
#ifndef RDB_IVF_H
#define RDB_IVF_H

#include <stddef.h>
#include <stdint.h>

#include "index/store.h"

/* The header of an index. */
typedef struct rdb_ivf_info {
	uint32_t nlist, dim;
	uint32_t nprobe;        /* default lists probed (tuned or chosen at build) */
	uint32_t seg_cap;       /* vectors per segment */
	uint64_t built;         /* vectors assigned by the build */
	uint64_t added;         /* appended to lists since the build */
	uint64_t live, dead;    /* live and tombstoned list entries */
	uint32_t sample, iters; /* training sample and k-means iterations used */
	float recall_target;    /* 0 = nprobe not tuned */
	float recall;           /* recall@10 measured at nprobe on the held-out sample */
	int64_t created;        /* seconds since the epoch */
	double build_seconds;
} rdb_ivf_info;

/* The header. RAGDB_ENOTFOUND when the knowledge base has no index. */
ragdb_status rdb_ivf_info_get(rdb_txn *t, rdb_ivf_info *out, rdb_err *err);

/* The centroids (nlist x dim f32, 4-byte aligned), valid until the txn ends
 * (in a write txn, until its next write). */
ragdb_status rdb_ivf_centroids(rdb_txn *t, const float **out, rdb_err *err);

/* Append the segments of list @p list to the growing array *views (*n used,
 * *cap allocated; realloc'd here, the caller frees it). Pointers are valid
 * until the txn ends. Small segments are copied to aligned memory. */
ragdb_status rdb_ivf_list_views(rdb_txn *t, uint32_t list, rdb_block_view **views, size_t *n,
                                size_t *cap, rdb_err *err);

/* Entries (count, live) and bytes of each list, for statistics: sizes[i] for
 * i < nlist is list i's live entries. *bytes: value bytes of all segments. */
ragdb_status rdb_ivf_list_sizes(rdb_txn *t, uint32_t nlist, uint64_t *sizes, uint64_t *bytes,
                                rdb_err *err);

/* --- building (write txn) --- */

/* Make sure the databases exist (their own small write txn; call before the
 * build's write txn begins). */
ragdb_status rdb_ivf_prepare(rdb_store *s, rdb_err *err);
/* Empty the index (no-op when there is none). */
ragdb_status rdb_ivf_drop(rdb_txn *t, rdb_err *err);
/* Write list @p list of a new index: n entries, ids[i] with the vector at
 * vecs[i] (pointers may point into the map: the vector blocks are not written
 * meanwhile), in segments of @p seg_cap. Call after rdb_ivf_drop, lists in
 * increasing order. */
ragdb_status rdb_ivf_write_list(rdb_txn *t, uint32_t list, uint32_t seg_cap, const uint64_t *ids,
                                const float *const *vecs, size_t n, rdb_err *err);
/* Write the header and the centroids (nlist x dim): the index exists from
 * this txn's commit. */
ragdb_status rdb_ivf_write_header(rdb_txn *t, const rdb_ivf_info *info, const float *centroids,
                                  rdb_err *err);
/* Segment capacity for vectors of @p dim (<= block_cap): segments stay
 * small enough that the appends of one txn rewrite little. */
uint32_t rdb_ivf_seg_cap(uint32_t dim, uint32_t block_cap);

/* Verify I1-I3, reporting each violation. */
ragdb_status rdb_ivf_check(rdb_txn *t, void (*report)(void *ctx, const char *msg), void *rctx,
                           rdb_err *err);

#endif
