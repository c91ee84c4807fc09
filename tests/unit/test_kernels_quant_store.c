/*
 * tests/unit/test_kernels_quant_store.c — the store's quantized block
 * encoder (index/qblocks.c, which cannot link the kernels) produces exactly
 * the codes and scales of rdb_quantize (engine/kernels/quant.c), for every
 * kind, on ordinary, zero, tiny, huge and sign-edge rows; a mismatch would
 * make the quantized scan score different codes than the tests validated.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/quant.h"
#include "index/store.h"
#include "testutil.h"

START_TEST(store_encoder_matches_kernels)
{
	static const uint32_t dims[] = { 1, 7, 64, 65, 384 };
	for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
		uint32_t dim = dims[di], n = 9;
		float *v = malloc(sizeof(float) * n * dim);
		srand(42 + (int)dim);
		for (uint32_t i = 0; i < n * dim; i++)
			v[i] = (float)rand() / RAND_MAX - 0.5f;
		memset(v + 1 * dim, 0, dim * sizeof(float));       /* zero row */
		for (uint32_t j = 0; j < dim; j++) {
			v[2 * dim + j] *= 1e-30f;                       /* tiny */
			v[3 * dim + j] = j % 2 ? -0.0f : 0.5f;          /* signed zeros */
			v[4 * dim + j] = (j % 3 ? 1 : -1) * 0.25f;      /* exact halves */
		}
		for (uint32_t kind = 1; kind <= 3; kind++) {
			size_t rb = rdb_quant_row_bytes((rdb_quant)kind, dim);
			unsigned char *codes = malloc(rb * n + 1);
			float *scales = malloc(sizeof(float) * n);
			rdb_err err = {0};
			ck_assert_int_eq(rdb_quantize((rdb_quant)kind, v, n, dim, codes,
			                              kind == 2 ? scales : NULL, &err), RAGDB_OK);
			size_t sz = rdb_qblock_size(kind, n, dim);
			unsigned char *blk = malloc(sz);
			rdb_qencode_block(kind, v, n, dim, blk);
			/* Codes sit at the end of the value, scales after the header. */
			ck_assert_mem_eq(blk + sz - rb * n, codes, rb * n);
			if (kind == 2)
				ck_assert_mem_eq(blk + 16, scales, sizeof(float) * n);
			ck_assert_str_eq(rdb_qkind_name(kind), rdb_quant_name((rdb_quant)kind));
			free(blk);
			free(scales);
			free(codes);
		}
		free(v);
	}
	uint32_t k;
	ck_assert_int_eq(rdb_qkind_parse("int8", &k), 0);
	ck_assert_uint_eq(k, RDB_QUANT_INT8);
	ck_assert_int_eq(rdb_qkind_parse("int4", &k), -1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kernels_quant_store");
	TCase *tc = tcase_create("encode");
	tcase_add_test(tc, store_encoder_matches_kernels);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
