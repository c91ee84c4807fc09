/*
 * engine/kernels/batch_impl.h — the batch scan's own micro-kernels
 * (internal; see batch.c).
 *
 * Both operands are packed so the innermost loop reads them contiguously:
 * queries in tiles of MR rows and vectors in panels of NR rows, each
 * stored d-major (element (d, r) at [d * MR + r] / [d * NR + r]), padded
 * with zero rows to whole tiles and panels, 64-byte aligned. A run
 * function computes every (query tile, vector panel) pair of one run of
 * vectors as an MR x NR block of dot products held in registers, and
 * pushes the block straight into the queries' heaps: only scores that
 * would enter a heap leave the registers (compared 16 at a time against
 * the query's threshold), so no score matrix is ever written.
 */
#ifndef RDB_KERNELS_BATCH_IMPL_H
#define RDB_KERNELS_BATCH_IMPL_H

#include <math.h>

#include "engine/kernels/kernels.h"

#define RDB_B512_MR 12
#define RDB_B512_NR 32
#define RDB_B2_MR 6
#define RDB_B2_NR 16

typedef struct rdb_brun {
	const float *Qp;      /* packed queries, ceil(nq / MR) tiles */
	size_t nq, dim;
	const float *Vp;      /* packed run, ceil(m / NR) panels */
	const uint64_t *ids;  /* the run's m ids */
	size_t m;
	rdb_topk *heaps;      /* nq heaps */
	float *thr;           /* nq thresholds: -inf until the heap is full, then its worst score */
} rdb_brun;

void rdb_batch_run_avx512(const rdb_brun *r);
/* rows x dim (row-major) into panels of RDB_B512_NR rows, d-major, the last
 * one zero-padded: the layout rdb_batch_run_avx512 reads (dst 64-byte
 * aligned). The same floats as a scalar copy, 16 x 16 blocks at a time. */
void rdb_batch_pack_avx512(const float *src, size_t rows, size_t dim, float *dst);
void rdb_batch_run_avx2(const rdb_brun *r);

/* The AMX path (batch_amxbf16.c; batch.c certifies and rescores). Scores
 * are q_hi.x_hi + q_lo.x_hi + q_hi.x_lo with hi = x rounded to bf16 and lo =
 * the rest rounded to bf16, in f32 accumulators: within a bound of the f32
 * dot product that batch.c computes (rdb_batch_amx_eps), never equal to it.
 * Operands are packed in 16 x 32-bf16 tiles (1 KB), over dims padded to a
 * multiple of 32 (RDB_BAMX_KD): queries in blocks of 32 (two 16-row A
 * tiles), vectors in panels of 16 (B tiles: row p holds dims 2p, 2p+1 of
 * each of the 16 vectors), hi tiles of all dims then lo tiles. */
#define RDB_BAMX_BLOCK 32
#define RDB_BAMX_KD(dim) (((dim) + 31) / 32 * 32)

typedef struct rdb_bamx {
	const uint16_t *Qp;  /* rdb_batch_amx_pack_queries */
	size_t nq, dim;
	const float *vecs;   /* the run: m vectors, row-major */
	const uint64_t *ids;
	size_t m;
	size_t pos;          /* the run's first vector's place in the blocks */
	uint16_t *Vp;        /* room for the packed run: RDB_BAMX_KD(dim) x 2 bf16
	                      * per vector, m rounded up to 32; 64-byte aligned */
	float *tiles;        /* 4 x 256 floats, 64-byte aligned */
	rdb_topk *heaps;     /* nq candidate heaps: ids are places + 1 */
	float *thr;          /* nq thresholds, as for rdb_brun */
	float maxnorm2;      /* out: the largest squared norm of a vector seen */
	int nonfinite;       /* out: a vector held a NaN or an infinity */
} rdb_bamx;

/* Pack nq queries (row-major) into dst: RDB_BAMX_KD(dim) x 2 bf16 per query,
 * nq rounded up to 32 (zeros). Returns 1 if a query holds a NaN or an
 * infinity (the bound does not hold then), else 0. */
int rdb_batch_amx_pack_queries(const float *Q, size_t nq, size_t dim, uint16_t *dst);
/* Configure this thread's tiles / give them back (once per part). */
void rdb_batch_amx_begin(void);
void rdb_batch_amx_end(void);
/* Pack the run, score it against every query, push the candidates. */
void rdb_batch_run_amx(rdb_bamx *r);

/* One candidate, exactly as rdb_push_scores takes it (NaN is -inf,
 * tombstones skipped), then the query's threshold refreshed. The caller
 * passes every score that is not below the threshold (NaN included). */
static inline void rdb_bpush(rdb_topk *t, float *thr, float s, uint64_t id)
{
	if (isnan(s))
		s = -INFINITY;
	if (id == 0 || !rdb_topk_would_enter(t, s))
		return;
	rdb_topk_push(t, s, id);
	*thr = t->n < t->k ? -INFINITY : t->h[0].score;
}

#endif
