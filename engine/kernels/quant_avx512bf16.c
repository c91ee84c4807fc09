/*
 * engine/kernels/quant_avx512bf16.c — bf16 dot products with vdpbf16ps.
 *
 * Compiled with -mavx512bf16 (CMakeLists.txt); called only after quant.c
 * has checked cpuid for AVX512_BF16 and the OS for the ZMM state. Each
 * vdpbf16ps multiplies 32 bf16 pairs (the products are exact in f32) and
 * adds them into 16 f32 lanes, with denormal inputs and outputs flushed to
 * zero. Same shape as dot_avx512.c: four rows per query load, two
 * accumulators per row, a masked load for the tail (dim % 32), prefetch a
 * few rows ahead.
 *
 * Invariant: a row's score does not depend on the rows it is computed
 * with (a short group repeats its last row).
 */
#include <immintrin.h>

#include "engine/kernels/dot_prefetch.h"
#include "engine/kernels/quant.h"

static inline __m512bh load_bh(const uint16_t *p)
{
	return (__m512bh)_mm512_loadu_si512(p);
}

static inline __m512bh mask_bh(__mmask32 m, const uint16_t *p)
{
	return (__m512bh)_mm512_maskz_loadu_epi16(m, p);
}

void rdb_bf16_dot_avx512bf16(const uint16_t *q, const uint16_t *rows, size_t n, size_t dim,
                             float *out)
{
	const size_t full64 = dim & ~(size_t)63;
	const int has32 = (dim & 32) != 0;
	const size_t rest = dim & 31;
	const __mmask32 tail = (__mmask32)((1u << rest) - 1u);
	const size_t ahead = rdb_prefetch_rows_bytes(dim * 2) * dim;

	for (size_t i = 0; i < n; i += 4) {
		const size_t live = n - i < 4 ? n - i : 4;
		const uint16_t *p[4];
		for (size_t r = 0; r < 4; r++)
			p[r] = rows + (i + (r < live ? r : live - 1)) * dim;
		__m512 a0[4], a1[4];
		for (size_t r = 0; r < 4; r++) {
			a0[r] = _mm512_setzero_ps();
			a1[r] = _mm512_setzero_ps();
		}
		size_t j = 0;
		for (; j < full64; j += 64) {
			const __m512bh qa = load_bh(q + j), qb = load_bh(q + j + 32);
			for (size_t r = 0; r < 4; r++) {
				a0[r] = _mm512_dpbf16_ps(a0[r], qa, load_bh(p[r] + j));
				a1[r] = _mm512_dpbf16_ps(a1[r], qb, load_bh(p[r] + j + 32));
				_mm_prefetch((const char *)(p[r] + ahead + j), _MM_HINT_T0);
				_mm_prefetch((const char *)(p[r] + ahead + j + 32), _MM_HINT_T0);
			}
		}
		if (has32) {
			const __m512bh qa = load_bh(q + j);
			for (size_t r = 0; r < 4; r++) {
				a0[r] = _mm512_dpbf16_ps(a0[r], qa, load_bh(p[r] + j));
				_mm_prefetch((const char *)(p[r] + ahead + j), _MM_HINT_T0);
			}
			j += 32;
		}
		if (rest) {
			const __m512bh qb = mask_bh(tail, q + j);
			for (size_t r = 0; r < 4; r++)
				a1[r] = _mm512_dpbf16_ps(a1[r], qb, mask_bh(tail, p[r] + j));
		}
		for (size_t r = 0; r < live; r++)
			out[i + r] = _mm512_reduce_add_ps(_mm512_add_ps(a0[r], a1[r]));
	}
}
