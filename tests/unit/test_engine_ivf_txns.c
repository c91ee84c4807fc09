/*
 * tests/unit/test_engine_ivf_txns.c — an IVF build written over several
 * write transactions (index/ivf.h: the lists go into the half of the list
 * keys the current index does not use, the last txn switches the header):
 * the index equals the one a single txn builds, rebuilds alternate the
 * halves and leave the other one empty, appends, deletes, quantize and compact work on
 * either, and a build that stops midway (interrupted, another process
 * writing between its txns, a crash) leaves the old index as it was and
 * the knowledge base passing its check.
 */
#include <check.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/internal.h"
#include "engine/ivf_api.h"
#include "ragdb.h"
#include "testutil.h"
#include "testvec.h"

#define DIM 32
#define NV 20000
#define NC 200
#define NQ 50
#define K 10
#define NLIST 64
/* About 1/14 of the lists' 2.7 MB: a build takes some 14 txns. */
#define SMALL_TXN (200u << 10)

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float g_base[NV * DIM], g_q[NQ * DIM], g_cent[NC * DIM];
static int g_made;
static char *g_dir;

static void make_data(void)
{
	if (g_made++)
		return;
	tv_centres(&rng, g_cent, NC, DIM);
	tv_mixture(&rng, g_cent, NC, DIM, 0.6f, g_base, NV);
	tv_mixture(&rng, g_cent, NC, DIM, 0.6f, g_q, NQ);
}

static ragdb *fresh(void)
{
	make_data();
	g_dir = tu_tmpdir("ivf_txns");
	ragdb_create_options o = { .embedder = "external", .dim = DIM };
	ragdb *db = NULL;
	ck_assert_int_eq(ragdb_create(g_dir, &o, &db), RAGDB_OK);
	for (int lo = 0; lo < NV; lo += 5000)
		tv_add_rows(db, g_base, DIM, lo, lo + 5000, "d", 0);
	return db;
}

static void done(ragdb *db)
{
	rdb_txn_test_hooks(0, NULL);
	ragdb_close(db);
	tu_rmrf(g_dir);
	free(g_dir);
}

/* Commits of the build running, and what to do after commit `at`. */
static unsigned g_commits, g_at;
static int g_action; /* 0 count only, 1 interrupt, 2 another process deletes, 3 crash */

static void after_commit(ragdb *db, unsigned commits)
{
	g_commits = commits;
	if (commits != g_at)
		return;
	if (g_action == 1) {
		ragdb_interrupt(db);
	} else if (g_action == 2) {
		/* A writer of another process between two of the build's txns. */
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			ragdb *other = NULL;
			int ok = ragdb_open(g_dir, 0, &other) == RAGDB_OK &&
			         ragdb_delete(other, "d7") == RAGDB_OK;
			ragdb_close(other);
			_exit(ok ? 0 : 1);
		}
		int ws = 0;
		ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
		ck_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	} else if (g_action == 3) {
		_exit(42); /* no cleanup, as a crash */
	}
}

static ragdb_status build_in(ragdb *db, size_t txn_bytes, ragdb_index_stats *s)
{
	g_commits = 0;
	rdb_txn_test_hooks(txn_bytes, after_commit);
	ragdb_index_options o = { .nlist = NLIST };
	ragdb_status st = ragdb_index_build(db, &o, s);
	rdb_txn_test_hooks(0, NULL);
	return st;
}

/* Segments in each half of the list keys, read with LMDB from the closed
 * knowledge base: n[0] under 2^31 (list u32 BE first), n[1] above. */
static void list_entries(size_t n[2])
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *cur;
	ck_assert_int_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 32);
	ck_assert_int_eq(mdb_env_open(env, g_dir, MDB_RDONLY, 0664), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	n[0] = n[1] = 0;
	if (mdb_dbi_open(txn, "ivflists", 0, &dbi) == 0) {
		ck_assert_int_eq(mdb_cursor_open(txn, dbi, &cur), 0);
		MDB_val k, v;
		for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			ck_assert_uint_eq(k.mv_size, 8);
			n[((const unsigned char *)k.mv_data)[0] >> 7]++;
		}
		mdb_cursor_close(cur);
	}
	mdb_txn_abort(txn);
	mdb_env_close(env);
}

/* Close, count the segments of each half, open again. */
static ragdb *reopen_counting(ragdb *db, size_t n[2])
{
	ragdb_close(db);
	list_entries(n);
	ck_assert_int_eq(ragdb_open(g_dir, 0, &db), RAGDB_OK);
	return db;
}

static void assert_same_stats(const ragdb_index_stats *a, const ragdb_index_stats *b)
{
	ck_assert_uint_eq(a->nlist, b->nlist);
	ck_assert_uint_eq(a->nprobe, b->nprobe);
	ck_assert_uint_eq(a->vectors, b->vectors);
	ck_assert_uint_eq(a->list_min, b->list_min);
	ck_assert_uint_eq(a->list_max, b->list_max);
	ck_assert_uint_eq(a->bytes, b->bytes);
	ck_assert(a->recall == b->recall);
}

/* Built in ~14 txns, the index is the one built in one: same lists, same
 * default nprobe and recall, same hits and scores. Rebuilds alternate the
 * halves of the list keys and empty the other; appends, deletes and
 * compact work on the upper half; quantize re-encodes the lists into the
 * other half over several txns too; drop empties both. */
START_TEST(test_txns_build_the_same_index)
{
	ragdb *db = fresh();
	ragdb_index_stats one, many, again;
	ck_assert_msg(build_in(db, 0, &one) == RAGDB_OK, "%s", ragdb_errmsg(db));
	ck_assert_uint_eq(g_commits, 1);
	char *a1 = tv_answers(db, g_q, NQ, DIM, K);
	size_t n[2];
	db = reopen_counting(db, n);
	ck_assert_uint_gt(n[0], 0);
	ck_assert_uint_eq(n[1], 0);

	ck_assert_msg(build_in(db, SMALL_TXN, &many) == RAGDB_OK, "%s", ragdb_errmsg(db));
	ck_assert_uint_ge(g_commits, 10);
	assert_same_stats(&one, &many);
	char *a2 = tv_answers(db, g_q, NQ, DIM, K);
	ck_assert_str_eq(a1, a2);
	tv_check_ok(db);
	db = reopen_counting(db, n);
	ck_assert_uint_eq(n[0], 0); /* the first index's lists are gone */
	ck_assert_uint_gt(n[1], 0);

	/* The index in the upper half keeps up with the vectors. */
	tv_add_rows(db, g_q, DIM, 0, 1, "new", 0);
	ck_assert_int_eq(ragdb_delete(db, "d3"), RAGDB_OK);
	ragdb_search_options so = { .k = 1 };
	ragdb_results *r = NULL;
	ck_assert_int_eq(ragdb_search_vectors(db, g_q, 1, DIM, &so, &r), RAGDB_OK);
	ck_assert_str_eq(r->hits[0].id, "new0");
	ragdb_results_free(r);
	ck_assert_int_eq(ragdb_search_vectors(db, g_base + 3 * DIM, 1, DIM, &so, &r), RAGDB_OK);
	ck_assert_str_ne(r->hits[0].id, "d3");
	ragdb_results_free(r);
	tv_check_ok(db);
	/* compact rewrites the lists without the tombstone, in place. */
	ck_assert_int_eq(ragdb_compact(db, NULL), RAGDB_OK);
	tv_check_ok(db);
	ck_assert_int_eq(ragdb_index_stats_get(db, &again), RAGDB_OK);
	ck_assert_uint_eq(again.dead, 0);
	ck_assert_uint_eq(again.vectors, NV);
	db = reopen_counting(db, n);
	ck_assert_uint_eq(n[0], 0);
	ck_assert_uint_gt(n[1], 0);

	/* quantize re-encodes the lists into the other half over several txns
	 * too, dropping tombstones; back to f32, the lists hold the same
	 * entries, so f32 searches answer as before. */
	ck_assert_int_eq(ragdb_delete(db, "d5"), RAGDB_OK);
	char *a3 = tv_answers(db, g_q, NQ, DIM, K);
	g_commits = 0;
	rdb_txn_test_hooks(SMALL_TXN, after_commit);
	ck_assert_msg(ragdb_quantize(db, "int8") == RAGDB_OK, "%s", ragdb_errmsg(db));
	ck_assert_uint_ge(g_commits, 2);
	tv_check_ok(db);
	ck_assert_int_eq(ragdb_index_stats_get(db, &again), RAGDB_OK);
	ck_assert_uint_eq(again.vectors, NV - 1);
	ck_assert_uint_eq(again.dead, 0);
	db = reopen_counting(db, n);
	ck_assert_uint_gt(n[0], 0);
	ck_assert_uint_eq(n[1], 0);
	rdb_txn_test_hooks(SMALL_TXN, after_commit);
	ck_assert_int_eq(ragdb_quantize(db, "f32"), RAGDB_OK);
	rdb_txn_test_hooks(0, NULL);
	tv_check_ok(db);
	char *a4 = tv_answers(db, g_q, NQ, DIM, K);
	ck_assert_str_eq(a3, a4);
	free(a3);
	free(a4);
	ck_assert_int_eq(ragdb_quantize(db, "int8"), RAGDB_OK); /* in one txn */
	tv_check_ok(db);
	/* int8 to bf16 goes through f32, so the new blocks are staged over
	 * several txns too; the answers are those of f32 -> bf16. */
	g_commits = 0;
	rdb_txn_test_hooks(SMALL_TXN, after_commit);
	ck_assert_msg(ragdb_quantize(db, "bf16") == RAGDB_OK, "%s", ragdb_errmsg(db));
	rdb_txn_test_hooks(0, NULL);
	ck_assert_uint_ge(g_commits, 2);
	ck_assert_str_eq(ragdb_quantization(db), "bf16");
	tv_check_ok(db);
	a3 = tv_answers(db, g_q, NQ, DIM, K);
	ck_assert_int_eq(ragdb_quantize(db, "f32"), RAGDB_OK);
	ck_assert_int_eq(ragdb_quantize(db, "bf16"), RAGDB_OK);
	a4 = tv_answers(db, g_q, NQ, DIM, K);
	ck_assert_str_eq(a3, a4);
	free(a3);
	free(a4);

	/* Rebuilt on the quantized knowledge base. */
	db = reopen_counting(db, n);
	ck_assert_uint_gt(n[0], 0);
	ck_assert_msg(build_in(db, SMALL_TXN, &again) == RAGDB_OK, "%s", ragdb_errmsg(db));
	tv_check_ok(db);
	db = reopen_counting(db, n);
	ck_assert_uint_eq(n[0], 0);
	ck_assert_uint_gt(n[1], 0);
	ck_assert_int_eq(ragdb_index_drop(db), RAGDB_OK);
	db = reopen_counting(db, n);
	ck_assert_uint_eq(n[0] + n[1], 0);
	free(a1);
	free(a2);
	done(db);
}
END_TEST

/* Interrupted after its third txn, a rebuild empties what it wrote; the old
 * index answers as before; the next build runs. An interrupted quantize
 * leaves the quantization and the lists as they were. */
START_TEST(test_interrupted_build_keeps_the_old_index)
{
	ragdb *db = fresh();
	ragdb_index_stats old, now;
	ck_assert_int_eq(build_in(db, 0, &old), RAGDB_OK);
	char *a1 = tv_answers(db, g_q, NQ, DIM, K);
	g_action = 1;
	g_at = 3;
	ck_assert_int_eq(build_in(db, SMALL_TXN, NULL), RAGDB_EINTR);
	g_action = 0;
	ck_assert_ptr_nonnull(strstr(ragdb_errmsg(db), "as it was before this build"));
	ck_assert_uint_eq(g_commits, 3);
	ck_assert_int_eq(ragdb_index_stats_get(db, &now), RAGDB_OK);
	assert_same_stats(&old, &now);
	char *a2 = tv_answers(db, g_q, NQ, DIM, K);
	ck_assert_str_eq(a1, a2);
	tv_check_ok(db);
	size_t n[2];
	db = reopen_counting(db, n);
	ck_assert_uint_gt(n[0], 0);
	ck_assert_uint_eq(n[1], 0);
	ck_assert_int_eq(build_in(db, SMALL_TXN, &now), RAGDB_OK);
	assert_same_stats(&old, &now);
	tv_check_ok(db);
	/* The same for a quantize: still f32, the same lists. */
	g_action = 1;
	g_at = 2;
	rdb_txn_test_hooks(SMALL_TXN, after_commit);
	ck_assert_int_eq(ragdb_quantize(db, "int8"), RAGDB_EINTR);
	rdb_txn_test_hooks(0, NULL);
	g_action = 0;
	ck_assert_ptr_nonnull(strstr(ragdb_errmsg(db), "the quantization and the index are as they"));
	ck_assert_str_eq(ragdb_quantization(db), "f32");
	tv_check_ok(db);
	free(a2);
	a2 = tv_answers(db, g_q, NQ, DIM, K);
	ck_assert_str_eq(a1, a2);
	db = reopen_counting(db, n);
	ck_assert_uint_eq(n[0], 0);
	ck_assert_uint_gt(n[1], 0);
	free(a1);
	free(a2);
	done(db);
}
END_TEST

/* Another process deletes a document between two of the build's txns: the
 * build stops with EBUSY and says to run it again; the old index has the
 * delete; what the build wrote is left for the next build to empty (the
 * other writer might have built an index of its own there), which it does. */
START_TEST(test_other_writer_stops_the_build)
{
	ragdb *db = fresh();
	ragdb_index_stats old, now;
	ck_assert_int_eq(build_in(db, 0, &old), RAGDB_OK);
	g_action = 2;
	g_at = 2;
	ck_assert_int_eq(build_in(db, SMALL_TXN, NULL), RAGDB_EBUSY);
	g_action = 0;
	ck_assert_ptr_nonnull(strstr(ragdb_errmsg(db), "another process changed"));
	ck_assert_ptr_nonnull(strstr(ragdb_errmsg(db), "run `ragdb index build` again"));
	ck_assert_uint_eq(g_commits, 2);
	ck_assert_int_eq(ragdb_index_stats_get(db, &now), RAGDB_OK);
	ck_assert_uint_eq(now.vectors, NV - 1);
	ck_assert_uint_eq(now.nprobe, old.nprobe);
	tv_check_ok(db);
	size_t n[2];
	db = reopen_counting(db, n);
	ck_assert_uint_gt(n[1], 0);
	ck_assert_int_eq(build_in(db, SMALL_TXN, &now), RAGDB_OK);
	ck_assert_uint_eq(now.vectors, NV - 1);
	tv_check_ok(db);
	db = reopen_counting(db, n);
	ck_assert_uint_gt(n[1], 0);
	ck_assert_uint_eq(n[0], 0);
	done(db);
}
END_TEST

/* A process that dies after the build's second txn: the knowledge base
 * opens with its old index and passes its check; compact removes the dead
 * build's lists; the next build finishes. */
START_TEST(test_crash_midway)
{
	ragdb *db = fresh();
	ragdb_index_stats old, now;
	ck_assert_int_eq(build_in(db, 0, &old), RAGDB_OK);
	char *a1 = tv_answers(db, g_q, NQ, DIM, K);
	ragdb_close(db);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		ragdb *child = NULL;
		if (ragdb_open(g_dir, 0, &child) != RAGDB_OK)
			_exit(1);
		g_action = 3;
		g_at = 2;
		build_in(child, SMALL_TXN, NULL);
		_exit(2); /* the hook should have ended the process first */
	}
	int ws = 0;
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert(WIFEXITED(ws));
	ck_assert_int_eq(WEXITSTATUS(ws), 42);
	size_t n[2];
	list_entries(n);
	ck_assert_uint_gt(n[1], 0); /* the dead build's first lists */
	ck_assert_int_eq(ragdb_open(g_dir, 0, &db), RAGDB_OK);
	ck_assert_int_eq(ragdb_index_stats_get(db, &now), RAGDB_OK);
	assert_same_stats(&old, &now);
	ck_assert_uint_eq(old.unfinished_bytes, 0);
	ck_assert_uint_gt(now.unfinished_bytes, 0); /* stats say what was left */
	char *a2 = tv_answers(db, g_q, NQ, DIM, K);
	ck_assert_str_eq(a1, a2);
	tv_check_ok(db);
	/* compact removes the dead build's lists; nothing else changes. */
	uint64_t freed = 0;
	ck_assert_int_eq(ragdb_compact(db, &freed), RAGDB_OK);
	ck_assert_uint_eq(freed, now.unfinished_bytes);
	tv_check_ok(db);
	ck_assert_int_eq(ragdb_index_stats_get(db, &now), RAGDB_OK);
	ck_assert_uint_eq(now.unfinished_bytes, 0);
	db = reopen_counting(db, n);
	ck_assert_uint_gt(n[0], 0);
	ck_assert_uint_eq(n[1], 0);
	free(a2);
	a2 = tv_answers(db, g_q, NQ, DIM, K);
	ck_assert_str_eq(a1, a2);
	ck_assert_int_eq(build_in(db, SMALL_TXN, &now), RAGDB_OK);
	assert_same_stats(&old, &now);
	tv_check_ok(db);
	db = reopen_counting(db, n);
	ck_assert_uint_eq(n[0], 0);
	free(a1);
	free(a2);
	done(db);
}
END_TEST

/* The stages a build completes, in order, as "stage:total" lines. */
typedef struct seen {
	char log[4096];
	size_t len;
	int bad; /* done past total, or going back within a stage */
	char stage[16];
	uint64_t last;
} seen;

static void on_progress(void *ctx, const char *stage, uint64_t done, uint64_t total)
{
	seen *s = ctx;
	if (done > total || (!strcmp(stage, s->stage) && done < s->last))
		s->bad = 1;
	if (done == total)
		s->len += (size_t)snprintf(s->log + s->len, sizeof s->log - s->len, "%s:%llu\n", stage,
		                           (unsigned long long)total);
	snprintf(s->stage, sizeof s->stage, "%s", stage);
	s->last = done;
}

/* Progress: k-means, assign, tune and write each reach done == total, done
 * never past total nor going back; a quantized index tunes again after
 * writing its lists. */
START_TEST(test_progress)
{
	ragdb *db = fresh();
	seen sn;
	memset(&sn, 0, sizeof sn);
	ragdb_index_options o = { .nlist = NLIST, .iters = 4, .on_progress = on_progress,
	                          .ctx = &sn };
	rdb_txn_test_hooks(SMALL_TXN, NULL);
	ck_assert_int_eq(ragdb_index_build(db, &o, NULL), RAGDB_OK);
	ck_assert_int_eq(sn.bad, 0);
	ck_assert_str_eq(sn.log, "k-means:4\nassign:20000\ntune:1\nwrite:64\n");
	ck_assert_int_eq(ragdb_quantize(db, "int8"), RAGDB_OK);
	memset(&sn, 0, sizeof sn);
	ck_assert_int_eq(ragdb_index_build(db, &o, NULL), RAGDB_OK);
	ck_assert_int_eq(sn.bad, 0);
	ck_assert_str_eq(sn.log, "k-means:4\nassign:20000\ntune:1\nwrite:64\ntune:1\n");
	done(db);
}
END_TEST

/* Without an index, int8 to bf16 goes through f32 too: the bf16 blocks are
 * staged over several txns (they were written in one before session 13),
 * and the answers are those of f32 -> bf16. */
START_TEST(test_requant_without_index)
{
	ragdb *db = fresh();
	ck_assert_int_eq(ragdb_quantize(db, "int8"), RAGDB_OK);
	g_action = 0;
	g_commits = 0;
	rdb_txn_test_hooks(SMALL_TXN, after_commit);
	ck_assert_msg(ragdb_quantize(db, "bf16") == RAGDB_OK, "%s", ragdb_errmsg(db));
	rdb_txn_test_hooks(0, NULL);
	ck_assert_uint_ge(g_commits, 3);
	ck_assert_str_eq(ragdb_quantization(db), "bf16");
	tv_check_ok(db);
	char *a1 = tv_answers(db, g_q, NQ, DIM, K);
	ck_assert_int_eq(ragdb_quantize(db, "f32"), RAGDB_OK);
	ck_assert_int_eq(ragdb_quantize(db, "bf16"), RAGDB_OK);
	char *a2 = tv_answers(db, g_q, NQ, DIM, K);
	ck_assert_str_eq(a1, a2);
	free(a1);
	free(a2);
	done(db);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("engine_ivf_txns");
	TCase *tc = tcase_create("txns");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_txns_build_the_same_index);
	tcase_add_test(tc, test_interrupted_build_keeps_the_old_index);
	tcase_add_test(tc, test_other_writer_stops_the_build);
	tcase_add_test(tc, test_crash_midway);
	tcase_add_test(tc, test_progress);
	tcase_add_test(tc, test_requant_without_index);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
