/*
 * tests/unit/test_engine_bm25.c — the pruned BM25 search (MaxScore over
 * postings cursors, engine/bm25.c) against the reference that merges every
 * posting (rdb_bm25_topk_ref), and the postings cursor (index/postings.c)
 * and the whole lists read through it against the chunks' forward records.
 *
 * The corpus: 3,000 one-chunk documents over a Zipf-distributed vocabulary
 * of 400 terms (so common terms span dozens of 128-posting segments and rare
 * ones a few postings), with exact duplicates (ties), titles, and a seventh
 * of the documents deleted and some replaced afterwards, so segments have
 * holes and keys below their first posting. Full-text language "none": the
 * terms are the words as written.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"
#include "engine/retrieve.h"
#include "index/postings.h"
#include "ragdb.h"
#include "testutil.h"

#define NDOCS 3000
#define NTERMS 400

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t next_u64(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double unit(void) { return (double)(next_u64() >> 11) / 9007199254740992.0; }

static double g_cdf[NTERMS];

/* A term drawn with P(rank r) ~ 1 / (r + 1)^1.1. */
static int zipf_term(void)
{
	double u = unit() * g_cdf[NTERMS - 1];
	int lo = 0, hi = NTERMS - 1;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (g_cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void doc_text(char *buf, size_t cap)
{
	size_t off = 0;
	int words = 3 + (int)(next_u64() % 50);
	for (int w = 0; w < words && off + 16 < cap; w++)
		off += (size_t)snprintf(buf + off, cap - off, "t%d ", zipf_term());
}

static char *g_dir;
static ragdb *g_db;

static void setup(void)
{
	double s = 0;
	for (int r = 0; r < NTERMS; r++) {
		s += 1.0 / __builtin_pow(r + 1, 1.1);
		g_cdf[r] = s;
	}
	g_dir = tu_tmpdir("bm25");
	ragdb_create_options o = { .language = "none" };
	ck_assert_msg(ragdb_create(g_dir, &o, &g_db) == RAGDB_OK, "%s", ragdb_errmsg(g_db));
	static char text[NDOCS][512], title[NDOCS][64], id[NDOCS][16];
	ragdb_document d[NDOCS];
	for (int i = 0; i < NDOCS; i++) {
		snprintf(id[i], sizeof id[i], "d%d", i);
		if (i % 10 == 9) /* an exact duplicate of the document before */
			memcpy(text[i], text[i - 1], sizeof text[i]);
		else
			doc_text(text[i], sizeof text[i]);
		snprintf(title[i], sizeof title[i], "t%d t%d", zipf_term(), zipf_term());
		d[i] = (ragdb_document){ .id = id[i], .text = text[i], .text_len = (size_t)-1,
		                         .title = i % 3 ? title[i] : NULL };
	}
	for (int lo = 0; lo < NDOCS; lo += 500)
		ck_assert_msg(ragdb_ingest_text(g_db, d + lo, 500, NULL, NULL) == RAGDB_OK, "%s",
		              ragdb_errmsg(g_db));
	for (int i = 0; i < NDOCS; i += 7)
		ck_assert_int_eq(ragdb_delete(g_db, id[i]), RAGDB_OK);
	for (int i = 5; i < NDOCS; i += 50) { /* replaced: new chunk ids at the end */
		doc_text(text[i], sizeof text[i]);
		ck_assert_int_eq(ragdb_ingest_text(g_db, &d[i], 1, NULL, NULL), RAGDB_OK);
	}
}

static void teardown(void)
{
	ragdb_close(g_db);
	tu_rmrf(g_dir);
	free(g_dir);
}

static rdb_txn *read_txn(void)
{
	rdb_txn *t = NULL;
	rdb_err e = { 0 };
	ck_assert_int_eq(rdb_txn_begin(g_db->store, 0, &t, &e), RAGDB_OK);
	return t;
}

static uint32_t term_id(rdb_txn *t, int r)
{
	char w[16];
	snprintf(w, sizeof w, "t%d", r);
	uint32_t id = 0;
	rdb_err e = { 0 };
	ragdb_status st = rdb_term_id(t, w, &id, &e);
	return st == RAGDB_OK ? id : UINT32_MAX;
}

/* Term @p id's postings as the chunks' forward records (the other side of
 * the index) give them: what a cursor must find. */
static rdb_posting *expected_postings(rdb_txn *t, uint32_t id, size_t *n)
{
	rdb_posting *v = malloc(4 * NDOCS * sizeof *v);
	*n = 0;
	rdb_err e = { 0 };
	for (uint64_t c = 1; c < 4 * NDOCS; c++) {
		rdb_chunk_term *ct = NULL;
		size_t nt = 0;
		uint32_t lb, lt;
		ragdb_status st = rdb_chunk_terms_get(t, c, &ct, &nt, &lb, &lt, &e);
		if (st == RAGDB_ENOTFOUND)
			continue;
		ck_assert_int_eq(st, RAGDB_OK);
		for (size_t j = 0; j < nt; j++)
			if (ct[j].term == id)
				v[(*n)++] = (rdb_posting){ c, ct[j].tf_body, ct[j].tf_title, lb, lt };
		free(ct);
	}
	return v;
}

/* Walking a cursor gives every posting; a seek lands on the first posting
 * at or after its target, wherever that is (same segment, a later one, past
 * the end), and never moves back. */
START_TEST(cursor_walks_and_seeks)
{
	rdb_txn *t = read_txn();
	rdb_err e = { 0 };
	int ranks[] = { 0, 1, 3, 10, 40, 150, 399 };
	for (size_t r = 0; r < sizeof ranks / sizeof *ranks; r++) {
		uint32_t id = term_id(t, ranks[r]);
		if (id == UINT32_MAX)
			continue;
		size_t n = 0;
		uint64_t df2 = 0;
		rdb_posting *all = expected_postings(t, id, &n), *got = NULL;
		size_t ng = 0;
		uint64_t df = 0;
		ck_assert_int_eq(rdb_postings_get_id(t, id, &df, &got, &ng, &e), RAGDB_OK);
		ck_assert_uint_eq(df, n);
		ck_assert_uint_eq(ng, n);
		ck_assert_int_eq(memcmp(got, all, n * sizeof *got), 0);
		free(got);
		if (ranks[r] == 0)
			ck_assert_uint_gt(n, 1000); /* spans many segments */

		rdb_pcur pc;
		ck_assert_int_eq(rdb_pcur_open(t, id, &pc, &df2, &e), RAGDB_OK);
		ck_assert_uint_eq(df2, n);
		for (size_t i = 0; i < n; i++) {
			const rdb_posting *x = rdb_pcur_at(&pc);
			ck_assert_ptr_nonnull(x);
			ck_assert_int_eq(memcmp(x, &all[i], sizeof *x), 0);
			ck_assert_int_eq(rdb_pcur_next(&pc, &e), RAGDB_OK);
		}
		ck_assert_ptr_null(rdb_pcur_at(&pc));
		ck_assert_int_eq(rdb_pcur_next(&pc, &e), RAGDB_OK); /* stays at the end */
		ck_assert_ptr_null(rdb_pcur_at(&pc));
		rdb_pcur_close(&pc);

		for (int round = 0; round < 20; round++) {
			ck_assert_int_eq(rdb_pcur_open(t, id, &pc, &df2, &e), RAGDB_OK);
			uint64_t target = 0, max = all[n - 1].chunk + 3;
			size_t want = 0;
			while (target <= max) {
				/* Jumps from 1 chunk to past several segments, some landing
				 * exactly on a posting. */
				uint64_t step = 1 + next_u64() % (round % 2 ? 4000 : 40);
				target += step;
				if (next_u64() % 4 == 0 && want < n)
					target = all[want].chunk > target ? all[want].chunk : target;
				while (want < n && all[want].chunk < target)
					want++;
				ck_assert_int_eq(rdb_pcur_seek(&pc, target, &e), RAGDB_OK);
				const rdb_posting *x = rdb_pcur_at(&pc);
				if (want == n) {
					ck_assert_ptr_null(x);
					break;
				}
				ck_assert_ptr_nonnull(x);
				ck_assert_uint_eq(x->chunk, all[want].chunk);
				ck_assert_int_eq(rdb_pcur_seek(&pc, target / 2, &e), RAGDB_OK);
				ck_assert_uint_eq(rdb_pcur_at(&pc)->chunk, all[want].chunk);
			}
			rdb_pcur_close(&pc);
		}
		free(all);
	}
	uint64_t df = 7;
	rdb_pcur pc;
	ck_assert_int_eq(rdb_pcur_open(t, 0x7ffffff0u, &pc, &df, &e), RAGDB_OK); /* no such term */
	ck_assert_uint_eq(df, 0);
	ck_assert_ptr_null(rdb_pcur_at(&pc));
	ck_assert_int_eq(rdb_pcur_seek(&pc, 5, &e), RAGDB_OK);
	rdb_pcur_close(&pc);
	rdb_txn_abort(t);
}
END_TEST

static int keep_two_of_three(void *ctx, uint64_t id)
{
	(void)ctx;
	return id % 3 != 0;
}

/* The pruned search returns what the full merge returns: the same chunks in
 * the same order with the same scores, bit for bit, for queries of 1-12
 * terms mixing common and rare ones with unequal weights (as expanded
 * queries have), k from 1 to past the number of matches, with and without a
 * filter. */
START_TEST(pruned_equals_reference)
{
	rdb_txn *t = read_txn();
	rdb_err e = { 0 };
	rdb_bm25_params p = { RDB_BM25_K1, RDB_BM25_B, RDB_BM25_W_TITLE, RDB_BM25_B_TITLE };
	size_t ks[] = { 1, 3, 10, 100, 5000 };
	rdb_scored *a = malloc(5000 * sizeof *a), *b = malloc(5000 * sizeof *b);
	size_t compared = 0, full = 0;
	for (int qi = 0; qi < 240; qi++) {
		uint32_t ids[12];
		float w[12];
		size_t nt = 0, want = 1 + next_u64() % 12;
		while (nt < want) {
			int r = qi % 3 ? zipf_term() : (int)(next_u64() % NTERMS);
			uint32_t id = term_id(t, r);
			int dup = id == UINT32_MAX;
			for (size_t j = 0; j < nt && !dup; j++)
				dup = ids[j] == id;
			if (dup)
				continue;
			ids[nt] = id;
			w[nt++] = qi % 2 ? (float)(0.02 + 2 * unit()) : 1.0f;
		}
		rdb_bm25_query q = { ids, w, nt, nt };
		for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
			for (int f = 0; f < 2; f++) {
				size_t na = 0, nb = 0;
				rdb_keep_fn keep = f ? keep_two_of_three : NULL;
				ck_assert_int_eq(rdb_bm25_topk(t, &q, &p, ks[ki], keep, NULL, a, &na, &e),
				                 RAGDB_OK);
				ck_assert_int_eq(rdb_bm25_topk_ref(t, &q, &p, ks[ki], keep, NULL, b, &nb, &e),
				                 RAGDB_OK);
				ck_assert_uint_eq(na, nb);
				for (size_t i = 0; i < na; i++) {
					ck_assert_msg(a[i].id == b[i].id && a[i].score == b[i].score,
					              "query %d k %zu rank %zu: chunk %llu %.9g, reference "
					              "%llu %.9g",
					              qi, ks[ki], i, (unsigned long long)a[i].id,
					              (double)a[i].score, (unsigned long long)b[i].id,
					              (double)b[i].score);
					if (f)
						ck_assert_uint_ne(a[i].id % 3, 0);
				}
				compared += na;
				full += na == ks[ki];
			}
		}
	}
	ck_assert_uint_gt(compared, 100000);
	ck_assert_uint_gt(full, 1000);
	free(a);
	free(b);
	rdb_txn_abort(t);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("bm25_prune");
	TCase *tc = tcase_create("bm25_prune");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, cursor_walks_and_seeks);
	tcase_add_test(tc, pruned_equals_reference);
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return tu_run(suite()); }
