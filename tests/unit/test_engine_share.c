/*
 * tests/unit/test_engine_share.c — concurrent exact vector searches of one
 * handle sharing a pass over the vectors (engine/share.c,
 * engine/kernels/scan_multi.c), through the public API on an "external"
 * knowledge base of clustered vectors (20k x 32, scanned in two parts):
 * searches that waited together run in one pass and each gets exactly
 * (ids and scores, bit for bit) what it got searching alone, whatever its
 * k or filter; searches of different snapshots do not share a pass, and
 * each sees its own snapshot; quantized knowledge bases (int8, bf16,
 * binary, with rescoring) share the same way; with RAGDB_SHARED_SCANS=0
 * nothing is shared.
 *
 * The searches are made to wait by holding the handle's pass
 * (rdb_share_hold), so the grouping is deterministic, not a race.
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/internal.h"
#include "ragdb.h"
#include "testutil.h"
#include "testvec.h"

#define DIM 32
#define NV 20000
#define NC 100
#define NQ 24

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static float g_base[NV * DIM], g_q[NQ * DIM], g_cent[NC * DIM];

static void make_data(void)
{
	tv_centres(&rng, g_cent, NC, DIM);
	tv_mixture(&rng, g_cent, NC, DIM, 0.5f, g_base, NV);
	tv_mixture(&rng, g_cent, NC, DIM, 0.5f, g_q, NQ);
}

static char *g_dir;

static ragdb *fresh(void)
{
	g_dir = tu_tmpdir("share");
	ragdb_create_options o = { .embedder = "external", .dim = DIM };
	ragdb *db = NULL;
	ck_assert_int_eq(ragdb_create(g_dir, &o, &db), RAGDB_OK);
	for (int lo = 0; lo < NV; lo += 5000)
		tv_add_rows(db, g_base, DIM, lo, lo + 5000, "d", 1);
	return db;
}

static void done(ragdb *db)
{
	ragdb_close(db);
	tu_rmrf(g_dir);
	free(g_dir);
}

/* Query i's settings: k of 1, 10 or 50; every third one filtered. */
static size_t k_of(int i) { return i % 3 == 0 ? 1 : i % 3 == 1 ? 10 : 50; }
static const char *filter_of(int i) { return i % 4 == 3 ? "grp=b" : NULL; }

static ragdb_results *search_one(ragdb *db, const float *q, size_t k, const char *filter)
{
	const char *f[1] = { filter };
	ragdb_search_options o = { .k = k, .filters = filter ? f : NULL,
	                           .n_filters = filter ? 1 : 0 };
	ragdb_results *r = NULL;
	ck_assert_int_eq(ragdb_search_vectors(db, q, 1, DIM, &o, &r), RAGDB_OK);
	return r;
}

static void assert_same(const ragdb_results *a, const ragdb_results *b, int qi)
{
	ck_assert_msg(a->n == b->n, "query %d: %zu hits shared, %zu alone", qi, a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		ck_assert_msg(strcmp(a->hits[i].id, b->hits[i].id) == 0,
		              "query %d rank %zu: %s shared, %s alone", qi, i, a->hits[i].id,
		              b->hits[i].id);
		ck_assert_msg(memcmp(&a->hits[i].score, &b->hits[i].score, sizeof(float)) == 0,
		              "query %d rank %zu: score %.9g shared, %.9g alone", qi, i,
		              (double)a->hits[i].score, (double)b->hits[i].score);
	}
}

typedef struct client {
	ragdb *db;
	const float *q;
	size_t k;
	const char *filter;
	ragdb_results *r;
} client;

static void *client_run(void *arg)
{
	client *c = arg;
	c->r = search_one(c->db, c->q, c->k, c->filter);
	return NULL;
}

/* Start n clients, wait until all of them wait for the held pass, release. */
static void run_held(ragdb *db, client *c, pthread_t *th, int n)
{
	rdb_share_hold(&db->share, 1);
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, client_run, &c[i]), 0);
	for (int spins = 0; rdb_share_waiting(&db->share) < (size_t)n; spins++) {
		ck_assert_msg(spins < 30000, "only %zu of %d searches waiting after 30 s",
		              rdb_share_waiting(&db->share), n);
		usleep(1000);
	}
	rdb_share_hold(&db->share, 0);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
}

/* Each query searched alone, then all of them waiting together: one pass,
 * shared by all, and each gets what it got alone. */
static void check_shared_equals_alone(ragdb *db)
{
	ragdb_results *alone[NQ];
	uint64_t passes0, shared0, passes1, shared1;
	rdb_share_stats(&db->share, &passes0, &shared0);
	for (int i = 0; i < NQ; i++)
		alone[i] = search_one(db, g_q + i * DIM, k_of(i), filter_of(i));
	rdb_share_stats(&db->share, &passes1, &shared1);
	ck_assert_uint_eq(passes1 - passes0, NQ); /* one at a time: a pass each, none shared */
	ck_assert_uint_eq(shared1 - shared0, 0);

	client c[NQ];
	pthread_t th[NQ];
	for (int i = 0; i < NQ; i++)
		c[i] = (client){ db, g_q + i * DIM, k_of(i), filter_of(i), NULL };
	run_held(db, c, th, NQ);
	rdb_share_stats(&db->share, &passes0, &shared0);
	ck_assert_uint_eq(passes0 - passes1, 1);
	ck_assert_uint_eq(shared0 - shared1, NQ);
	uint64_t pub_passes = 0, pub_shared = 0; /* the public view of the same counters */
	ck_assert_int_eq(ragdb_scan_stats(db, &pub_passes, &pub_shared), RAGDB_OK);
	ck_assert_uint_eq(pub_passes, passes0);
	ck_assert_uint_eq(pub_shared, shared0);
	for (int i = 0; i < NQ; i++) {
		ck_assert_uint_eq(c[i].r->n, k_of(i));
		assert_same(c[i].r, alone[i], i);
		if (filter_of(i))
			for (size_t h = 0; h < c[i].r->n; h++)
				ck_assert_int_eq(atoi(c[i].r->hits[h].id + 1) % 2, 1);
		ragdb_results_free(c[i].r);
		ragdb_results_free(alone[i]);
	}
}

START_TEST(test_shared_pass_equals_alone)
{
	ragdb *db = fresh();
	check_shared_equals_alone(db);
	done(db);
}
END_TEST

/* Quantized knowledge bases share their passes too: int8, bf16 and binary
 * scans with rescoring give each search what it got alone, k and filter
 * included. */
START_TEST(test_quantized_shared)
{
	ragdb *db = fresh();
	static const char *const modes[] = { "int8", "bf16", "binary" };
	for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
		ck_assert_int_eq(ragdb_quantize(db, modes[m]), RAGDB_OK);
		check_shared_equals_alone(db);
	}
	done(db);
}
END_TEST

/* A search that starts after a write sees it; one that started before does
 * not; they do not share a pass. */
START_TEST(test_snapshots_do_not_mix)
{
	ragdb *db = fresh();
	/* The new vector is query 0 itself: it must rank first for whoever
	 * sees it. */
	ragdb_vector_record rec = { .id = "new0", .meta_json = "{\"grp\":\"a\"}", .vector = g_q };
	uint64_t passes0, shared0, passes1, shared1;
	rdb_share_stats(&db->share, &passes0, &shared0);
	rdb_share_hold(&db->share, 1);
	client before = { db, g_q, 5, NULL, NULL }, after = before;
	pthread_t t1, t2;
	ck_assert_int_eq(pthread_create(&t1, NULL, client_run, &before), 0);
	for (int spins = 0; rdb_share_waiting(&db->share) < 1; spins++) {
		ck_assert(spins < 30000);
		usleep(1000);
	}
	ck_assert_int_eq(ragdb_add_vectors(db, &rec, 1, DIM), RAGDB_OK);
	ck_assert_int_eq(pthread_create(&t2, NULL, client_run, &after), 0);
	for (int spins = 0; rdb_share_waiting(&db->share) < 2; spins++) {
		ck_assert(spins < 30000);
		usleep(1000);
	}
	rdb_share_hold(&db->share, 0);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	rdb_share_stats(&db->share, &passes1, &shared1);
	ck_assert_uint_eq(passes1 - passes0, 2);
	ck_assert_uint_eq(shared1 - shared0, 0);
	ck_assert_str_ne(before.r->hits[0].id, "new0");
	ck_assert_str_eq(after.r->hits[0].id, "new0");
	ragdb_results_free(before.r);
	ragdb_results_free(after.r);
	done(db);
}
END_TEST

/* RAGDB_SHARED_SCANS=0 (read when a handle opens): every search scans on
 * its own, even when they wait together, with the same results. */
START_TEST(test_off)
{
	ragdb *db0 = fresh();
	ragdb_results *alone[4];
	for (int i = 0; i < 4; i++)
		alone[i] = search_one(db0, g_q + i * DIM, k_of(i), filter_of(i));
	ragdb_close(db0);
	setenv("RAGDB_SHARED_SCANS", "0", 1);
	ragdb *db = NULL;
	ck_assert_int_eq(ragdb_open(g_dir, 0, &db), RAGDB_OK);
	unsetenv("RAGDB_SHARED_SCANS");
	client c[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		c[i] = (client){ db, g_q + i * DIM, k_of(i), filter_of(i), NULL };
		ck_assert_int_eq(pthread_create(&th[i], NULL, client_run, &c[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_same(c[i].r, alone[i], i);
		ragdb_results_free(c[i].r);
		ragdb_results_free(alone[i]);
	}
	uint64_t passes, shared;
	rdb_share_stats(&db->share, &passes, &shared);
	ck_assert_uint_eq(passes, 0);
	ck_assert_uint_eq(shared, 0);
	done(db);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("engine_share");
	TCase *tc = tcase_create("share");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_shared_pass_equals_alone);
	tcase_add_test(tc, test_quantized_shared);
	tcase_add_test(tc, test_snapshots_do_not_mix);
	tcase_add_test(tc, test_off);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* Two parts even on this small set, so the pass runs on the pool. */
	setenv("RAGDB_SCAN_MIN_WORK", "100000", 1);
	make_data();
	return tu_run(suite());
}
