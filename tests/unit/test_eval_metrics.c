/*
 * tests/unit/test_eval_metrics.c — the metrics of `ragdb eval`
 * (tools/cli/eval_metrics.c, compiled into this test) against values worked
 * out by hand: nDCG with graded gains and the ideal list, Recall and MRR at
 * their cutoffs, and the folding of chunk hits into documents.
 */
#include <math.h>

#include "tools/cli/eval_metrics.c"
#include "testutil.h"

#define EPS 1e-9

/* One relevant document at rank 2: nDCG = 1/log2(3), Recall 1, MRR 1/2. */
START_TEST(single_relevant)
{
	const char *ranked[] = { "a", "b", "c" };
	eval_rel rels[] = { { "b", 1 } };
	ck_assert_double_eq_tol(eval_ndcg(ranked, 3, rels, 1, 10), 1 / log2(3), EPS);
	ck_assert_double_eq_tol(eval_recall(ranked, 3, rels, 1, 10), 1.0, EPS);
	ck_assert_double_eq_tol(eval_mrr(ranked, 3, rels, 1, 10), 0.5, EPS);
}
END_TEST

/* Graded gains: ranked x, a(2), b(3) against judged a=2, b=3, c=1.
 * DCG = 2/log2(3) + 3/2; ideal = 3 + 2/log2(3) + 1/2 (gains sorted). */
START_TEST(graded_gains)
{
	const char *ranked[] = { "x", "a", "b" };
	eval_rel rels[] = { { "a", 2 }, { "b", 3 }, { "c", 1 } };
	double dcg = 2 / log2(3) + 3.0 / 2, idcg = 3 + 2 / log2(3) + 0.5;
	ck_assert_double_eq_tol(eval_ndcg(ranked, 3, rels, 3, 10), dcg / idcg, EPS);
	ck_assert_double_eq_tol(eval_ndcg(ranked, 3, rels, 3, 10), 0.5800, 1e-4);
	ck_assert_double_eq_tol(eval_recall(ranked, 3, rels, 3, 2), 1.0 / 3, EPS);
	ck_assert_double_eq_tol(eval_recall(ranked, 3, rels, 3, 10), 2.0 / 3, EPS);
	ck_assert_double_eq_tol(eval_mrr(ranked, 3, rels, 3, 10), 0.5, EPS);
}
END_TEST

/* The cutoff: a relevant document at rank 11 counts for Recall@100 only. */
START_TEST(cutoffs)
{
	const char *ranked[11] = { "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "hit" };
	eval_rel rels[] = { { "hit", 1 } };
	ck_assert_double_eq_tol(eval_ndcg(ranked, 11, rels, 1, 10), 0, EPS);
	ck_assert_double_eq_tol(eval_recall(ranked, 11, rels, 1, 10), 0, EPS);
	ck_assert_double_eq_tol(eval_recall(ranked, 11, rels, 1, 100), 1, EPS);
	ck_assert_double_eq_tol(eval_mrr(ranked, 11, rels, 1, 10), 0, EPS);
	/* Nothing judged, or nothing retrieved: 0, not a division by zero. */
	ck_assert_double_eq_tol(eval_ndcg(ranked, 11, rels, 0, 10), 0, EPS);
	ck_assert_double_eq_tol(eval_recall(ranked, 0, rels, 1, 10), 0, EPS);
}
END_TEST

/* More judged documents than the cutoff: the ideal list stops at k, so a
 * run holding ten of twelve equally relevant documents scores 1. */
START_TEST(ideal_list_is_cut)
{
	const char *ranked[10] = { "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9" };
	static const char *ids[12] = { "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9",
	                               "d10", "d11" };
	eval_rel rels[12];
	for (int i = 0; i < 12; i++)
		rels[i] = (eval_rel){ ids[i], 1 };
	ck_assert_double_eq_tol(eval_ndcg(ranked, 10, rels, 12, 10), 1, EPS);
	ck_assert_double_eq_tol(eval_recall(ranked, 10, rels, 12, 10), 10.0 / 12, EPS);
	/* Gains out of order in the qrels: the ideal list sorts them. */
	eval_rel g[] = { { "z", 1 }, { "d0", 3 }, { "y", 2 } };
	double idcg = 3 + 2 / log2(3) + 1.0 / 2;
	ck_assert_double_eq_tol(eval_ndcg(ranked, 10, g, 3, 10), 3 / idcg, EPS);
}
END_TEST

/* A document ranks where its best chunk ranks; later chunks are dropped. */
START_TEST(fold_keeps_first)
{
	const char *hits[] = { "d1", "d2", "d1", "d3", "d2" };
	const char *out[5];
	size_t n = eval_fold(hits, 5, out);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(out[0], "d1");
	ck_assert_str_eq(out[1], "d2");
	ck_assert_str_eq(out[2], "d3");
	ck_assert_uint_eq(eval_fold(hits, 0, out), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("eval_metrics");
	TCase *tc = tcase_create("metrics");
	tcase_add_test(tc, single_relevant);
	tcase_add_test(tc, graded_gains);
	tcase_add_test(tc, cutoffs);
	tcase_add_test(tc, ideal_list_is_cut);
	tcase_add_test(tc, fold_keeps_first);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
