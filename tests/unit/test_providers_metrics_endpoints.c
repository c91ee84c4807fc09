/*
 * tests/unit/test_providers_metrics_endpoints.c — the per-endpoint counters
 * of balanced models (balance.h) and their /metrics text: requests, errors
 * by kind (http_5xx, http_4xx, timeout, connect), in flight, the latency
 * histogram and the cool-down, counted exactly under concurrent reports,
 * and never a credential of the endpoint URL or an API key in the text.
 * The HTTP tests drive real requests through rdb_http_run against the fake
 * provider (tests/fake/fake_provider.py, started here) and a dead port.
 * Cool-downs are read at a time the test passes in, so nothing depends on
 * how fast the machine is.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "engine/providers/balance.h"
#include "engine/providers/http.h"
#include "engine/providers/metrics.h"
#include "testutil.h"

#define SECRET "sk-SECRET-endpoint-9"

/* ------------------------------------------------------------ the fake */

typedef struct fake {
	pid_t pid;
	char url[64];
	char *dir;
} fake;

static void fake_path(char *out, size_t cap)
{
	const char *data = getenv("RAGDB_TEST_DATA"); /* <src>/tests/fixtures */
	if (data) {
		snprintf(out, cap, "%s/../fake/fake_provider.py", data);
		return;
	}
	/* Run by hand: find it next to this file. */
	const char *f = __FILE__, *cut = strstr(f, "/unit/");
	snprintf(out, cap, "%.*s/fake/fake_provider.py", cut ? (int)(cut - f) : 1, cut ? f : ".");
}

static void fake_start(fake *fk)
{
	char script[1024], pf[600];
	fake_path(script, sizeof script);
	fk->dir = tu_tmpdir("epfake");
	snprintf(pf, sizeof pf, "%s/port", fk->dir);
	fk->pid = fork();
	ck_assert_int_ge(fk->pid, 0);
	if (fk->pid == 0) {
		execlp("python3", "python3", script, "--port-file", pf, "--dim", "8", (char *)NULL);
		_exit(127);
	}
	int port = 0;
	for (int i = 0; i < 400 && port <= 0; i++) {
		FILE *f = fopen(pf, "r");
		if (f) {
			if (fscanf(f, "%d", &port) != 1)
				port = 0;
			fclose(f);
		}
		if (port <= 0) {
			struct timespec ts = {0, 25 * 1000000L};
			nanosleep(&ts, NULL);
		}
	}
	ck_assert_msg(port > 0, "the fake provider (%s) did not start", script);
	snprintf(fk->url, sizeof fk->url, "http://127.0.0.1:%d", port);
}

static void fake_stop(fake *fk)
{
	if (fk->pid > 0) {
		kill(fk->pid, SIGTERM);
		waitpid(fk->pid, NULL, 0);
	}
	tu_rmrf(fk->dir);
	free(fk->dir);
}

/* POST @p json to the fake's /_control. */
static void fake_ctl(const fake *fk, const char *json)
{
	char url[128];
	snprintf(url, sizeof url, "%s/_control", fk->url);
	rdb_http_req r = {.url = url, .body = json, .body_len = strlen(json)};
	rdb_http_resp resp;
	rdb_err e = {0};
	ck_assert_int_eq(rdb_http_do(&r, &resp, NULL, &e), RAGDB_OK);
	rdb_http_resp_clear(&resp);
}

/* Requests the fake got on @p path. */
static int fake_count(const fake *fk, const char *path)
{
	char url[128];
	snprintf(url, sizeof url, "%s/_stats", fk->url);
	rdb_http_req r = {.url = url};
	rdb_http_resp resp;
	rdb_err e = {0};
	ck_assert_int_eq(rdb_http_do(&r, &resp, NULL, &e), RAGDB_OK);
	cJSON *j = cJSON_Parse(resp.body);
	ck_assert_ptr_nonnull(j);
	cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "paths"), path);
	int n = cJSON_IsNumber(v) ? v->valueint : 0;
	cJSON_Delete(j);
	rdb_http_resp_clear(&resp);
	return n;
}

/* A local port nobody listens on (bound, then closed). */
static int dead_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t al = sizeof a;
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* @p n embedding requests, one after the other, through balancer @p b
 * whose first endpoint is @p base; one attempt each. */
static void embed_requests(rdb_balancer *b, const char *base, int n, long timeout_ms)
{
	char url[300];
	snprintf(url, sizeof url, "%s/embeddings", base);
	static const char body[] = "{\"model\": \"test-embed-1\", \"input\": [\"hello\"]}";
	const char *hdr[1] = {"Authorization: Bearer " SECRET};
	rdb_http_opts o = {.max_retries = -1, .timeout_ms = timeout_ms};
	for (int i = 0; i < n; i++) {
		rdb_http_req r = {.url = url, .body = body, .body_len = sizeof body - 1,
		                  .headers = hdr, .n_headers = 1, .what = "test", .bal = b};
		rdb_http_resp resp;
		rdb_err e = {0};
		rdb_http_do(&r, &resp, &o, &e); /* some fail on purpose */
		rdb_http_resp_clear(&resp);
	}
}

/* The row of @p model and @p endpoint (public form) in a snapshot. */
static const rdb_balancer_stat *row(const rdb_endpoint_metrics *r, size_t n, const char *model,
                                    const char *endpoint)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(r[i].model, model) == 0 && strcmp(r[i].endpoint, endpoint) == 0)
			return &r[i].s;
	ck_abort_msg("no metrics row for %s at %s", model, endpoint);
	return NULL;
}

static uint64_t errors_of(const rdb_balancer_stat *s)
{
	uint64_t t = 0;
	for (int k = RDB_BAL_E_NONE + 1; k < RDB_BAL_E_COUNT; k++)
		t += s->ended[k];
	return t;
}

/* ------------------------------------------------------------ tests */

/* The public form of an endpoint drops the user and password and the
 * query and fragment, keeps a '@' in the path, and fits its buffer. */
START_TEST(public_url)
{
	char o[256];
	rdb_endpoint_public("https://user:" SECRET "@api.example.com:8443/v1?key=" SECRET "#x", o,
	                    sizeof o);
	ck_assert_str_eq(o, "https://api.example.com:8443/v1");
	rdb_endpoint_public("http://h:1/v1/a@b", o, sizeof o);
	ck_assert_str_eq(o, "http://h:1/v1/a@b");
	rdb_endpoint_public("tok@h:11434", o, sizeof o);
	ck_assert_str_eq(o, "h:11434");
	rdb_endpoint_public("http://h:1/v1", o, 8);
	ck_assert_str_eq(o, "http://");
	rdb_endpoint_public(NULL, o, sizeof o);
	ck_assert_str_eq(o, "");
	ck_assert_str_eq(rdb_bal_err_name(RDB_BAL_E_CONNECT), "connect");
	ck_assert_str_eq(rdb_bal_err_name(RDB_BAL_E_COUNT), "other");
}
END_TEST

typedef struct hammer {
	rdb_balancer *b;
	int id;
} hammer;

enum { THREADS = 4, ROUNDS = 4000 };

static void *hammer_run(void *arg)
{
	hammer *h = arg;
	for (int i = 0; i < ROUNDS; i++) {
		size_t k = rdb_balancer_pick(h->b, -1, 0);
		rdb_bal_err e = (rdb_bal_err)((i + h->id) % RDB_BAL_E_COUNT);
		rdb_balancer_report_err(h->b, k, e == RDB_BAL_E_NONE ? RDB_BAL_OK : RDB_BAL_NEUTRAL, e,
		                        (double)(i % 50), 0);
	}
	return NULL;
}

/* Picks and reports from several threads at once lose no count: per
 * endpoint requests == ok + errors, every attempt in the histogram, the
 * kinds add up to what the threads sent, nothing left in flight. */
START_TEST(concurrent_counts)
{
	rdb_balancer *b = NULL;
	rdb_err e = {0};
	const char *const eps[3] = {"http://a:1/v1", "http://b:2/v1", "http://c:3/v1"};
	ck_assert_int_eq(rdb_balancer_create(eps, 3, RDB_BAL_LEAST_LOAD, &b, &e), RAGDB_OK);
	pthread_t t[THREADS];
	hammer h[THREADS];
	for (int i = 0; i < THREADS; i++) {
		h[i] = (hammer){b, i};
		ck_assert_int_eq(pthread_create(&t[i], NULL, hammer_run, &h[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	rdb_balancer_stat st[3];
	ck_assert_uint_eq(rdb_balancer_stats(b, st, 3, 0), 3);
	uint64_t req = 0, kinds[RDB_BAL_E_COUNT] = {0};
	for (int i = 0; i < 3; i++) {
		uint64_t hsum = 0;
		for (size_t k = 0; k <= RDB_METRICS_N_BUCKETS; k++)
			hsum += st[i].hist[k];
		ck_assert_uint_eq(st[i].in_flight, 0);
		ck_assert_uint_eq(st[i].requests, st[i].ended[RDB_BAL_E_NONE] + errors_of(&st[i]));
		ck_assert_uint_eq(hsum, st[i].requests);
		ck_assert_uint_eq(st[i].latency_count, st[i].requests);
		req += st[i].requests;
		for (int k = 0; k < RDB_BAL_E_COUNT; k++)
			kinds[k] += st[i].ended[k];
	}
	ck_assert_uint_eq(req, (uint64_t)THREADS * ROUNDS);
	/* Each thread sent every kind in turn: 4 x 4000 over 8 kinds. */
	for (int k = 0; k < RDB_BAL_E_COUNT; k++)
		ck_assert_uint_eq(kinds[k], (uint64_t)THREADS * ROUNDS / RDB_BAL_E_COUNT);
	rdb_balancer_free(b);
}
END_TEST

/* Two endpoints on the fake, one answering 500 to everything (and named
 * with a user and password): every failure counts as http_5xx at that
 * endpoint, which is skipped after its second; the other takes the rest;
 * the counts match what the fakes received; /metrics shows both with
 * those counts and neither the password nor the API key. */
START_TEST(fake_one_failing)
{
	fake a, b;
	fake_start(&a);
	fake_start(&b);
	fake_ctl(&b, "{\"sticky\": \"500\"}");
	char ea[128], eb[200], eb_pub[128];
	snprintf(ea, sizeof ea, "%s/v1", a.url);
	snprintf(eb, sizeof eb, "http://admin:" SECRET "@%s/v1", b.url + strlen("http://"));
	snprintf(eb_pub, sizeof eb_pub, "%s/v1", b.url);
	const char *const eps[2] = {ea, eb};
	rdb_balancer *bal = NULL;
	rdb_err e = {0};
	ck_assert_int_eq(rdb_balancer_get("openai:test-embed-ep", eps, 2, RDB_BAL_ROUND_ROBIN, &bal, &e),
	                 RAGDB_OK);
	double t0 = rdb_metrics_now_ms();
	/* Whichever goes first, B fails twice in a row, then is skipped. */
	embed_requests(bal, ea, 6, 0);
	ck_assert_int_eq(fake_count(&a, "/v1/embeddings"), 4);
	ck_assert_int_eq(fake_count(&b, "/v1/embeddings"), 2);

	rdb_endpoint_metrics *r = NULL;
	size_t n = 0;
	ck_assert_int_eq(rdb_balancer_metrics_all(&r, &n, t0), RAGDB_OK);
	ck_assert_uint_eq(n, 2);
	const rdb_balancer_stat *sa = row(r, n, "openai:test-embed-ep", ea);
	const rdb_balancer_stat *sb = row(r, n, "openai:test-embed-ep", eb_pub);
	ck_assert_uint_eq(sa->requests, 4);
	ck_assert_uint_eq(sa->ended[RDB_BAL_E_NONE], 4);
	ck_assert_uint_eq(errors_of(sa), 0);
	ck_assert_uint_eq(sa->latency_count, 4);
	ck_assert(sa->latency_sum_ms > 0 && sa->ewma_ms > 0);
	ck_assert_int_eq(sa->ejected, 0);
	ck_assert_uint_eq(sb->requests, 2);
	ck_assert_uint_eq(sb->ended[RDB_BAL_E_HTTP_5XX], 2);
	ck_assert_uint_eq(errors_of(sb), 2);
	ck_assert_uint_eq(sb->in_flight, 0);
	ck_assert_int_eq(sb->ejected, 1); /* at t0: within its cool-down */
	free(r);
	/* Long after, the cool-down is over. */
	ck_assert_int_eq(rdb_balancer_metrics_all(&r, &n, t0 + 1e9), RAGDB_OK);
	ck_assert_int_eq(row(r, n, "openai:test-embed-ep", eb_pub)->ejected, 0);
	free(r);

	char *text = ragdb_model_metrics_prometheus(NULL);
	ck_assert_ptr_nonnull(text);
	char want[600];
	snprintf(want, sizeof want,
	         "ragdb_model_endpoint_requests_total{model=\"openai:test-embed-ep\",endpoint=\"%s\"} 4\n", ea);
	ck_assert_msg(strstr(text, want), "missing: %s", want);
	snprintf(want, sizeof want,
	         "ragdb_model_endpoint_requests_total{model=\"openai:test-embed-ep\",endpoint=\"%s\"} 2\n", eb_pub);
	ck_assert_msg(strstr(text, want), "missing: %s", want);
	snprintf(want, sizeof want,
	         "ragdb_model_endpoint_errors_total{model=\"openai:test-embed-ep\",endpoint=\"%s\",error=\"http_5xx\"} 2\n",
	         eb_pub);
	ck_assert_msg(strstr(text, want), "missing: %s", want);
	snprintf(want, sizeof want,
	         "ragdb_model_endpoint_latency_seconds_count{model=\"openai:test-embed-ep\",endpoint=\"%s\"} 4\n", ea);
	ck_assert_msg(strstr(text, want), "missing: %s", want);
	snprintf(want, sizeof want,
	         "ragdb_model_endpoint_latency_seconds_bucket{model=\"openai:test-embed-ep\",endpoint=\"%s\",le=\"+Inf\"} 4\n", ea);
	ck_assert_msg(strstr(text, want), "missing: %s", want);
	snprintf(want, sizeof want,
	         "ragdb_model_endpoint_in_flight{model=\"openai:test-embed-ep\",endpoint=\"%s\"} 0\n", eb_pub);
	ck_assert_msg(strstr(text, want), "missing: %s", want);
	snprintf(want, sizeof want, "ragdb_model_endpoint_skipped{model=\"openai:test-embed-ep\",endpoint=\"%s\"} ", eb_pub);
	ck_assert_msg(strstr(text, want), "missing: %s", want);
	ck_assert_ptr_null(strstr(text, SECRET));
	ck_assert_ptr_null(strstr(text, "admin"));
	free(text);
	fake_stop(&a);
	fake_stop(&b);
}
END_TEST

/* The other kinds: a dead port counts as connect, a 400 as http_4xx (not
 * a failure that ejects), an answer later than the timeout as timeout. */
START_TEST(fake_error_kinds)
{
	fake a;
	fake_start(&a);
	fake_ctl(&a, "{\"faults\": [\"400\", \"stall\"], \"stall_ms\": 5000}");
	char ea[128], ed[128];
	snprintf(ea, sizeof ea, "%s/v1", a.url);
	snprintf(ed, sizeof ed, "http://127.0.0.1:%d/v1", dead_port());
	const char *const eps[2] = {ea, ed};
	rdb_balancer *bal = NULL;
	rdb_err e = {0};
	ck_assert_int_eq(rdb_balancer_get("openai:test-embed-kinds", eps, 2, RDB_BAL_ROUND_ROBIN, &bal, &e),
	                 RAGDB_OK);
	double t0 = rdb_metrics_now_ms();
	/* Round robin with one failure at a time: two attempts each. */
	embed_requests(bal, ea, 4, 1500);
	rdb_endpoint_metrics *r = NULL;
	size_t n = 0;
	ck_assert_int_eq(rdb_balancer_metrics_all(&r, &n, t0), RAGDB_OK);
	const rdb_balancer_stat *sa = row(r, n, "openai:test-embed-kinds", ea);
	const rdb_balancer_stat *sd = row(r, n, "openai:test-embed-kinds", ed);
	ck_assert_uint_eq(sa->requests, 2);
	ck_assert_uint_eq(sa->ended[RDB_BAL_E_HTTP_4XX], 1);
	ck_assert_uint_eq(sa->ended[RDB_BAL_E_TIMEOUT], 1);
	ck_assert_uint_eq(sa->failures, 1); /* the 400 says nothing of the server */
	ck_assert_int_eq(sa->ejected, 0);
	ck_assert_uint_eq(sd->requests, 2);
	ck_assert_uint_eq(sd->ended[RDB_BAL_E_CONNECT], 2);
	ck_assert_uint_eq(errors_of(sd), 2);
	ck_assert_int_eq(sd->ejected, 1);
	free(r);
	fake_stop(&a);
}
END_TEST

int main(void)
{
	/* A stalled fake answer must not kill the test through SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	Suite *s = suite_create("providers_metrics_endpoints");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, public_url);
	tcase_add_test(tc, concurrent_counts);
	tcase_add_test(tc, fake_one_failing);
	tcase_add_test(tc, fake_error_kinds);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
