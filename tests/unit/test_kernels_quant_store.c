/*
 * tests/unit/test_kernels_quant_store.c — the store's quantized block
 * encoder (index/qblocks.c, which cannot link the kernels) produces exactly
 * the codes and scales of rdb_quantize (engine/kernels/quant.c), for every
 * kind, on ordinary, zero, tiny, huge and sign-edge rows; a mismatch would
 * make the quantized scan score different codes than the tests validated.
 * Also: the store's check (Q1-Q2) catches a quantized block that disagrees.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/quant.h"
#include "index/store.h"
#include "index/store_int.h"
#include "testutil.h"

static void count_problem(void *ctx, const char *msg)
{
	(void)msg;
	(*(int *)ctx)++;
}

static int problems(rdb_store *s)
{
	rdb_txn *t;
	rdb_err err = {0};
	int n = 0;
	uint64_t np = 0;
	ck_assert_int_eq(rdb_txn_begin(s, 0, &t, &err), RAGDB_OK);
	ck_assert_int_eq(rdb_store_check(t, count_problem, &n, &np, &err), RAGDB_OK);
	rdb_txn_abort(t);
	return n;
}

/* A store created int8 writes quantized blocks with its f32 blocks (one
 * txn, across the tail flushes of a 16-vector block capacity); check
 * passes, then reports a quantized block whose codes were altered, and a
 * conversion to f32 empties them. */
START_TEST(store_check_catches_bad_qblock)
{
	char *dir = tu_tmpdir("qstore");
	rdb_meta m;
	memset(&m, 0, sizeof m);
	snprintf(m.embedder, sizeof m.embedder, "local");
	snprintf(m.model, sizeof m.model, "hash-v1");
	m.dim = 8;
	m.block_cap = 16;
	m.chunk_tokens = 256;
	m.chunk_overlap = 32;
	m.quant = 2;
	rdb_store *s;
	rdb_err err = {0};
	ck_assert_int_eq(rdb_store_open(dir, RDB_STORE_CREATE, &m, &s, &err), RAGDB_OK);
	rdb_txn *t;
	ck_assert_int_eq(rdb_txn_begin(s, 1, &t, &err), RAGDB_OK);
	for (int i = 0; i < 40; i++) {
		char id[16];
		snprintf(id, sizeof id, "d%d", i);
		float v[8] = {0};
		v[i % 8] = 0.6f;
		v[(i + 3) % 8] = -0.8f;
		rdb_chunk_in c = { .text = "x", .text_len = 1, .end = 1 };
		rdb_doc d = { .id = id, .source = "s", .title = "", .meta_json = "", .size = 1 };
		ck_assert_int_eq(rdb_doc_put(t, &d, &c, 1, v, &err), RAGDB_OK);
	}
	ck_assert_int_eq(rdb_txn_commit(t, &err), RAGDB_OK);
	ck_assert_int_eq(problems(s), 0);
	/* Alter one code of block 1. */
	ck_assert_int_eq(rdb_txn_begin(s, 1, &t, &err), RAGDB_OK);
	uint8_t kb[4] = { 0, 0, 0, 1 };
	MDB_val k = { 4, kb }, v;
	ck_assert_int_eq(mdb_get(t->txn, s->qvectors, &k, &v), 0);
	unsigned char *copy = malloc(v.mv_size);
	memcpy(copy, v.mv_data, v.mv_size);
	copy[v.mv_size - 1] ^= 0x01;
	MDB_val nv = { v.mv_size, copy };
	ck_assert_int_eq(mdb_put(t->txn, s->qvectors, &k, &nv, 0), 0);
	free(copy);
	ck_assert_int_eq(rdb_txn_commit(t, &err), RAGDB_OK);
	ck_assert_int_eq(problems(s), 1);
	/* Re-encoding repairs it; f32 drops them. */
	ck_assert_int_eq(rdb_txn_begin(s, 1, &t, &err), RAGDB_OK);
	ck_assert_int_eq(rdb_store_set_quant(t, 2, &err), RAGDB_OK);
	ck_assert_int_eq(rdb_txn_commit(t, &err), RAGDB_OK);
	ck_assert_int_eq(problems(s), 0);
	ck_assert_int_eq(rdb_txn_begin(s, 1, &t, &err), RAGDB_OK);
	ck_assert_int_eq(rdb_store_set_quant(t, 0, &err), RAGDB_OK);
	ck_assert_int_eq(rdb_txn_commit(t, &err), RAGDB_OK);
	ck_assert_int_eq(problems(s), 0);
	ck_assert_int_eq(rdb_txn_begin(s, 0, &t, &err), RAGDB_OK);
	MDB_stat ms;
	ck_assert_int_eq(mdb_stat(t->txn, s->qvectors, &ms), 0);
	ck_assert_uint_eq(ms.ms_entries, 0);
	ck_assert_uint_eq(rdb_txn_quant(t), 0);
	rdb_txn_abort(t);
	rdb_store_close(s);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

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
	tcase_add_test(tc, store_check_catches_bad_qblock);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
