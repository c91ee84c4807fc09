/*
 * engine/ivf_api.h — the IVF search path as the vector scan uses it
 * (engine/search.c); building and statistics are public (ragdb.h).
 */
#ifndef RDB_ENGINE_IVF_API_H
#define RDB_ENGINE_IVF_API_H

#include "engine/kernels/kernels.h"
#include "index/ivf.h"

/* A snapshot's index: header and centroids (pointing into the map). */
typedef struct rdb_ivf_snap {
	int present;
	rdb_ivf_info info;
	const float *cent;
} rdb_ivf_snap;

/* Load the index of read txn @p t into @p out (present = 0 when none). */
ragdb_status rdb_ivf_snap_open(rdb_txn *t, rdb_ivf_snap *out, rdb_err *e);

/* Which lists to probe for search options (nprobe, exact): 0 = scan
 * exactly; EINVAL when nprobe is asked for and there is no index. */
ragdb_status rdb_ivf_plan(const rdb_ivf_snap *ix, uint32_t nprobe, int exact, uint32_t *use,
                          rdb_err *e);

/* Top-k of @p q over the @p nprobe lists nearest to it, on the pool (one
 * heap per part, merged). Scores are exact cosines: f32 lists are scanned
 * directly; quantized lists by the quantized kernels, the top k x
 * oversample (0: the kind's default) rescored from the f32 vectors of the
 * blocks, as the exact quantized scan does. */
ragdb_status rdb_ivf_search(rdb_txn *t, const rdb_ivf_snap *ix, const float *q, uint32_t nprobe,
                            size_t k, uint32_t oversample, int threads, rdb_keep_fn keep,
                            void *keep_ctx, rdb_scored *out, size_t *n_out, rdb_err *e);

/* rdb_ivf_search for @p n queries (Q, n x dim) without filters: the queries
 * are split across the pool (each part one thread), LMDB is read only on
 * the calling thread (which rescores quantized candidates). out is n x k,
 * n_out[n]; each query's list equals its rdb_ivf_search list. */
ragdb_status rdb_ivf_search_batch(rdb_txn *t, const rdb_ivf_snap *ix, const float *Q, size_t n,
                                  uint32_t nprobe, size_t k, uint32_t oversample, int threads,
                                  rdb_scored *out, size_t *n_out, rdb_err *e);

/* ragdb_quantize: set the quantization to @p kind (rdb_quant), re-encoding
 * the quantized blocks and, with an IVF index, its lists. From f32 the
 * blocks are staged over several txns (index/qblocks.c Q3), the lists are
 * written over several txns into the other half of the keys (index/ivf.h),
 * and the last txn switches everything at once. */
ragdb_status rdb_ivf_quantize(ragdb *db, uint32_t kind);

#endif
