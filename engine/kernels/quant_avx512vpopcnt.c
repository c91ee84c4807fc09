/*
 * engine/kernels/quant_avx512vpopcnt.c — Hamming distances with vpopcntq.
 *
 * Compiled with -mavx512vpopcntdq (CMakeLists.txt); called only after
 * quant.c has checked cpuid for AVX512_VPOPCNTDQ and the OS for the ZMM
 * state. A row is up to 8 words per 512-bit load (masked for the tail, so
 * rows need no alignment and a row of 6 words at dim 384 is one load); the
 * XOR with the query is popcounted per 64-bit lane and summed. Rows are
 * done four at a time, so the loads of several rows are in flight at once.
 */
#include <immintrin.h>

#include "engine/kernels/dot_prefetch.h"
#include "engine/kernels/quant.h"

void rdb_bin_dist_avx512vpopcnt(const uint64_t *q, const unsigned char *rows, size_t n,
                                size_t words, int32_t *out)
{
	const size_t rb = words * 8;
	const size_t full = words & ~(size_t)7;
	const size_t rest = words & 7;
	const __mmask8 tail = (__mmask8)((1u << rest) - 1u);
	const size_t ahead = rdb_prefetch_rows_bytes(rb) * rb;
	for (size_t i = 0; i < n; i += 4) {
		const size_t live = n - i < 4 ? n - i : 4;
		const unsigned char *p[4];
		__m512i acc[4];
		#pragma GCC unroll 4
		for (size_t r = 0; r < 4; r++) {
			p[r] = rows + (i + (r < live ? r : live - 1)) * rb;
			acc[r] = _mm512_setzero_si512();
			_mm_prefetch((const char *)(p[r] + ahead), _MM_HINT_T0);
		}
		size_t w = 0;
		for (; w < full; w += 8) {
			const __m512i qv = _mm512_loadu_si512(q + w);
			#pragma GCC unroll 4
			for (size_t r = 0; r < 4; r++) {
				__m512i x = _mm512_xor_si512(qv, _mm512_loadu_si512(p[r] + w * 8));
				acc[r] = _mm512_add_epi64(acc[r], _mm512_popcnt_epi64(x));
				_mm_prefetch((const char *)(p[r] + ahead + w * 8 + 64), _MM_HINT_T0);
			}
		}
		if (rest) {
			const __m512i qv = _mm512_maskz_loadu_epi64(tail, q + w);
			#pragma GCC unroll 4
			for (size_t r = 0; r < 4; r++) {
				__m512i x = _mm512_xor_si512(qv, _mm512_maskz_loadu_epi64(tail, p[r] + w * 8));
				acc[r] = _mm512_add_epi64(acc[r], _mm512_popcnt_epi64(x));
			}
		}
		for (size_t r = 0; r < live; r++)
			out[i + r] = (int32_t)_mm512_reduce_add_epi64(acc[r]);
	}
}
