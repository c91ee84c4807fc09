/*
 * engine/kernels/quant.h — quantized vector blocks (bf16, int8, binary):
 * encodings, dot kernels, a top-k scan over them and the exact rescoring
 * that turns a quantized candidate list into exact f32 results.
 *
 * Encodings (one row per vector, rows packed back to back; bf16 rows need
 * 2-byte alignment, int8 and binary rows none):
 *   bf16    dim x uint16: the f32 value rounded to nearest even in its top
 *           16 bits (NaN stays NaN). Score: dot(bf16(q), bf16(v)) in f32.
 *   int8    dim x int8 plus one float scale per vector (a separate array):
 *           symmetric, scale = max|v| / 127, code = round-to-even(v / scale)
 *           in [-127, 127] (a zero vector has scale 0, codes 0). The query
 *           is quantized the same way with its own scale. The integer dot
 *           is exact on every path; score = (float)dot * (q_scale * v_scale).
 *   binary  ceil(dim / 64) little-endian uint64 words of sign bits (bit j of
 *           word j/64 is v[j] > 0; padding bits 0). Score from the Hamming
 *           distance h: (dim - 2h) / dim, an estimate of the cosine.
 *
 * Every kind has a scalar reference (the ground truth in tests) and SIMD
 * paths: bf16 avx2 and avx512bf16 (vdpbf16ps); int8 avx2 (vpmaddwd) and
 * avx512vnni (vpdpbusd); binary avx2 (64-bit popcnt) and avx512vpopcnt
 * (vpopcntq). Each kind's path is chosen once from cpuid and XCR0.
 * RAGDB_QKERNEL=scalar|avx2|avx512 picks a level for every kind (avx512
 * meaning the kind's AVX-512 extension); unset, RAGDB_KERNEL's value is
 * used the same way, so RAGDB_KERNEL=avx2 pins the whole process to AVX2.
 * A level a kind cannot run falls back to its best supported path (with a
 * warning on stderr when RAGDB_QKERNEL asked for it).
 *
 * Integer paths are bit-exact against the scalar reference; bf16 paths
 * agree within f32 rounding of the sum. Like the f32 kernels, a row's
 * result does not depend on the rows it is computed with, so a threaded
 * scan returns exactly what a single-threaded one does.
 */
#ifndef RDB_KERNELS_QUANT_H
#define RDB_KERNELS_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/kernels/kernels.h"

typedef enum rdb_quant {
	RDB_QUANT_F32 = 0,
	RDB_QUANT_BF16 = 1,
	RDB_QUANT_INT8 = 2,
	RDB_QUANT_BINARY = 3,
} rdb_quant;

/* Largest dim the quantized kernels take: keeps every int8 partial sum of
 * the VNNI offset trick exact in int32 (255 * 127 * dim < 2^31). */
#define RDB_QUANT_MAX_DIM 65536

/* "f32", "bf16", "int8", "binary" (NULL for an unknown value). */
const char *rdb_quant_name(rdb_quant kind);
/* Parse one of those names; 0 on success, -1 if unknown. */
int rdb_quant_parse(const char *name, rdb_quant *out);
/* Bytes of one encoded row (f32: 4 * dim). */
size_t rdb_quant_row_bytes(rdb_quant kind, size_t dim);

uint16_t rdb_f32_to_bf16(float x);
static inline float rdb_bf16_to_f32(uint16_t b)
{
	union { uint32_t u; float f; } c = {(uint32_t)b << 16};
	return c.f;
}

/* Encode n rows of dim floats into codes (n x rdb_quant_row_bytes bytes);
 * int8 also writes scales[n] (NULL for the other kinds). */
ragdb_status rdb_quantize(rdb_quant kind, const float *vecs, size_t n, size_t dim, void *codes,
                          float *scales, rdb_err *err);

/* --- dot kernels ----------------------------------------------------------- */

/* out[i] = dot(q, row i) in f32, for bf16 rows. */
typedef void (*rdb_bf16_dot_fn)(const uint16_t *q, const uint16_t *rows, size_t n, size_t dim,
                                float *out);
/* out[i] = exact integer dot(q, row i), for int8 rows (dim <= RDB_QUANT_MAX_DIM). */
typedef void (*rdb_i8_dot_fn)(const int8_t *q, const int8_t *rows, size_t n, size_t dim,
                              int32_t *out);
/* out[i] = Hamming distance between q and row i, rows of `words` uint64. */
typedef void (*rdb_bin_dist_fn)(const uint64_t *q, const unsigned char *rows, size_t n,
                                size_t words, int32_t *out);

void rdb_bf16_dot_scalar(const uint16_t *q, const uint16_t *rows, size_t n, size_t dim, float *out);
void rdb_bf16_dot_avx2(const uint16_t *q, const uint16_t *rows, size_t n, size_t dim, float *out);
void rdb_bf16_dot_avx512bf16(const uint16_t *q, const uint16_t *rows, size_t n, size_t dim,
                             float *out);
void rdb_i8_dot_scalar(const int8_t *q, const int8_t *rows, size_t n, size_t dim, int32_t *out);
void rdb_i8_dot_avx2(const int8_t *q, const int8_t *rows, size_t n, size_t dim, int32_t *out);
void rdb_i8_dot_avx512vnni(const int8_t *q, const int8_t *rows, size_t n, size_t dim, int32_t *out);
/* int8 scores in one pass: out[i] = (float)dot(q, row i) * (qscale * scales[i]),
 * bit-equal to the dot followed by that product (rdb_qscore uses it when
 * the avx512vnni path is dispatched). */
void rdb_i8_score_avx512vnni(const int8_t *q, float qscale, const int8_t *rows,
                             const float *scales, size_t n, size_t dim, float *out);
void rdb_bin_dist_scalar(const uint64_t *q, const unsigned char *rows, size_t n, size_t words,
                         int32_t *out);
void rdb_bin_dist_avx2(const uint64_t *q, const unsigned char *rows, size_t n, size_t words,
                       int32_t *out);
void rdb_bin_dist_avx512vpopcnt(const uint64_t *q, const unsigned char *rows, size_t n,
                                size_t words, int32_t *out);

/* Paths by name: bf16 "scalar" "avx2" "avx512bf16"; int8 "scalar" "avx2"
 * "avx512vnni"; binary "scalar" "avx2" "avx512vpopcnt". */
int rdb_qkernel_supported(rdb_quant kind, const char *name);
/* The dispatched path's name for a kind (NULL for f32 or unknown). */
const char *rdb_qkernel_name(rdb_quant kind);
/* A path by name, or NULL if unknown or not supported here. */
rdb_bf16_dot_fn rdb_bf16_dot_by_name(const char *name);
rdb_i8_dot_fn rdb_i8_dot_by_name(const char *name);
rdb_bin_dist_fn rdb_bin_dist_by_name(const char *name);
/* The dispatched paths. */
rdb_bf16_dot_fn rdb_bf16_dot(void);
rdb_i8_dot_fn rdb_i8_dot(void);
rdb_bin_dist_fn rdb_bin_dist(void);

/* --- queries, blocks and scans -------------------------------------------- */

/* A query encoded like the rows it is compared with. */
typedef struct rdb_qquery {
	rdb_quant kind;
	size_t dim;
	float scale;  /* int8: the query's own scale */
	void *codes;  /* one encoded row (binary: uint64-aligned) */
} rdb_qquery;

/* Encode q (dim floats) for scans of @p kind (not f32). EINVAL on a bad
 * kind or dim, ENOMEM. Free with rdb_qquery_free. */
ragdb_status rdb_qquery_create(rdb_quant kind, const float *q, size_t dim, rdb_qquery **out,
                               rdb_err *err);
void rdb_qquery_free(rdb_qquery *q);

/* The quantized score of n rows (scales: int8 only), with the dispatched
 * kernel, into out[n]. */
void rdb_qscore(const rdb_qquery *q, const void *rows, const float *scales, size_t n, float *out);

/* A block of encoded vectors: ids[i] == 0 is a tombstone. */
typedef struct rdb_qblock {
	const uint64_t *ids;
	const void *codes;    /* count x rdb_quant_row_bytes(kind, dim) bytes (bf16: 2-aligned) */
	const float *scales;  /* int8: count scales, 4-byte aligned; else NULL */
	size_t count;
} rdb_qblock;

/* Top-k of q over the blocks by quantized score; as rdb_scan_topk
 * otherwise (threads, keep, ties by smaller id, result independent of the
 * number of threads). */
ragdb_status rdb_qscan_topk(const rdb_qquery *q, const rdb_qblock *blocks, size_t n_blocks,
                            size_t k, int threads, rdb_keep_fn keep, void *keep_ctx,
                            rdb_scored *out, size_t *n_out, rdb_err *err);

/* The f32 vector (dim floats, L2-normalised like the stored ones) of an id,
 * or NULL if there is none. Called from the searching thread only. */
typedef const float *(*rdb_vec_fn)(void *ctx, uint64_t id);

/* Exact top-k through a quantized scan: the top k x oversample candidates
 * by quantized score (oversample 0 counts as 1), then each candidate's
 * exact f32 score by the dispatched f32 dot kernel, so the scores (and,
 * with enough candidates, the list) equal rdb_scan_topk's over the f32
 * vectors bit for bit. A candidate without an f32 vector is corruption
 * (RAGDB_ECORRUPT); also EINVAL (q->dim != dim), ENOMEM. */
ragdb_status rdb_qsearch_rescore(const rdb_qquery *q, const float *qf, const rdb_qblock *blocks,
                                 size_t n_blocks, size_t k, size_t oversample, int threads,
                                 rdb_keep_fn keep, void *keep_ctx, rdb_vec_fn vec, void *vec_ctx,
                                 rdb_scored *out, size_t *n_out, rdb_err *err);


/* rdb_qsearch_rescore when the f32 vectors are blocks parallel to the
 * quantized ones (fblocks[b] holds the same ids, in the same rows, as
 * blocks[b]): the candidates' f32 rows are found by their place in the
 * scan, with no lookup by id (at 1M vectors a lookup costs ~3 us, and
 * binary rescores k x 160 candidates). The same exact scores; candidates
 * tied at the cut are taken by place rather than by id. ECORRUPT when a
 * pair of blocks does not match; ENOMEM. */
ragdb_status rdb_qsearch_rescore_blocks(const rdb_qquery *q, const float *qf,
                                        const rdb_qblock *blocks, const rdb_vblock *fblocks,
                                        size_t n_blocks, size_t k, size_t oversample, int threads,
                                        rdb_keep_fn keep, void *keep_ctx, rdb_scored *out,
                                        size_t *n_out, rdb_err *err);

/* One query of rdb_qsearch_rescore_blocks_multi: its encoded and f32
 * forms, k, oversample, filter (keep may be NULL) and where its list goes
 * (out holds k entries). */
typedef struct rdb_qmulti {
	const rdb_qquery *q;
	const float *qf;
	size_t k, oversample;
	rdb_keep_fn keep;
	void *keep_ctx;
	rdb_scored *out;
	size_t *n_out;
} rdb_qmulti;

/* rdb_qsearch_rescore_blocks for each of the nq queries qs points to (all
 * of one kind and dim), in one pass over the blocks: each run of rows is scored against
 * every query while it is in cache. Each list is exactly what
 * rdb_qsearch_rescore_blocks returns for that query. ECORRUPT as there;
 * EINVAL when the queries' kinds differ; ENOMEM. */
ragdb_status rdb_qsearch_rescore_blocks_multi(const rdb_qmulti *const *qs, size_t nq,
                                              const rdb_qblock *blocks,
                                              const rdb_vblock *fblocks, size_t n_blocks,
                                              int threads, rdb_err *err);

/* How many candidates the rescoring takes: k x oversample (0 counts as 1),
 * at most @p total vectors, at least k. */
size_t rdb_rescore_candidates(size_t k, size_t oversample, size_t total);

/* Candidates per result rescored on a quantized scan or IVF lists of
 * @p kind (rdb_quant): @p asked, or the kind's default (1, 2, 4, 64 for
 * f32 .. binary). */
uint32_t rdb_oversample(uint32_t kind, uint32_t asked);

/* The exact top-k of the @p n candidates (any order): each one's f32 vector
 * from @p vec scored against @p qf by the dispatched f32 kernel. ECORRUPT
 * when a candidate has no f32 vector. */
ragdb_status rdb_rescore_list(size_t dim, const float *qf, const rdb_scored *cand, size_t n,
                              size_t k, rdb_vec_fn vec, void *vec_ctx, rdb_scored *out,
                              size_t *n_out, rdb_err *err);

/* rdb_qscan_topk for @p nq queries (all of one kind and dim) in one pass
 * over the blocks: each chunk of rows is scored against every query while
 * it is in cache. out is nq x k, n_out[nq]; each query's list equals its
 * rdb_qscan_topk list. No keep predicate (filtered searches go one by one).
 * Cannot fail for lack of memory (it falls back to one query at a time). */
ragdb_status rdb_qscan_topk_batch(const rdb_qquery *const *qs, size_t nq, const rdb_qblock *blocks,
                                  size_t n_blocks, size_t k, int threads, rdb_scored *out,
                                  size_t *n_out, rdb_err *err);

/* rdb_qsearch_rescore for @p nq queries: Qf is nq x dim (f32, normalised),
 * out nq x k. The rescoring runs on the calling thread (vec is called from
 * it only). */
ragdb_status rdb_qsearch_rescore_batch(const rdb_qquery *const *qs, const float *Qf, size_t nq,
                                       const rdb_qblock *blocks, size_t n_blocks, size_t k,
                                       size_t oversample, int threads, rdb_vec_fn vec,
                                       void *vec_ctx, rdb_scored *out, size_t *n_out,
                                       rdb_err *err);

#endif
