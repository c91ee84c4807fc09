/*
 * tests/unit/test_engine_tune.c — ragdb_tune through the public API: the
 * model string and the vectors change, check passes, searches still find
 * the right documents, a reopened handle embeds with the stored weights,
 * documents ingested after the tune get the vectors the tune would give
 * them, --reset restores the plain embedder exactly, and a handle opened
 * before another process tuned the knowledge base is refused writes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ragdb.h"
#include "testutil.h"

/* Common words ("the", "system", "file") in every document; each document
 * also has words of its own, which the tune weighs up. */
static const char *const TEXTS[] = {
	"The system file stores the backup schedule; nightly snapshots go to the vault.",
	"The system file lists the cafeteria menu: soup on Monday, pasta on Friday.",
	"The system file describes key rotation: generate, publish, wait, retire the old key.",
	"The system file explains the compiler flags for optimisation and warnings.",
	"The system file covers the glacier expedition: crampons, ropes and tents.",
	"The system file records the volcano survey with lava temperature readings.",
};
#define NT (sizeof TEXTS / sizeof TEXTS[0])

static ragdb *fresh(char **dir, char *path, size_t cap)
{
	*dir = tu_tmpdir("tune");
	snprintf(path, cap, "%s/kb", *dir);
	ragdb *db = NULL;
	ck_assert_int_eq(ragdb_create(path, NULL, &db), RAGDB_OK);
	ragdb_document d[NT];
	char ids[NT][8];
	memset(d, 0, sizeof d);
	for (size_t i = 0; i < NT; i++) {
		snprintf(ids[i], sizeof ids[i], "d%zu", i);
		d[i].id = ids[i];
		d[i].text = TEXTS[i];
		d[i].text_len = (size_t)-1;
	}
	ck_assert_msg(ragdb_ingest_text(db, d, NT, NULL, NULL) == RAGDB_OK, "%s", ragdb_errmsg(db));
	return db;
}

static void count_problem(void *ctx, const char *p)
{
	(void)p;
	++*(int *)ctx;
}

static uint64_t problems(ragdb *db)
{
	uint64_t n = 99;
	int seen = 0;
	ck_assert_int_eq(ragdb_check(db, count_problem, &seen, &n), RAGDB_OK);
	ck_assert_int_eq((int)n, seen);
	return n;
}

/* Top hit id and score of @p q. */
static float top(ragdb *db, const char *q, char *id, size_t cap)
{
	ragdb_results *r = NULL;
	ragdb_search_options o = {.k = 3, .mode = RAGDB_MODE_VECTOR};
	ck_assert_msg(ragdb_search(db, q, &o, &r) == RAGDB_OK, "%s", ragdb_errmsg(db));
	ck_assert_uint_ge(r->n, 1);
	snprintf(id, cap, "%s", r->hits[0].id);
	float s = r->hits[0].score;
	ragdb_results_free(r);
	return s;
}

static void embed(ragdb *db, const char *text, float *out)
{
	const char *t[1] = { text };
	ck_assert_msg(ragdb_embed(db, t, 1, 1, out) == RAGDB_OK, "%s", ragdb_errmsg(db));
}

/* The tune changes the model and the vectors, check passes, and searches
 * still rank the document with the query's rare words first. */
START_TEST(tune_changes_model_and_vectors)
{
	char *dir, path[4096], id[64];
	ragdb *db = fresh(&dir, path, sizeof path);
	ragdb_stats st;
	ck_assert_int_eq(ragdb_get_stats(db, &st), RAGDB_OK);
	uint32_t dim = st.dim;
	float *v0 = malloc(sizeof(float) * dim), *v1 = malloc(sizeof(float) * dim);
	embed(db, "the glacier file", v0);
	float s0 = top(db, "the system file about the glacier", id, sizeof id);
	ck_assert_str_eq(id, "d4");

	ragdb_tune_summary sum;
	ck_assert_msg(ragdb_tune(db, NULL, &sum) == RAGDB_OK, "%s", ragdb_errmsg(db));
	ck_assert_str_eq(sum.model_before, "hash-v1");
	ck_assert_msg(strncmp(sum.model, "hash-v1+tuned-", 14) == 0 && strlen(sum.model) == 30,
	              "model %s", sum.model);
	ck_assert_uint_eq(sum.chunks, NT);
	ck_assert_uint_eq(sum.vectors, NT);
	ck_assert_uint_gt(sum.features, 20);
	ck_assert_int_eq(ragdb_get_stats(db, &st), RAGDB_OK);
	ck_assert_str_eq(st.embedder_model, sum.model);
	ck_assert_uint_eq(problems(db), 0);

	embed(db, "the glacier file", v1);
	double diff = 0;
	for (uint32_t i = 0; i < dim; i++)
		diff += fabs((double)v1[i] - v0[i]);
	ck_assert_msg(diff > 1e-3, "the tuned embedder gave the same vector");
	/* The stored vectors were rewritten too: the same search scores
	 * differently, and still finds the glacier document. */
	float s1 = top(db, "the system file about the glacier", id, sizeof id);
	ck_assert_str_eq(id, "d4");
	ck_assert_msg(fabsf(s1 - s0) > 1e-4, "tuned score %f equals untuned %f", s1, s0);
	free(v0);
	free(v1);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* A handle opened after the tune loads the stored weights: the same model
 * and bit-identical query vectors. */
START_TEST(reopen_loads_weights)
{
	char *dir, path[4096];
	ragdb *db = fresh(&dir, path, sizeof path);
	ragdb_tune_summary sum;
	ck_assert_int_eq(ragdb_tune(db, NULL, &sum), RAGDB_OK);
	ragdb_stats st;
	ck_assert_int_eq(ragdb_get_stats(db, &st), RAGDB_OK);
	float *a = malloc(sizeof(float) * st.dim), *b = malloc(sizeof(float) * st.dim);
	embed(db, "volcano lava of the system", a);
	ragdb_close(db);
	ck_assert_int_eq(ragdb_open(path, RAGDB_RDONLY, &db), RAGDB_OK);
	ck_assert_int_eq(ragdb_get_stats(db, &st), RAGDB_OK);
	ck_assert_str_eq(st.embedder_model, sum.model);
	embed(db, "volcano lava of the system", b);
	ck_assert_int_eq(memcmp(a, b, sizeof(float) * st.dim), 0);
	ck_assert_uint_eq(problems(db), 0);
	free(a);
	free(b);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* A document ingested after the tune is embedded with the tuned embedder,
 * giving the vector the tune's re-embedding gave it: delete it, ingest it
 * again, and the same query scores it the same. */
START_TEST(ingest_after_tune_uses_tuned)
{
	char *dir, path[4096], id[64];
	ragdb *db = fresh(&dir, path, sizeof path);
	ck_assert_int_eq(ragdb_tune(db, NULL, NULL), RAGDB_OK);
	float s1 = top(db, "compiler flags for warnings", id, sizeof id);
	ck_assert_str_eq(id, "d3");
	ck_assert_int_eq(ragdb_delete(db, "d3"), RAGDB_OK);
	ragdb_document d = {.id = "d3", .text = TEXTS[3], .text_len = (size_t)-1};
	ck_assert_int_eq(ragdb_ingest_text(db, &d, 1, NULL, NULL), RAGDB_OK);
	float s2 = top(db, "compiler flags for warnings", id, sizeof id);
	ck_assert_str_eq(id, "d3");
	ck_assert_msg(fabsf(s1 - s2) < 1e-5, "re-ingested score %f, tuned %f", s2, s1);
	ck_assert_uint_eq(problems(db), 0);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* reset returns to hash-v1 with exactly the scores of before the tune. */
START_TEST(reset_restores_plain)
{
	char *dir, path[4096], id[64];
	ragdb *db = fresh(&dir, path, sizeof path);
	float s0 = top(db, "key rotation of the system", id, sizeof id);
	ck_assert_int_eq(ragdb_tune(db, NULL, NULL), RAGDB_OK);
	ragdb_tune_options o = {.reset = 1};
	ragdb_tune_summary sum;
	ck_assert_int_eq(ragdb_tune(db, &o, &sum), RAGDB_OK);
	ck_assert_str_eq(sum.model, "hash-v1");
	ck_assert_uint_eq(sum.vectors, NT);
	float s1 = top(db, "key rotation of the system", id, sizeof id);
	ck_assert_str_eq(id, "d2");
	ck_assert_msg(fabsf(s0 - s1) < 1e-6, "after reset %f, before tune %f", s1, s0);
	ck_assert_uint_eq(problems(db), 0);
	ragdb_close(db);
	ck_assert_int_eq(ragdb_open(path, 0, &db), RAGDB_OK);
	ragdb_stats st;
	ck_assert_int_eq(ragdb_get_stats(db, &st), RAGDB_OK);
	ck_assert_str_eq(st.embedder_model, "hash-v1");
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* A handle opened before another process tuned the knowledge base must
 * not add vectors of the old embedder: its ingest is refused with
 * RAGDB_EEMBEDDER and a message saying to open it again. Read-only and
 * empty knowledge bases are refused or trivially fine. */
START_TEST(stale_handle_refused)
{
	char *dir, path[4096];
	ragdb *db = fresh(&dir, path, sizeof path);
	ragdb_close(db);
	ck_assert_int_eq(ragdb_open(path, 0, &db), RAGDB_OK);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		ragdb *other = NULL;
		int ok = ragdb_open(path, 0, &other) == RAGDB_OK && ragdb_tune(other, NULL, NULL) == RAGDB_OK;
		ragdb_close(other);
		_exit(ok ? 0 : 1);
	}
	int ws = 0;
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "the tune in the child failed");
	ragdb_document d = {.id = "late", .text = "a late document", .text_len = (size_t)-1};
	ck_assert_int_eq(ragdb_ingest_text(db, &d, 1, NULL, NULL), RAGDB_EEMBEDDER);
	ck_assert_msg(strstr(ragdb_errmsg(db), "open the knowledge base again"), "%s",
	              ragdb_errmsg(db));
	ragdb_close(db);
	ck_assert_int_eq(ragdb_open(path, 0, &db), RAGDB_OK);
	ck_assert_int_eq(ragdb_ingest_text(db, &d, 1, NULL, NULL), RAGDB_OK);
	ck_assert_uint_eq(problems(db), 0);
	ragdb_close(db);

	ck_assert_int_eq(ragdb_open(path, RAGDB_RDONLY, &db), RAGDB_OK);
	ck_assert_int_eq(ragdb_tune(db, NULL, NULL), RAGDB_EREADONLY);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("engine_tune");
	TCase *tc = tcase_create("tune");
	tcase_add_test(tc, tune_changes_model_and_vectors);
	tcase_add_test(tc, reopen_loads_weights);
	tcase_add_test(tc, ingest_after_tune_uses_tuned);
	tcase_add_test(tc, reset_restores_plain);
	tcase_add_test(tc, stale_handle_refused);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
