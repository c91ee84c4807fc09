/*
 * tests/unit/test_engine_search.c — search modes, the full-text index,
 * filters and MMR through the public API: BM25 scores against hand-computed
 * values, exact statistics after add/replace/delete (and `check` agreeing),
 * hybrid drawing from both lists, filters returning exactly min(k, matches)
 * for each operator (a 0.05%-selective one over 2,000 chunks included),
 * bad filters refused by name, MMR removing a near-duplicate, --meta, and
 * the full-text language.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ragdb.h"
#include "testutil.h"

static ragdb *fresh(char **dir, const char *language)
{
	*dir = tu_tmpdir("search");
	char path[4096];
	snprintf(path, sizeof path, "%s/kb", *dir);
	ragdb *db = NULL;
	ragdb_create_options o = { .language = language };
	ck_assert_msg(ragdb_create(path, &o, &db) == RAGDB_OK, "%s", ragdb_errmsg(db));
	return db;
}

static void done(ragdb *db, char *dir)
{
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}

static void put(ragdb *db, const char *id, const char *text)
{
	ragdb_document d = { .id = id, .text = text, .text_len = (size_t)-1 };
	ck_assert_msg(ragdb_ingest_text(db, &d, 1, NULL, NULL) == RAGDB_OK, "%s", ragdb_errmsg(db));
}

static uint64_t problems(ragdb *db)
{
	uint64_t n = 99;
	ck_assert_int_eq(ragdb_check(db, NULL, NULL, &n), RAGDB_OK);
	return n;
}

/* BM25 of one term written out: idf = ln(1 + (N - df + 0.5)/(df + 0.5)),
 * tf~ = tf / (1 - b + b len/avg), score = idf tf~ (k1 + 1)/(k1 + tf~), with
 * k1 = 1.2 and b = 0.75 (no title field in these documents). */
static double hand_bm25(double N, double df, double tf, double len, double avg)
{
	double idf = log(1.0 + (N - df + 0.5) / (df + 0.5));
	double t = tf / (1.0 - 0.75 + 0.75 * len / avg);
	return idf * t * 2.2 / (1.2 + t);
}

static const ragdb_hit *hit_of(const ragdb_results *r, const char *id)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->hits[i].id, id) == 0)
			return &r->hits[i];
	return NULL;
}

static void expect_score(ragdb *db, const char *q, const char *id, double want)
{
	ragdb_search_options so = { .mode = RAGDB_MODE_BM25, .k = 10 };
	ragdb_results *r = NULL;
	ck_assert_int_eq(ragdb_search(db, q, &so, &r), RAGDB_OK);
	const ragdb_hit *h = hit_of(r, id);
	ck_assert_msg(h != NULL, "%s not found for \"%s\"", id, q);
	ck_assert_msg(fabs(h->score - want) < 1e-4, "%s: score %.6f, hand-computed %.6f", id,
	              (double)h->score, want);
	ragdb_results_free(r);
}

/* BM25 scores equal the hand-computed ones; a chunk without the term is not
 * returned; after a replace and a delete the statistics (N, average length,
 * df) are exact again, and check agrees with the index. */
START_TEST(bm25_scores_and_exact_stats)
{
	char *dir;
	ragdb *db = fresh(&dir, NULL);
	put(db, "a", "zebra apple");
	put(db, "b", "zebra zebra zebra kiwi mango");
	put(db, "c", "kiwi");
	/* N = 3, lengths 2, 5, 1: avg 8/3; df(zebra) = 2 */
	expect_score(db, "zebra", "a", hand_bm25(3, 2, 1, 2, 8.0 / 3));
	expect_score(db, "zebra", "b", hand_bm25(3, 2, 3, 5, 8.0 / 3));
	ragdb_search_options so = { .mode = RAGDB_MODE_BM25, .k = 10 };
	ragdb_results *r = NULL;
	ck_assert_int_eq(ragdb_search(db, "zebra", &so, &r), RAGDB_OK);
	ck_assert_uint_eq(r->n, 2);
	ck_assert_str_eq(r->hits[0].id, "b");
	ragdb_results_free(r);
	/* Stemming: "zebras" finds the same postings. */
	expect_score(db, "zebras", "a", hand_bm25(3, 2, 1, 2, 8.0 / 3));
	ck_assert_uint_eq(problems(db), 0);

	put(db, "a", "apple mango mango"); /* replace: zebra df 1, lengths 3, 5, 1 */
	expect_score(db, "zebra", "b", hand_bm25(3, 1, 3, 5, 3.0));
	expect_score(db, "mango", "a", hand_bm25(3, 2, 2, 3, 3.0));
	ck_assert_uint_eq(problems(db), 0);
	ck_assert_int_eq(ragdb_delete(db, "c"), RAGDB_OK); /* N 2, lengths 3, 5 */
	expect_score(db, "kiwi", "b", hand_bm25(2, 1, 1, 5, 4.0));
	ck_assert_uint_eq(problems(db), 0);
	ck_assert_int_eq(ragdb_delete(db, "b"), RAGDB_OK);
	ck_assert_int_eq(ragdb_search(db, "zebra", &so, &r), RAGDB_OK);
	ck_assert_uint_eq(r->n, 0);
	ragdb_results_free(r);
	ck_assert_uint_eq(problems(db), 0);
	done(db, dir);
}
END_TEST

/* Many documents sharing terms: postings span several segments; deleting
 * every other document and replacing others keeps check clean and df exact
 * (BM25 returns exactly the documents left). */
START_TEST(postings_many_segments)
{
	char *dir;
	ragdb *db = fresh(&dir, NULL);
	enum { N = 700 };
	ragdb_document *d = calloc(N, sizeof *d);
	char (*ids)[16] = calloc(N, sizeof *ids);
	for (int i = 0; i < N; i++) {
		snprintf(ids[i], sizeof ids[i], "d%03d", i);
		d[i] = (ragdb_document){ .id = ids[i], .text = i % 3 ? "common walrus text"
		                                                      : "common pelican text",
		                         .text_len = (size_t)-1 };
	}
	ck_assert_int_eq(ragdb_ingest_text(db, d, N, NULL, NULL), RAGDB_OK);
	for (int i = 0; i < N; i += 2)
		ck_assert_int_eq(ragdb_delete(db, ids[i]), RAGDB_OK);
	ck_assert_uint_eq(problems(db), 0);
	for (int i = 1; i < N; i += 10)
		put(db, ids[i], "common pelican replaced");
	ck_assert_uint_eq(problems(db), 0);
	ragdb_search_options so = { .mode = RAGDB_MODE_BM25, .k = 1000 };
	ragdb_results *r = NULL;
	ck_assert_int_eq(ragdb_search(db, "common", &so, &r), RAGDB_OK);
	ck_assert_uint_eq(r->n, N / 2);
	ragdb_results_free(r);
	free(d);
	free(ids);
	done(db, dir);
}
END_TEST

/* Hybrid draws on both lists: the best vector hit (found through character
 * n-grams only) and the best BM25 hit are both in the fused list. */
START_TEST(hybrid_uses_both)
{
	char *dir;
	ragdb *db = fresh(&dir, NULL);
	put(db, "v", "configuration of the networking interfaces");
	put(db, "b", "quokka habitat notes");
	put(db, "x1", "weather report for tuesday");
	put(db, "x2", "recipe with lentils and rice");
	put(db, "x3", "history of the printing press");
	ragdb_results *r = NULL;
	const char *q = "quokka configurations networks";
	ragdb_search_options h = { .mode = RAGDB_MODE_HYBRID, .k = 2 };
	ck_assert_int_eq(ragdb_search(db, q, &h, &r), RAGDB_OK);
	ck_assert_uint_eq(r->n, 2);
	ck_assert_ptr_nonnull(hit_of(r, "b"));
	ck_assert_ptr_nonnull(hit_of(r, "v"));
	ragdb_results_free(r);
	/* The default mode is hybrid. */
	ragdb_search_options d = { .k = 2 };
	ck_assert_int_eq(ragdb_search(db, q, &d, &r), RAGDB_OK);
	ck_assert_ptr_nonnull(hit_of(r, "b"));
	ck_assert_ptr_nonnull(hit_of(r, "v"));
	ragdb_results_free(r);
	done(db, dir);
}
END_TEST

enum { NF = 2000 };

static ragdb *filter_kb(char **dir)
{
	ragdb *db = fresh(dir, NULL);
	ragdb_document *d = calloc(NF, sizeof *d);
	char (*ids)[16] = calloc(NF, sizeof *ids);
	char (*meta)[96] = calloc(NF, sizeof *meta);
	char (*src)[32] = calloc(NF, sizeof *src);
	for (int i = 0; i < NF; i++) {
		snprintf(ids[i], sizeof ids[i], "doc%d", i);
		snprintf(meta[i], sizeof meta[i], "{\"n\": %d, \"lang\": \"%s\"%s}", i,
		         i % 2 ? "en" : "de", i % 100 == 0 ? ", \"tags\": [\"x\", \"y\"]" : "");
		snprintf(src[i], sizeof src[i], "%s/%d.md", i < 3 ? "docs/a" : "other", i);
		d[i] = (ragdb_document){ .id = ids[i], .text = "quarterly report on the budget",
		                         .text_len = (size_t)-1, .metadata_json = meta[i],
		                         .source = src[i] };
	}
	ck_assert_msg(ragdb_ingest_text(db, d, NF, NULL, NULL) == RAGDB_OK, "%s", ragdb_errmsg(db));
	free(d);
	free(ids);
	free(meta);
	free(src);
	return db;
}

static int id_num(const char *id) { return atoi(id + 3); }

/* Each filter, in each mode and in a batch, returns exactly min(k, matches)
 * hits, every one of which satisfies the filter. */
START_TEST(filters_exact_counts)
{
	char *dir;
	ragdb *db = filter_kb(&dir);
	static const struct { const char *f; size_t matches; } cases[] = {
		{ "n=7", 1 },            /* 0.05% of the chunks */
		{ "n<5", 5 }, { "n<=2", 3 }, { "n>1997", 2 }, { "n>=1995", 5 },
		{ "n!=0", NF - 1 }, { "lang=en", NF / 2 }, { "lang = 'de'", NF / 2 },
		{ "source:docs/**", 3 }, { "id:doc1?", 10 }, { "tags=x", 20 },
		{ "nosuch=1", 0 }, { "nosuch!=1", NF },
	};
	ragdb_search_mode modes[] = { RAGDB_MODE_VECTOR, RAGDB_MODE_BM25, RAGDB_MODE_HYBRID };
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		for (size_t m = 0; m < 3; m++) {
			const char *f[] = { cases[c].f };
			ragdb_search_options so = { .k = 10, .mode = modes[m], .filters = f, .n_filters = 1 };
			ragdb_results *r = NULL;
			ck_assert_msg(ragdb_search(db, "budget report", &so, &r) == RAGDB_OK, "%s",
			              ragdb_errmsg(db));
			size_t want = cases[c].matches < 10 ? cases[c].matches : 10;
			ck_assert_msg(r->n == want, "filter %s mode %d: %zu hits, want %zu", cases[c].f,
			              (int)modes[m], r->n, want);
			for (size_t i = 0; i < r->n; i++) {
				int n = id_num(r->hits[i].id);
				const char *f0 = cases[c].f;
				int ok = strcmp(f0, "n=7") ? 1 : n == 7;
				if (!strcmp(f0, "n<5")) ok = n < 5;
				if (!strcmp(f0, "n!=0")) ok = n != 0;
				if (!strcmp(f0, "lang=en")) ok = n % 2 == 1;
				if (!strcmp(f0, "source:docs/**")) ok = n < 3;
				if (!strcmp(f0, "tags=x")) ok = n % 100 == 0;
				if (!strcmp(f0, "n>1997")) ok = n > 1997;
				ck_assert_msg(ok, "filter %s returned %s", f0, r->hits[i].id);
			}
			ragdb_results_free(r);
		}
	}
	/* Batch: the same counts. */
	const char *qs[] = { "budget", "quarterly report" };
	const char *f[] = { "n<=2" };
	ragdb_search_options so = { .k = 10, .filters = f, .n_filters = 1 };
	ragdb_results *rs = NULL;
	ck_assert_int_eq(ragdb_search_batch(db, qs, NULL, 2, &so, &rs), RAGDB_OK);
	ck_assert_uint_eq(rs[0].n, 3);
	ck_assert_uint_eq(rs[1].n, 3);
	ragdb_results_free_array(rs, 2);
	/* Two filters: both must hold. */
	const char *f2[] = { "lang=en", "n<10" };
	so.n_filters = 2;
	so.filters = f2;
	ragdb_results *r = NULL;
	ck_assert_int_eq(ragdb_search(db, "budget", &so, &r), RAGDB_OK);
	ck_assert_uint_eq(r->n, 5);
	ragdb_results_free(r);
	done(db, dir);
}
END_TEST

/* A malformed filter is refused with EINVAL and a message quoting it. */
START_TEST(filters_bad)
{
	char *dir;
	ragdb *db = fresh(&dir, NULL);
	put(db, "a", "text");
	const char *bad[] = { "n=>5", "=5", "foo:bar", "n=", "n", "source:", "n<>3" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *f[] = { bad[i] };
		ragdb_search_options so = { .filters = f, .n_filters = 1 };
		ragdb_results *r = NULL;
		ck_assert_msg(ragdb_search(db, "text", &so, &r) == RAGDB_EINVAL, "%s accepted", bad[i]);
		ck_assert_msg(strstr(ragdb_errmsg(db), bad[i]) != NULL, "%s: %s", bad[i],
		              ragdb_errmsg(db));
	}
	done(db, dir);
}
END_TEST

/* MMR: without it the two identical documents take the top two places;
 * with lambda 0.3 the second place goes to a different document. */
START_TEST(mmr_diversifies)
{
	char *dir;
	ragdb *db = fresh(&dir, NULL);
	put(db, "dup1", "zebra stripes on the savanna grazing herds");
	put(db, "dup2", "zebra stripes on the savanna grazing herds");
	put(db, "other", "zebra crossing for pedestrians on the road");
	put(db, "far", "bread baking with sourdough");
	ragdb_results *r = NULL;
	ragdb_search_options so = { .k = 2, .mode = RAGDB_MODE_VECTOR };
	ck_assert_int_eq(ragdb_search(db, "zebra stripes savanna", &so, &r), RAGDB_OK);
	ck_assert_ptr_nonnull(hit_of(r, "dup1"));
	ck_assert_ptr_nonnull(hit_of(r, "dup2"));
	ragdb_results_free(r);
	so.mmr_lambda = 0.3f;
	ck_assert_int_eq(ragdb_search(db, "zebra stripes savanna", &so, &r), RAGDB_OK);
	ck_assert_uint_eq(r->n, 2);
	ck_assert_msg(hit_of(r, "dup1") != NULL || hit_of(r, "dup2") != NULL, "no dup first");
	ck_assert_msg(!(hit_of(r, "dup1") && hit_of(r, "dup2")), "both duplicates kept");
	ragdb_results_free(r);
	so.mmr_lambda = 1.5f;
	ck_assert_int_eq(ragdb_search(db, "zebra", &so, &r), RAGDB_EINVAL);
	done(db, dir);
}
END_TEST

/* Ingest --meta key=value sets metadata that filters see; a pair without '='
 * is refused; an unknown language is refused at create, a known one works. */
START_TEST(meta_and_language)
{
	char *dir;
	ragdb *db = fresh(&dir, NULL);
	const char *meta[] = { "team=infra", "year=2021" };
	ragdb_ingest_options io = { .meta = meta, .n_meta = 2 };
	ragdb_document d[2] = {
		{ .id = "a", .text = "pager rotation", .text_len = (size_t)-1,
		  .metadata_json = "{\"team\": \"web\", \"x\": 1}" },
		{ .id = "b", .text = "pager duty", .text_len = (size_t)-1 },
	};
	ck_assert_msg(ragdb_ingest_text(db, d, 2, &io, NULL) == RAGDB_OK, "%s", ragdb_errmsg(db));
	put(db, "c", "pager escalation");
	const char *f[] = { "team=infra", "year>=2020" };
	ragdb_search_options so = { .k = 10, .filters = f, .n_filters = 2 };
	ragdb_results *r = NULL;
	ck_assert_int_eq(ragdb_search(db, "pager", &so, &r), RAGDB_OK);
	ck_assert_uint_eq(r->n, 2);
	ck_assert_ptr_null(hit_of(r, "c"));
	ragdb_results_free(r);
	const char *bad[] = { "noequals" };
	ragdb_ingest_options bo = { .meta = bad, .n_meta = 1 };
	ck_assert_int_eq(ragdb_ingest_text(db, d, 1, &bo, NULL), RAGDB_EINVAL);
	ck_assert_ptr_nonnull(strstr(ragdb_errmsg(db), "noequals"));
	done(db, dir);

	char *dir2 = tu_tmpdir("search");
	char path[4096];
	snprintf(path, sizeof path, "%s/kb", dir2);
	ragdb *k = NULL;
	ragdb_create_options o = { .language = "klingon" };
	ck_assert_int_eq(ragdb_create(path, &o, &k), RAGDB_EINVAL);
	ck_assert_ptr_nonnull(strstr(ragdb_errmsg(k), "klingon"));
	ragdb_close(k);
	tu_rmrf(dir2);
	free(dir2);

	db = fresh(&dir, "german");
	put(db, "g", "Die Häuser stehen am Fluss");
	ragdb_search_options bs = { .mode = RAGDB_MODE_BM25 };
	ck_assert_int_eq(ragdb_search(db, "Haus", &bs, &r), RAGDB_OK);
	ck_assert_uint_eq(r->n, 1); /* german stemmer: Häuser, Haus -> haus */
	ragdb_results_free(r);
	done(db, dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("engine_search");
	TCase *tc = tcase_create("search");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, bm25_scores_and_exact_stats);
	tcase_add_test(tc, postings_many_segments);
	tcase_add_test(tc, hybrid_uses_both);
	tcase_add_test(tc, filters_exact_counts);
	tcase_add_test(tc, filters_bad);
	tcase_add_test(tc, mmr_diversifies);
	tcase_add_test(tc, meta_and_language);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
