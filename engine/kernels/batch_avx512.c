/*
 * engine/kernels/batch_avx512.c — the batch scan's AVX-512 micro-kernel:
 * 12 queries x 32 vectors per register block.
 *
 * Compiled with -mavx512f (CMakeLists.txt); batch.c calls it only when the
 * avx512 dot path is supported. The block is 24 zmm accumulators (12
 * queries x 2 x 16 vectors); per element of the dimension it loads two
 * vectors' worth of the panel and broadcasts 12 query values, feeding 24
 * FMAs from 14 loads, which keeps both FMA ports busy without stalling on
 * loads. The query tile's slice of up to KC dims stays in L1 while the
 * run's panels stream from L2 (batch.c sizes the run to fit there).
 *
 * It also packs the runs for that kernel (rdb_batch_pack_avx512): 16 rows
 * x 16 dims loaded, transposed in registers, stored as 16 aligned panel
 * lines. The scalar pack wrote one float per 128-byte panel line, 12,288
 * lines per run at dim 384, and took ~0.3 ms of each run's ~2.5 ms of FMAs
 * at 1,000 queries; this one ~1/10 of that.
 */
#include <immintrin.h>

#include "engine/kernels/batch_impl.h"
#include "engine/kernels/scan_util.h"
#include "engine/kernels/transpose16.h"

#define MR RDB_B512_MR
#define NR RDB_B512_NR

/* Dims per pass over a panel: the query tile's slice (12 x KC floats,
 * 18 KB) stays in L1 across the run's panels. At larger dims the block's
 * partial sums are parked in a small buffer between passes. */
#define KC 384

/* acc += the block's dot products over dims [d0, d1). */
static inline __attribute__((always_inline)) void block(const float *qp, const float *vp,
                                                       size_t d0, size_t d1, __m512 acc[2 * MR])
{
#pragma GCC unroll 2
	for (size_t d = d0; d < d1; d++) {
		const __m512 v0 = _mm512_load_ps(vp + d * NR);
		const __m512 v1 = _mm512_load_ps(vp + d * NR + 16);
		const float *q = qp + d * MR;
#pragma GCC unroll 12
		for (int i = 0; i < MR; i++) {
			const __m512 b = _mm512_set1_ps(q[i]);
			acc[2 * i] = _mm512_fmadd_ps(b, v0, acc[2 * i]);
			acc[2 * i + 1] = _mm512_fmadd_ps(b, v1, acc[2 * i + 1]);
		}
	}
}

/* Push the scores of the block's first lq queries and live vectors. */
static void push_block(const rdb_brun *r, size_t q0, size_t lq, size_t v0, uint32_t live,
                       const __m512 acc[2 * MR])
{
	for (size_t i = 0; i < lq; i++) {
		float *thr = &r->thr[q0 + i];
		const __m512 t = _mm512_set1_ps(*thr);
		uint32_t pass = ((uint32_t)_mm512_cmp_ps_mask(acc[2 * i], t, _CMP_NLT_UQ) |
		                 ((uint32_t)_mm512_cmp_ps_mask(acc[2 * i + 1], t, _CMP_NLT_UQ) << 16)) &
		                live;
		if (!pass)
			continue;
		float s[NR];
		_mm512_storeu_ps(s, acc[2 * i]);
		_mm512_storeu_ps(s + 16, acc[2 * i + 1]);
		while (pass) {
			const unsigned j = (unsigned)__builtin_ctz(pass);
			pass &= pass - 1;
			/* A push raises the threshold; later lanes are re-checked
			 * against it inside rdb_bpush. */
			rdb_bpush(&r->heaps[q0 + i], thr, s[j], r->ids[v0 + j]);
		}
	}
}

void rdb_batch_run_avx512(const rdb_brun *r)
{
	const size_t dim = r->dim;
	/* Partial sums of up to RDB_SCAN_CHUNK / NR panels between passes. */
	__m512 park[RDB_SCAN_CHUNK / NR][2 * MR];
	for (size_t q0 = 0; q0 < r->nq; q0 += MR) {
		const size_t lq = r->nq - q0 < MR ? r->nq - q0 : MR;
		const float *qp = r->Qp + q0 * dim;
		size_t d0 = 0;
		do {
			/* A short last pass is folded into this one. */
			const size_t d1 = dim - d0 < KC + KC / 2 ? dim : d0 + KC;
			for (size_t v0 = 0, pn = 0; v0 < r->m; v0 += NR, pn++) {
				const float *vp = r->Vp + v0 * dim;
				__m512 acc[2 * MR];
#pragma GCC unroll 24
				for (int i = 0; i < 2 * MR; i++)
					acc[i] = d0 == 0 ? _mm512_setzero_ps() : park[pn][i];
				block(qp, vp, d0, d1, acc);
				if (d1 < dim) {
#pragma GCC unroll 24
					for (int i = 0; i < 2 * MR; i++)
						park[pn][i] = acc[i];
					continue;
				}
				const size_t lv = r->m - v0 < NR ? r->m - v0 : NR;
				push_block(r, q0, lq, v0, lv == 32 ? 0xffffffffu : (1u << lv) - 1u, acc);
			}
			d0 = d1;
		} while (d0 < dim);
	}
}

void rdb_batch_pack_avx512(const float *src, size_t rows, size_t dim, float *dst)
{
	for (size_t g = 0; g * NR < rows; g++) {
		float *p = dst + g * NR * dim;
		const float *s = src + g * NR * dim;
		const size_t live = rows - g * NR < NR ? rows - g * NR : NR;
		size_t d0 = 0;
		for (; d0 + 16 <= dim; d0 += 16) {
			for (size_t h = 0; h < NR; h += 16) {
				__m512 r[16];
				for (size_t i = 0; i < 16; i++)
					r[i] = h + i < live ? _mm512_loadu_ps(s + (h + i) * dim + d0)
					                    : _mm512_setzero_ps();
				transpose16(r);
				for (size_t c = 0; c < 16; c++)
					_mm512_store_ps(p + (d0 + c) * NR + h, r[c]);
			}
		}
		for (size_t d = d0; d < dim; d++)
			for (size_t i = 0; i < NR; i++)
				p[d * NR + i] = i < live ? s[i * dim + d] : 0;
	}
}
