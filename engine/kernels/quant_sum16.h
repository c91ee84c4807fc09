/*
 * engine/kernels/quant_sum16.h — horizontal sums of sixteen AVX-512
 * accumulators at once, for the 16-row dot kernels (internal; include only
 * from files compiled with -mavx512f).
 *
 * rdb_sum16_*(a) returns the register whose lane r is the sum of a[r]'s
 * sixteen lanes. Four levels of shuffle-and-add halve the lanes (15 adds
 * and 30 shuffles for 16 rows, against 16 x 4 adds and 16 x 5 shuffles
 * one row at a time); the last level leaves row 4m + L in lane 4L + m, so
 * the inputs are taken in that transposed order and the lanes come out in
 * row order with no permute.
 *
 * Invariant (what makes a row's f32 score independent of the rows it is
 * computed with): for every row the additions are the same as
 * rdb_hsum_ps's, lane l + lane l+8, then l + l+4, l + l+2, l + l+1. IEEE
 * addition is commutative, so a single row summed by rdb_hsum_ps is
 * bit-identical to that row summed in a group of sixteen.
 */
#ifndef RDB_KERNELS_QUANT_SUM16_H
#define RDB_KERNELS_QUANT_SUM16_H

#include <immintrin.h>

/* Input slot of row r: the transpose of r = 4m + L. */
#define RDB_SUM16_SLOT(r) ((((r) & 3) << 2) | ((r) >> 2))

static inline __attribute__((always_inline)) __m512 rdb_sum16_ps(const __m512 a[16])
{
	__m512 x[8], y[4], z[2];
	for (int i = 0; i < 8; i++) {
		const __m512 u = a[RDB_SUM16_SLOT(2 * i)], v = a[RDB_SUM16_SLOT(2 * i + 1)];
		x[i] = _mm512_add_ps(_mm512_shuffle_f32x4(u, v, 0x44), _mm512_shuffle_f32x4(u, v, 0xEE));
	}
	for (int i = 0; i < 4; i++)
		y[i] = _mm512_add_ps(_mm512_shuffle_f32x4(x[2 * i], x[2 * i + 1], 0x88),
		                     _mm512_shuffle_f32x4(x[2 * i], x[2 * i + 1], 0xDD));
	for (int i = 0; i < 2; i++) {
		const __m512d u = _mm512_castps_pd(y[2 * i]), v = _mm512_castps_pd(y[2 * i + 1]);
		z[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(u, v)),
		                     _mm512_castpd_ps(_mm512_unpackhi_pd(u, v)));
	}
	return _mm512_add_ps(_mm512_shuffle_ps(z[0], z[1], 0x88), _mm512_shuffle_ps(z[0], z[1], 0xDD));
}

static inline __attribute__((always_inline)) __m512i rdb_sum16_epi32(const __m512i a[16])
{
	__m512i x[8], y[4], z[2];
	for (int i = 0; i < 8; i++) {
		const __m512i u = a[RDB_SUM16_SLOT(2 * i)], v = a[RDB_SUM16_SLOT(2 * i + 1)];
		x[i] = _mm512_add_epi32(_mm512_shuffle_i64x2(u, v, 0x44), _mm512_shuffle_i64x2(u, v, 0xEE));
	}
	for (int i = 0; i < 4; i++)
		y[i] = _mm512_add_epi32(_mm512_shuffle_i64x2(x[2 * i], x[2 * i + 1], 0x88),
		                        _mm512_shuffle_i64x2(x[2 * i], x[2 * i + 1], 0xDD));
	for (int i = 0; i < 2; i++)
		z[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(y[2 * i], y[2 * i + 1]),
		                        _mm512_unpackhi_epi64(y[2 * i], y[2 * i + 1]));
	const __m512 u = _mm512_castsi512_ps(z[0]), v = _mm512_castsi512_ps(z[1]);
	return _mm512_add_epi32(_mm512_castps_si512(_mm512_shuffle_ps(u, v, 0x88)),
	                        _mm512_castps_si512(_mm512_shuffle_ps(u, v, 0xDD)));
}

/* One register's sum, in the order of rdb_sum16_ps (see the invariant). */
static inline float rdb_hsum_ps(__m512 a)
{
	const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(a),
	                               _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
	const __m128 g = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
	const __m128 f = _mm_add_ps(g, _mm_movehl_ps(g, g));
	return _mm_cvtss_f32(_mm_add_ss(f, _mm_shuffle_ps(f, f, 1)));
}

#endif
