/*
 * engine/kernels/dot_scalar.c — the reference dot product.
 *
 * Plain C, no intrinsics: the ground truth every SIMD path is tested
 * against, and the path on CPUs without AVX2. It accumulates in double, so
 * its own rounding error is far below that of the float SIMD paths and the
 * tests can compare with a tight relative tolerance.
 */
#include "engine/kernels/kernels.h"

void rdb_dot_scalar(const float *q, const float *vecs, size_t n, size_t dim, float *out)
{
	for (size_t i = 0; i < n; i++) {
		const float *v = vecs + i * dim;
		/* Four partial sums break the add dependency chain (and let the
		 * compiler use SSE2 pairs) without changing the result much. */
		double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
		size_t j = 0;
		for (; j + 4 <= dim; j += 4) {
			s0 += (double)q[j] * v[j];
			s1 += (double)q[j + 1] * v[j + 1];
			s2 += (double)q[j + 2] * v[j + 2];
			s3 += (double)q[j + 3] * v[j + 3];
		}
		for (; j < dim; j++)
			s0 += (double)q[j] * v[j];
		out[i] = (float)((s0 + s1) + (s2 + s3));
	}
}
