/*
 * engine/kernels/dot_avx2.c — dot products with AVX2 + FMA.
 *
 * Compiled with -mavx2 -mfma (see CMakeLists.txt); only called after
 * dispatch.c has checked the CPU and the OS. Same shape as dot_avx512.c:
 * four rows at a time, two accumulators per row, unaligned loads, and a
 * masked load for the tail (dim % 8) so any dim works without a scalar loop,
 * and the same prefetch a few rows ahead (dot_prefetch.h).
 *
 * Invariant: a row's score does not depend on which rows it is computed
 * with (a short group repeats its last row), so splitting a scan across
 * threads cannot change a score.
 */
#include <immintrin.h>

#include "engine/kernels/dot_prefetch.h"
#include "engine/kernels/kernels.h"

static inline float hsum256(__m256 v)
{
	__m128 lo = _mm256_castps256_ps128(v);
	__m128 hi = _mm256_extractf128_ps(v, 1);
	lo = _mm_add_ps(lo, hi);
	lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
	lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
	return _mm_cvtss_f32(lo);
}

void rdb_dot_avx2(const float *q, const float *vecs, size_t n, size_t dim, float *out)
{
	const size_t full16 = dim & ~(size_t)15;
	const int has8 = (dim & 8) != 0;
	const size_t rest = dim & 7;
	/* Lane l is loaded when its mask element has the sign bit set. */
	const __m256i tail = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rest),
	                                        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
	const size_t ahead = rdb_prefetch_rows(dim) * dim;

	for (size_t i = 0; i < n; i += 4) {
		const size_t live = n - i < 4 ? n - i : 4;
		const float *p[4];
		#pragma GCC unroll 4
		for (size_t r = 0; r < 4; r++)
			p[r] = vecs + (i + (r < live ? r : live - 1)) * dim;

		__m256 a0[4], a1[4];
		#pragma GCC unroll 4
		for (size_t r = 0; r < 4; r++) {
			a0[r] = _mm256_setzero_ps();
			a1[r] = _mm256_setzero_ps();
		}
		size_t j = 0;
		for (; j < full16; j += 16) {
			const __m256 qa = _mm256_loadu_ps(q + j);
			const __m256 qb = _mm256_loadu_ps(q + j + 8);
			#pragma GCC unroll 4
			for (size_t r = 0; r < 4; r++) {
				a0[r] = _mm256_fmadd_ps(qa, _mm256_loadu_ps(p[r] + j), a0[r]);
				a1[r] = _mm256_fmadd_ps(qb, _mm256_loadu_ps(p[r] + j + 8), a1[r]);
				_mm_prefetch((const char *)(p[r] + ahead + j), _MM_HINT_T0);
			}
		}
		if (has8) {
			const __m256 qa = _mm256_loadu_ps(q + j);
			#pragma GCC unroll 4
			for (size_t r = 0; r < 4; r++)
				a0[r] = _mm256_fmadd_ps(qa, _mm256_loadu_ps(p[r] + j), a0[r]);
			j += 8;
		}
		if (rest) {
			const __m256 qb = _mm256_maskload_ps(q + j, tail);
			#pragma GCC unroll 4
			for (size_t r = 0; r < 4; r++)
				a1[r] = _mm256_fmadd_ps(qb, _mm256_maskload_ps(p[r] + j, tail), a1[r]);
		}
		for (size_t r = 0; r < live; r++)
			out[i + r] = hsum256(_mm256_add_ps(a0[r], a1[r]));
	}
}
