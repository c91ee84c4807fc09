/* tests/unit/test_index_ecache.c — the persistent cache environment
 * (index/ecache.c): vectors and answer blobs round-trip, the TTL of a blob,
 * LRU eviction under the size cap, a damaged entry read as a miss and
 * reported/dropped by verify, and several threads putting and getting at
 * once. Raw LMDB is used only to plant the damage. */
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/ecache.h"
#include "testutil.h"

#define OK(call_with_err) do { ragdb_status s_ = (call_with_err); \
	ck_assert_msg(s_ == RAGDB_OK, "%s -> %d: %s", #call_with_err, s_, err.msg); } while (0)

static rdb_ekey key_of(uint64_t i)
{
	rdb_ekey k = {i * 0x9E3779B97F4A7C15ull + 1, i ^ 0xABCDEF};
	return k;
}

static void fill_vec(float *v, uint32_t dim, uint64_t seed)
{
	for (uint32_t j = 0; j < dim; j++)
		v[j] = (float)(seed * 1000 + j);
}

/* Vectors put (some skipped) come back exactly; skipped and unknown keys
 * miss; a second handle on the same directory is the same environment. */
START_TEST(test_vec_roundtrip)
{
	char *dir = tu_tmpdir("ecache_rt");
	rdb_err err = {0};
	rdb_ecache *c = NULL, *c2 = NULL;
	OK(rdb_ecache_open(dir, 0, &c, &err));
	OK(rdb_ecache_open(dir, 0, &c2, &err));
	ck_assert_ptr_eq(c, c2);
	rdb_ecache_close(c2);
	enum { N = 6, D = 8 };
	rdb_ekey keys[N];
	float in[N * D], out[N * D];
	uint8_t skip[N] = {0, 1, 0, 0, 1, 0}, hit[N];
	for (int i = 0; i < N; i++) {
		keys[i] = key_of((uint64_t)i);
		fill_vec(in + i * D, D, (uint64_t)i);
	}
	rdb_ecache_put_vecs(c, keys, N, D, in, skip);
	memset(out, 0, sizeof out);
	ck_assert_uint_eq(rdb_ecache_get_vecs(c, keys, N, D, out, hit), 4);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(hit[i], !skip[i]);
		if (hit[i])
			ck_assert_int_eq(memcmp(out + i * D, in + i * D, D * sizeof(float)), 0);
	}
	/* Asked at another dimension: a miss, never a short vector. */
	ck_assert_uint_eq(rdb_ecache_get_vecs(c, keys, 1, D / 2, out, hit), 0);
	rdb_ecache_stats st;
	rdb_ecache_stats_get(c, &st);
	ck_assert_uint_eq(st.entries, 4);
	ck_assert_uint_eq(st.hits, 4);
	rdb_ecache_close(c);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* A blob round-trips, and is a miss once older than the TTL it was stored
 * with; ttl 0 never expires. */
START_TEST(test_blob_ttl)
{
	char *dir = tu_tmpdir("ecache_blob");
	rdb_err err = {0};
	rdb_ecache *c = NULL;
	OK(rdb_ecache_open(dir, 0, &c, &err));
	char *data = NULL;
	size_t len = 0;
	rdb_ecache_put_blob(c, key_of(1), "hello answer", 12, 60, 1000);
	rdb_ecache_put_blob(c, key_of(2), "forever", 7, 0, 1000);
	ck_assert(rdb_ecache_get_blob(c, key_of(1), 1059, &data, &len));
	ck_assert_uint_eq(len, 12);
	ck_assert_str_eq(data, "hello answer");
	free(data);
	data = NULL;
	ck_assert(!rdb_ecache_get_blob(c, key_of(1), 1060, &data, &len));
	ck_assert(rdb_ecache_get_blob(c, key_of(2), 1000000, &data, &len));
	ck_assert_str_eq(data, "forever");
	free(data);
	ck_assert(!rdb_ecache_get_blob(c, key_of(3), 1000, &data, &len));
	rdb_ecache_close(c);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* Past the cap, puts evict the least recently used entries: an entry read
 * every few puts survives, the oldest untouched ones go, the pages in use
 * stay within the cap, and puts keep working (a full cache never fails). */
START_TEST(test_evict_lru)
{
	char *dir = tu_tmpdir("ecache_evict");
	rdb_err err = {0};
	rdb_ecache *c = NULL;
	OK(rdb_ecache_open(dir, RDB_ECACHE_MIN_BYTES, &c, &err));
	enum { D = 256 };
	float v[D], out[D];
	uint8_t hit;
	for (uint64_t i = 0; i < 1500; i++) {
		rdb_ekey k = key_of(i);
		fill_vec(v, D, i);
		rdb_ecache_put_vecs(c, &k, 1, D, v, NULL);
		if (i % 16 == 0) {
			rdb_ekey k0 = key_of(0);
			ck_assert_uint_eq(rdb_ecache_get_vecs(c, &k0, 1, D, out, &hit), 1);
		}
	}
	rdb_ecache_stats st;
	rdb_ecache_stats_get(c, &st);
	ck_assert_msg(st.bytes <= RDB_ECACHE_MIN_BYTES, "%llu bytes in use, cap %llu",
	              (unsigned long long)st.bytes, (unsigned long long)RDB_ECACHE_MIN_BYTES);
	ck_assert_uint_gt(st.evicted, 0);
	ck_assert_uint_lt(st.entries, 1500);
	rdb_ekey k0 = key_of(0), k1 = key_of(1), klast = key_of(1499);
	ck_assert_uint_eq(rdb_ecache_get_vecs(c, &k0, 1, D, out, &hit), 1);
	fill_vec(v, D, 0);
	ck_assert_int_eq(memcmp(out, v, sizeof v), 0);
	ck_assert_uint_eq(rdb_ecache_get_vecs(c, &k1, 1, D, out, &hit), 0);
	ck_assert_uint_eq(rdb_ecache_get_vecs(c, &klast, 1, D, out, &hit), 1);
	uint64_t n = 0, bad = 0;
	OK(rdb_ecache_verify(dir, 0, NULL, NULL, &n, &bad, &err));
	ck_assert_uint_eq(bad, 0);
	ck_assert_uint_eq(n, st.entries);
	rdb_ecache_close(c);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

static void count_problem(void *ctx, const char *msg)
{
	(void)msg;
	(*(int *)ctx)++;
}

/* Flip a payload byte of the entry for @p k in the vec database. */
static void damage(const char *dir, rdb_ekey k)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	ck_assert_int_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 8);
	mdb_env_set_mapsize(env, (size_t)3 << 30);
	ck_assert_int_eq(mdb_env_open(env, dir, 0, 0644), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "vec", 0, &dbi), 0);
	uint8_t kb[16];
	memcpy(kb, &k.lo, 8);
	memcpy(kb + 8, &k.hi, 8);
	MDB_val key = {16, kb}, v;
	ck_assert_int_eq(mdb_get(txn, dbi, &key, &v), 0);
	uint8_t *copy = malloc(v.mv_size);
	memcpy(copy, v.mv_data, v.mv_size);
	copy[v.mv_size - 1] ^= 0x40;
	MDB_val nv = {v.mv_size, copy};
	ck_assert_int_eq(mdb_put(txn, dbi, &key, &nv, 0), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	free(copy);
}

/* A damaged entry (checksum) is a miss; verify reports it; a new put
 * overwrites it; verify --repair drops a damaged one. */
START_TEST(test_corrupt_is_miss)
{
	char *dir = tu_tmpdir("ecache_bad");
	rdb_err err = {0};
	rdb_ecache *c = NULL;
	enum { D = 16 };
	float v[2 * D], out[D];
	uint8_t hit[2];
	rdb_ekey keys[2] = {key_of(7), key_of(8)};
	fill_vec(v, D, 7);
	fill_vec(v + D, D, 8);
	OK(rdb_ecache_open(dir, 0, &c, &err));
	rdb_ecache_put_vecs(c, keys, 2, D, v, NULL);
	rdb_ecache_close(c);
	damage(dir, keys[0]);
	damage(dir, keys[1]);
	OK(rdb_ecache_open(dir, 0, &c, &err));
	ck_assert_uint_eq(rdb_ecache_get_vecs(c, keys, 1, D, out, hit), 0);
	int problems = 0;
	uint64_t n = 0, bad = 0;
	OK(rdb_ecache_verify(dir, 0, count_problem, &problems, &n, &bad, &err));
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(bad, 2);
	ck_assert_int_eq(problems, 2);
	/* The next put of that text overwrites the damaged entry. */
	rdb_ecache_put_vecs(c, keys, 1, D, v, NULL);
	ck_assert_uint_eq(rdb_ecache_get_vecs(c, keys, 1, D, out, hit), 1);
	ck_assert_int_eq(memcmp(out, v, sizeof out), 0);
	OK(rdb_ecache_verify(dir, 1, NULL, NULL, &n, &bad, &err));
	ck_assert_uint_eq(bad, 1);
	OK(rdb_ecache_verify(dir, 0, NULL, NULL, &n, &bad, &err));
	ck_assert_uint_eq(bad, 0);
	ck_assert_uint_eq(n, 1);
	rdb_ecache_close(c);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

typedef struct th_arg {
	rdb_ecache *c;
	int id;
	int wrong;
} th_arg;

static void *worker(void *p)
{
	th_arg *a = p;
	enum { D = 32, B = 10 };
	float v[B * D], out[B * D];
	rdb_ekey keys[B];
	uint8_t hit[B];
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < B; i++) {
			uint64_t id = (uint64_t)a->id * 100000 + (uint64_t)round * B + (uint64_t)i;
			keys[i] = key_of(id);
			fill_vec(v + i * D, D, id);
		}
		rdb_ecache_put_vecs(a->c, keys, B, D, v, NULL);
		if (rdb_ecache_get_vecs(a->c, keys, B, D, out, hit) != B ||
		    memcmp(out, v, sizeof out) != 0)
			a->wrong++;
	}
	return NULL;
}

/* Four threads put and read their own keys at once: every read is right. */
START_TEST(test_threads)
{
	char *dir = tu_tmpdir("ecache_threads");
	rdb_err err = {0};
	rdb_ecache *c = NULL;
	OK(rdb_ecache_open(dir, 0, &c, &err));
	pthread_t th[4];
	th_arg args[4];
	for (int i = 0; i < 4; i++) {
		args[i] = (th_arg){c, i + 1, 0};
		ck_assert_int_eq(pthread_create(&th[i], NULL, worker, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(args[i].wrong, 0);
	}
	rdb_ecache_stats st;
	rdb_ecache_stats_get(c, &st);
	ck_assert_uint_eq(st.entries, 4 * 20 * 10);
	rdb_ecache_close(c);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

static Suite *ecache_suite(void)
{
	Suite *s = suite_create("index_ecache");
	TCase *tc = tcase_create("ecache");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_vec_roundtrip);
	tcase_add_test(tc, test_blob_ttl);
	tcase_add_test(tc, test_evict_lru);
	tcase_add_test(tc, test_corrupt_is_miss);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(ecache_suite());
}
