/*
 * engine/kernels/quant_avx512vnni.c — int8 dot products with vpdpbusd.
 *
 * Compiled with -mavx512vnni (CMakeLists.txt); called only after quant.c
 * has checked cpuid for AVX512_VNNI and the OS for the ZMM state.
 * vpdpbusd multiplies UNSIGNED bytes of its first operand by SIGNED bytes
 * of its second, so the stored codes (signed, in [-127, 127]) are flipped
 * to unsigned by XOR 0x80, i.e. v + 128, and the query stays signed:
 *   sum (v + 128) q = sum v q + 128 sum q,
 * and 128 * sum q is subtracted at the end. Each 16-bit product fits
 * (255 * 127), the dword sums wrap without saturation, and the final
 * difference is exact modulo 2^32; since |sum v q| < 2^31 for dims up to
 * RDB_QUANT_MAX_DIM, it is the exact dot, bit-equal to the scalar path
 * whatever the grouping of rows.
 *
 * Shape: sixteen rows at a time, one accumulator each, all in registers
 * (quant_sum16.h reduces the sixteen together: three shuffles per row
 * instead of the nine of a horizontal sum each). A row is only 6 cache
 * lines at dim 384, so per-row overhead, not the multiply, decided the
 * speed: the earlier 4-row form kept its accumulators on the stack (GCC
 * did not unroll the row loop at -O2) and read 11-12 GB/s on one thread.
 * Rows past the last 16-row group take the same loop one row at a time.
 * rdb_i8_score_avx512vnni also applies the scales in the same pass (16
 * scores per multiply), which rdb_qscore otherwise does in a second loop.
 */
#include <immintrin.h>

#include "engine/kernels/dot_prefetch.h"
#include "engine/kernels/quant.h"
#include "engine/kernels/quant_sum16.h"

/* sum q[j] over the dim (in the dword lanes of one register, reduced). */
static uint32_t query_sum(const int8_t *q, size_t dim)
{
	const __m512i ones = _mm512_set1_epi8(1);
	__m512i acc = _mm512_setzero_si512();
	size_t j = 0;
	for (; j + 64 <= dim; j += 64)
		acc = _mm512_dpbusd_epi32(acc, ones, _mm512_loadu_si512(q + j));
	if (j < dim) {
		const __mmask64 m = ((__mmask64)1 << (dim - j)) - 1;
		acc = _mm512_dpbusd_epi32(acc, ones, _mm512_maskz_loadu_epi8(m, q + j));
	}
	return (uint32_t)_mm512_reduce_add_epi32(acc);
}

/* Dot of one row: the same per-lane sums as the 16-row loop. */
static int32_t one_row(const int8_t *q, const int8_t *p, size_t full, __mmask64 tail,
                       __m512i flip, uint32_t corr)
{
	__m512i a = _mm512_setzero_si512();
	size_t j = 0;
	for (; j < full; j += 64)
		a = _mm512_dpbusd_epi32(a, _mm512_xor_si512(_mm512_loadu_si512(p + j), flip),
		                        _mm512_loadu_si512(q + j));
	if (tail)
		a = _mm512_dpbusd_epi32(a, _mm512_xor_si512(_mm512_maskz_loadu_epi8(tail, p + j), flip),
		                        _mm512_maskz_loadu_epi8(tail, q + j));
	return (int32_t)((uint32_t)_mm512_reduce_add_epi32(a) - corr);
}

/* The dots into out, or (out NULL) the int8 scores into fout: the dot times
 * qscale * scales[i], rounded as rdb_qscore rounds them. Inlined into both
 * entry points, so each is compiled for its own case. */
static inline __attribute__((always_inline)) void i8_rows(const int8_t *q, const int8_t *rows,
                                                         size_t n, size_t dim, int32_t *out,
                                                         float qscale, const float *scales,
                                                         float *fout)
{
	const size_t full = dim & ~(size_t)63;
	const size_t rest = dim & 63;
	const __mmask64 tail = rest ? (((__mmask64)1 << rest) - 1) : 0;
	const size_t ahead = rdb_prefetch_group_bytes(16 * dim);
	const __m512i flip = _mm512_set1_epi8((char)0x80);
	const uint32_t corr = 128u * query_sum(q, dim);
	const __m512i vcorr = _mm512_set1_epi32((int)corr);

	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		const int8_t *b = rows + i * dim;
		__m512i a[16];
#pragma GCC unroll 16
		for (int r = 0; r < 16; r++)
			a[r] = _mm512_setzero_si512();
		size_t j = 0;
		for (; j < full; j += 64) {
			const __m512i qv = _mm512_loadu_si512(q + j);
			const int8_t *p = b + j;
#pragma GCC unroll 16
			for (int r = 0; r < 16; r++, p += dim) {
				a[r] = _mm512_dpbusd_epi32(a[r], _mm512_xor_si512(_mm512_loadu_si512(p), flip), qv);
				_mm_prefetch((const char *)(p + ahead), _MM_HINT_T1);
			}
		}
		if (rest) {
			const __m512i qv = _mm512_maskz_loadu_epi8(tail, q + j);
			const int8_t *p = b + j;
#pragma GCC unroll 16
			for (int r = 0; r < 16; r++, p += dim) {
				a[r] = _mm512_dpbusd_epi32(
					a[r], _mm512_xor_si512(_mm512_maskz_loadu_epi8(tail, p), flip), qv);
				_mm_prefetch((const char *)(p + ahead), _MM_HINT_T1);
			}
		}
		const __m512i d = _mm512_sub_epi32(rdb_sum16_epi32(a), vcorr);
		if (out) {
			_mm512_storeu_si512(out + i, d);
		} else {
			const __m512 t = _mm512_mul_ps(_mm512_set1_ps(qscale), _mm512_loadu_ps(scales + i));
			_mm512_storeu_ps(fout + i, _mm512_mul_ps(_mm512_cvtepi32_ps(d), t));
		}
	}
	for (; i < n; i++) {
		const int32_t d = one_row(q, rows + i * dim, full, tail, flip, corr);
		if (out)
			out[i] = d;
		else
			fout[i] = (float)d * (qscale * scales[i]);
	}
}

void rdb_i8_dot_avx512vnni(const int8_t *q, const int8_t *rows, size_t n, size_t dim, int32_t *out)
{
	i8_rows(q, rows, n, dim, out, 0.0f, NULL, NULL);
}

void rdb_i8_score_avx512vnni(const int8_t *q, float qscale, const int8_t *rows,
                             const float *scales, size_t n, size_t dim, float *out)
{
	i8_rows(q, rows, n, dim, NULL, qscale, scales, out);
}
