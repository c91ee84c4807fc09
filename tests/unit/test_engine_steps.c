/*
 * tests/unit/test_engine_steps.c — the commands that rewrite much of a
 * knowledge base over several write transactions of a bounded size.
 *
 * ragdb_compact (index/compact.c, engine/compact_api.c): the result equals
 * a compact in one transaction (the same blocks, answers and freed bytes,
 * on f32 and on int8 blocks), and a compact that stops between two steps
 * (interrupted, a crash) or that another process writes between leaves a
 * knowledge base that passes its check, answers as before, and that the
 * next compact finishes; an IVF index's lists lose their tombstones in
 * steps too.
 *
 * ragdb_quantize from f32 (index/qblocks.c Q3): the quantized blocks are
 * written over several txns under f32 and switched to in the last; the
 * result equals a quantize in one txn; stopped midway (interrupted, a
 * crash, another process writing), the knowledge base stays f32, answers
 * as before and passes its check, and the leftovers go.
 */
#include <check.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/internal.h"
#include "ragdb.h"
#include "testutil.h"
#include "testvec.h"

#define DIM 512
#define NV 6000
#define NC 40
#define NQ 30
#define K 10
#define CAP 512 /* vectors per block at DIM 512 (1 MiB blocks) */
/* About one block: a step writes about two. */
#define SMALL_TXN (1u << 20)

static uint64_t rng = 0x2545f4914f6cdd1dull;
static float g_base[NV * DIM], g_q[NQ * DIM], g_cent[NC * DIM];
static int g_made;
static char *g_dir;
static unsigned g_deleted;

static void make_data(void)
{
	if (g_made++)
		return;
	tv_centres(&rng, g_cent, NC, DIM);
	tv_mixture(&rng, g_cent, NC, DIM, 0.6f, g_base, NV);
	tv_mixture(&rng, g_cent, NC, DIM, 0.6f, g_q, NQ);
}

/* NV vectors d0.., quantized to @p quant (NULL: f32), with tombstones:
 * every 7th vector, and all of 1000-1599 (block 2 whole, parts of blocks
 * 1 and 3). */
static int doomed(int i)
{
	return i % 7 == 3 || (i >= 1000 && i < 1600);
}

static ragdb *fresh_indexed(const char *quant, uint32_t nlist)
{
	make_data();
	g_dir = tu_tmpdir("steps");
	ragdb_create_options o = { .embedder = "external", .dim = DIM };
	ragdb *db = NULL;
	ck_assert_int_eq(ragdb_create(g_dir, &o, &db), RAGDB_OK);
	ragdb_vector_record *r = calloc(NV, sizeof *r);
	char (*ids)[16] = calloc(NV, 16);
	ck_assert(r && ids);
	g_deleted = 0;
	for (int i = 0; i < NV; i++) {
		snprintf(ids[i], 16, "d%d", i);
		/* One ragdb_delete_source drops them all (a txn per delete is slow). */
		r[i] = (ragdb_vector_record){ .id = ids[i], .vector = g_base + (size_t)i * DIM,
		                              .source = doomed(i) ? "/doomed" : "/kept" };
		g_deleted += doomed(i);
	}
	ck_assert_int_eq(ragdb_add_vectors(db, r, NV, DIM), RAGDB_OK);
	free(ids);
	free(r);
	if (quant)
		ck_assert_int_eq(ragdb_quantize(db, quant), RAGDB_OK);
	if (nlist) {
		ragdb_index_options io = { .nlist = nlist };
		ck_assert_int_eq(ragdb_index_build(db, &io, NULL), RAGDB_OK);
	}
	uint64_t n = 0;
	ck_assert_int_eq(ragdb_delete_source(db, "/doomed", &n), RAGDB_OK);
	ck_assert_uint_eq(n, g_deleted);
	return db;
}

static ragdb *fresh(const char *quant)
{
	return fresh_indexed(quant, 0);
}

static void done(ragdb *db)
{
	rdb_txn_test_hooks(0, NULL);
	ragdb_close(db);
	tu_rmrf(g_dir);
	free(g_dir);
}

static ragdb_stats stats(ragdb *db)
{
	ragdb_stats s;
	ck_assert_int_eq(ragdb_get_stats(db, &s), RAGDB_OK);
	return s;
}

/* Commits of the compact running, and what to do after commit `at`. */
static unsigned g_commits, g_at;
static int g_action; /* 0 count only, 1 interrupt, 2 another process writes, 3 crash */

static void after_commit(ragdb *db, unsigned commits)
{
	g_commits = commits;
	if (commits != g_at)
		return;
	if (g_action == 1) {
		ragdb_interrupt(db);
	} else if (g_action == 2) {
		/* A writer of another process between two steps: it adds 300
		 * vectors and deletes two, one in the part already compacted. */
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			ragdb *other = NULL;
			int ok = ragdb_open(g_dir, 0, &other) == RAGDB_OK;
			if (ok) {
				ragdb_vector_record r[300];
				char ids[300][16];
				for (int i = 0; i < 300; i++) {
					snprintf(ids[i], sizeof ids[i], "n%d", i);
					r[i] = (ragdb_vector_record){ .id = ids[i], .vector = g_q + (i % NQ) * DIM };
				}
				ok = ragdb_add_vectors(other, r, 300, DIM) == RAGDB_OK &&
				     ragdb_delete(other, "d5") == RAGDB_OK &&
				     ragdb_delete(other, "d5000") == RAGDB_OK;
			}
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

static ragdb_status compact_in(ragdb *db, size_t txn_bytes, uint64_t *freed)
{
	g_commits = 0;
	rdb_txn_test_hooks(txn_bytes, after_commit);
	ragdb_status st = ragdb_compact(db, freed);
	rdb_txn_test_hooks(0, NULL);
	return st;
}

/* Packed: no tombstones, every block full but the last. */
static void assert_packed(ragdb *db, uint64_t live)
{
	ragdb_stats s = stats(db);
	ck_assert_uint_eq(s.vectors_live, live);
	ck_assert_uint_eq(s.vectors_dead, 0);
	ck_assert_uint_eq(s.blocks, (live + CAP - 1) / CAP);
}

static void same_as_one_txn(const char *quant)
{
	ragdb *db = fresh(quant);
	ck_assert_uint_eq(stats(db).vectors_dead, g_deleted);
	char *before = tv_answers(db, g_q, NQ, DIM, K);
	uint64_t freed = 0, freed1 = 0, again = 1;
	ck_assert_msg(compact_in(db, SMALL_TXN, &freed) == RAGDB_OK, "%s", ragdb_errmsg(db));
	ck_assert_uint_ge(g_commits, 5);
	ck_assert_uint_eq(freed, (uint64_t)g_deleted * (DIM * 4 + 8));
	assert_packed(db, NV - g_deleted);
	tv_check_ok(db);
	char *after = tv_answers(db, g_q, NQ, DIM, K);
	ck_assert_str_eq(before, after);
	/* Nothing left to do: one step, nothing freed. */
	ck_assert_int_eq(compact_in(db, SMALL_TXN, &again), RAGDB_OK);
	ck_assert_uint_eq(g_commits, 1);
	ck_assert_uint_eq(again, 0);
	done(db);

	db = fresh(quant);
	ck_assert_int_eq(compact_in(db, 0, &freed1), RAGDB_OK);
	ck_assert_uint_eq(g_commits, 1);
	ck_assert_uint_eq(freed1, freed);
	assert_packed(db, NV - g_deleted);
	tv_check_ok(db);
	char *one = tv_answers(db, g_q, NQ, DIM, K);
	ck_assert_str_eq(one, after);
	free(before);
	free(after);
	free(one);
	done(db);
}

START_TEST(test_steps_equal_one_txn_f32)
{
	same_as_one_txn(NULL);
}
END_TEST

/* The quantized blocks move with the f32 ones (check verifies each row is
 * the encoding of the f32 row at its slot). */
START_TEST(test_steps_equal_one_txn_int8)
{
	same_as_one_txn("int8");
}
END_TEST

/* Interrupted after its second step, compact keeps what it did: fewer
 * tombstones, the same answers, a passing check; the next one finishes. */
START_TEST(test_interrupted_keeps_the_steps_done)
{
	ragdb *db = fresh("bf16");
	char *before = tv_answers(db, g_q, NQ, DIM, K);
	g_action = 1;
	g_at = 2;
	uint64_t freed = 0;
	ck_assert_int_eq(compact_in(db, SMALL_TXN, &freed), RAGDB_EINTR);
	g_action = 0;
	ck_assert_uint_eq(g_commits, 2);
	ck_assert_ptr_nonnull(strstr(ragdb_errmsg(db), "run `ragdb compact` again to finish"));
	ragdb_stats s = stats(db);
	ck_assert_uint_gt(s.vectors_dead, 0);
	ck_assert_uint_lt(s.vectors_dead, g_deleted);
	tv_check_ok(db);
	char *mid = tv_answers(db, g_q, NQ, DIM, K);
	ck_assert_str_eq(before, mid);
	ck_assert_int_eq(compact_in(db, SMALL_TXN, &freed), RAGDB_OK);
	ck_assert_uint_eq(freed, s.vectors_dead * (DIM * 4 + 8));
	assert_packed(db, NV - g_deleted);
	tv_check_ok(db);
	char *after = tv_answers(db, g_q, NQ, DIM, K);
	ck_assert_str_eq(before, after);
	free(before);
	free(mid);
	free(after);
	done(db);
}
END_TEST

/* Run @p fn on the closed knowledge base in a child process that dies (as
 * a crash: no cleanup) right after its second commit. */
static void crash_after_two(void (*fn)(ragdb *db))
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		ragdb *c = NULL;
		if (ragdb_open(g_dir, 0, &c) != RAGDB_OK)
			_exit(1);
		g_action = 3;
		g_at = 2;
		fn(c);
		_exit(2); /* the hook should have ended the process first */
	}
	int ws = 0;
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 42);
}

static void crash_compact(ragdb *db)
{
	(void)compact_in(db, SMALL_TXN, NULL);
}

/* A process that dies after the second step (as a crash) leaves a valid,
 * partly compacted knowledge base. */
START_TEST(test_crash_between_steps)
{
	ragdb *db = fresh(NULL);
	char *before = tv_answers(db, g_q, NQ, DIM, K);
	ragdb_close(db);
	crash_after_two(crash_compact);
	ck_assert_int_eq(ragdb_open(g_dir, 0, &db), RAGDB_OK);
	ragdb_stats s = stats(db);
	ck_assert_uint_gt(s.vectors_dead, 0);
	ck_assert_uint_lt(s.vectors_dead, g_deleted);
	tv_check_ok(db);
	char *mid = tv_answers(db, g_q, NQ, DIM, K);
	ck_assert_str_eq(before, mid);
	ck_assert_int_eq(compact_in(db, SMALL_TXN, NULL), RAGDB_OK);
	assert_packed(db, NV - g_deleted);
	tv_check_ok(db);
	free(before);
	free(mid);
	done(db);
}
END_TEST

/* Another process adding and deleting between two steps is part of what
 * the next step compacts: the result is packed, with its vectors and
 * without its deletes. */
START_TEST(test_other_writer_between_steps)
{
	ragdb *db = fresh("int8");
	g_action = 2;
	g_at = 2;
	ck_assert_msg(compact_in(db, SMALL_TXN, NULL) == RAGDB_OK, "%s", ragdb_errmsg(db));
	g_action = 0;
	ck_assert_uint_gt(g_commits, 3);
	assert_packed(db, NV - g_deleted + 300 - 2);
	tv_check_ok(db);
	ragdb_search_options o = { .k = 1 };
	ragdb_results *r = NULL;
	ck_assert_int_eq(ragdb_search_vectors(db, g_base + 5 * DIM, 1, DIM, &o, &r), RAGDB_OK);
	ck_assert_str_ne(r->hits[0].id, "d5");
	ragdb_results_free(r);
	ck_assert_int_eq(ragdb_search_vectors(db, g_q + 7 * DIM, 1, DIM, &o, &r), RAGDB_OK);
	ck_assert(strcmp(r->hits[0].id, "n7") == 0 || strcmp(r->hits[0].id, "n37") == 0);
	ragdb_results_free(r);
	done(db);
}
END_TEST

/* With an IVF index the lists lose their tombstones too, some lists per
 * step after the blocks; interrupted among them, the index stays valid. */
START_TEST(test_index_lists_in_steps)
{
	ragdb *db = fresh_indexed(NULL, 16);
	ragdb_index_stats is;
	ck_assert_int_eq(ragdb_index_stats_get(db, &is), RAGDB_OK);
	ck_assert_uint_eq(is.dead, g_deleted);
	char *before = tv_answers(db, g_q, NQ, DIM, K);
	ck_assert_int_eq(compact_in(db, SMALL_TXN, NULL), RAGDB_OK);
	unsigned all = g_commits;
	ck_assert_int_eq(ragdb_index_stats_get(db, &is), RAGDB_OK);
	ck_assert_uint_eq(is.dead, 0);
	ck_assert_uint_eq(is.vectors, NV - g_deleted);
	assert_packed(db, NV - g_deleted);
	tv_check_ok(db);
	char *after = tv_answers(db, g_q, NQ, DIM, K);
	ck_assert_str_eq(before, after);
	done(db);

	/* Interrupted two steps before the end: among the lists' steps. */
	db = fresh_indexed(NULL, 16);
	g_action = 1;
	g_at = all - 2;
	ck_assert_int_eq(compact_in(db, SMALL_TXN, NULL), RAGDB_EINTR);
	g_action = 0;
	ck_assert_ptr_nonnull(strstr(ragdb_errmsg(db), "IVF lists still to compact"));
	assert_packed(db, NV - g_deleted);
	ck_assert_int_eq(ragdb_index_stats_get(db, &is), RAGDB_OK);
	ck_assert_uint_gt(is.dead, 0);
	ck_assert_uint_lt(is.dead, g_deleted);
	tv_check_ok(db);
	char *mid = tv_answers(db, g_q, NQ, DIM, K);
	ck_assert_str_eq(before, mid);
	ck_assert_int_eq(compact_in(db, SMALL_TXN, NULL), RAGDB_OK);
	ck_assert_int_eq(ragdb_index_stats_get(db, &is), RAGDB_OK);
	ck_assert_uint_eq(is.dead, 0);
	tv_check_ok(db);
	free(before);
	free(mid);
	free(after);
	done(db);
}
END_TEST

/* ------------------------------------------------------------------ */
/* quantize from f32 in steps */

/* About two int8 blocks (512 x 512 codes and scales) per txn. */
#define QTXN (600u << 10)

static ragdb_status quantize_in(ragdb *db, size_t txn_bytes, const char *mode)
{
	g_commits = 0;
	rdb_txn_test_hooks(txn_bytes, after_commit);
	ragdb_status st = ragdb_quantize(db, mode);
	rdb_txn_test_hooks(0, NULL);
	return st;
}

/* Entries of the quantized blocks' database and whether meta has the
 * staging marker, read with LMDB from the closed knowledge base. */
static void raw_qblocks(size_t *entries, int *marker)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_stat ms;
	MDB_val k = { 7, (void *)"qstaged" }, v;
	ck_assert_int_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 32);
	ck_assert_int_eq(mdb_env_open(env, g_dir, MDB_RDONLY, 0664), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	*entries = 0;
	if (mdb_dbi_open(txn, "qvectors", 0, &dbi) == 0 && mdb_stat(txn, dbi, &ms) == 0)
		*entries = ms.ms_entries;
	ck_assert_int_eq(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	*marker = mdb_get(txn, dbi, &k, &v) == 0;
	mdb_txn_abort(txn);
	mdb_env_close(env);
}

static ragdb *reopen_raw(ragdb *db, size_t *entries, int *marker)
{
	ragdb_close(db);
	raw_qblocks(entries, marker);
	ck_assert_int_eq(ragdb_open(g_dir, 0, &db), RAGDB_OK);
	return db;
}

/* Staged over several txns, int8 answers as a quantize in one txn does;
 * with an IVF index the lists follow in the same sequence. */
START_TEST(test_quantize_steps_equal_one_txn)
{
	for (int indexed = 0; indexed < 2; indexed++) {
		ragdb *db = fresh_indexed(NULL, indexed ? 16 : 0);
		ck_assert_int_eq(quantize_in(db, 0, "int8"), RAGDB_OK);
		ck_assert_uint_eq(g_commits, 1);
		char *one = tv_answers(db, g_q, NQ, DIM, K);
		done(db);

		db = fresh_indexed(NULL, indexed ? 16 : 0);
		ck_assert_msg(quantize_in(db, QTXN, "int8") == RAGDB_OK, "%s", ragdb_errmsg(db));
		ck_assert_uint_ge(g_commits, 4 + indexed);
		ck_assert_str_eq(ragdb_quantization(db), "int8");
		tv_check_ok(db);
		char *many = tv_answers(db, g_q, NQ, DIM, K);
		ck_assert_str_eq(one, many);
		size_t n;
		int marker;
		db = reopen_raw(db, &n, &marker);
		ck_assert_uint_eq(n, stats(db).blocks);
		ck_assert_int_eq(marker, 0);
		/* Back to f32 and to bf16 in steps again. */
		ck_assert_int_eq(quantize_in(db, QTXN, "f32"), RAGDB_OK);
		ck_assert_int_eq(quantize_in(db, QTXN, "bf16"), RAGDB_OK);
		ck_assert_uint_ge(g_commits, 3);
		tv_check_ok(db);
		free(one);
		free(many);
		done(db);
	}
}
END_TEST

/* Interrupted after its second txn: still f32, the same answers, nothing
 * of the conversion left; the next quantize runs. */
START_TEST(test_quantize_interrupted_stays_f32)
{
	ragdb *db = fresh(NULL);
	char *before = tv_answers(db, g_q, NQ, DIM, K);
	g_action = 1;
	g_at = 2;
	ck_assert_int_eq(quantize_in(db, QTXN, "int8"), RAGDB_EINTR);
	g_action = 0;
	ck_assert_str_eq(ragdb_quantization(db), "f32");
	tv_check_ok(db);
	char *mid = tv_answers(db, g_q, NQ, DIM, K);
	ck_assert_str_eq(before, mid);
	size_t n;
	int marker;
	db = reopen_raw(db, &n, &marker);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(marker, 0);
	ck_assert_int_eq(quantize_in(db, QTXN, "int8"), RAGDB_OK);
	tv_check_ok(db);
	free(before);
	free(mid);
	done(db);
}
END_TEST

static void crash_quantize(ragdb *db)
{
	(void)quantize_in(db, QTXN, "int8");
}

/* A crash after the second txn leaves f32 answering and a passing check;
 * compact frees the leftovers; the next quantize finishes. */
START_TEST(test_quantize_crash_leftovers)
{
	ragdb *db = fresh(NULL);
	char *before = tv_answers(db, g_q, NQ, DIM, K);
	ragdb_close(db);
	crash_after_two(crash_quantize);
	size_t n;
	int marker;
	raw_qblocks(&n, &marker);
	ck_assert_uint_gt(n, 0);
	ck_assert_int_eq(marker, 1);
	ck_assert_int_eq(ragdb_open(g_dir, 0, &db), RAGDB_OK);
	ck_assert_str_eq(ragdb_quantization(db), "f32");
	ragdb_stats s = stats(db);
	ck_assert_str_eq(s.quantize, "f32");
	ck_assert_str_eq(s.unfinished_quantize, "int8");
	ck_assert_uint_gt(s.unfinished_bytes, 0);
	ck_assert_uint_eq(s.quantize_bytes, 0);
	tv_check_ok(db);
	char *mid = tv_answers(db, g_q, NQ, DIM, K);
	ck_assert_str_eq(before, mid);
	/* Vectors added meanwhile are f32 only; the leftovers stay valid. */
	tv_add_rows(db, g_q, DIM, 0, 10, "late", 0);
	tv_check_ok(db);
	uint64_t freed = 0;
	ck_assert_int_eq(ragdb_compact(db, &freed), RAGDB_OK);
	ck_assert_uint_eq(freed, (uint64_t)g_deleted * (DIM * 4 + 8) + s.unfinished_bytes);
	s = stats(db);
	ck_assert_str_eq(s.unfinished_quantize, "");
	ck_assert_uint_eq(s.unfinished_bytes, 0);
	db = reopen_raw(db, &n, &marker);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(marker, 0);
	ck_assert_int_eq(quantize_in(db, QTXN, "int8"), RAGDB_OK);
	tv_check_ok(db);
	s = stats(db);
	ck_assert_str_eq(s.quantize, "int8");
	ck_assert_uint_gt(s.quantize_bytes, (uint64_t)(NV - g_deleted + 10) * DIM);
	free(before);
	free(mid);
	done(db);
}
END_TEST

/* Another process writing between two txns stops the conversion: EBUSY,
 * still f32 with its vectors; the next quantize runs. */
START_TEST(test_quantize_other_writer)
{
	ragdb *db = fresh(NULL);
	g_action = 2;
	g_at = 2;
	ck_assert_int_eq(quantize_in(db, QTXN, "int8"), RAGDB_EBUSY);
	g_action = 0;
	ck_assert_ptr_nonnull(strstr(ragdb_errmsg(db), "run `ragdb quantize` again"));
	ck_assert_str_eq(ragdb_quantization(db), "f32");
	ck_assert_uint_eq(stats(db).vectors_live, NV - g_deleted + 300 - 2);
	tv_check_ok(db);
	ck_assert_int_eq(quantize_in(db, QTXN, "int8"), RAGDB_OK);
	ck_assert_str_eq(ragdb_quantization(db), "int8");
	tv_check_ok(db);
	done(db);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("engine_steps");
	TCase *tc = tcase_create("steps");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_steps_equal_one_txn_f32);
	tcase_add_test(tc, test_steps_equal_one_txn_int8);
	tcase_add_test(tc, test_interrupted_keeps_the_steps_done);
	tcase_add_test(tc, test_crash_between_steps);
	tcase_add_test(tc, test_other_writer_between_steps);
	tcase_add_test(tc, test_index_lists_in_steps);
	tcase_add_test(tc, test_quantize_steps_equal_one_txn);
	tcase_add_test(tc, test_quantize_interrupted_stays_f32);
	tcase_add_test(tc, test_quantize_crash_leftovers);
	tcase_add_test(tc, test_quantize_other_writer);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
