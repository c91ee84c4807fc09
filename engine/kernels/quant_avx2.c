/*
 * engine/kernels/quant_avx2.c — bf16, int8 and binary kernels with AVX2,
 * for CPUs without the AVX-512 extensions.
 *
 * Compiled with -mavx2 -mfma (which implies popcnt); called only after
 * quant.c has checked cpuid and the OS. bf16 widens to f32 (a bf16 is the
 * top half of an f32) and uses FMA; int8 sign-extends to int16 and uses
 * vpmaddwd (each pair sum fits in int32; vpmaddubsw would saturate);
 * binary uses the 64-bit popcnt instruction. Tails that are not a whole
 * vector are copied into a zeroed buffer (AVX2 has no 8/16-bit masked
 * loads), and zeros add nothing. Four rows at a time; a short group
 * repeats its last row, so a row's result does not depend on its group.
 */
#include <immintrin.h>
#include <string.h>

#include "engine/kernels/dot_prefetch.h"
#include "engine/kernels/quant.h"

static inline __m256 widen_bf16(__m128i h)
{
	return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

static inline float hsum256(__m256 v)
{
	__m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
	lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
	return _mm_cvtss_f32(lo);
}

static inline int32_t hsum256i(__m256i v)
{
	__m128i lo = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
	lo = _mm_add_epi32(lo, _mm_shuffle_epi32(lo, 0x4e));
	lo = _mm_add_epi32(lo, _mm_shuffle_epi32(lo, 0xb1));
	return _mm_cvtsi128_si32(lo);
}

void rdb_bf16_dot_avx2(const uint16_t *q, const uint16_t *rows, size_t n, size_t dim, float *out)
{
	const size_t full16 = dim & ~(size_t)15;
	const int has8 = (dim & 8) != 0;
	const size_t rest = dim & 7;
	const size_t ahead = rdb_prefetch_rows_bytes(dim * 2) * dim;
	for (size_t i = 0; i < n; i += 4) {
		const size_t live = n - i < 4 ? n - i : 4;
		const uint16_t *p[4];
		__m256 a0[4], a1[4];
		#pragma GCC unroll 4
		for (size_t r = 0; r < 4; r++) {
			p[r] = rows + (i + (r < live ? r : live - 1)) * dim;
			a0[r] = _mm256_setzero_ps();
			a1[r] = _mm256_setzero_ps();
		}
		size_t j = 0;
		for (; j < full16; j += 16) {
			const __m256 qa = widen_bf16(_mm_loadu_si128((const __m128i *)(q + j)));
			const __m256 qb = widen_bf16(_mm_loadu_si128((const __m128i *)(q + j + 8)));
			#pragma GCC unroll 4
			for (size_t r = 0; r < 4; r++) {
				a0[r] = _mm256_fmadd_ps(qa, widen_bf16(_mm_loadu_si128((const __m128i *)(p[r] + j))), a0[r]);
				a1[r] = _mm256_fmadd_ps(qb, widen_bf16(_mm_loadu_si128((const __m128i *)(p[r] + j + 8))), a1[r]);
				_mm_prefetch((const char *)(p[r] + ahead + j), _MM_HINT_T0);
			}
		}
		if (has8) {
			const __m256 qa = widen_bf16(_mm_loadu_si128((const __m128i *)(q + j)));
			#pragma GCC unroll 4
			for (size_t r = 0; r < 4; r++)
				a0[r] = _mm256_fmadd_ps(qa, widen_bf16(_mm_loadu_si128((const __m128i *)(p[r] + j))), a0[r]);
			j += 8;
		}
		if (rest) {
			uint16_t qt[8] = {0}, vt[8] = {0};
			memcpy(qt, q + j, rest * 2);
			const __m256 qb = widen_bf16(_mm_loadu_si128((const __m128i *)qt));
			#pragma GCC unroll 4
			for (size_t r = 0; r < 4; r++) {
				memcpy(vt, p[r] + j, rest * 2);
				a1[r] = _mm256_fmadd_ps(qb, widen_bf16(_mm_loadu_si128((const __m128i *)vt)), a1[r]);
			}
		}
		for (size_t r = 0; r < live; r++)
			out[i + r] = hsum256(_mm256_add_ps(a0[r], a1[r]));
	}
}

static inline __m256i widen_i8(const int8_t *p)
{
	return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p));
}

void rdb_i8_dot_avx2(const int8_t *q, const int8_t *rows, size_t n, size_t dim, int32_t *out)
{
	const size_t full32 = dim & ~(size_t)31;
	const int has16 = (dim & 16) != 0;
	const size_t rest = dim & 15;
	const size_t ahead = rdb_prefetch_rows_bytes(dim) * dim;
	for (size_t i = 0; i < n; i += 4) {
		const size_t live = n - i < 4 ? n - i : 4;
		const int8_t *p[4];
		__m256i a0[4], a1[4];
		#pragma GCC unroll 4
		for (size_t r = 0; r < 4; r++) {
			p[r] = rows + (i + (r < live ? r : live - 1)) * dim;
			a0[r] = _mm256_setzero_si256();
			a1[r] = _mm256_setzero_si256();
		}
		size_t j = 0;
		for (; j < full32; j += 32) {
			const __m256i qa = widen_i8(q + j), qb = widen_i8(q + j + 16);
			#pragma GCC unroll 4
			for (size_t r = 0; r < 4; r++) {
				a0[r] = _mm256_add_epi32(a0[r], _mm256_madd_epi16(qa, widen_i8(p[r] + j)));
				a1[r] = _mm256_add_epi32(a1[r], _mm256_madd_epi16(qb, widen_i8(p[r] + j + 16)));
				_mm_prefetch((const char *)(p[r] + ahead + j), _MM_HINT_T0);
			}
		}
		if (has16) {
			const __m256i qa = widen_i8(q + j);
			#pragma GCC unroll 4
			for (size_t r = 0; r < 4; r++)
				a0[r] = _mm256_add_epi32(a0[r], _mm256_madd_epi16(qa, widen_i8(p[r] + j)));
			j += 16;
		}
		if (rest) {
			int8_t qt[16] = {0}, vt[16] = {0};
			memcpy(qt, q + j, rest);
			const __m256i qb = widen_i8(qt);
			#pragma GCC unroll 4
			for (size_t r = 0; r < 4; r++) {
				memcpy(vt, p[r] + j, rest);
				a1[r] = _mm256_add_epi32(a1[r], _mm256_madd_epi16(qb, widen_i8(vt)));
			}
		}
		for (size_t r = 0; r < live; r++)
			out[i + r] = hsum256i(_mm256_add_epi32(a0[r], a1[r]));
	}
}

void rdb_bin_dist_avx2(const uint64_t *q, const unsigned char *rows, size_t n, size_t words,
                       int32_t *out)
{
	const size_t rb = words * 8;
	const size_t ahead = rdb_prefetch_rows_bytes(rb) * rb;
	for (size_t i = 0; i < n; i++) {
		const unsigned char *v = rows + i * rb;
		_mm_prefetch((const char *)(v + ahead), _MM_HINT_T0);
		/* Two sums break the add chain behind the popcnt latency. */
		uint64_t h0 = 0, h1 = 0;
		size_t w = 0;
		for (; w + 2 <= words; w += 2) {
			uint64_t x0, x1;
			memcpy(&x0, v + w * 8, 8);
			memcpy(&x1, v + w * 8 + 8, 8);
			h0 += (uint64_t)_mm_popcnt_u64(q[w] ^ x0);
			h1 += (uint64_t)_mm_popcnt_u64(q[w + 1] ^ x1);
		}
		if (w < words) {
			uint64_t x;
			memcpy(&x, v + w * 8, 8);
			h0 += (uint64_t)_mm_popcnt_u64(q[w] ^ x);
		}
		out[i] = (int32_t)(h0 + h1);
	}
}
