/*
 * engine/kernels/batch_avx2.c — the batch scan's AVX2 micro-kernel:
 * 6 queries x 16 vectors per register block.
 *
 * Compiled with -mavx2 -mfma; batch.c calls it only when the avx2 dot path
 * is supported. 12 ymm accumulators, two panel loads and one broadcast
 * live at a time: 15 of the 16 ymm registers, the classic Haswell shape.
 */
#include <immintrin.h>

#include "engine/kernels/batch_impl.h"

#define MR RDB_B2_MR
#define NR RDB_B2_NR

/* The block's dot products into acc. They add up in a local array that is
 * copied out once at the end: accumulating into acc itself made GCC 12
 * store all twelve registers back to the stack after every step (acc is
 * read by index afterwards), which held the kernel to ~0.3x the FMA peak
 * on a Zen 3. */
static inline __attribute__((always_inline)) void block(const float *qp, const float *vp, size_t dim, __m256 acc[2 * MR])
{
	__m256 c[2 * MR];
#pragma GCC unroll 24
	for (int i = 0; i < 2 * MR; i++)
		c[i] = _mm256_setzero_ps();
#pragma GCC unroll 2
	for (size_t d = 0; d < dim; d++) {
		const __m256 v0 = _mm256_load_ps(vp + d * NR);
		const __m256 v1 = _mm256_load_ps(vp + d * NR + 8);
		const float *q = qp + d * MR;
#pragma GCC unroll 12
		for (int i = 0; i < MR; i++) {
			const __m256 b = _mm256_broadcast_ss(q + i);
			c[2 * i] = _mm256_fmadd_ps(b, v0, c[2 * i]);
			c[2 * i + 1] = _mm256_fmadd_ps(b, v1, c[2 * i + 1]);
		}
	}
#pragma GCC unroll 24
	for (int i = 0; i < 2 * MR; i++)
		acc[i] = c[i];
}

void rdb_batch_run_avx2(const rdb_brun *r)
{
	const size_t dim = r->dim;
	for (size_t q0 = 0; q0 < r->nq; q0 += MR) {
		const size_t lq = r->nq - q0 < MR ? r->nq - q0 : MR;
		const float *qp = r->Qp + q0 * dim;
		for (size_t v0 = 0; v0 < r->m; v0 += NR) {
			const size_t lv = r->m - v0 < NR ? r->m - v0 : NR;
			const unsigned live = (1u << lv) - 1u;
			__m256 acc[2 * MR];
			block(qp, r->Vp + v0 * dim, dim, acc);
			for (size_t i = 0; i < lq; i++) {
				float *thr = &r->thr[q0 + i];
				const __m256 t = _mm256_set1_ps(*thr);
				unsigned pass =
					((unsigned)_mm256_movemask_ps(_mm256_cmp_ps(acc[2 * i], t, _CMP_NLT_UQ)) |
					 ((unsigned)_mm256_movemask_ps(_mm256_cmp_ps(acc[2 * i + 1], t, _CMP_NLT_UQ))
					  << 8)) &
					live;
				if (!pass)
					continue;
				float s[NR];
				_mm256_storeu_ps(s, acc[2 * i]);
				_mm256_storeu_ps(s + 8, acc[2 * i + 1]);
				while (pass) {
					const unsigned j = (unsigned)__builtin_ctz(pass);
					pass &= pass - 1;
					rdb_bpush(&r->heaps[q0 + i], thr, s[j], r->ids[v0 + j]);
				}
			}
		}
	}
}
