/*
 * engine/kernels/dot_avx512.c — dot products with AVX-512F.
 *
 * Compiled with -mavx512f (see CMakeLists.txt); only called after dispatch.c
 * has checked the CPU and the OS. Four rows are done together so each query
 * load feeds four FMAs and eight independent accumulators keep both FMA
 * ports busy. The tail (dim % 16) is a masked load, so there is no scalar
 * loop and any dim works. Loads are unaligned: blocks in the LMDB map are
 * only 4-byte aligned. Each row's cache lines a few rows ahead are
 * prefetched (see dot_prefetch.h: +15-25% from DRAM, also faster from L2/L3
 * on the machine measured).
 *
 * Invariant: a row's score does not depend on which rows it is computed
 * with. A short group (n % 4 rows) repeats its last row instead of taking
 * another code path, so a vector scores bit-identically whether the scan
 * splits blocks across threads or not.
 */
#include <immintrin.h>

#include "engine/kernels/dot_prefetch.h"
#include "engine/kernels/kernels.h"

static inline __m512 tail_load(__mmask16 m, const float *p)
{
	return _mm512_maskz_loadu_ps(m, p);
}

void rdb_dot_avx512(const float *q, const float *vecs, size_t n, size_t dim, float *out)
{
	const size_t full32 = dim & ~(size_t)31;
	const int has16 = (dim & 16) != 0;
	const size_t rest = dim & 15;
	const __mmask16 tail = (__mmask16)((1u << rest) - 1u);
	const size_t ahead = rdb_prefetch_rows(dim) * dim;

	for (size_t i = 0; i < n; i += 4) {
		const size_t live = n - i < 4 ? n - i : 4;
		const float *p[4];
		for (size_t r = 0; r < 4; r++)
			p[r] = vecs + (i + (r < live ? r : live - 1)) * dim;

		__m512 a0[4], a1[4];
		for (size_t r = 0; r < 4; r++) {
			a0[r] = _mm512_setzero_ps();
			a1[r] = _mm512_setzero_ps();
		}
		size_t j = 0;
		for (; j < full32; j += 32) {
			const __m512 qa = _mm512_loadu_ps(q + j);
			const __m512 qb = _mm512_loadu_ps(q + j + 16);
			for (size_t r = 0; r < 4; r++) {
				a0[r] = _mm512_fmadd_ps(qa, _mm512_loadu_ps(p[r] + j), a0[r]);
				a1[r] = _mm512_fmadd_ps(qb, _mm512_loadu_ps(p[r] + j + 16), a1[r]);
				_mm_prefetch((const char *)(p[r] + ahead + j), _MM_HINT_T0);
				_mm_prefetch((const char *)(p[r] + ahead + j + 16), _MM_HINT_T0);
			}
		}
		if (has16) {
			const __m512 qa = _mm512_loadu_ps(q + j);
			for (size_t r = 0; r < 4; r++)
				a0[r] = _mm512_fmadd_ps(qa, _mm512_loadu_ps(p[r] + j), a0[r]);
			j += 16;
		}
		if (rest) {
			const __m512 qb = tail_load(tail, q + j);
			for (size_t r = 0; r < 4; r++)
				a1[r] = _mm512_fmadd_ps(qb, tail_load(tail, p[r] + j), a1[r]);
		}
		for (size_t r = 0; r < live; r++)
			out[i + r] = _mm512_reduce_add_ps(_mm512_add_ps(a0[r], a1[r]));
	}
}
