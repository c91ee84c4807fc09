/* tests/unit/test_rag_context.c — rdb_context_build: merging neighbouring
 * and overlapping chunks, numbering by best score, the token budget. */
#include <stdlib.h>
#include <string.h>

#include "engine/providers/text.h"
#include "engine/rag/rag.h"
#include "testutil.h"

/* A fake document and hits cut from it, so texts match their ranges. */
static const char *DOC_A =
	"Alpha one. Alpha two is here. Alpha three follows. Alpha four ends the first part. "
	"Alpha five starts again. Alpha six is last.";
static const char *DOC_B = "Bravo text about something else entirely. Bravo second sentence.";

static rdb_hit_in hit(uint64_t doc, const char *text, size_t start, size_t end, float score,
                      const void *user)
{
	return (rdb_hit_in){.doc = doc, .ordinal = 0, .start = start, .end = end,
	                    .text = text + start, .text_len = end - start, .score = score,
	                    .user = user};
}

/* Overlapping chunks (i+1 starts before i ends) of one document merge into
 * one passage whose text is the document's bytes over the union, without
 * the overlap repeated; adjacent (touching) chunks merge too; the best
 * score and its user pointer are kept. Input order does not matter. */
START_TEST(test_merge_overlap_and_adjacent)
{
	int u1, u2, u3;
	rdb_hit_in h[3] = {
		hit(7, DOC_A, 30, 70, 0.5f, &u2),  /* overlaps the first */
		hit(7, DOC_A, 0, 40, 0.9f, &u1),
		hit(7, DOC_A, 70, 100, 0.2f, &u3), /* touches the second */
	};
	rdb_passage *p = NULL;
	size_t n = 0;
	rdb_err err;
	ck_assert_int_eq(rdb_context_build(h, 3, 0, &p, &n, &err), RAGDB_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(p[0].n, 1);
	ck_assert_uint_eq(p[0].doc, 7);
	ck_assert_uint_eq(p[0].start, 0);
	ck_assert_uint_eq(p[0].end, 100);
	ck_assert_uint_eq(p[0].text_len, 100);
	ck_assert_int_eq(memcmp(p[0].text, DOC_A, 100), 0);
	ck_assert_int_eq(p[0].text[100], 0);
	ck_assert_float_eq(p[0].score, 0.9f);
	ck_assert_ptr_eq(p[0].user, &u1);
	rdb_passages_free(p, n);
}
END_TEST

/* Chunks of one document with a gap stay separate passages; a chunk
 * contained in another adds nothing; the same chunk twice is kept once. */
START_TEST(test_gap_contained_duplicate)
{
	rdb_hit_in h[4] = {
		hit(1, DOC_A, 0, 30, 0.8f, NULL),
		hit(1, DOC_A, 60, 100, 0.7f, NULL),  /* gap 30..60 */
		hit(1, DOC_A, 65, 80, 0.95f, NULL),  /* inside the second */
		hit(1, DOC_A, 0, 30, 0.1f, NULL),    /* duplicate of the first */
	};
	rdb_passage *p = NULL;
	size_t n = 0;
	rdb_err err;
	ck_assert_int_eq(rdb_context_build(h, 4, 0, &p, &n, &err), RAGDB_OK);
	ck_assert_uint_eq(n, 2);
	/* The 60..100 passage holds the best chunk (0.95): it is source 1. */
	ck_assert_uint_eq(p[0].start, 60);
	ck_assert_uint_eq(p[0].end, 100);
	ck_assert_int_eq(memcmp(p[0].text, DOC_A + 60, 40), 0);
	ck_assert_float_eq(p[0].score, 0.95f);
	ck_assert_uint_eq(p[1].start, 0);
	ck_assert_uint_eq(p[1].text_len, 30);
	ck_assert_uint_eq(p[1].n, 2);
	rdb_passages_free(p, n);
}
END_TEST

/* Sources are numbered 1..n by best score across documents; equal
 * ranges of different documents never merge; ties keep input order. */
START_TEST(test_numbering_order)
{
	rdb_hit_in h[4] = {
		hit(2, DOC_B, 0, 41, 0.6f, NULL),
		hit(1, DOC_A, 0, 41, 0.9f, NULL),
		hit(3, DOC_B, 42, 64, 0.6f, NULL),
		hit(4, DOC_A, 42, 60, 0.3f, NULL),
	};
	rdb_passage *p = NULL;
	size_t n = 0;
	rdb_err err;
	ck_assert_int_eq(rdb_context_build(h, 4, 0, &p, &n, &err), RAGDB_OK);
	ck_assert_uint_eq(n, 4);
	static const uint64_t want[] = {1, 2, 3, 4};
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(p[i].n, i + 1);
		ck_assert_uint_eq(p[i].doc, want[i]);
	}
	rdb_passages_free(p, n);

	/* No hits: no passages, no error. */
	p = (rdb_passage *)1;
	ck_assert_int_eq(rdb_context_build(NULL, 0, 100, &p, &n, &err), RAGDB_OK);
	ck_assert_uint_eq(n, 0);
	rdb_passages_free(p, n);
}
END_TEST

/* The budget: passages are added while the total estimate fits, then the
 * list stops; the first passage is always kept, cut at a sentence end
 * when it alone is over the budget. */
START_TEST(test_budget)
{
	rdb_hit_in h[2] = {
		hit(1, DOC_A, 0, strlen(DOC_A), 0.9f, NULL),
		hit(2, DOC_B, 0, strlen(DOC_B), 0.5f, NULL),
	};
	size_t ta = rdb_token_estimate(DOC_A, strlen(DOC_A));
	size_t tb = rdb_token_estimate(DOC_B, strlen(DOC_B));
	rdb_passage *p = NULL;
	size_t n = 0;
	rdb_err err;

	ck_assert_int_eq(rdb_context_build(h, 2, (uint32_t)(ta + tb), &p, &n, &err), RAGDB_OK);
	ck_assert_uint_eq(n, 2);
	rdb_passages_free(p, n);

	ck_assert_int_eq(rdb_context_build(h, 2, (uint32_t)(ta + tb - 1), &p, &n, &err), RAGDB_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(p[0].text_len, strlen(DOC_A));
	rdb_passages_free(p, n);

	/* Room for about two sentences of the first document only. */
	uint32_t small = (uint32_t)rdb_token_estimate(DOC_A, 30);
	ck_assert_int_eq(rdb_context_build(h, 2, small, &p, &n, &err), RAGDB_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_gt(p[0].text_len, 0);
	ck_assert_uint_lt(p[0].text_len, strlen(DOC_A));
	ck_assert_uint_le(rdb_token_estimate(p[0].text, p[0].text_len), small);
	ck_assert_int_eq(p[0].text[p[0].text_len - 1], '.');  /* a sentence end */
	ck_assert_int_eq(memcmp(p[0].text, DOC_A, p[0].text_len), 0);
	ck_assert_uint_eq(strlen(p[0].text), p[0].text_len);
	ck_assert_uint_eq(p[0].end, p[0].start + p[0].text_len);
	rdb_passages_free(p, n);

	/* A budget below one sentence still returns something non-empty. */
	ck_assert_int_eq(rdb_context_build(h, 2, 2, &p, &n, &err), RAGDB_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_gt(p[0].text_len, 0);
	ck_assert_uint_le(rdb_token_estimate(p[0].text, p[0].text_len), 2);
	rdb_passages_free(p, n);
}
END_TEST

/* A hit whose text length disagrees with its byte range is kept as it is
 * and never merged with its neighbours (its offsets cannot be trusted). */
START_TEST(test_inconsistent_hit)
{
	rdb_hit_in h[2] = {
		hit(1, DOC_A, 0, 40, 0.9f, NULL),
		hit(1, DOC_A, 30, 70, 0.5f, NULL),
	};
	h[1].text_len = 5;
	rdb_passage *p = NULL;
	size_t n = 0;
	rdb_err err;
	ck_assert_int_eq(rdb_context_build(h, 2, 0, &p, &n, &err), RAGDB_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(p[0].text_len, 40);
	ck_assert_uint_eq(p[1].text_len, 5);
	ck_assert_int_eq(memcmp(p[1].text, DOC_A + 30, 5), 0);
	rdb_passages_free(p, n);
}
END_TEST

static Suite *context_suite(void)
{
	Suite *s = suite_create("rag_context");
	TCase *tc = tcase_create("context");
	tcase_add_test(tc, test_merge_overlap_and_adjacent);
	tcase_add_test(tc, test_gap_contained_duplicate);
	tcase_add_test(tc, test_numbering_order);
	tcase_add_test(tc, test_budget);
	tcase_add_test(tc, test_inconsistent_hit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(context_suite());
}
