/*
 * index/ivf.h — the inverted-file (IVF) index stored in the knowledge base:
 * centroids and, per list, its vectors in contiguous segments (block
 * layout, chunk ids alongside), so scanning a list is a straight pass over
 * the memory map. Training, assignment and search are the engine's
 * (engine/ivf_api.c); this module stores, appends, tombstones and checks.
 *
 * Databases (docs/ARCHITECTURE.md, "On disk"):
 *   ivf       "h" -> header (nlist, dim, default nprobe, segment capacity,
 *                    counters, the lists' encoding, the lists' half);
 *                    "c" -> centroids, nlist x dim f32. Version 3 (96
 *                    bytes, u32 at 92 = 1: the lists are in the upper half)
 *                    is written for lists in the upper half, version 2 (the
 *                    same bytes with 0 there) for the lower, so builds from
 *                    before version 3 still read such an index; version 1
 *                    (88 bytes, before quantized lists) is read as an index
 *                    of f32 lists in the lower half.
 *   ivflists  base + list (u32 BE) + segment (u32 BE) -> segment, where
 *             base is 0 (the lower half) or 2^31 (the upper; lists are
 *             < 2^20). The header names the half of the index's lists. A
 *             build writes its lists into the other half over as many write
 *             txns as their size needs (so a build's memory is bounded,
 *             not the index's size), and its last txn writes the header
 *             naming that half and empties the first: readers see the old
 *             index or the new one, never a mix. The half the header does
 *             not name is empty, or holds the lists of a build that did not
 *             finish (a crash, or another process building now); the next
 *             build, `ragdb index drop` or `compact` empties it. (Halves of one
 *             database rather than two databases: a database another
 *             process creates cannot be used by a txn of this process that
 *             began before this process opened it.)
 *             A segment is one of:
 *             f32 (the index's encoding is f32): u32 magic "RDBL", u32
 *               count, u32 dim, u32 live, u64 ids[count], zero padding to a
 *               multiple of 64 bytes, f32 vecs[count x dim] (copies of the
 *               blocks' f32 vectors);
 *             quantized (bf16, int8, binary): u32 magic "RDBK", u32 count,
 *               u32 dim, u32 live, u32 kind, u32 0, u64 ids[count], (int8)
 *               f32 scales[count], zero padding to a multiple of 64 bytes,
 *               codes[count] in engine/kernels/quant.h's encodings, equal to
 *               the quantized blocks' codes of the same vectors; no f32.
 *             A segment whose kind is not the header's is corruption (never
 *             read as another kind). The f32 vectors that rescore quantized
 *             candidates are the blocks' (rdb_ivf_vector).
 *
 * The lists' encoding is the knowledge base's quantization when the index
 * is built; `ragdb quantize` re-encodes the lists into the other half of
 * the keys over several write txns and switches to them in the txn that
 * re-encodes the blocks (engine/ivf_api.c, rdb_ivf_quantize), or, through
 * rdb_store_set_quant, in that one txn (rdb_ivf_requant). An index of f32
 * lists on a quantized knowledge base
 * (built before lists were quantized) keeps working as f32.
 *
 * Invariants (rdb_ivf_check verifies them):
 *   I1. With an index, every live vector of the blocks is live in exactly
 *       one list, with the same vector bytes (f32 lists) or the same code
 *       and scale as its quantized encoding (quantized lists, whose kind
 *       is the knowledge base's); no list holds another live id.
 *   I2. Segment headers are valid (magic and kind of the header's
 *       encoding, dim, count <= seg_cap, live exact, size); a list's
 *       segments are numbered 0..n-1 without gaps; every list number is
 *       < nlist.
 *   I3. Header live and dead equal the live and tombstoned list entries.
 *   I4. The index changes with the vectors in the same write transaction:
 *       a vector appended to the blocks goes to its nearest list (by inner
 *       product with the centroids) in the lists' encoding, a tombstoned one is tombstoned in its
 *       list, re-embedding the vectors (vstage.h V3) drops the index.
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
	uint32_t qkind;         /* the list entries' encoding: 0 f32, else rdb_quant's kind */
	uint32_t lists;         /* the lists' half of the keys: 0 lower, 1 upper */
} rdb_ivf_info;

/* One segment of a list: ids[count] (0 = tombstone) and rows: f32 vectors
 * (count x dim, 64-byte aligned offset) for f32 lists, else codes (count x
 * the kind's row bytes) and, for int8, scales[count]. */
typedef struct rdb_ivf_view {
	uint32_t seg, count;
	const uint64_t *ids;
	const void *rows;
	const float *scales;
} rdb_ivf_view;

/* The header. RAGDB_ENOTFOUND when the knowledge base has no index. */
ragdb_status rdb_ivf_info_get(rdb_txn *t, rdb_ivf_info *out, rdb_err *err);

/* The centroids (nlist x dim f32, 4-byte aligned), valid until the txn ends
 * (in a write txn, until its next write). */
ragdb_status rdb_ivf_centroids(rdb_txn *t, const float **out, rdb_err *err);

/* Append the segments of list @p list of the index @p ix describes (its
 * half of the keys; ECORRUPT for a segment of another kind than ix->qkind)
 * to the growing array *views (*n used, *cap allocated; realloc'd here, the
 * caller frees it). Pointers are valid until the txn ends. Small segments
 * are copied to aligned memory. */
ragdb_status rdb_ivf_list_views(rdb_txn *t, const rdb_ivf_info *ix, uint32_t list,
                                rdb_ivf_view **views, size_t *n, size_t *cap, rdb_err *err);

/* The f32 vector of live vector @p id from the blocks (to rescore quantized
 * candidates): *out points into the map, or into @p buf (dim floats) when
 * the row is not 4-byte aligned; valid until the txn ends or writes.
 * ENOTFOUND when @p id is no live vector. */
ragdb_status rdb_ivf_vector(rdb_txn *t, uint64_t id, float *buf, const float **out, rdb_err *err);

/* Entries (count, live) and bytes of each list, for statistics: sizes[i] for
 * i < nlist is list i's live entries. *bytes: value bytes of all segments. */
ragdb_status rdb_ivf_list_sizes(rdb_txn *t, uint32_t nlist, uint64_t *sizes, uint64_t *bytes,
                                rdb_err *err);

/* --- building (write txn) --- */

/* Make sure the databases exist (their own small write txn; call before the
 * build's write txns begin). */
ragdb_status rdb_ivf_prepare(rdb_store *s, rdb_err *err);
/* Empty the index and both halves of the lists (no-op when there is none). */
ragdb_status rdb_ivf_drop(rdb_txn *t, rdb_err *err);
/* Bytes of the segments in half @p which (the half the index does not use
 * holds what an unfinished build left: statistics). */
ragdb_status rdb_ivf_half_bytes(rdb_txn *t, uint32_t which, uint64_t *bytes, rdb_err *err);
/* A build writes its lists into half @p which: the one the current index
 * does not use (0 when there is none). Empty it first (what an unfinished
 * build left). */
ragdb_status rdb_ivf_stage_clear(rdb_txn *t, uint32_t which, rdb_err *err);
/* Write list @p list of a new index into half @p which: n
 * entries, ids[i] with the vector at vecs[i] (pointers may point into the
 * map: the vector blocks are not written meanwhile), encoded as @p kind
 * (info.qkind), in segments of @p seg_cap. Lists in increasing order, in one
 * write txn or several. */
ragdb_status rdb_ivf_write_list(rdb_txn *t, uint32_t which, uint32_t list, uint32_t seg_cap,
                                uint32_t kind, const uint64_t *ids, const float *const *vecs,
                                size_t n, rdb_err *err);
/* Write the header and the centroids (nlist x dim; NULL keeps the stored
 * ones) of the index whose lists are in half info->lists, and empty the
 * other half (the previous index's lists): the new index replaces the old
 * from this txn's commit. */
ragdb_status rdb_ivf_write_header(rdb_txn *t, const rdb_ivf_info *info, const float *centroids,
                                  rdb_err *err);
/* Segment capacity for vectors of @p dim (<= block_cap): segments stay
 * small enough that the appends of one txn rewrite little. */
uint32_t rdb_ivf_seg_cap(uint32_t dim, uint32_t block_cap);

/* Append the live ids of list @p list of the index @p ix describes to the
 * growing array *ids (*n used, *cap allocated; realloc'd here, the caller
 * frees it), in list order. */
ragdb_status rdb_ivf_list_live_ids(rdb_txn *t, const rdb_ivf_info *ix, uint32_t list,
                                   uint64_t **ids, size_t *n, size_t *cap, rdb_err *err);

/* Re-encode every list as @p kind (from the blocks' f32 vectors, dropping
 * tombstones) in write txn @p t, after the quantized blocks were rebuilt
 * (rdb_store_set_quant). *converted = 1 when lists were rewritten, 0 when
 * there is no index or it already is @p kind. */
ragdb_status rdb_ivf_requant(rdb_txn *t, uint32_t kind, int *converted, rdb_err *err);

/* Verify I1-I3, reporting each violation. */
ragdb_status rdb_ivf_check(rdb_txn *t, void (*report)(void *ctx, const char *msg), void *rctx,
                           rdb_err *err);

#endif
