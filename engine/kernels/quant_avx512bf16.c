/*
 * engine/kernels/quant_avx512bf16.c — bf16 dot products with vdpbf16ps.
 *
 * Compiled with -mavx512bf16 (CMakeLists.txt); called only after quant.c
 * has checked cpuid for AVX512_BF16 and the OS for the ZMM state. Each
 * vdpbf16ps multiplies 32 bf16 pairs (the products are exact in f32) and
 * adds them into 16 f32 lanes, with denormal inputs and outputs flushed to
 * zero.
 *
 * Shape, as the int8 kernel's (quant_avx512vnni.c): sixteen rows at a
 * time, one accumulator each in registers, summed together by
 * rdb_sum16_ps; a masked load for the tail (dim % 32); the same line of the
 * next group prefetched. Rows past the last full group go one at a time.
 *
 * Invariant: a row's score does not depend on the rows it is computed
 * with. Alone or in a group, its lanes take the same products in the same
 * order, and the lane sum adds in the same order (quant_sum16.h).
 */
#include <immintrin.h>

#include "engine/kernels/dot_prefetch.h"
#include "engine/kernels/quant.h"
#include "engine/kernels/quant_sum16.h"

static inline __m512bh load_bh(const uint16_t *p)
{
	return (__m512bh)_mm512_loadu_si512(p);
}

static inline __m512bh mask_bh(__mmask32 m, const uint16_t *p)
{
	return (__m512bh)_mm512_maskz_loadu_epi16(m, p);
}

static float one_row(const uint16_t *q, const uint16_t *p, size_t full, size_t rest,
                     __mmask32 tail)
{
	__m512 a = _mm512_setzero_ps();
	size_t j = 0;
	for (; j < full; j += 32)
		a = _mm512_dpbf16_ps(a, load_bh(q + j), load_bh(p + j));
	if (rest)
		a = _mm512_dpbf16_ps(a, mask_bh(tail, q + j), mask_bh(tail, p + j));
	return rdb_hsum_ps(a);
}

void rdb_bf16_dot_avx512bf16(const uint16_t *q, const uint16_t *rows, size_t n, size_t dim,
                             float *out)
{
	const size_t full = dim & ~(size_t)31;
	const size_t rest = dim & 31;
	const __mmask32 tail = (__mmask32)((1u << rest) - 1u);
	/* in uint16 elements */
	const size_t ahead = rdb_prefetch_group_bytes(16 * dim * 2) / 2;

	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		const uint16_t *b = rows + i * dim;
		__m512 a[16];
#pragma GCC unroll 16
		for (int r = 0; r < 16; r++)
			a[r] = _mm512_setzero_ps();
		size_t j = 0;
		for (; j < full; j += 32) {
			const __m512bh qv = load_bh(q + j);
			const uint16_t *p = b + j;
#pragma GCC unroll 16
			for (int r = 0; r < 16; r++, p += dim) {
				a[r] = _mm512_dpbf16_ps(a[r], qv, load_bh(p));
				_mm_prefetch((const char *)(p + ahead), _MM_HINT_T1);
			}
		}
		if (rest) {
			const __m512bh qv = mask_bh(tail, q + j);
			const uint16_t *p = b + j;
#pragma GCC unroll 16
			for (int r = 0; r < 16; r++, p += dim) {
				a[r] = _mm512_dpbf16_ps(a[r], qv, mask_bh(tail, p));
				_mm_prefetch((const char *)(p + ahead), _MM_HINT_T1);
			}
		}
		_mm512_storeu_ps(out + i, rdb_sum16_ps(a));
	}
	for (; i < n; i++)
		out[i] = one_row(q, rows + i * dim, full, rest, tail);
}
