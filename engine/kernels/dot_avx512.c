/*
 * engine/kernels/dot_avx512.c — dot products with AVX-512F.
 *
 * Compiled with -mavx512f (see CMakeLists.txt); only called after dispatch.c
 * has checked the CPU and the OS. Sixteen rows are done together, one
 * accumulator each held in registers, so each query load feeds sixteen
 * FMAs and sixteen independent chains cover the FMA latency; the sixteen
 * lane sums come out of one shuffle tree (quant_sum16.h) instead of a
 * horizontal sum per row. Rows past the last full group go one at a time.
 * The tail (dim % 16) is a masked load, so there is no scalar loop and any
 * dim works. Loads are unaligned: blocks in the LMDB map are only 4-byte
 * aligned. The same line of the next group is prefetched (dot_prefetch.h).
 *
 * Invariant: a row's score does not depend on which rows it is computed
 * with. Alone or in a group its lanes accumulate the same products in the
 * same order and the lane sum adds in the same order (quant_sum16.h), so a
 * vector scores bit-identically whether the scan splits blocks across
 * threads or not, and the rescoring of quantized candidates (one row per
 * call) gives the f32 scan's scores.
 */
#include <immintrin.h>

#include "engine/kernels/dot_prefetch.h"
#include "engine/kernels/kernels.h"
#include "engine/kernels/quant_sum16.h"

static float one_row(const float *q, const float *p, size_t full, size_t rest, __mmask16 tail)
{
	__m512 a = _mm512_setzero_ps();
	size_t j = 0;
	for (; j < full; j += 16)
		a = _mm512_fmadd_ps(_mm512_loadu_ps(q + j), _mm512_loadu_ps(p + j), a);
	if (rest)
		a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, q + j), _mm512_maskz_loadu_ps(tail, p + j),
		                    a);
	return rdb_hsum_ps(a);
}

void rdb_dot_avx512(const float *q, const float *vecs, size_t n, size_t dim, float *out)
{
	const size_t full = dim & ~(size_t)15;
	const size_t rest = dim & 15;
	const __mmask16 tail = (__mmask16)((1u << rest) - 1u);
	/* in floats */
	const size_t ahead = rdb_prefetch_group_bytes(16 * dim * sizeof(float)) / sizeof(float);

	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		const float *b = vecs + i * dim;
		__m512 a[16];
#pragma GCC unroll 16
		for (int r = 0; r < 16; r++)
			a[r] = _mm512_setzero_ps();
		size_t j = 0;
		for (; j < full; j += 16) {
			const __m512 qv = _mm512_loadu_ps(q + j);
			const float *p = b + j;
#pragma GCC unroll 16
			for (int r = 0; r < 16; r++, p += dim) {
				a[r] = _mm512_fmadd_ps(qv, _mm512_loadu_ps(p), a[r]);
				_mm_prefetch((const char *)(p + ahead), _MM_HINT_T1);
			}
		}
		if (rest) {
			const __m512 qv = _mm512_maskz_loadu_ps(tail, q + j);
			const float *p = b + j;
#pragma GCC unroll 16
			for (int r = 0; r < 16; r++, p += dim)
				a[r] = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(tail, p), a[r]);
		}
		_mm512_storeu_ps(out + i, rdb_sum16_ps(a));
	}
	for (; i < n; i++)
		out[i] = one_row(q, vecs + i * dim, full, rest, tail);
}
