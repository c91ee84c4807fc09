/*
 * tests/unit/test_kernels_batch.c — the batch scan's packing of vector runs
 * for the AVX-512 micro-kernel: the SIMD pack (16 x 16 transposes) against
 * a scalar reference, float for float, across row counts that leave a
 * partial panel and dims that leave a partial transpose block.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/batch_impl.h"
#include "engine/kernels/kernels.h"
#include "testutil.h"

/* The layout rdb_batch_run_avx512 reads, written the plain way: panel g,
 * dim d, row r at [g * NR * dim + d * NR + r], missing rows zero. */
static void pack_ref(const float *src, size_t rows, size_t dim, float *dst)
{
	const size_t nr = RDB_B512_NR;
	for (size_t g = 0; g * nr < rows; g++)
		for (size_t d = 0; d < dim; d++)
			for (size_t r = 0; r < nr; r++)
				dst[g * nr * dim + d * nr + r] =
					g * nr + r < rows ? src[(g * nr + r) * dim + d] : 0.0f;
}

/* rdb_batch_pack_avx512 writes exactly what the scalar reference does for
 * rows 1..70 (one to three panels, the last partial or whole) and dims
 * 1, 15, 16, 17, 31, 48, 100, 384: every float compared, and distinct
 * source values so a misplaced float cannot match by accident. Also that
 * it writes nothing past the padded panels. */
START_TEST(test_pack_avx512_matches_scalar)
{
	if (!rdb_kernel_supported("avx512"))
		return;
	const size_t dims[] = {1, 15, 16, 17, 31, 48, 100, 384};
	for (size_t di = 0; di < sizeof dims / sizeof *dims; di++) {
		const size_t dim = dims[di];
		for (size_t rows = 1; rows <= 70; rows++) {
			const size_t panels = (rows + RDB_B512_NR - 1) / RDB_B512_NR;
			const size_t n = panels * RDB_B512_NR * dim;
			float *src = malloc(rows * dim * sizeof *src);
			float *ref = malloc(n * sizeof *ref);
			/* 16 floats of guard after the panels. */
			size_t bytes = ((n + 16) * sizeof(float) + 63) & ~(size_t)63;
			float *got = aligned_alloc(64, bytes);
			ck_assert_ptr_nonnull(src);
			ck_assert_ptr_nonnull(ref);
			ck_assert_ptr_nonnull(got);
			for (size_t i = 0; i < rows * dim; i++)
				src[i] = (float)(i + 1);
			for (size_t i = 0; i < n + 16; i++)
				got[i] = -1.0f;
			pack_ref(src, rows, dim, ref);
			rdb_batch_pack_avx512(src, rows, dim, got);
			for (size_t i = 0; i < n; i++)
				ck_assert_msg(got[i] == ref[i], "dim %zu rows %zu at %zu: %g, expected %g", dim,
				              rows, i, got[i], ref[i]);
			for (size_t i = n; i < n + 16; i++)
				ck_assert_msg(got[i] == -1.0f, "dim %zu rows %zu: wrote past the panels at %zu",
				              dim, rows, i);
			free(src);
			free(ref);
			free(got);
		}
	}
}
END_TEST

static Suite *batch_suite(void)
{
	Suite *s = suite_create("kernels_batch");
	TCase *tc = tcase_create("pack");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_pack_avx512_matches_scalar);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(batch_suite());
}
