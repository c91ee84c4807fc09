/*
 * engine/kernels/dot_avx2.c — dot products with AVX2 + FMA.
 *
 * Compiled with -mavx2 -mfma (see CMakeLists.txt); only called after
 * dispatch.c has checked the CPU and the OS. Rows are walked whole, one
 * after another, with four accumulators (32 floats a step, then 8 at a
 * time, then a masked load for dim % 8, so any dim works without a scalar
 * loop), and loads are unaligned.
 *
 * Why one row at a time, unlike the AVX-512 kernel's sixteen rows column by
 * column: with sixteen ymm registers only four rows fit, and four rows
 * walked side by side are four interleaved streams. On a Zen 3 EPYC
 * (2 vCPUs, 1M x 384 from memory, 2 threads) that reached 0.67-0.74x the
 * bandwidth of a plain read, against 0.81-0.93x for rows walked whole,
 * which the hardware prefetcher follows as a single stream. A software
 * prefetch of every line on top made it slower (0.76-0.86x at 0.75-24 KB
 * ahead); one prefetch per row, 6 KB ahead, gave 0.89-0.99x where no
 * prefetch gave 0.81-0.90x in the same runs (1 thread: 0.91x against
 * 0.93x, no difference), presumably by reaching each 4 KB page, where the
 * hardware prefetcher stops, before the stream does. The query is
 * reloaded from L1 for every row, which costs nothing next to the memory
 * stream. Details: benchmarks/README.md, "AVX2 on a Zen 3 EPYC".
 *
 * Invariant: a row's score does not depend on which rows it is computed
 * with (each row is computed alone), so splitting a scan across threads
 * cannot change a score, and the rescoring of quantized candidates (one
 * row per call) gives the f32 scan's scores.
 */
#include <immintrin.h>

#include "engine/kernels/dot_prefetch.h"
#include "engine/kernels/kernels.h"

static inline float hsum256(__m256 v)
{
	__m128 lo = _mm256_castps256_ps128(v);
	__m128 hi = _mm256_extractf128_ps(v, 1);
	lo = _mm_add_ps(lo, hi);
	lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
	lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
	return _mm_cvtss_f32(lo);
}

void rdb_dot_avx2(const float *q, const float *vecs, size_t n, size_t dim, float *out)
{
	const size_t full32 = dim & ~(size_t)31;
	const size_t full8 = dim & ~(size_t)7;
	const size_t rest = dim & 7;
	/* Lane l is loaded when its mask element has the sign bit set. */
	const __m256i tail = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rest),
	                                        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));

	const size_t ahead = 2 * RDB_PREFETCH_STREAM_BYTES / sizeof(float);

	for (size_t i = 0; i < n; i++) {
		const float *p = vecs + i * dim;
		_mm_prefetch((const char *)(p + ahead), _MM_HINT_T0);
		__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
		size_t j = 0;
		for (; j < full32; j += 32) {
			a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j), _mm256_loadu_ps(p + j), a0);
			a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j + 8), _mm256_loadu_ps(p + j + 8), a1);
			a2 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j + 16), _mm256_loadu_ps(p + j + 16), a2);
			a3 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j + 24), _mm256_loadu_ps(p + j + 24), a3);
		}
		for (; j < full8; j += 8)
			a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j), _mm256_loadu_ps(p + j), a0);
		if (rest)
			a1 = _mm256_fmadd_ps(_mm256_maskload_ps(q + j, tail), _mm256_maskload_ps(p + j, tail),
			                     a1);
		out[i] = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
	}
}
