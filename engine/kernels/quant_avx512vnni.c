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
 * RDB_QUANT_MAX_DIM, it is the exact dot, bit-equal to the scalar path.
 * Four rows per query load, two accumulators per row, a masked tail
 * (masked-off bytes are 0 in the query, so the flipped row byte adds 0).
 */
#include <immintrin.h>

#include "engine/kernels/dot_prefetch.h"
#include "engine/kernels/quant.h"

void rdb_i8_dot_avx512vnni(const int8_t *q, const int8_t *rows, size_t n, size_t dim, int32_t *out)
{
	const size_t full128 = dim & ~(size_t)127;
	const int has64 = (dim & 64) != 0;
	const size_t rest = dim & 63;
	const __mmask64 tail = rest ? (((__mmask64)1 << rest) - 1) : 0;
	const size_t ahead = rdb_prefetch_rows_bytes(dim) * dim;
	const __m512i flip = _mm512_set1_epi8((char)0x80);

	uint32_t qsum = 0;
	for (size_t j = 0; j < dim; j++)
		qsum += (uint32_t)(int32_t)q[j];
	const uint32_t corr = 128u * qsum;

	for (size_t i = 0; i < n; i += 4) {
		const size_t live = n - i < 4 ? n - i : 4;
		const int8_t *p[4];
		for (size_t r = 0; r < 4; r++)
			p[r] = rows + (i + (r < live ? r : live - 1)) * dim;
		__m512i a0[4], a1[4];
		for (size_t r = 0; r < 4; r++) {
			a0[r] = _mm512_setzero_si512();
			a1[r] = _mm512_setzero_si512();
		}
		size_t j = 0;
		for (; j < full128; j += 128) {
			const __m512i qa = _mm512_loadu_si512(q + j), qb = _mm512_loadu_si512(q + j + 64);
			for (size_t r = 0; r < 4; r++) {
				__m512i va = _mm512_xor_si512(_mm512_loadu_si512(p[r] + j), flip);
				__m512i vb = _mm512_xor_si512(_mm512_loadu_si512(p[r] + j + 64), flip);
				a0[r] = _mm512_dpbusd_epi32(a0[r], va, qa);
				a1[r] = _mm512_dpbusd_epi32(a1[r], vb, qb);
				_mm_prefetch((const char *)(p[r] + ahead + j), _MM_HINT_T0);
				_mm_prefetch((const char *)(p[r] + ahead + j + 64), _MM_HINT_T0);
			}
		}
		if (has64) {
			const __m512i qa = _mm512_loadu_si512(q + j);
			for (size_t r = 0; r < 4; r++) {
				__m512i va = _mm512_xor_si512(_mm512_loadu_si512(p[r] + j), flip);
				a0[r] = _mm512_dpbusd_epi32(a0[r], va, qa);
				_mm_prefetch((const char *)(p[r] + ahead + j), _MM_HINT_T0);
			}
			j += 64;
		}
		if (rest) {
			const __m512i qb = _mm512_maskz_loadu_epi8(tail, q + j);
			for (size_t r = 0; r < 4; r++) {
				__m512i vb = _mm512_xor_si512(_mm512_maskz_loadu_epi8(tail, p[r] + j), flip);
				a1[r] = _mm512_dpbusd_epi32(a1[r], vb, qb);
			}
		}
		for (size_t r = 0; r < live; r++) {
			uint32_t s = (uint32_t)_mm512_reduce_add_epi32(_mm512_add_epi32(a0[r], a1[r]));
			out[i + r] = (int32_t)(s - corr);
		}
	}
}
