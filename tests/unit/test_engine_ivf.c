/*
 * tests/unit/test_engine_ivf.c — the IVF index through the public API on an
 * "external" knowledge base of clustered vectors (20k x 32): recall@10 at
 * the tuned nprobe against the exact scan, nprobe = nlist giving exactly the
 * exact results, the exact default below RAGDB_IVF_MIN_VECTORS, vectors
 * added after the build found, deleted ones gone, filters, a quantized
 * knowledge base keeping exact scores, compact, drop, argument errors, text
 * searches (vector, hybrid, batch) on the IVF path, the default nprobe
 * holding for text queries, and the check passing throughout and catching a
 * corrupted list count.
 */
#include <check.h>
#include <lmdb.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ragdb.h"
#include "testutil.h"
#include "testvec.h"

#define DIM 32
#define NV 20000
#define NC 200
#define NQ 100
#define K 10
#define NLIST 64

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
	g_dir = tu_tmpdir("ivf");
	ragdb_create_options o = { .embedder = "external", .dim = DIM };
	ragdb *db = NULL;
	ck_assert_int_eq(ragdb_create(g_dir, &o, &db), RAGDB_OK);
	for (int lo = 0; lo < NV; lo += 5000)
		tv_add_rows(db, g_base, DIM, lo, lo + 5000, "d", 1);
	return db;
}

static void done(ragdb *db)
{
	ragdb_close(db);
	tu_rmrf(g_dir);
	free(g_dir);
}

/* One query vector, one search (the single-query scan). */
static ragdb_results *search1(ragdb *db, const float *q, uint32_t nprobe, int exact,
                              const char *filter)
{
	const char *f[1] = { filter };
	ragdb_search_options o = { .k = K, .nprobe = nprobe, .exact = exact,
	                           .filters = filter ? f : NULL, .n_filters = filter ? 1 : 0 };
	ragdb_results *r = NULL;
	ck_assert_int_eq(ragdb_search_vectors(db, q, 1, DIM, &o, &r), RAGDB_OK);
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

static ragdb_index_stats build(ragdb *db, uint32_t nlist)
{
	ragdb_index_options o = { .nlist = nlist, .recall_target = 0.95f };
	ragdb_index_stats s;
	ck_assert_msg(ragdb_index_build(db, &o, &s) == RAGDB_OK, "%s", ragdb_errmsg(db));
	ck_assert_uint_eq(s.nlist, nlist);
	ck_assert_uint_eq(s.vectors, NV);
	ck_assert(s.nprobe >= 1 && s.nprobe <= nlist);
	return s;
}

/* Recall@10 at the tuned nprobe >= 0.95 on queries not stored; IVF hits
 * carry the exact cosine; nprobe = nlist is exactly the exact scan; nprobe
 * 0 below the size threshold is the exact scan too. */
START_TEST(test_recall_and_exact)
{
	ragdb *db = fresh();
	ragdb_index_stats s = build(db, NLIST);
	ck_assert(s.recall >= 0.95f);
	ck_assert(s.list_min <= s.list_median && s.list_median <= s.list_max);
	ck_assert(s.imbalance >= 1.0);
	tv_check_ok(db);
	size_t found = 0, total = 0;
	for (int i = 0; i < NQ; i++) {
		const float *q = g_q + (size_t)i * DIM;
		ragdb_results *ex = search1(db, q, 0, 1, NULL);
		ragdb_results *iv = search1(db, q, s.nprobe, 0, NULL);
		ragdb_results *all = search1(db, q, NLIST, 0, NULL);
		ragdb_results *def = search1(db, q, 0, 0, NULL);
		ck_assert_uint_eq(ex->n, K);
		ck_assert_uint_eq(iv->n, K);
		for (size_t a = 0; a < iv->n; a++)
			for (size_t b = 0; b < ex->n; b++)
				if (!strcmp(iv->hits[a].id, ex->hits[b].id)) {
					found++;
					ck_assert(iv->hits[a].score == ex->hits[b].score);
				}
		total += ex->n;
		ck_assert_msg(same_results(ex, all), "nprobe = nlist differs from exact, query %d", i);
		ck_assert_msg(same_results(ex, def), "below the threshold the default is exact");
		ragdb_results_free(ex);
		ragdb_results_free(iv);
		ragdb_results_free(all);
		ragdb_results_free(def);
	}
	double recall = (double)found / (double)total;
	ck_assert_msg(recall >= 0.95, "recall@10 %.3f at nprobe %u", recall, s.nprobe);
	/* A batch of query vectors takes the IVF path per query as well. */
	ragdb_search_options o = { .k = K, .nprobe = NLIST };
	ragdb_results *rs = NULL;
	ck_assert_int_eq(ragdb_search_vectors(db, g_q, 4, DIM, &o, &rs), RAGDB_OK);
	for (int i = 0; i < 4; i++) {
		ragdb_results *ex = search1(db, g_q + (size_t)i * DIM, 0, 1, NULL);
		ck_assert(same_results(ex, &rs[i]));
		ragdb_results_free(ex);
	}
	ragdb_results_free_array(rs, 4);
	done(db);
}
END_TEST

/* Vectors added after the build go to their nearest list and are found;
 * deleted ones disappear; stats show the drift; compact drops the lists'
 * tombstones; check agrees throughout. */
START_TEST(test_add_delete)
{
	ragdb *db = fresh();
	build(db, NLIST);
	/* New vectors: perturbed queries, so they are distinct from the base. */
	tv_add_rows(db, g_q, DIM, 0, 50, "new", 1);
	ragdb_index_stats s;
	ck_assert_int_eq(ragdb_index_stats_get(db, &s), RAGDB_OK);
	ck_assert_uint_eq(s.added, 50);
	ck_assert_uint_eq(s.vectors, NV + 50);
	tv_check_ok(db);
	for (int i = 0; i < 50; i++) {
		char id[32];
		snprintf(id, sizeof id, "new%d", i);
		ragdb_results *r = search1(db, g_q + (size_t)i * DIM, 2, 0, NULL);
		ck_assert_msg(r->n && !strcmp(r->hits[0].id, id), "new vector %d not found", i);
		ck_assert(fabsf(r->hits[0].score - 1.0f) < 1e-5f);
		ragdb_results_free(r);
	}
	/* Delete half of them, and replace one base document (delete + add). */
	for (int i = 0; i < 50; i += 2) {
		char id[32];
		snprintf(id, sizeof id, "new%d", i);
		ck_assert_int_eq(ragdb_delete(db, id), RAGDB_OK);
	}
	tv_add_rows(db, g_base, DIM, 7, 8, "d", 1);
	ck_assert_int_eq(ragdb_index_stats_get(db, &s), RAGDB_OK);
	ck_assert_uint_eq(s.dead, 26);
	ck_assert_uint_eq(s.vectors, NV + 25);
	tv_check_ok(db);
	for (int i = 0; i < 50; i++) {
		char id[32];
		snprintf(id, sizeof id, "new%d", i);
		ragdb_results *r = search1(db, g_q + (size_t)i * DIM, NLIST, 0, NULL);
		int present = 0;
		for (size_t h = 0; h < r->n; h++)
			present |= !strcmp(r->hits[h].id, id);
		ck_assert_int_eq(present, i % 2);
		ck_assert_uint_eq(r->n, K);
		ragdb_results_free(r);
	}
	ck_assert_int_eq(ragdb_compact(db, NULL), RAGDB_OK);
	tv_check_ok(db);
	ck_assert_int_eq(ragdb_index_stats_get(db, &s), RAGDB_OK);
	ck_assert_uint_eq(s.dead, 0);
	ck_assert_uint_eq(s.vectors, NV + 25);
	ragdb_results *a = search1(db, g_q, NLIST, 0, NULL), *b = search1(db, g_q, 0, 1, NULL);
	ck_assert(same_results(a, b));
	ragdb_results_free(a);
	ragdb_results_free(b);
	done(db);
}
END_TEST

/* Filters apply during the list scan: every hit matches, exactly k come
 * back, and with every list probed the filtered results are the exact ones. */
START_TEST(test_filters)
{
	ragdb *db = fresh();
	ragdb_index_stats s = build(db, NLIST);
	for (int i = 0; i < 20; i++) {
		const float *q = g_q + (size_t)i * DIM;
		ragdb_results *iv = search1(db, q, s.nprobe, 0, "grp=b");
		ck_assert_uint_eq(iv->n, K);
		for (size_t h = 0; h < iv->n; h++)
			ck_assert(atoi(iv->hits[h].id + 1) % 2 == 1);
		ragdb_results *all = search1(db, q, NLIST, 0, "grp=b");
		ragdb_results *ex = search1(db, q, 0, 1, "grp=b");
		ck_assert(same_results(all, ex));
		ragdb_results_free(iv);
		ragdb_results_free(all);
		ragdb_results_free(ex);
	}
	done(db);
}
END_TEST

/* On a quantized knowledge base the lists hold int8 codes and the
 * candidates are rescored from the f32 vectors: IVF scores are the f32
 * scan's exactly (test_engine_ivf_quant covers every kind). */
START_TEST(test_quantized)
{
	ragdb *db = fresh();
	ragdb_results *ex[8];
	for (int i = 0; i < 8; i++)
		ex[i] = search1(db, g_q + (size_t)i * DIM, 0, 1, NULL);
	ck_assert_int_eq(ragdb_quantize(db, "int8"), RAGDB_OK);
	build(db, NLIST);
	tv_check_ok(db);
	for (int i = 0; i < 8; i++) {
		ragdb_results *r = search1(db, g_q + (size_t)i * DIM, NLIST, 0, NULL);
		ck_assert(same_results(ex[i], r));
		ragdb_results_free(r);
		ragdb_results_free(ex[i]);
	}
	done(db);
}
END_TEST

/* Clear errors: nlist 0, nlist above the vectors, recall target outside
 * (0,1], an empty knowledge base, --nprobe without an index; drop. */
START_TEST(test_errors_and_drop)
{
	make_data();
	char *dir = tu_tmpdir("ivf_empty");
	ragdb_create_options co = { .embedder = "external", .dim = DIM };
	ragdb *db = NULL;
	ck_assert_int_eq(ragdb_create(dir, &co, &db), RAGDB_OK);
	ragdb_index_options o = { .nlist = 4 };
	ck_assert_int_eq(ragdb_index_build(db, &o, NULL), RAGDB_EINVAL);
	ck_assert_ptr_nonnull(strstr(ragdb_errmsg(db), "no vectors"));
	tv_add_rows(db, g_base, DIM, 0, 10, "d", 1);
	o.nlist = 0;
	ck_assert_int_eq(ragdb_index_build(db, &o, NULL), RAGDB_EINVAL);
	o.nlist = 11;
	ck_assert_int_eq(ragdb_index_build(db, &o, NULL), RAGDB_EINVAL);
	ck_assert_ptr_nonnull(strstr(ragdb_errmsg(db), "10 vectors"));
	o.nlist = 2;
	o.recall_target = 1.5f;
	ck_assert_int_eq(ragdb_index_build(db, &o, NULL), RAGDB_EINVAL);
	o.recall_target = -0.5f;
	ck_assert_int_eq(ragdb_index_build(db, &o, NULL), RAGDB_EINVAL);
	ragdb_index_stats s;
	ck_assert_int_eq(ragdb_index_stats_get(db, &s), RAGDB_ENOTFOUND);
	ragdb_search_options so = { .k = 3, .nprobe = 2 };
	ragdb_results *r = NULL;
	ck_assert_int_eq(ragdb_search_vectors(db, g_q, 1, DIM, &so, &r), RAGDB_EINVAL);
	o.recall_target = 1.0f;
	ck_assert_int_eq(ragdb_index_build(db, &o, &s), RAGDB_OK);
	ck_assert_int_eq(ragdb_search_vectors(db, g_q, 1, DIM, &so, &r), RAGDB_OK);
	ck_assert_uint_eq(r->n, 3);
	ragdb_results_free(r);
	ck_assert_int_eq(ragdb_index_drop(db), RAGDB_OK);
	ck_assert_int_eq(ragdb_index_stats_get(db, &s), RAGDB_ENOTFOUND);
	tv_check_ok(db);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* The check catches a list count that disagrees with the entries: the
 * header's live count is altered behind the library's back. */
START_TEST(test_check_detects)
{
	ragdb *db = fresh();
	build(db, 16);
	tv_check_ok(db);
	ragdb_close(db);
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	ck_assert_int_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 16);
	mdb_env_set_mapsize(env, (size_t)1 << 30);
	ck_assert_int_eq(mdb_env_open(env, g_dir, 0, 0664), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "ivf", 0, &dbi), 0);
	MDB_val k = { 1, "h" }, v;
	ck_assert_int_eq(mdb_get(txn, dbi, &k, &v), 0);
	unsigned char h[256];
	ck_assert(v.mv_size <= sizeof h);
	memcpy(h, v.mv_data, v.mv_size);
	h[40]++; /* live entries (u64 LE at offset 40) */
	MDB_val nv = { v.mv_size, h };
	ck_assert_int_eq(mdb_put(txn, dbi, &k, &nv, 0), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	ck_assert_int_eq(ragdb_open(g_dir, 0, &db), RAGDB_OK);
	uint64_t np = 0;
	ck_assert_int_eq(ragdb_check(db, NULL, NULL, &np), RAGDB_OK);
	ck_assert_uint_gt(np, 0);
	done(db);
}
END_TEST

/* Text searches take the IVF path too (local embedder): vector and hybrid
 * modes and a batch, each equal to the exact search with every list probed. */
START_TEST(test_text_modes)
{
	char *dir = tu_tmpdir("ivf_text");
	ragdb *db = NULL;
	ck_assert_int_eq(ragdb_create(dir, NULL, &db), RAGDB_OK);
	static const char *words[] = { "walrus", "glacier", "signing", "keys", "rotation", "backup",
	                               "restore", "ocean", "tokens", "vault", "ice", "server" };
	enum { ND = 60 };
	ragdb_document docs[ND];
	char ids[ND][16], texts[ND][200];
	for (int i = 0; i < ND; i++) {
		snprintf(ids[i], sizeof ids[i], "t%d", i);
		snprintf(texts[i], sizeof texts[i], "%s %s %s and the %s of %s", words[i % 12],
		         words[(i * 5 + 1) % 12], words[(i * 7 + 3) % 12], words[(i + 4) % 12],
		         words[(i * 3 + 2) % 12]);
		docs[i] = (ragdb_document){ .id = ids[i], .text = texts[i], .text_len = (size_t)-1 };
	}
	ck_assert_int_eq(ragdb_ingest_text(db, docs, ND, NULL, NULL), RAGDB_OK);
	ragdb_index_options io = { .nlist = 4 };
	ck_assert_msg(ragdb_index_build(db, &io, NULL) == RAGDB_OK, "%s", ragdb_errmsg(db));
	const char *qs[2] = { "walrus on the glacier", "rotation of signing keys" };
	ragdb_search_mode modes[2] = { RAGDB_MODE_VECTOR, RAGDB_MODE_HYBRID };
	for (int m = 0; m < 2; m++) {
		ragdb_search_options ex = { .k = 5, .mode = modes[m], .exact = 1 };
		ragdb_search_options iv = { .k = 5, .mode = modes[m], .nprobe = 4 };
		for (int q = 0; q < 2; q++) {
			ragdb_results *a = NULL, *b = NULL;
			ck_assert_int_eq(ragdb_search(db, qs[q], &ex, &a), RAGDB_OK);
			ck_assert_int_eq(ragdb_search(db, qs[q], &iv, &b), RAGDB_OK);
			ck_assert_uint_eq(a->n, 5);
			ck_assert(same_results(a, b));
			ragdb_results_free(a);
			ragdb_results_free(b);
		}
		ragdb_results *ba = NULL, *bb = NULL;
		ck_assert_int_eq(ragdb_search_batch(db, qs, NULL, 2, &iv, &bb), RAGDB_OK);
		for (int q = 0; q < 2; q++) {
			ck_assert_int_eq(ragdb_search(db, qs[q], &iv, &ba), RAGDB_OK);
			ck_assert(same_results(ba, &bb[q]));
			ragdb_results_free(ba);
		}
		ragdb_results_free_array(bb, 2);
	}
	tv_check_ok(db);
	/* The option reaches the text path: without an index it is refused. */
	ck_assert_int_eq(ragdb_index_drop(db), RAGDB_OK);
	ragdb_search_options iv = { .k = 5, .mode = RAGDB_MODE_HYBRID, .nprobe = 4 };
	ragdb_results *r = NULL;
	ck_assert_int_eq(ragdb_search(db, qs[0], &iv, &r), RAGDB_EINVAL);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* The default nprobe holds for text searches, not only for stored vectors
 * as queries: with the local embedder a query of a few words sits far from
 * every chunk, so the build tunes on words of held-out chunks embedded as
 * queries. Here (2,000 documents on 50 made-up topics, 300 four-word
 * queries) tuning on stored vectors chose nprobe 1, where such queries
 * found 0.77 of the exact top 10; queries at the tuned nprobe must find at
 * least 0.9. */
static uint32_t lcg(uint32_t *x)
{
	*x = *x * 1103515245u + 12345u;
	return *x >> 8;
}

static void made_up_word(uint32_t *x, char *w)
{
	static const char *const syl[] = { "ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi",
	                                   "pe", "dra", "qu", "zen", "bo", "fa", "gu" };
	int n = 2 + (int)(lcg(x) % 3);
	w[0] = 0;
	for (int i = 0; i < n; i++)
		strcat(w, syl[lcg(x) % 15]);
}

START_TEST(test_text_recall)
{
	enum { NT = 50, TW = 40, NG = 400, ND = 2000, NQT = 300 };
	static char topic[NT][TW][16], generic[NG][16];
	uint32_t x = 42;
	for (int t = 0; t < NT; t++)
		for (int w = 0; w < TW; w++)
			made_up_word(&x, topic[t][w]);
	for (int g = 0; g < NG; g++)
		made_up_word(&x, generic[g]);
	char *dir = tu_tmpdir("ivf_textrecall");
	ragdb *db = NULL;
	ck_assert_int_eq(ragdb_create(dir, NULL, &db), RAGDB_OK);
	ragdb_document *docs = calloc(ND, sizeof *docs);
	char (*ids)[16] = calloc(ND, 16);
	for (int i = 0; i < ND; i++) {
		char *t = malloc(3600);
		size_t len = 0;
		int nw = 120 + (int)(lcg(&x) % 80);
		for (int w = 0; w < nw; w++)
			len += (size_t)sprintf(t + len, "%s ", lcg(&x) % 2 ? topic[i % NT][lcg(&x) % TW]
			                                                 : generic[lcg(&x) % NG]);
		snprintf(ids[i], 16, "d%d", i);
		docs[i] = (ragdb_document){ .id = ids[i], .text = t, .text_len = len };
	}
	ck_assert_int_eq(ragdb_ingest_text(db, docs, ND, NULL, NULL), RAGDB_OK);
	ragdb_index_options o = { .nlist = 32, .recall_target = 0.95f };
	ragdb_index_stats st;
	ck_assert_msg(ragdb_index_build(db, &o, &st) == RAGDB_OK, "%s", ragdb_errmsg(db));
	ck_assert_uint_gt(st.nprobe, 1);
	ck_assert_uint_lt(st.nprobe, 32);
	ck_assert(st.recall >= 0.95f);
	size_t found = 0, total = 0;
	for (int q = 0; q < NQT; q++) {
		char text[128];
		const char (*t)[16] = topic[lcg(&x) % NT];
		snprintf(text, sizeof text, "%s %s %s %s", t[lcg(&x) % TW], t[lcg(&x) % TW],
		         t[lcg(&x) % TW], generic[lcg(&x) % NG]);
		ragdb_search_options ex = { .k = K, .mode = RAGDB_MODE_VECTOR, .exact = 1 };
		ragdb_search_options iv = { .k = K, .mode = RAGDB_MODE_VECTOR, .nprobe = st.nprobe };
		ragdb_results *a = NULL, *b = NULL;
		ck_assert_int_eq(ragdb_search(db, text, &ex, &a), RAGDB_OK);
		ck_assert_int_eq(ragdb_search(db, text, &iv, &b), RAGDB_OK);
		for (size_t i = 0; i < a->n; i++) {
			total++;
			for (size_t j = 0; j < b->n; j++)
				if (a->hits[i].chunk_id == b->hits[j].chunk_id) {
					found++;
					break;
				}
		}
		ragdb_results_free(a);
		ragdb_results_free(b);
	}
	double rec = (double)found / (double)total;
	ck_assert_msg(rec >= 0.9, "text queries found %.3f of the exact top %d at the tuned "
	              "nprobe %u", rec, K, st.nprobe);
	for (int i = 0; i < ND; i++)
		free((char *)docs[i].text);
	free(docs);
	free(ids);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("engine_ivf");
	TCase *tc = tcase_create("ivf");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_recall_and_exact);
	tcase_add_test(tc, test_text_recall);
	tcase_add_test(tc, test_add_delete);
	tcase_add_test(tc, test_filters);
	tcase_add_test(tc, test_quantized);
	tcase_add_test(tc, test_errors_and_drop);
	tcase_add_test(tc, test_check_detects);
	tcase_add_test(tc, test_text_modes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
