/*
 * engine/kernels/kernels.h — exact cosine top-k over L2-normalised vectors.
 *
 * Vectors are normalised at write time, so cosine similarity is a dot
 * product. Three dot-product paths exist: a scalar reference (always built,
 * the ground truth in tests), AVX2+FMA and AVX-512F. One is chosen once, at
 * first use, from cpuid (RAGDB_KERNEL=scalar|avx2|avx512 overrides, for tests
 * and benchmarks). Top-k keeps a bounded min-heap; ties are broken by the
 * smaller id, so every path returns the same list. Single queries scan the
 * blocks split across threads; batches go through AMX tiles whose
 * candidates are rescored and proven exact, our register-blocked
 * micro-kernel fused with the top-k, or cblas_sgemm where that measures
 * faster (batch.c). Quantized blocks (bf16, int8, binary): quant.h.
 */
#ifndef RDB_KERNELS_H
#define RDB_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "index/err.h"

/* out[i] = dot(q, vecs + i*dim) for i < n. vecs need only 4-byte alignment. */
typedef void (*rdb_dot_fn)(const float *q, const float *vecs, size_t n, size_t dim, float *out);

void rdb_dot_scalar(const float *q, const float *vecs, size_t n, size_t dim, float *out);
void rdb_dot_avx2(const float *q, const float *vecs, size_t n, size_t dim, float *out);
void rdb_dot_avx512(const float *q, const float *vecs, size_t n, size_t dim, float *out);

/* The dispatched kernel and its name ("scalar", "avx2", "avx512"). */
rdb_dot_fn rdb_kernel_dot(void);
const char *rdb_kernel_name(void);
/* Whether this CPU can run a path (for tests). */
int rdb_kernel_supported(const char *name);
rdb_dot_fn rdb_kernel_by_name(const char *name);

/* A hit before it is resolved to a chunk. */
typedef struct rdb_scored {
	float score;
	uint64_t id;
} rdb_scored;

/* Bounded top-k: a min-heap of the k best so far (storage has k slots).
 * Better = higher score, or equal score and smaller id. */
typedef struct rdb_topk {
	rdb_scored *h;
	size_t k, n;
} rdb_topk;
void rdb_topk_init(rdb_topk *t, rdb_scored *storage, size_t k);
void rdb_topk_push(rdb_topk *t, float score, uint64_t id);
/* Would (score, id) enter the heap? Lets scans skip the push cheaply. */
static inline int rdb_topk_would_enter(const rdb_topk *t, float score)
{
	return t->n < t->k || score >= t->h[0].score;
}
/* Sort the heap best-first into out (t->n entries); the heap is consumed. */
size_t rdb_topk_drain(rdb_topk *t, rdb_scored *out);

/* A block of vectors: ids[i] == 0 is a tombstone and never returned. */
typedef struct rdb_vblock {
	const uint64_t *ids;
	const float *vecs;
	size_t count;
} rdb_vblock;

/* Optional per-id predicate applied during the scan (filters). It is asked
 * only about live ids whose score would enter the top-k, and may be called
 * from several threads at once (keep it read-only on ctx). */
typedef int (*rdb_keep_fn)(void *ctx, uint64_t id);

/* Exact top-k of one query over the blocks. threads <= 0: number of cores.
 * out must hold k entries; *n_out = min(k, live vectors kept).
 * Fails only with RAGDB_ENOMEM (thread start failure falls back to one). */
ragdb_status rdb_scan_topk(const float *q, size_t dim, const rdb_vblock *blocks, size_t n_blocks,
                           size_t k, int threads, rdb_keep_fn keep, void *keep_ctx,
                           rdb_scored *out, size_t *n_out, rdb_err *err);

/* One query of rdb_scan_topk_multi: its vector (dim floats), k, filter
 * (keep may be NULL) and where its list goes (out holds k entries). */
typedef struct rdb_multi_query {
	const float *q;
	size_t k;
	rdb_keep_fn keep;
	void *keep_ctx;
	rdb_scored *out;
	size_t *n_out;
} rdb_multi_query;

/* rdb_scan_topk for each of the nq queries qs points to, in one pass over
 * the blocks (for a few queries at once: each run of rows is scored against
 * every query while it is in cache). Each list is exactly what
 * rdb_scan_topk returns for that query. Fails only with RAGDB_ENOMEM. */
ragdb_status rdb_scan_topk_multi(const rdb_multi_query *const *qs, size_t nq, size_t dim,
                                 const rdb_vblock *blocks, size_t n_blocks, int threads,
                                 rdb_err *err);

/* Exact top-k of nq queries (Q is nq x dim, row-major) in one pass over the
 * blocks, on the batch path chosen for this process (rdb_batch_chosen).
 * out is nq x k; n_out[i] as above. */
ragdb_status rdb_scan_topk_batch(const float *Q, size_t nq, size_t dim, const rdb_vblock *blocks,
                                 size_t n_blocks, size_t k, int threads, rdb_scored *out,
                                 size_t *n_out, rdb_err *err);

/* How a batch scores: our AVX-512 (12 x 32) or AVX2 (6 x 16) micro-kernel
 * fused with the top-k, cblas_sgemm then the top-k, or AMX tiles (bf16
 * split in hi and lo parts) choosing candidates that are then rescored
 * exactly and proven complete (batch.c). AUTO is the one chosen for the
 * process. */
typedef enum rdb_batch_path {
	RDB_BATCH_AUTO = 0,
	RDB_BATCH_BLAS = 1,
	RDB_BATCH_AVX2 = 2,
	RDB_BATCH_AVX512 = 3,
	RDB_BATCH_AMX = 4,
} rdb_batch_path;

/* rdb_scan_topk_batch on a given path; EINVAL if this CPU cannot run it. */
ragdb_status rdb_scan_topk_batch_path(rdb_batch_path path, const float *Q, size_t nq, size_t dim,
                                      const rdb_vblock *blocks, size_t n_blocks, size_t k,
                                      int threads, rdb_scored *out, size_t *n_out, rdb_err *err);
/* "auto", "blas", "avx2", "avx512", "amx" (NULL if unknown). */
const char *rdb_batch_path_name(rdb_batch_path path);
int rdb_batch_path_supported(rdb_batch_path path);
/* The path AUTO stands for: RAGDB_BATCH=blas|avx2|avx512|amx if set and
 * supported; amx where the CPU and the OS allow it (batches of fewer than
 * RDB_BATCH_AMX_MIN queries, or over fewer than RDB_BATCH_AMX_MIN_VECTORS
 * vectors, then take the AVX-512 kernel); our best
 * micro-kernel when OpenBLAS reports an SSE-era core
 * (openblas_get_corename(): it did not recognise the CPU); else whichever
 * of the two was faster in a one-time measurement (tens of ms, at the
 * first call) on one core; their GFLOP/s there go to the out-params (may
 * be NULL; 0 when not measured). */
rdb_batch_path rdb_batch_chosen(double *own_gflops, double *blas_gflops);
#define RDB_BATCH_AMX_MIN 32
#define RDB_BATCH_AMX_MIN_VECTORS 32768
/* Queries the AMX path has answered since the process started, and how
 * many of them it had to scan again exactly because the candidates' bound
 * did not prove the top k complete (either may be NULL). */
void rdb_batch_amx_stats(uint64_t *queries, uint64_t *rescanned);

/* Number of online cores (cached). */
int rdb_ncores(void);

#endif
