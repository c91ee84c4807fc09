/*
 * tests/unit/test_providers_balance.c — endpoint balancing (balance.h):
 * the picking of each policy, ejection and its cool-down, retries avoiding
 * the failed endpoint, the process-wide registry, the URL prefix match,
 * and "endpoints"/"balance" in ragdb.json. Time is passed in, so nothing
 * here depends on the clock.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/providers/balance.h"
#include "engine/providers/config.h"
#include "testutil.h"

static const char *const EPS[3] = {"http://a:1/v1", "http://b:2/v1", "http://c:3/v1"};

static rdb_balancer *make(size_t n, rdb_balance_policy p)
{
	rdb_balancer *b = NULL;
	rdb_err e = {0};
	ck_assert_int_eq(rdb_balancer_create(EPS, n, p, &b, &e), RAGDB_OK);
	return b;
}

/* round_robin: serial requests split exactly evenly. */
START_TEST(round_robin_even)
{
	rdb_balancer *b = make(3, RDB_BAL_ROUND_ROBIN);
	int count[3] = {0};
	for (int i = 0; i < 300; i++) {
		size_t k = rdb_balancer_pick(b, -1, 1000);
		count[k]++;
		rdb_balancer_report(b, k, RDB_BAL_OK, 10, 1000);
	}
	ck_assert_int_eq(count[0], 100);
	ck_assert_int_eq(count[1], 100);
	ck_assert_int_eq(count[2], 100);
	rdb_balancer_stat st[3];
	ck_assert_uint_eq(rdb_balancer_stats(b, st, 3, 1000), 3);
	ck_assert_uint_eq(st[1].requests, 100);
	ck_assert_uint_eq(st[1].in_flight, 0);
	rdb_balancer_free(b);
}
END_TEST

/* least_load: the endpoint holding requests in flight is passed over. */
START_TEST(least_load_prefers_idle)
{
	rdb_balancer *b = make(2, RDB_BAL_LEAST_LOAD);
	size_t first = rdb_balancer_pick(b, -1, 0);   /* held: a slow server */
	size_t second = rdb_balancer_pick(b, -1, 0);
	ck_assert_uint_ne(first, second);
	rdb_balancer_report(b, second, RDB_BAL_OK, 5, 0);
	/* While `first` is busy every new request goes to the other. */
	for (int i = 0; i < 20; i++) {
		size_t k = rdb_balancer_pick(b, -1, 0);
		ck_assert_uint_eq(k, second);
		rdb_balancer_report(b, k, RDB_BAL_OK, 5, 0);
	}
	rdb_balancer_report(b, first, RDB_BAL_OK, 500, 0);
	int got_first = 0;
	for (int i = 0; i < 4; i++) {
		size_t k = rdb_balancer_pick(b, -1, 0);
		got_first |= k == first;
		rdb_balancer_report(b, k, RDB_BAL_OK, 5, 0);
	}
	ck_assert(got_first); /* idle again: ties rotate */
	rdb_balancer_free(b);
}
END_TEST

/* least_latency: untried endpoints first, then the fastest EWMA. */
START_TEST(least_latency_prefers_fast)
{
	rdb_balancer *b = make(3, RDB_BAL_LEAST_LATENCY);
	int seen[3] = {0};
	double lat[3] = {300, 20, 150};
	for (int i = 0; i < 3; i++) {
		size_t k = rdb_balancer_pick(b, -1, 0);
		ck_assert(!seen[k]);
		seen[k] = 1;
		rdb_balancer_report(b, k, RDB_BAL_OK, lat[k], 0);
	}
	for (int i = 0; i < 50; i++) {
		size_t k = rdb_balancer_pick(b, -1, 0);
		ck_assert_uint_eq(k, 1);
		rdb_balancer_report(b, k, RDB_BAL_OK, lat[k], 0);
	}
	/* The fast one slows down: its EWMA rises above the third's. */
	for (int i = 0; i < 30; i++) {
		size_t k = rdb_balancer_pick(b, -1, 0);
		rdb_balancer_report(b, k, RDB_BAL_OK, k == 1 ? 1000 : lat[k], 0);
	}
	size_t k = rdb_balancer_pick(b, -1, 0);
	ck_assert_uint_eq(k, 2);
	rdb_balancer_report(b, k, RDB_BAL_OK, lat[k], 0);
	/* Failures leave the EWMA alone (no latency sample). */
	rdb_balancer_stat st[3];
	rdb_balancer_stats(b, st, 3, 0);
	ck_assert(st[2].ewma_ms > 149 && st[2].ewma_ms < 151);
	rdb_balancer_free(b);
}
END_TEST

/* Consecutive failures eject an endpoint for the cool-down; a probe after
 * it that fails ejects it again at once; a success restores it. */
START_TEST(ejection_and_cooldown)
{
	rdb_balancer *b = make(2, RDB_BAL_ROUND_ROBIN);
	double t = 1000;
	/* Endpoint 0 fails, endpoint 1 works. */
	int fails = 0;
	for (int i = 0; i < 4; i++) {
		size_t k = rdb_balancer_pick(b, -1, t);
		fails += k == 0;
		rdb_balancer_report(b, k, k == 0 ? RDB_BAL_FAIL : RDB_BAL_OK, 10, t);
	}
	ck_assert_int_eq(fails, RDB_BAL_EJECT_AFTER);
	rdb_balancer_stat st[2];
	rdb_balancer_stats(b, st, 2, t);
	ck_assert(st[0].ejected);
	for (int i = 0; i < 50; i++) {
		size_t k = rdb_balancer_pick(b, -1, t + 10);
		ck_assert_uint_eq(k, 1);
		rdb_balancer_report(b, k, RDB_BAL_OK, 10, t + 10);
	}
	/* After the cool-down it is tried again; one more failure ejects it. */
	t += RDB_BAL_EJECT_MS + 1;
	int tried = 0;
	for (int i = 0; i < 2 && !tried; i++) {
		size_t k = rdb_balancer_pick(b, -1, t);
		tried = k == 0;
		rdb_balancer_report(b, k, k == 0 ? RDB_BAL_FAIL : RDB_BAL_OK, 10, t);
	}
	ck_assert(tried);
	rdb_balancer_stats(b, st, 2, t);
	ck_assert(st[0].ejected);
	/* 4xx says nothing of the server: no ejection. */
	t += RDB_BAL_EJECT_MS + 1;
	size_t k;
	do {
		k = rdb_balancer_pick(b, -1, t);
		rdb_balancer_report(b, k, k == 0 ? RDB_BAL_OK : RDB_BAL_NEUTRAL, 10, t);
	} while (k != 0);
	rdb_balancer_stats(b, st, 2, t);
	ck_assert(!st[0].ejected);
	ck_assert(!st[1].ejected);
	rdb_balancer_free(b);
}
END_TEST

/* All ejected: still a pick (the first to come back); a retry avoids the
 * endpoint that just failed unless it is the only one. */
START_TEST(all_ejected_and_avoid)
{
	rdb_balancer *b = make(2, RDB_BAL_ROUND_ROBIN);
	for (int r = 0; r < RDB_BAL_EJECT_AFTER; r++) {
		rdb_balancer_pick(b, -1, 100);
		rdb_balancer_pick(b, -1, 100);
		rdb_balancer_report(b, 1, RDB_BAL_FAIL, 0, 100);
		rdb_balancer_report(b, 0, RDB_BAL_FAIL, 0, 200);
	}
	/* 1 was ejected first, so its cool-down ends first. */
	size_t k = rdb_balancer_pick(b, -1, 300);
	ck_assert_uint_eq(k, 1);
	rdb_balancer_report(b, k, RDB_BAL_OK, 1, 300);
	for (int i = 0; i < 10; i++) {
		k = rdb_balancer_pick(b, 0, 400);
		ck_assert_uint_eq(k, 1);
		rdb_balancer_report(b, k, RDB_BAL_OK, 1, 400);
	}
	/* Avoided but the only one left: it is still picked. */
	k = rdb_balancer_pick(b, 1, 400);
	ck_assert_uint_eq(k, 1);
	rdb_balancer_report(b, k, RDB_BAL_OK, 1, 400);
	rdb_balancer_free(b);

	b = make(3, RDB_BAL_LEAST_LATENCY);
	for (int i = 0; i < 30; i++) {
		k = rdb_balancer_pick(b, 2, 0);
		ck_assert_uint_ne(k, 2);
		rdb_balancer_report(b, k, RDB_BAL_OK, 5, 0);
	}
	rdb_balancer_free(b);
}
END_TEST

/* The registry gives one balancer per model + policy + endpoints; URLs
 * match their endpoint by prefix at a path boundary, the longest first. */
START_TEST(registry_and_match)
{
	rdb_err e = {0};
	rdb_balancer *a = NULL, *b = NULL, *c = NULL;
	ck_assert_int_eq(rdb_balancer_get("openai:m", EPS, 2, RDB_BAL_LEAST_LOAD, &a, &e), RAGDB_OK);
	ck_assert_int_eq(rdb_balancer_get("openai:m", EPS, 2, RDB_BAL_LEAST_LOAD, &b, &e), RAGDB_OK);
	ck_assert_int_eq(rdb_balancer_get("openai:m", EPS, 2, RDB_BAL_ROUND_ROBIN, &c, &e), RAGDB_OK);
	ck_assert_ptr_eq(a, b);
	ck_assert_ptr_ne(a, c);
	const char *const pre[2] = {"http://h:1/v1", "http://h:1/v1x"};
	rdb_balancer *p = NULL;
	ck_assert_int_eq(rdb_balancer_create(pre, 2, RDB_BAL_ROUND_ROBIN, &p, &e), RAGDB_OK);
	size_t pl = 0;
	ck_assert_int_eq(rdb_balancer_match(p, "http://h:1/v1x/embeddings", &pl), 1);
	ck_assert_uint_eq(pl, strlen(pre[1]));
	ck_assert_int_eq(rdb_balancer_match(p, "http://h:1/v1/chat/completions", &pl), 0);
	ck_assert_int_eq(rdb_balancer_match(p, "http://h:1/v1y/x", &pl), -1);
	ck_assert_int_eq(rdb_balancer_match(p, "http://other/v1", &pl), -1);
	rdb_balancer_free(p);
	ck_assert_int_eq(rdb_balancer_create(EPS, 0, RDB_BAL_ROUND_ROBIN, &p, &e), RAGDB_EINVAL);
	ck_assert_int_eq(rdb_balance_parse("least_latency"), RDB_BAL_LEAST_LATENCY);
	ck_assert_int_eq(rdb_balance_parse("fastest"), -1);
}
END_TEST

/* ragdb.json: "endpoints" (with "endpoint" first) and "balance" give the
 * model a shared balancer; one endpoint none; an environment endpoint
 * overrides the file's list; bad values are named. */
START_TEST(config_endpoints)
{
	char *dir = tu_tmpdir("bal");
	char path[512];
	snprintf(path, sizeof path, "%s/ragdb.json", dir);
	const char *js =
		"{\"models\": {"
		"\"m\": {\"provider\": \"openai\", \"model\": \"x\", \"balance\": \"least_load\","
		"        \"endpoints\": [\"http://a:1/v1/\", \"http://b:2/v1\", \"http://a:1/v1\"]},"
		"\"both\": {\"provider\": \"openai\", \"model\": \"y\", \"endpoint\": \"http://z:9/v1\","
		"        \"endpoints\": [\"http://a:1/v1\"]},"
		"\"one\": {\"provider\": \"ollama\", \"model\": \"z\", \"endpoints\": [\"h:11434\"]},"
		"\"bad\": {\"provider\": \"openai\", \"model\": \"x\", \"endpoints\": [\"http://a\"], \"balance\": \"fast\"},"
		"\"bad2\": {\"provider\": \"openai\", \"model\": \"x\", \"endpoints\": [1]}}}";
	ck_assert_int_eq(tu_write_file(path, js, strlen(js)), 0);
	rdb_config *c = NULL;
	rdb_err e = {0};
	unsetenv("OPENAI_BASE_URL");
	unsetenv("OLLAMA_HOST");
	ck_assert_int_eq(rdb_config_load(path, 1, &c, &e), RAGDB_OK);
	rdb_model_cfg m, m2;
	ck_assert_int_eq(rdb_config_resolve(c, "m", NULL, &m, &e), RAGDB_OK);
	ck_assert_ptr_nonnull(m.bal);
	ck_assert_str_eq(m.endpoint, "http://a:1/v1");
	ck_assert_uint_eq(rdb_balancer_count(m.bal), 2); /* the duplicate dropped */
	ck_assert_int_eq(rdb_balancer_policy(m.bal), RDB_BAL_LEAST_LOAD);
	ck_assert_str_eq(rdb_balancer_endpoint(m.bal, 1), "http://b:2/v1");
	ck_assert_int_eq(rdb_config_resolve(c, "m", NULL, &m2, &e), RAGDB_OK);
	ck_assert_ptr_eq(m.bal, m2.bal); /* shared by every resolution */
	rdb_model_cfg_clear(&m2);
	rdb_model_cfg_clear(&m);
	ck_assert_int_eq(rdb_config_resolve(c, "both", NULL, &m, &e), RAGDB_OK);
	ck_assert_str_eq(m.endpoint, "http://z:9/v1");
	ck_assert_uint_eq(rdb_balancer_count(m.bal), 2);
	ck_assert_int_eq(rdb_balancer_policy(m.bal), RDB_BAL_ROUND_ROBIN);
	rdb_model_cfg_clear(&m);
	ck_assert_int_eq(rdb_config_resolve(c, "one", NULL, &m, &e), RAGDB_OK);
	ck_assert_ptr_null(m.bal);
	ck_assert_str_eq(m.endpoint, "http://h:11434");
	rdb_model_cfg_clear(&m);
	setenv("OPENAI_BASE_URL", "http://env:5/v1", 1);
	ck_assert_int_eq(rdb_config_resolve(c, "m", NULL, &m, &e), RAGDB_OK);
	ck_assert_ptr_null(m.bal);
	ck_assert_str_eq(m.endpoint, "http://env:5/v1");
	rdb_model_cfg_clear(&m);
	unsetenv("OPENAI_BASE_URL");
	ck_assert_int_eq(rdb_config_resolve(c, "bad", NULL, &m, &e), RAGDB_EINVAL);
	ck_assert_ptr_nonnull(strstr(e.msg, "\"balance\""));
	ck_assert_int_eq(rdb_config_resolve(c, "bad2", NULL, &m, &e), RAGDB_EINVAL);
	ck_assert_ptr_nonnull(strstr(e.msg, "\"endpoints\""));
	rdb_config_free(c);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("providers_balance");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, round_robin_even);
	tcase_add_test(tc, least_load_prefers_idle);
	tcase_add_test(tc, least_latency_prefers_fast);
	tcase_add_test(tc, ejection_and_cooldown);
	tcase_add_test(tc, all_ejected_and_avoid);
	tcase_add_test(tc, registry_and_match);
	tcase_add_test(tc, config_endpoints);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
