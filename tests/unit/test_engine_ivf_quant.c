/*
 * tests/unit/test_engine_ivf_quant.c — the IVF index on quantized knowledge
 * bases (bf16, int8, binary), whose lists hold the quantized codes: every
 * list probed gives exactly the exact quantized search (ids and exact f32
 * scores), single and batch; recall at the tuned nprobe; appends found,
 * deletes gone, compact and check clean; `ragdb quantize` with an index
 * re-encodes the lists (bytes shrink, check clean, back to f32 restores
 * them); an index of f32 lists written before lists were quantized (header
 * version 1) on a quantized knowledge base still searches exactly; check
 * and search catch codes that differ and a header whose encoding is not
 * the segments'.
 */
#include <check.h>
#include <lmdb.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ragdb.h"
#include "testutil.h"
#include "testvec.h"

#define DIM 32
#define NV 20000
#define NC 200
#define NQ 60
#define K 10
#define NLIST 64

static const char *const g_kinds[3] = { "bf16", "int8", "binary" };

static uint64_t rng = 0x2545f4914f6cdd1dull;

static float g_base[NV * DIM], g_q[NQ * DIM], g_cent[NC * DIM];
static int g_made;

/* A Gaussian mixture: NC centres, noise 0.6 per coordinate. */
static void make_data(void)
{
	if (g_made++)
		return;
	tv_centres(&rng, g_cent, NC, DIM);
	tv_mixture(&rng, g_cent, NC, DIM, 0.6f, g_base, NV);
	tv_mixture(&rng, g_cent, NC, DIM, 0.6f, g_q, NQ);
}

static char *g_dir;

static ragdb *fresh(void)
{
	make_data();
	g_dir = tu_tmpdir("ivfq");
	ragdb_create_options o = { .embedder = "external", .dim = DIM };
	ragdb *db = NULL;
	ck_assert_int_eq(ragdb_create(g_dir, &o, &db), RAGDB_OK);
	for (int lo = 0; lo < NV; lo += 5000)
		tv_add_rows(db, g_base, DIM, lo, lo + 5000, "d", 0);
	return db;
}

static void done(ragdb *db)
{
	ragdb_close(db);
	tu_rmrf(g_dir);
	free(g_dir);
}

static uint64_t check_problems(ragdb *db)
{
	uint64_t np = 0;
	ck_assert_int_eq(ragdb_check(db, NULL, NULL, &np), RAGDB_OK);
	return np;
}

static ragdb_results *search1(ragdb *db, const float *q, uint32_t nprobe, int exact)
{
	ragdb_search_options o = { .k = K, .nprobe = nprobe, .exact = exact };
	ragdb_results *r = NULL;
	ck_assert_msg(ragdb_search_vectors(db, q, 1, DIM, &o, &r) == RAGDB_OK, "%s",
	              ragdb_errmsg(db));
	return r;
}

static int same_results(const ragdb_results *a, const ragdb_results *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->hits[i].id, b->hits[i].id) || a->hits[i].score != b->hits[i].score)
			return 0;
	return 1;
}

/* Every list probed returns the exact search of the same knowledge base,
 * for the first @p n queries. */
static void assert_all_lists_exact(ragdb *db, int n, const char *what)
{
	for (int i = 0; i < n; i++) {
		ragdb_results *ex = search1(db, g_q + (size_t)i * DIM, 0, 1);
		ragdb_results *all = search1(db, g_q + (size_t)i * DIM, NLIST, 0);
		ck_assert_msg(same_results(ex, all), "%s: nprobe = nlist differs from exact, query %d",
		              what, i);
		ragdb_results_free(ex);
		ragdb_results_free(all);
	}
}

static ragdb_index_stats build(ragdb *db)
{
	ragdb_index_options o = { .nlist = NLIST, .recall_target = 0.95f };
	ragdb_index_stats s;
	ck_assert_msg(ragdb_index_build(db, &o, &s) == RAGDB_OK, "%s", ragdb_errmsg(db));
	ck_assert_uint_eq(s.nlist, NLIST);
	ck_assert(s.nprobe >= 1 && s.nprobe <= NLIST);
	return s;
}

static ragdb_index_stats stats(ragdb *db)
{
	ragdb_index_stats s;
	ck_assert_int_eq(ragdb_index_stats_get(db, &s), RAGDB_OK);
	return s;
}

/* Per kind (loop index): build on the quantized knowledge base; nprobe =
 * nlist equals the exact quantized search (single and batch); recall@10 at
 * the tuned nprobe against the exact search, with the exact scores; the
 * measured recall the build stored reaches the target; appends, deletes,
 * compact and check. */
START_TEST(test_kind)
{
	const char *kind = g_kinds[_i];
	ragdb *db = fresh();
	ck_assert_int_eq(ragdb_quantize(db, kind), RAGDB_OK);
	ragdb_index_stats s = build(db);
	ck_assert_msg(s.recall >= 0.95f, "%s: stored recall %.3f at nprobe %u", kind,
	              (double)s.recall, s.nprobe);
	tv_check_ok(db);
	assert_all_lists_exact(db, NQ, kind);
	size_t found = 0, total = 0;
	for (int i = 0; i < NQ; i++) {
		ragdb_results *ex = search1(db, g_q + (size_t)i * DIM, 0, 1);
		ragdb_results *iv = search1(db, g_q + (size_t)i * DIM, s.nprobe, 0);
		for (size_t a = 0; a < iv->n; a++)
			for (size_t b = 0; b < ex->n; b++)
				if (!strcmp(iv->hits[a].id, ex->hits[b].id)) {
					found++;
					ck_assert(iv->hits[a].score == ex->hits[b].score);
				}
		total += ex->n;
		ragdb_results_free(ex);
		ragdb_results_free(iv);
	}
	double recall = (double)found / (double)total;
	ck_assert_msg(recall >= 0.85, "%s: recall@10 %.3f at nprobe %u", kind, recall, s.nprobe);
	/* A batch returns what single searches do, at nlist and at nprobe. */
	uint32_t probes[2] = { NLIST, s.nprobe };
	for (int p = 0; p < 2; p++) {
		ragdb_search_options o = { .k = K, .nprobe = probes[p] };
		ragdb_results *rs = NULL;
		ck_assert_int_eq(ragdb_search_vectors(db, g_q, 8, DIM, &o, &rs), RAGDB_OK);
		for (int i = 0; i < 8; i++) {
			ragdb_results *one = search1(db, g_q + (size_t)i * DIM, probes[p], 0);
			ck_assert_msg(same_results(one, &rs[i]), "%s: batch differs, query %d", kind, i);
			ragdb_results_free(one);
		}
		ragdb_results_free_array(rs, 8);
	}
	/* Appends go to their nearest list as codes and are found. */
	tv_add_rows(db, g_q, DIM, 0, 40, "new", 0);
	s = stats(db);
	ck_assert_uint_eq(s.added, 40);
	ck_assert_uint_eq(s.vectors, NV + 40);
	tv_check_ok(db);
	for (int i = 0; i < 40; i++) {
		char id[32];
		snprintf(id, sizeof id, "new%d", i);
		ragdb_results *r = search1(db, g_q + (size_t)i * DIM, 2, 0);
		ck_assert_msg(r->n && !strcmp(r->hits[0].id, id), "%s: new vector %d not found", kind, i);
		ck_assert(fabsf(r->hits[0].score - 1.0f) < 1e-5f);
		ragdb_results_free(r);
	}
	/* Deletes vanish. */
	for (int i = 0; i < 40; i += 2) {
		char id[32];
		snprintf(id, sizeof id, "new%d", i);
		ck_assert_int_eq(ragdb_delete(db, id), RAGDB_OK);
	}
	s = stats(db);
	ck_assert_uint_eq(s.dead, 20);
	tv_check_ok(db);
	for (int i = 0; i < 40; i++) {
		char id[32];
		snprintf(id, sizeof id, "new%d", i);
		ragdb_results *r = search1(db, g_q + (size_t)i * DIM, NLIST, 0);
		int present = 0;
		for (size_t h = 0; h < r->n; h++)
			present |= !strcmp(r->hits[h].id, id);
		ck_assert_int_eq(present, i % 2);
		ragdb_results_free(r);
	}
	ck_assert_int_eq(ragdb_compact(db, NULL), RAGDB_OK);
	tv_check_ok(db);
	s = stats(db);
	ck_assert_uint_eq(s.dead, 0);
	ck_assert_uint_eq(s.vectors, NV + 20);
	assert_all_lists_exact(db, 10, kind);
	done(db);
}
END_TEST

/* `ragdb quantize` with an index present re-encodes the lists in its txn:
 * int8 lists take about a third of the f32 lists' bytes, every conversion
 * keeps check clean and nprobe = nlist exact, appends after a conversion
 * are codes of the new kind, and back to f32 gives the f32 lists' size
 * (plus the appended entries). */
START_TEST(test_convert)
{
	ragdb *db = fresh();
	build(db);
	uint64_t f32_bytes = stats(db).bytes;
	const char *order[4] = { "int8", "bf16", "binary", "f32" };
	for (int c = 0; c < 4; c++) {
		ck_assert_int_eq(ragdb_quantize(db, order[c]), RAGDB_OK);
		tv_check_ok(db);
		assert_all_lists_exact(db, 10, order[c]);
		uint64_t b = stats(db).bytes;
		if (!strcmp(order[c], "int8"))
			ck_assert_msg(b * 2 < f32_bytes, "int8 lists %llu bytes, f32 %llu",
			              (unsigned long long)b, (unsigned long long)f32_bytes);
		/* The f32 lists' size again, plus the 10 appended entries (their
		 * ids, vectors and segment padding). */
		if (!strcmp(order[c], "f32"))
			ck_assert(b >= f32_bytes + 10 * (DIM * 4 + 8) &&
			          b <= f32_bytes + 10 * (DIM * 4 + 8 + 64));
		if (!strcmp(order[c], "bf16")) {
			tv_add_rows(db, g_q, DIM, 0, 10, "bf", 0);
			tv_check_ok(db);
		}
	}
	done(db);
}
END_TEST

/* Raw LMDB access to the closed knowledge base: @p fn edits it in one txn. */
static void raw_edit(void (*fn)(MDB_txn *txn, void *ctx), void *ctx)
{
	MDB_env *env;
	MDB_txn *txn;
	ck_assert_int_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 32);
	mdb_env_set_mapsize(env, (size_t)1 << 30);
	ck_assert_int_eq(mdb_env_open(env, g_dir, 0, 0664), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	fn(txn, ctx);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void set_quant_meta(MDB_txn *txn, void *ctx)
{
	MDB_dbi dbi;
	ck_assert_int_eq(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	uint64_t kind = *(uint64_t *)ctx;
	MDB_val k = { 8, "quantize" }, v = { 8, &kind };
	ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
}

/* The header as the previous release wrote it: 88 bytes, version 1. */
static void header_to_v1(MDB_txn *txn, void *ctx)
{
	(void)ctx;
	MDB_dbi dbi;
	ck_assert_int_eq(mdb_dbi_open(txn, "ivf", 0, &dbi), 0);
	MDB_val k = { 1, "h" }, v;
	ck_assert_int_eq(mdb_get(txn, dbi, &k, &v), 0);
	ck_assert_uint_eq(v.mv_size, 96);
	unsigned char h[96];
	memcpy(h, v.mv_data, 96);
	uint32_t one = 1, kind;
	memcpy(&kind, h + 88, 4);
	ck_assert_uint_eq(kind, 0);
	memcpy(h + 4, &one, 4);
	MDB_val nv = { 88, h };
	ck_assert_int_eq(mdb_put(txn, dbi, &k, &nv, 0), 0);
}

/* An index of f32 lists with a version-1 header on an int8 knowledge base
 * (what a previous release left): searches exactly, check is clean,
 * appends work; `ragdb quantize int8` then converts its lists to codes. */
START_TEST(test_old_format)
{
	ragdb *db = fresh();
	ck_assert_int_eq(ragdb_quantize(db, "int8"), RAGDB_OK);
	ragdb_close(db);
	/* Build as f32 (the lists are f32 copies), then say int8 again: the
	 * int8 blocks are still the encoding of the unchanged vectors. */
	uint64_t f32 = 0, i8 = 2;
	raw_edit(set_quant_meta, &f32);
	ck_assert_int_eq(ragdb_open(g_dir, 0, &db), RAGDB_OK);
	build(db);
	uint64_t f32_bytes = stats(db).bytes;
	ragdb_close(db);
	raw_edit(set_quant_meta, &i8);
	raw_edit(header_to_v1, NULL);
	ck_assert_int_eq(ragdb_open(g_dir, 0, &db), RAGDB_OK);
	ck_assert_str_eq(ragdb_quantization(db), "int8");
	tv_check_ok(db);
	assert_all_lists_exact(db, 20, "old f32 lists");
	tv_add_rows(db, g_q, DIM, 0, 10, "new", 0);
	tv_check_ok(db);
	ragdb_results *r = search1(db, g_q, 2, 0);
	ck_assert_str_eq(r->hits[0].id, "new0");
	ragdb_results_free(r);
	ck_assert_int_eq(ragdb_quantize(db, "int8"), RAGDB_OK);
	tv_check_ok(db);
	ck_assert(stats(db).bytes * 2 < f32_bytes);
	assert_all_lists_exact(db, 20, "converted lists");
	done(db);
}
END_TEST

typedef struct seg_edit {
	int what; /* 0: flip a code byte of list 0's first segment; 1: header kind */
	uint32_t kind;
} seg_edit;

static void edit_lists(MDB_txn *txn, void *ctx)
{
	seg_edit *se = ctx;
	MDB_dbi dbi;
	if (se->what == 0) {
		ck_assert_int_eq(mdb_dbi_open(txn, "ivflists", 0, &dbi), 0);
		MDB_cursor *cur;
		ck_assert_int_eq(mdb_cursor_open(txn, dbi, &cur), 0);
		MDB_val k, v;
		ck_assert_int_eq(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
		unsigned char *p = malloc(v.mv_size);
		memcpy(p, v.mv_data, v.mv_size);
		p[v.mv_size - 1] ^= 0x5a; /* the last code byte */
		MDB_val nk = k, nv = { v.mv_size, p };
		mdb_cursor_close(cur);
		ck_assert_int_eq(mdb_put(txn, dbi, &nk, &nv, 0), 0);
		free(p);
	} else {
		ck_assert_int_eq(mdb_dbi_open(txn, "ivf", 0, &dbi), 0);
		MDB_val k = { 1, "h" }, v;
		ck_assert_int_eq(mdb_get(txn, dbi, &k, &v), 0);
		unsigned char h[96];
		ck_assert_uint_eq(v.mv_size, 96);
		memcpy(h, v.mv_data, 96);
		memcpy(h + 88, &se->kind, 4);
		MDB_val nv = { 96, h };
		ck_assert_int_eq(mdb_put(txn, dbi, &k, &nv, 0), 0);
	}
}

/* check compares the lists' codes with the vectors' encoding (a flipped
 * code byte is reported), and a header naming another encoding than the
 * segments' is reported by check and refused by search (ECORRUPT, with
 * "rebuild"), never read as the wrong kind. */
START_TEST(test_check_detects)
{
	ragdb *db = fresh();
	ck_assert_int_eq(ragdb_quantize(db, "int8"), RAGDB_OK);
	build(db);
	tv_check_ok(db);
	ragdb_close(db);
	seg_edit se = { 0, 0 };
	raw_edit(edit_lists, &se);
	ck_assert_int_eq(ragdb_open(g_dir, 0, &db), RAGDB_OK);
	ck_assert_uint_gt(check_problems(db), 0);
	ragdb_close(db);
	se = (seg_edit){ 1, 1 }; /* header says bf16, segments are int8 */
	raw_edit(edit_lists, &se);
	ck_assert_int_eq(ragdb_open(g_dir, 0, &db), RAGDB_OK);
	ck_assert_uint_gt(check_problems(db), 0);
	ragdb_search_options o = { .k = K, .nprobe = NLIST };
	ragdb_results *r = NULL;
	ck_assert_int_eq(ragdb_search_vectors(db, g_q, 1, DIM, &o, &r), RAGDB_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(ragdb_errmsg(db), "rebuild with `ragdb index build`"));
	/* The way out works: rebuilding writes int8 lists again. */
	build(db);
	tv_check_ok(db);
	done(db);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("engine_ivf_quant");
	TCase *tc = tcase_create("ivf_quant");
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, test_kind, 0, 3);
	tcase_add_test(tc, test_convert);
	tcase_add_test(tc, test_old_format);
	tcase_add_test(tc, test_check_detects);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
