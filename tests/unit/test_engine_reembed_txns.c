/*
 * tests/unit/test_engine_reembed_txns.c — `ragdb reembed` and `ragdb tune`
 * written over many write transactions (index/vstage.h: the new blocks are
 * staged in the vector database that is not live, the last txn switches):
 * the result equals the one a single sequence gives, the live database
 * alternates between "vectors" and "vectors.1" (schema 3 while the second
 * is live), another process writing between two txns gets its documents
 * embedded by the new embedder, and a re-embed that stops midway
 * (interrupted, a crash) leaves the knowledge base as it was, with what a
 * crash left reported and freed by compact; a handle opened before the
 * switch reads the new database from then on.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/internal.h"
#include "ragdb.h"
#include "testutil.h"

/* 1,500 one-chunk documents: 6 blocks of 256 vectors at dimension 768. */
#define ND 1500
/* One block per txn: a re-embed takes 6 of them. */
#define ONE_BLOCK 1

static const char *const WORDS[] = {
	"backup", "vault", "snapshot", "kernel", "compiler", "glacier", "rope", "tent", "soup",
	"pasta", "menu", "key", "rotation", "publish", "retire", "flag", "warning", "schedule",
	"network", "router", "packet", "latency", "disk", "sector", "cache", "memory", "thread",
	"lock", "queue", "signal", "river", "forest", "mountain", "harbor", "engine", "valve",
};
#define NW (sizeof WORDS / sizeof WORDS[0])

static const char *const QUERIES[] = {
	"backup vault schedule", "compiler warning flag", "glacier rope tent", "soup pasta menu",
	"key rotation retire", "network packet latency", "disk sector cache", "thread lock queue",
	"river forest harbor", "engine valve signal", "a late arrival about lighthouses",
};
#define NQ (sizeof QUERIES / sizeof QUERIES[0])

static char *g_dir;

static void ingest_all(ragdb *db)
{
	static char texts[ND][200];
	static char ids[ND][16];
	static ragdb_document d[ND];
	uint64_t rng = 0x243f6a8885a308d3ull;
	for (int i = 0; i < ND; i++) {
		size_t len = 0;
		for (int w = 0; w < 12; w++) {
			rng = rng * 6364136223846793005ull + 1442695040888963407ull;
			len += (size_t)snprintf(texts[i] + len, sizeof texts[i] - len, "%s ",
			                        WORDS[(rng >> 33) % NW]);
		}
		snprintf(ids[i], sizeof ids[i], "d%d", i);
		d[i] = (ragdb_document){ .id = ids[i], .text = texts[i], .text_len = (size_t)-1 };
	}
	ck_assert_msg(ragdb_ingest_text(db, d, ND, NULL, NULL) == RAGDB_OK, "%s", ragdb_errmsg(db));
}

static ragdb *fresh(const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", g_dir, name);
	ragdb *db = NULL;
	ck_assert_int_eq(ragdb_create(path, NULL, &db), RAGDB_OK);
	ingest_all(db);
	return db;
}

static void setup(void)
{
	g_dir = tu_tmpdir("reembed_txns");
}

static void teardown(void)
{
	rdb_txn_test_hooks(0, NULL);
	tu_rmrf(g_dir);
	free(g_dir);
}

/* Every query's top 10 (vector search), as "id:score" lines (malloc'd). */
static char *answers(ragdb *db)
{
	size_t cap = NQ * 10 * 48, len = 0;
	char *out = malloc(cap);
	ck_assert_ptr_nonnull(out);
	out[0] = 0;
	ragdb_search_options o = { .k = 10, .mode = RAGDB_MODE_VECTOR };
	for (size_t q = 0; q < NQ; q++) {
		ragdb_results *r = NULL;
		ck_assert_msg(ragdb_search(db, QUERIES[q], &o, &r) == RAGDB_OK, "%s", ragdb_errmsg(db));
		for (size_t i = 0; i < r->n; i++)
			len += (size_t)snprintf(out + len, cap - len, "%s:%.7g\n", r->hits[i].id,
			                        (double)r->hits[i].score);
		ragdb_results_free(r);
	}
	return out;
}

static void check_ok(ragdb *db)
{
	uint64_t np = 99;
	ck_assert_int_eq(ragdb_check(db, NULL, NULL, &np), RAGDB_OK);
	ck_assert_uint_eq(np, 0);
}

static ragdb_stats stats(ragdb *db)
{
	ragdb_stats s;
	ck_assert_int_eq(ragdb_get_stats(db, &s), RAGDB_OK);
	return s;
}

/* Commits of the sequence running, and what to do after commit `at`. */
static unsigned g_commits, g_at;
static int g_action; /* 0 count only, 1 interrupt, 2 another process writes, 3 crash */
static const char *g_kb;

static void other_writes(void)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", g_dir, g_kb);
	ragdb *other = NULL;
	ragdb_document d = { .id = "late", .text = "lighthouses and a late arrival by the harbor",
	                     .text_len = (size_t)-1 };
	int ok = ragdb_open(path, 0, &other) == RAGDB_OK &&
	         ragdb_ingest_text(other, &d, 1, NULL, NULL) == RAGDB_OK &&
	         ragdb_delete(other, "d7") == RAGDB_OK;
	ragdb_close(other);
	_exit(ok ? 0 : 1);
}

static void after_commit(ragdb *db, unsigned commits)
{
	g_commits = commits;
	if (commits != g_at)
		return;
	if (g_action == 1) {
		ragdb_interrupt(db);
	} else if (g_action == 2) {
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0)
			other_writes();
		int ws = 0;
		ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
		ck_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	} else if (g_action == 3) {
		_exit(42); /* no cleanup, as a crash */
	}
}

static ragdb_status reembed_in(ragdb *db, size_t txn_bytes, uint32_t dim,
                               ragdb_reembed_summary *sum)
{
	g_commits = 0;
	rdb_txn_test_hooks(txn_bytes, after_commit);
	ragdb_reembed_options o = { .dim = dim };
	ragdb_status st = ragdb_reembed(db, "local", &o, sum);
	rdb_txn_test_hooks(0, NULL);
	return st;
}

/* One block per txn gives what one txn gives; the live database
 * alternates, and a reopened handle reads the one meta names. */
START_TEST(test_staged_equals_single)
{
	ragdb *a = fresh("a"), *b = fresh("b");
	ragdb_reembed_summary sa, sb;
	g_action = 0;
	ck_assert_uint_eq(stats(a).schema_version, 2);
	ck_assert_msg(reembed_in(a, ONE_BLOCK, 256, &sa) == RAGDB_OK, "%s", ragdb_errmsg(a));
	ck_assert_uint_ge(g_commits, 5); /* the last one switches */
	ck_assert_int_eq(reembed_in(b, 0, 256, &sb), RAGDB_OK);
	ck_assert_uint_eq(sa.vectors, ND);
	ck_assert_uint_eq(sb.vectors, ND);
	char *x = answers(a), *y = answers(b);
	ck_assert_str_eq(x, y);
	ragdb_stats s = stats(a);
	ck_assert_uint_eq(s.dim, 256);
	ck_assert_uint_eq(s.schema_version, 3); /* "vectors.1" is live */
	ck_assert_uint_eq(s.unfinished_reembed_bytes, 0);
	check_ok(a);
	/* Back into "vectors", and again through a reopened handle. */
	ck_assert_int_eq(reembed_in(a, ONE_BLOCK, 128, &sa), RAGDB_OK);
	ck_assert_int_eq(reembed_in(b, 0, 128, &sb), RAGDB_OK);
	free(x);
	free(y);
	x = answers(a);
	y = answers(b);
	ck_assert_str_eq(x, y);
	ck_assert_uint_eq(stats(a).schema_version, 2);
	check_ok(a);
	ck_assert_int_eq(reembed_in(a, ONE_BLOCK, 256, &sa), RAGDB_OK);
	ragdb_close(a);
	char path[4096];
	snprintf(path, sizeof path, "%s/a", g_dir);
	ck_assert_int_eq(ragdb_open(path, 0, &a), RAGDB_OK);
	ck_assert_uint_eq(stats(a).schema_version, 3);
	ck_assert_uint_eq(stats(a).dim, 256);
	check_ok(a);
	ragdb_document d = { .id = "new", .text = "glacier rope tent", .text_len = (size_t)-1 };
	ck_assert_int_eq(ragdb_ingest_text(a, &d, 1, NULL, NULL), RAGDB_OK);
	check_ok(a);
	free(x);
	free(y);
	ragdb_close(a);
	ragdb_close(b);
}
END_TEST

/* Another process adds and deletes between two txns: the result is what
 * re-embedding after its writes gives. */
START_TEST(test_other_process_writes)
{
	ragdb *a = fresh("a"), *b = fresh("b");
	g_kb = "a";
	g_action = 2;
	g_at = 2;
	ck_assert_msg(reembed_in(a, ONE_BLOCK, 256, NULL) == RAGDB_OK, "%s", ragdb_errmsg(a));
	ck_assert_uint_gt(g_commits, 2);
	ragdb_document d = { .id = "late", .text = "lighthouses and a late arrival by the harbor",
	                     .text_len = (size_t)-1 };
	ck_assert_int_eq(ragdb_ingest_text(b, &d, 1, NULL, NULL), RAGDB_OK);
	ck_assert_int_eq(ragdb_delete(b, "d7"), RAGDB_OK);
	g_action = 0;
	ck_assert_int_eq(reembed_in(b, 0, 256, NULL), RAGDB_OK);
	char *x = answers(a), *y = answers(b);
	ck_assert_str_eq(x, y);
	ck_assert_ptr_nonnull(strstr(x, "late:"));
	check_ok(a);
	free(x);
	free(y);
	ragdb_close(a);
	ragdb_close(b);
}
END_TEST

/* Interrupted after two txns: as it was, nothing left behind. A crash
 * after two: as it was, the staged blocks reported, compact frees them,
 * the next re-embed finishes. */
START_TEST(test_stopped_midway)
{
	ragdb *a = fresh("a");
	char *before = answers(a);
	g_action = 1;
	g_at = 2;
	ck_assert_int_eq(reembed_in(a, ONE_BLOCK, 256, NULL), RAGDB_EINTR);
	ck_assert_ptr_nonnull(strstr(ragdb_errmsg(a), "as it was"));
	ragdb_stats s = stats(a);
	ck_assert_uint_eq(s.dim, 768);
	ck_assert_uint_eq(s.unfinished_reembed_bytes, 0);
	char *now = answers(a);
	ck_assert_str_eq(before, now);
	free(now);
	check_ok(a);
	ragdb_close(a);

	char path[4096];
	snprintf(path, sizeof path, "%s/a", g_dir);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		ragdb *child = NULL;
		if (ragdb_open(path, 0, &child) != RAGDB_OK)
			_exit(1);
		g_action = 3;
		g_at = 2;
		reembed_in(child, ONE_BLOCK, 256, NULL);
		_exit(2); /* the hook should have ended the process first */
	}
	int ws = 0;
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert(WIFEXITED(ws));
	ck_assert_int_eq(WEXITSTATUS(ws), 42);
	ck_assert_int_eq(ragdb_open(path, 0, &a), RAGDB_OK);
	s = stats(a);
	ck_assert_uint_eq(s.dim, 768);
	ck_assert_uint_gt(s.unfinished_reembed_bytes, 0);
	now = answers(a);
	ck_assert_str_eq(before, now);
	free(now);
	check_ok(a);
	uint64_t freed = 0;
	ck_assert_int_eq(ragdb_compact(a, &freed), RAGDB_OK);
	ck_assert_uint_ge(freed, s.unfinished_reembed_bytes);
	ck_assert_uint_eq(stats(a).unfinished_reembed_bytes, 0);
	check_ok(a);
	g_action = 0;
	ck_assert_int_eq(reembed_in(a, ONE_BLOCK, 256, NULL), RAGDB_OK);
	ck_assert_uint_eq(stats(a).dim, 256);
	check_ok(a);
	free(before);
	ragdb_close(a);
}
END_TEST

/* A tune of an int8 knowledge base in one-block txns: the same vectors as
 * one sequence gives, and int8 again afterwards. */
START_TEST(test_tune_quantized)
{
	ragdb *a = fresh("a"), *b = fresh("b");
	ck_assert_int_eq(ragdb_quantize(a, "int8"), RAGDB_OK);
	ck_assert_int_eq(ragdb_quantize(b, "int8"), RAGDB_OK);
	g_action = 0;
	g_commits = 0;
	rdb_txn_test_hooks(ONE_BLOCK, after_commit);
	ragdb_tune_summary ta, tb;
	ck_assert_msg(ragdb_tune(a, NULL, &ta) == RAGDB_OK, "%s", ragdb_errmsg(a));
	ck_assert_uint_ge(g_commits, 5); /* the last one switches */
	rdb_txn_test_hooks(0, NULL);
	ck_assert_int_eq(ragdb_tune(b, NULL, &tb), RAGDB_OK);
	ck_assert_uint_eq(ta.vectors, ND);
	ck_assert_str_eq(ta.model, tb.model);
	ck_assert_str_eq(ragdb_quantization(a), "int8");
	char *x = answers(a), *y = answers(b);
	ck_assert_str_eq(x, y);
	check_ok(a);
	free(x);
	free(y);
	ragdb_close(a);
	ragdb_close(b);
}
END_TEST

static void *search_loop(void *arg)
{
	ragdb *db = arg;
	ragdb_search_options o = { .k = 5, .mode = RAGDB_MODE_VECTOR };
	for (int i = 0; i < 40; i++) {
		ragdb_results *r = NULL;
		if (ragdb_search(db, QUERIES[i % NQ], &o, &r) != RAGDB_OK || r->n == 0) {
			ragdb_results_free(r);
			return (void *)1;
		}
		ragdb_results_free(r);
	}
	return NULL;
}

/* A handle opened before another process tuned the knowledge base (which
 * switched to "vectors.1", a database this handle had never opened):
 * concurrent searches read the new blocks (each thread's txn may be the
 * one that opens it); its writes are refused until it reopens. After a
 * re-embed with another dimension its searches are refused too. */
START_TEST(test_open_handle_sees_the_switch)
{
	ragdb *a = fresh("a");
	char path[4096];
	snprintf(path, sizeof path, "%s/a", g_dir);
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
	ck_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, search_loop, a), 0);
	for (int i = 0; i < 4; i++) {
		void *rv = (void *)1;
		pthread_join(th[i], &rv);
		ck_assert_ptr_null(rv);
	}
	ck_assert_uint_eq(stats(a).schema_version, 3);
	ragdb_document d = { .id = "late", .text = "late", .text_len = (size_t)-1 };
	ck_assert_int_eq(ragdb_ingest_text(a, &d, 1, NULL, NULL), RAGDB_EEMBEDDER);
	ragdb_close(a);
	ck_assert_int_eq(ragdb_open(path, 0, &a), RAGDB_OK);
	ck_assert_int_eq(ragdb_ingest_text(a, &d, 1, NULL, NULL), RAGDB_OK);
	check_ok(a);
	/* Re-embedded with another embedder: this handle's queries would be
	 * of the wrong kind, so its searches are refused, saying why. */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		ragdb *other = NULL;
		ragdb_reembed_options o = { .dim = 128 };
		int ok = ragdb_open(path, 0, &other) == RAGDB_OK &&
		         ragdb_reembed(other, "local", &o, NULL) == RAGDB_OK;
		ragdb_close(other);
		_exit(ok ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	ragdb_results *r = NULL;
	ragdb_search_options o = { .k = 5 };
	ck_assert_int_eq(ragdb_search(a, "glacier", &o, &r), RAGDB_EEMBEDDER);
	ck_assert_msg(strstr(ragdb_errmsg(a), "open the knowledge base again"), "%s",
	              ragdb_errmsg(a));
	ragdb_stats st;
	ck_assert_int_eq(ragdb_get_stats(a, &st), RAGDB_EEMBEDDER);
	ragdb_close(a);
	ck_assert_int_eq(ragdb_open(path, 0, &a), RAGDB_OK);
	ck_assert_int_eq(ragdb_search(a, "glacier", &o, &r), RAGDB_OK);
	ck_assert_uint_gt(r->n, 0);
	ragdb_results_free(r);
	ragdb_close(a);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("engine_reembed_txns");
	TCase *tc = tcase_create("reembed_txns");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_staged_equals_single);
	tcase_add_test(tc, test_other_process_writes);
	tcase_add_test(tc, test_stopped_midway);
	tcase_add_test(tc, test_tune_quantized);
	tcase_add_test(tc, test_open_handle_sees_the_switch);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
