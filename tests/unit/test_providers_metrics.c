/*
 * tests/unit/test_providers_metrics.c — the LLM answer cache (hits, TTL
 * expiry, entry and byte caps, LRU order, keys that differ by one
 * parameter) and the per-model metrics (counts, errors by kind, latency
 * percentiles and histogram buckets, tokens, cost, the Prometheus text and
 * the ragdb.json "cache" block). No server: calls are recorded directly.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/providers/config.h"
#include "engine/providers/llm_cache.h"
#include "engine/providers/metrics.h"
#include "testutil.h"

static rdb_cache_key key_of(const char *a, const char *b)
{
	const char *p[2] = {a, b};
	return rdb_llm_cache_key(p, 2);
}

static int has(rdb_cache_key k, int64_t now)
{
	char *t = NULL, stop[32];
	size_t len = 0;
	int hit = rdb_llm_cache_get(k, now, &t, &len, stop);
	free(t);
	return hit;
}

/* A stored answer comes back whole with its stop reason; keys built from
 * different parts (or the same bytes split differently) do not collide. */
START_TEST(cache_hit_and_keys)
{
	rdb_cache_opts o = {60, 10, 1 << 20};
	rdb_llm_cache_clear();
	rdb_cache_key k = key_of("openai:gpt", "{\"temperature\":0.2}");
	rdb_llm_cache_put(k, "the answer", 10, "stop", &o, 1000);
	char *t = NULL, stop[32];
	size_t len = 0;
	ck_assert_int_eq(rdb_llm_cache_get(k, 1000, &t, &len, stop), 1);
	ck_assert_uint_eq(len, 10);
	ck_assert_str_eq(t, "the answer");
	ck_assert_str_eq(stop, "stop");
	free(t);
	ck_assert_int_eq(has(key_of("openai:gpt", "{\"temperature\":0.3}"), 1000), 0);
	ck_assert_int_eq(has(key_of("openai:gp", "t{\"temperature\":0.2}"), 1000), 0);
	rdb_llm_cache_clear();
}
END_TEST

/* An entry is served until its TTL has passed, then dropped; ttl 0 never
 * expires; max_entries 0 stores nothing. */
START_TEST(cache_ttl)
{
	rdb_cache_opts o = {60, 10, 1 << 20};
	rdb_llm_cache_clear();
	rdb_cache_key k = key_of("m", "p");
	rdb_llm_cache_put(k, "a", 1, "", &o, 1000);
	ck_assert_int_eq(has(k, 1059), 1);
	ck_assert_int_eq(has(k, 1060), 0);
	size_t e, b;
	rdb_llm_cache_size(&e, &b);
	ck_assert_uint_eq(e, 0);
	rdb_cache_opts forever = {0, 10, 1 << 20};
	rdb_llm_cache_put(k, "a", 1, "", &forever, 1000);
	ck_assert_int_eq(has(k, 1000 + 10 * 365 * 86400LL), 1);
	rdb_llm_cache_clear();
	rdb_cache_opts off = {60, 0, 1 << 20};
	rdb_llm_cache_put(k, "a", 1, "", &off, 1000);
	ck_assert_int_eq(has(k, 1000), 0);
}
END_TEST

/* Over max_entries or max_bytes the least recently used entries go; a
 * lookup makes an entry recent; an answer over max_bytes is not kept. */
START_TEST(cache_caps_lru)
{
	rdb_cache_opts o = {0, 3, 100};
	rdb_llm_cache_clear();
	rdb_cache_key k1 = key_of("m", "1"), k2 = key_of("m", "2"), k3 = key_of("m", "3"),
	              k4 = key_of("m", "4");
	rdb_llm_cache_put(k1, "x", 1, "", &o, 1);
	rdb_llm_cache_put(k2, "x", 1, "", &o, 1);
	rdb_llm_cache_put(k3, "x", 1, "", &o, 1);
	ck_assert_int_eq(has(k1, 1), 1); /* k1 now the most recent: k2 is the oldest */
	rdb_llm_cache_put(k4, "x", 1, "", &o, 1);
	ck_assert_int_eq(has(k2, 1), 0);
	ck_assert_int_eq(has(k1, 1), 1);
	ck_assert_int_eq(has(k3, 1), 1);
	ck_assert_int_eq(has(k4, 1), 1);
	size_t e, b;
	rdb_llm_cache_size(&e, &b);
	ck_assert_uint_eq(e, 3);
	ck_assert_uint_eq(b, 3);
	/* Bytes: a 98-byte answer leaves room for 2 more bytes only. */
	char big[200];
	memset(big, 'y', sizeof big);
	rdb_cache_key kb = key_of("m", "big");
	rdb_llm_cache_put(kb, big, 98, "", &o, 1);
	rdb_llm_cache_size(&e, &b);
	ck_assert_uint_le(b, 100);
	ck_assert_int_eq(has(kb, 1), 1);
	ck_assert_uint_eq(e, 3); /* kb + the two most recent 1-byte answers */
	ck_assert_int_eq(has(k2, 1), 0);
	rdb_cache_key kh = key_of("m", "huge");
	rdb_llm_cache_put(kh, big, 101, "", &o, 1);
	ck_assert_int_eq(has(kh, 1), 0);
	ck_assert_int_eq(has(kb, 1), 1); /* not evicted for an answer that could never fit */
	rdb_llm_cache_clear();
}
END_TEST

/* Errors are classified from the HTTP status and the messages http.c and
 * llm.c write. */
START_TEST(classify)
{
	ck_assert_int_eq(rdb_metrics_classify(RAGDB_EIO, 429, ""), RAGDB_MERR_RATE_LIMITED);
	ck_assert_int_eq(rdb_metrics_classify(RAGDB_EPERM, 401, ""), RAGDB_MERR_HTTP_4XX);
	ck_assert_int_eq(rdb_metrics_classify(RAGDB_EIO, 529, ""), RAGDB_MERR_HTTP_5XX);
	ck_assert_int_eq(rdb_metrics_classify(RAGDB_EIO, 0, "m: no complete answer from u within 50 ms (x)"),
	                 RAGDB_MERR_TIMEOUT);
	ck_assert_int_eq(rdb_metrics_classify(RAGDB_EIO, 0, "m: cannot connect to u (refused)"),
	                 RAGDB_MERR_NETWORK);
	ck_assert_int_eq(rdb_metrics_classify(RAGDB_EIO, 200, "m: malformed JSON in the answer stream"),
	                 RAGDB_MERR_MALFORMED);
	ck_assert_int_eq(rdb_metrics_classify(RAGDB_EIO, 200, "m: the answer stream from u ended before the answer was complete"),
	                 RAGDB_MERR_STREAM_CUT);
	ck_assert_int_eq(rdb_metrics_classify(RAGDB_EIO, 200, "m: the response stream was cut off before it ended"),
	                 RAGDB_MERR_STREAM_CUT);
}
END_TEST

static const ragdb_model_metrics *find(const ragdb_model_metrics *m, size_t n, const char *model,
                                       const char *kind)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(m[i].model, model) == 0 && strcmp(m[i].kind, kind) == 0)
			return &m[i];
	return NULL;
}

/* Counts, errors by kind, tokens, cost, cache lookups and nearest-rank
 * percentiles over the recorded latencies (1..100 ms). */
START_TEST(metrics_snapshot)
{
	rdb_metrics_reset();
	for (int i = 1; i <= 100; i++)
		rdb_metrics_record("openai:gpt", RDB_METRIC_LLM, 1, RAGDB_OK, 200, NULL, i, 10, 5, 0.001);
	rdb_metrics_record("openai:gpt", RDB_METRIC_LLM, 1, RAGDB_EIO, 503, "x", 1, 0, 0, 0);
	rdb_metrics_record("openai:gpt", RDB_METRIC_LLM, 1, RAGDB_EIO, 429, "x", 1, 0, 0, 0);
	rdb_metrics_record("ollama:emb", RDB_METRIC_EMBED, 4, RAGDB_OK, 200, NULL, 7, 0, 0, 0);
	rdb_metrics_cache("openai:gpt", 1);
	rdb_metrics_cache("openai:gpt", 0);
	rdb_metrics_cache("openai:gpt", 1);
	ragdb_model_metrics *m = NULL;
	size_t n = 0;
	ck_assert_int_eq(ragdb_model_metrics_get(&m, &n), RAGDB_OK);
	ck_assert_uint_eq(n, 2);
	const ragdb_model_metrics *g = find(m, n, "openai:gpt", "llm");
	ck_assert_ptr_nonnull(g);
	ck_assert_uint_eq(g->requests, 102);
	ck_assert_uint_eq(g->errors, 2);
	ck_assert_uint_eq(g->errors_by_kind[RAGDB_MERR_HTTP_5XX], 1);
	ck_assert_uint_eq(g->errors_by_kind[RAGDB_MERR_RATE_LIMITED], 1);
	ck_assert_uint_eq(g->input_tokens, 1000);
	ck_assert_uint_eq(g->output_tokens, 500);
	ck_assert(g->cost > 0.0999 && g->cost < 0.1001);
	ck_assert_uint_eq(g->cache_hits, 2);
	ck_assert_uint_eq(g->cache_misses, 1);
	ck_assert_uint_eq(g->calls, 102);
	/* 102 samples: 1, 1, 1..100 */
	ck_assert(g->latency_p50_ms >= 49 && g->latency_p50_ms <= 51);
	ck_assert(g->latency_p95_ms >= 94 && g->latency_p95_ms <= 96);
	ck_assert(g->latency_p99_ms >= 98 && g->latency_p99_ms <= 100);
	ck_assert(g->requests_per_minute >= 1);
	const ragdb_model_metrics *e = find(m, n, "ollama:emb", "embed");
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->requests, 4);
	ck_assert_uint_eq(e->errors, 0);
	ragdb_model_metrics_free(m);
	rdb_metrics_reset();
}
END_TEST

/* The Prometheus text: HELP and TYPE before each family, model and kind
 * labels, cumulative buckets ending in +Inf equal to _count. */
START_TEST(prometheus_text)
{
	rdb_metrics_reset();
	rdb_metrics_record("anthropic:claude \"x\"", RDB_METRIC_LLM, 1, RAGDB_OK, 200, NULL, 3, 7, 9, 0);
	rdb_metrics_record("anthropic:claude \"x\"", RDB_METRIC_LLM, 1, RAGDB_EIO, 0,
	                   "m: cannot connect to u", 200, 0, 0, 0);
	size_t len = 0;
	char *t = ragdb_model_metrics_prometheus(&len);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(len, strlen(t));
	const char *lab = "model=\"anthropic:claude \\\"x\\\"\",kind=\"llm\"";
	char want[512];
	ck_assert_ptr_nonnull(strstr(t, "# HELP ragdb_model_requests_total "));
	ck_assert_ptr_nonnull(strstr(t, "# TYPE ragdb_model_requests_total counter\n"));
	snprintf(want, sizeof want, "ragdb_model_requests_total{%s} 2\n", lab);
	ck_assert_ptr_nonnull(strstr(t, want));
	snprintf(want, sizeof want, "ragdb_model_errors_total{%s,error=\"network\"} 1\n", lab);
	ck_assert_ptr_nonnull(strstr(t, want));
	ck_assert_ptr_nonnull(strstr(t, "# TYPE ragdb_model_latency_seconds histogram\n"));
	snprintf(want, sizeof want, "ragdb_model_latency_seconds_bucket{%s,le=\"0.005\"} 1\n", lab);
	ck_assert_ptr_nonnull(strstr(t, want));
	snprintf(want, sizeof want, "ragdb_model_latency_seconds_bucket{%s,le=\"0.1\"} 1\n", lab);
	ck_assert_ptr_nonnull(strstr(t, want));
	snprintf(want, sizeof want, "ragdb_model_latency_seconds_bucket{%s,le=\"0.25\"} 2\n", lab);
	ck_assert_ptr_nonnull(strstr(t, want));
	snprintf(want, sizeof want, "ragdb_model_latency_seconds_bucket{%s,le=\"+Inf\"} 2\n", lab);
	ck_assert_ptr_nonnull(strstr(t, want));
	snprintf(want, sizeof want, "ragdb_model_latency_seconds_count{%s} 2\n", lab);
	ck_assert_ptr_nonnull(strstr(t, want));
	snprintf(want, sizeof want, "ragdb_model_tokens_total{%s,direction=\"output\"} 9\n", lab);
	ck_assert_ptr_nonnull(strstr(t, want));
	ck_assert_ptr_nonnull(strstr(t, "# TYPE ragdb_llm_cache_entries gauge\n"));
	/* Every sample line's family was announced by a TYPE line before it. */
	char *save = NULL, *copy = strdup(t);
	char types[4096] = "";
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "# TYPE ", 7) == 0) {
			char name[128];
			ck_assert_int_eq(sscanf(line + 7, "%127s", name), 1);
			strncat(types, name, sizeof types - strlen(types) - 2);
			strcat(types, " ");
			continue;
		}
		if (line[0] == '#')
			continue;
		char fam[130];
		size_t k = strcspn(line, "{ ");
		ck_assert_uint_lt(k, sizeof fam);
		memcpy(fam, line, k);
		fam[k] = 0;
		static const char *const sufs[] = {"_bucket", "_sum", "_count"};
		strcat(fam, " ");
		int found = strstr(types, fam) != NULL;
		for (size_t q = 0; q < 3 && !found; q++) {
			size_t fl = strlen(fam) - 1, sl = strlen(sufs[q]);
			if (fl > sl && strncmp(fam + fl - sl, sufs[q], sl) == 0) {
				fam[fl - sl] = ' ';
				fam[fl - sl + 1] = 0;
				found = strstr(types, fam) != NULL;
			}
		}
		ck_assert_msg(found, "sample before its TYPE line: %s", line);
	}
	free(copy);
	free(t);
	rdb_metrics_reset();
}
END_TEST

/* ragdb.json "cache" sets the limits every resolved model carries;
 * defaults without it; a wrong type is named. */
START_TEST(cache_config)
{
	char *dir = tu_tmpdir("metrics");
	char path[4096];
	snprintf(path, sizeof path, "%s/ragdb.json", dir);
	const char *js = "{\"cache\": {\"ttl_seconds\": 5, \"max_entries\": 7, \"max_bytes\": 1000}}";
	ck_assert_int_eq(tu_write_file(path, js, strlen(js)), 0);
	rdb_config *c = NULL;
	rdb_err e = {0};
	ck_assert_int_eq(rdb_config_load(path, 1, &c, &e), RAGDB_OK);
	rdb_model_cfg m;
	ck_assert_int_eq(rdb_config_resolve(c, "openai:gpt-4o-mini", NULL, &m, &e), RAGDB_OK);
	ck_assert_int_eq(m.cache.ttl_s, 5);
	ck_assert_uint_eq(m.cache.max_entries, 7);
	ck_assert_uint_eq(m.cache.max_bytes, 1000);
	rdb_model_cfg_clear(&m);
	rdb_config_free(c);
	ck_assert_int_eq(rdb_config_resolve(NULL, "openai:gpt-4o-mini", NULL, &m, &e), RAGDB_OK);
	ck_assert_int_eq(m.cache.ttl_s, RDB_CACHE_DEFAULT_TTL_S);
	ck_assert_uint_eq(m.cache.max_entries, RDB_CACHE_DEFAULT_ENTRIES);
	rdb_model_cfg_clear(&m);
	js = "{\"cache\": 3}";
	ck_assert_int_eq(tu_write_file(path, js, strlen(js)), 0);
	ck_assert_int_eq(rdb_config_load(path, 1, &c, &e), RAGDB_OK);
	ck_assert_int_eq(rdb_config_resolve(c, "openai:gpt-4o-mini", NULL, &m, &e), RAGDB_EINVAL);
	ck_assert_ptr_nonnull(strstr(e.msg, "\"cache\""));
	rdb_config_free(c);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("providers_metrics");
	TCase *tc = tcase_create("metrics");
	tcase_add_test(tc, cache_hit_and_keys);
	tcase_add_test(tc, cache_ttl);
	tcase_add_test(tc, cache_caps_lru);
	tcase_add_test(tc, classify);
	tcase_add_test(tc, metrics_snapshot);
	tcase_add_test(tc, prometheus_text);
	tcase_add_test(tc, cache_config);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
