/*
 * tests/unit/test_engine_repair.c — ragdb_repair (`ragdb check --repair`):
 * meta counters damaged behind the API's back are reported by ragdb_check,
 * set back from the records by ragdb_repair (each repair reported), after
 * which check passes and writes go on without reusing ids; a violation with
 * no safe repair (an ids entry removed) is left for check to report.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ragdb.h"
#include "index/store_int.h"
#include "testutil.h"

static const ragdb_document DOCS[] = {
	{.id = "keys", .text_len = (size_t)-1, .text = "To rotate the API signing keys, generate a new key pair."},
	{.id = "backup", .text_len = (size_t)-1, .text = "Nightly backups are written to the object store."},
	{.id = "lunch", .text_len = (size_t)-1, .text = "The cafeteria serves soup on Mondays."},
};

static void count_msg(void *ctx, const char *msg)
{
	(void)msg;
	(*(int *)ctx)++;
}

static char *make_kb(void)
{
	char *dir = tu_tmpdir("repair");
	char path[4096];
	snprintf(path, sizeof path, "%s/kb", dir);
	ragdb *db = NULL;
	ck_assert_int_eq(ragdb_create(path, NULL, &db), RAGDB_OK);
	ck_assert_int_eq(ragdb_ingest_text(db, DOCS, 3, NULL, NULL), RAGDB_OK);
	ragdb_close(db);
	return dir;
}

/* Open the store directly and change it in a write transaction. */
static void tamper(const char *kb, void (*fn)(rdb_txn *t))
{
	rdb_store *s = NULL;
	rdb_txn *t = NULL;
	rdb_err e = {0};
	ck_assert_msg(rdb_store_open(kb, 0, NULL, &s, &e) == RAGDB_OK, "%s", e.msg);
	ck_assert_int_eq(rdb_txn_begin(s, 1, &t, &e), RAGDB_OK);
	fn(t);
	ck_assert_msg(rdb_txn_commit(t, &e) == RAGDB_OK, "%s", e.msg);
	rdb_store_close(s);
}

static void bad_counters(rdb_txn *t)
{
	t->c.documents += 5;
	t->c.vectors_dead += 3;
	t->c.next_chunk = 1; /* would hand out ids already in use */
	t->c_dirty = 1;
}

static void drop_id(rdb_txn *t)
{
	MDB_val k = {.mv_size = 4, .mv_data = "keys"};
	ck_assert_int_eq(mdb_del(t->txn, t->s->ids, &k, NULL), 0);
}

/* Damaged counters: reported, repaired (3 repairs), then check passes and a
 * new document gets fresh chunk ids. */
START_TEST(counters_repaired)
{
	char *dir = make_kb(), kb[4096];
	snprintf(kb, sizeof kb, "%s/kb", dir);
	tamper(kb, bad_counters);
	ragdb *db = NULL;
	ck_assert_int_eq(ragdb_open(kb, 0, &db), RAGDB_OK);
	uint64_t problems = 0, repaired = 0;
	ck_assert_int_eq(ragdb_check(db, NULL, NULL, &problems), RAGDB_OK);
	ck_assert_uint_ge(problems, 3);
	int msgs = 0;
	ck_assert_int_eq(ragdb_repair(db, count_msg, &msgs, &repaired), RAGDB_OK);
	ck_assert_uint_eq(repaired, 3);
	ck_assert_int_eq(msgs, 3);
	ck_assert_int_eq(ragdb_check(db, NULL, NULL, &problems), RAGDB_OK);
	ck_assert_uint_eq(problems, 0);
	ragdb_document more = {.id = "more", .text_len = (size_t)-1, .text = "A fourth document about lighthouses."};
	ck_assert_int_eq(ragdb_ingest_text(db, &more, 1, NULL, NULL), RAGDB_OK);
	ck_assert_int_eq(ragdb_check(db, NULL, NULL, &problems), RAGDB_OK);
	ck_assert_uint_eq(problems, 0);
	ragdb_stats st;
	ck_assert_int_eq(ragdb_get_stats(db, &st), RAGDB_OK);
	ck_assert_uint_eq(st.documents, 4);
	ck_assert_uint_eq(st.vectors_dead, 0);
	/* Nothing left to repair: a second repair changes nothing. */
	ck_assert_int_eq(ragdb_repair(db, NULL, NULL, &repaired), RAGDB_OK);
	ck_assert_uint_eq(repaired, 0);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* A missing ids entry has no safe repair: repair leaves it, check reports it;
 * a read-only handle cannot repair. */
START_TEST(unsafe_left_alone)
{
	char *dir = make_kb(), kb[4096];
	snprintf(kb, sizeof kb, "%s/kb", dir);
	tamper(kb, drop_id);
	ragdb *db = NULL;
	ck_assert_int_eq(ragdb_open(kb, RAGDB_RDONLY, &db), RAGDB_OK);
	ck_assert_int_eq(ragdb_repair(db, NULL, NULL, NULL), RAGDB_EREADONLY);
	ragdb_close(db);
	ck_assert_int_eq(ragdb_open(kb, 0, &db), RAGDB_OK);
	uint64_t problems = 0, repaired = 9;
	ck_assert_int_eq(ragdb_repair(db, NULL, NULL, &repaired), RAGDB_OK);
	ck_assert_uint_eq(repaired, 0);
	ck_assert_int_eq(ragdb_check(db, NULL, NULL, &problems), RAGDB_OK);
	ck_assert_uint_ge(problems, 1);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("engine_repair");
	TCase *tc = tcase_create("repair");
	tcase_add_test(tc, counters_repaired);
	tcase_add_test(tc, unsafe_left_alone);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
