/*
 * tests/unit/test_engine_reembed.c — ragdb_reembed through the public API
 * with the built-in embedder (no network): the dimension changes on a
 * quantized knowledge base, check passes, searches find the right
 * documents, a reopened handle embeds at the new dimension, later ingests
 * work, progress is reported, and an unknown or the external embedder is
 * refused with nothing changed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ragdb.h"
#include "testutil.h"

static const char *const TEXTS[] = {
	"Nightly snapshots of the backup schedule go to the vault.",
	"The cafeteria menu: soup on Monday, pasta on Friday.",
	"Key rotation: generate, publish, wait, retire the old key.",
	"Compiler flags for optimisation and warnings.",
	"The glacier expedition needs crampons, ropes and tents.",
};
#define NT (sizeof TEXTS / sizeof TEXTS[0])

static void ingest(ragdb *db, size_t from, size_t n)
{
	ragdb_document d[NT];
	char ids[NT][8];
	memset(d, 0, sizeof d);
	for (size_t i = 0; i < n; i++) {
		snprintf(ids[i], sizeof ids[i], "d%zu", from + i);
		d[i].id = ids[i];
		d[i].text = TEXTS[from + i];
		d[i].text_len = (size_t)-1;
	}
	ck_assert_msg(ragdb_ingest_text(db, d, n, NULL, NULL) == RAGDB_OK, "%s", ragdb_errmsg(db));
}

static uint64_t problems(ragdb *db)
{
	uint64_t n = 99;
	ck_assert_int_eq(ragdb_check(db, NULL, NULL, &n), RAGDB_OK);
	return n;
}

static void top_is(ragdb *db, const char *q, const char *want)
{
	ragdb_results *r = NULL;
	ragdb_search_options o = {.k = 2, .mode = RAGDB_MODE_VECTOR};
	ck_assert_msg(ragdb_search(db, q, &o, &r) == RAGDB_OK, "%s", ragdb_errmsg(db));
	ck_assert_uint_ge(r->n, 1);
	ck_assert_str_eq(r->hits[0].id, want);
	ragdb_results_free(r);
}

static uint32_t dim_of(ragdb *db)
{
	ragdb_stats s;
	ck_assert_int_eq(ragdb_get_stats(db, &s), RAGDB_OK);
	return s.dim;
}

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
	uint64_t *last = ctx;
	ck_assert_uint_le(done, total);
	*last = done;
}

/* 768 -> 256 dimensions on an int8 knowledge base: everything agrees after,
 * in this handle and a reopened one; documents added later are found. */
START_TEST(test_reembed_dim_change)
{
	char *dir = tu_tmpdir("reembed"), path[4096];
	snprintf(path, sizeof path, "%s/kb", dir);
	ragdb *db = NULL;
	ck_assert_int_eq(ragdb_create(path, NULL, &db), RAGDB_OK);
	ingest(db, 0, NT - 1);
	ck_assert_int_eq(ragdb_quantize(db, "int8"), RAGDB_OK);
	ck_assert_uint_eq(dim_of(db), 768);
	top_is(db, "nightly snapshots vault", "d0");
	uint64_t last = 0;
	ragdb_reembed_options o = {.dim = 256, .progress = on_progress, .ctx = &last};
	ragdb_reembed_summary sum;
	ck_assert_msg(ragdb_reembed(db, "local", &o, &sum) == RAGDB_OK, "%s", ragdb_errmsg(db));
	ck_assert_uint_eq(sum.vectors, NT - 1);
	ck_assert_uint_eq(last, NT - 1);
	ck_assert_uint_eq(sum.dim_before, 768);
	ck_assert_uint_eq(sum.dim, 256);
	ck_assert_str_eq(sum.embedder, "local");
	ck_assert_int_eq(sum.index_dropped, 0);
	ck_assert_uint_eq(dim_of(db), 256);
	ck_assert_uint_eq(problems(db), 0);
	top_is(db, "nightly snapshots vault", "d0");
	top_is(db, "soup pasta cafeteria menu", "d1");
	ingest(db, NT - 1, 1);
	top_is(db, "glacier expedition crampons", "d4");
	ck_assert_uint_eq(problems(db), 0);
	ragdb_close(db);

	ck_assert_int_eq(ragdb_open(path, 0, &db), RAGDB_OK);
	ck_assert_uint_eq(dim_of(db), 256);
	ck_assert_uint_eq(problems(db), 0);
	top_is(db, "rotate the old key", "d2");
	ck_assert_str_eq(ragdb_quantization(db), "int8");
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* Unknown embedders and the external one are refused; nothing changes. */
START_TEST(test_reembed_refused)
{
	char *dir = tu_tmpdir("reembed_bad"), path[4096];
	snprintf(path, sizeof path, "%s/kb", dir);
	ragdb *db = NULL;
	ck_assert_int_eq(ragdb_create(path, NULL, &db), RAGDB_OK);
	ingest(db, 0, 3);
	ck_assert_int_eq(ragdb_reembed(db, "external", NULL, NULL), RAGDB_EINVAL);
	ck_assert_int_eq(ragdb_reembed(db, "nosuchembedder", NULL, NULL), RAGDB_EINVAL);
	ck_assert_int_eq(ragdb_reembed(db, "", NULL, NULL), RAGDB_EINVAL);
	ck_assert_uint_eq(dim_of(db), 768);
	ck_assert_uint_eq(problems(db), 0);
	ragdb_close(db);
	/* A read-only handle cannot re-embed. */
	ck_assert_int_eq(ragdb_open(path, RAGDB_RDONLY, &db), RAGDB_OK);
	ck_assert_int_eq(ragdb_reembed(db, "local", NULL, NULL), RAGDB_EREADONLY);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* A handle opened before another process re-embedded at another dimension
 * (same model) is refused writes: it would add vectors of the old size. */
START_TEST(test_reembed_other_process)
{
	char *dir = tu_tmpdir("reembed_proc"), path[4096];
	snprintf(path, sizeof path, "%s/kb", dir);
	ragdb *db = NULL;
	ck_assert_int_eq(ragdb_create(path, NULL, &db), RAGDB_OK);
	ingest(db, 0, 3);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		ragdb *other = NULL;
		ragdb_reembed_options o = {.dim = 128};
		int ok = ragdb_open(path, 0, &other) == RAGDB_OK &&
		         ragdb_reembed(other, "local", &o, NULL) == RAGDB_OK;
		ragdb_close(other);
		_exit(ok ? 0 : 1);
	}
	int ws = 0;
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "the reembed in the child failed");
	ragdb_document d = {.id = "late", .text = "a late document", .text_len = (size_t)-1};
	ck_assert_int_eq(ragdb_ingest_text(db, &d, 1, NULL, NULL), RAGDB_EEMBEDDER);
	ck_assert_msg(strstr(ragdb_errmsg(db), "open the knowledge base again"), "%s",
	              ragdb_errmsg(db));
	ragdb_close(db);
	ck_assert_int_eq(ragdb_open(path, 0, &db), RAGDB_OK);
	ck_assert_uint_eq(dim_of(db), 128);
	ck_assert_int_eq(ragdb_ingest_text(db, &d, 1, NULL, NULL), RAGDB_OK);
	ck_assert_uint_eq(problems(db), 0);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

static Suite *reembed_suite(void)
{
	Suite *s = suite_create("engine_reembed");
	TCase *tc = tcase_create("reembed");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_reembed_dim_change);
	tcase_add_test(tc, test_reembed_refused);
	tcase_add_test(tc, test_reembed_other_process);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(reembed_suite());
}
