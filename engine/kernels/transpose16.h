/*
 * engine/kernels/transpose16.h — a 16 x 16 transpose of 32-bit lanes in
 * AVX-512 registers, for the batch kernels' packing (batch_avx512.c packs
 * f32 panels, batch_amxbf16.c pairs of bf16). Include only from files
 * compiled with -mavx512f.
 */
#ifndef RDB_KERNELS_TRANSPOSE16_H
#define RDB_KERNELS_TRANSPOSE16_H

#include <immintrin.h>

/* 16 rows of 16 floats (r) into 16 columns (in place): r[c] = column c. */
static inline __attribute__((always_inline)) void transpose16(__m512 r[16])
{
	__m512 t[16], u[16];
	for (int i = 0; i < 8; i++) {
		t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
		t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
	}
	/* u[4j + c], 128-bit lane L: column 4L + c of rows 4j..4j+3. */
	for (int j = 0; j < 4; j++) {
		const __m512d a = _mm512_castps_pd(t[4 * j]), b = _mm512_castps_pd(t[4 * j + 1]);
		const __m512d c = _mm512_castps_pd(t[4 * j + 2]), d = _mm512_castps_pd(t[4 * j + 3]);
		u[4 * j] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
		u[4 * j + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
		u[4 * j + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
		u[4 * j + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
	}
	/* t[c] lanes: columns c, 8+c of rows 0-3 then of rows 4-7; t[4+c]:
	 * columns 4+c, 12+c; t[8..16) the same for rows 8-15. */
	for (int c = 0; c < 4; c++) {
		t[c] = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88);
		t[4 + c] = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xdd);
		t[8 + c] = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
		t[12 + c] = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xdd);
	}
	for (int c = 0; c < 4; c++) {
		r[c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88);
		r[8 + c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0xdd);
		r[4 + c] = _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0x88);
		r[12 + c] = _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0xdd);
	}
}

#endif
