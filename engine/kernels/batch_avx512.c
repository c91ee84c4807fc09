/*
 * engine/kernels/batch_avx512.c — the batch scan's AVX-512 micro-kernel:
 * 12 queries x 32 vectors per register block.
 *
 * Compiled with -mavx512f (CMakeLists.txt); batch.c calls it only when the
 * avx512 dot path is supported. The block is 24 zmm accumulators (12
 * queries x 2 x 16 vectors); per element of the dimension it loads two
 * vectors' worth of the panel and broadcasts 12 query values, feeding 24
 * FMAs from 14 loads, which keeps both FMA ports busy without stalling on
 * loads. The query tile (12 x dim floats) stays in L1 while the run's
 * panels stream from L2 (batch.c sizes the run to fit there).
 */
#include <immintrin.h>

#include "engine/kernels/batch_impl.h"

#define MR RDB_B512_MR
#define NR RDB_B512_NR

static inline __attribute__((always_inline)) void block(const float *qp, const float *vp, size_t dim, __m512 acc[2 * MR])
{
#pragma GCC unroll 24
	for (int i = 0; i < 2 * MR; i++)
		acc[i] = _mm512_setzero_ps();
#pragma GCC unroll 2
	for (size_t d = 0; d < dim; d++) {
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

void rdb_batch_run_avx512(const rdb_brun *r)
{
	const size_t dim = r->dim;
	for (size_t q0 = 0; q0 < r->nq; q0 += MR) {
		const size_t lq = r->nq - q0 < MR ? r->nq - q0 : MR;
		const float *qp = r->Qp + q0 * dim;
		for (size_t v0 = 0; v0 < r->m; v0 += NR) {
			const size_t lv = r->m - v0 < NR ? r->m - v0 : NR;
			const uint32_t live = lv == 32 ? 0xffffffffu : (1u << lv) - 1u;
			__m512 acc[2 * MR];
			block(qp, r->Vp + v0 * dim, dim, acc);
			for (size_t i = 0; i < lq; i++) {
				float *thr = &r->thr[q0 + i];
				const __m512 t = _mm512_set1_ps(*thr);
				uint32_t pass = ((uint32_t)_mm512_cmp_ps_mask(acc[2 * i], t, _CMP_NLT_UQ) |
				                 ((uint32_t)_mm512_cmp_ps_mask(acc[2 * i + 1], t, _CMP_NLT_UQ)
				                  << 16)) &
				                live;
				if (!pass)
					continue;
				float s[NR];
				_mm512_storeu_ps(s, acc[2 * i]);
				_mm512_storeu_ps(s + 16, acc[2 * i + 1]);
				while (pass) {
					const unsigned j = (unsigned)__builtin_ctz(pass);
					pass &= pass - 1;
					/* A push raises the threshold; later lanes are
					 * re-checked against it inside rdb_bpush. */
					rdb_bpush(&r->heaps[q0 + i], thr, s[j], r->ids[v0 + j]);
				}
			}
		}
	}
}
