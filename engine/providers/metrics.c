/*
 * engine/providers/metrics.c — the per-model counters of this process and
 * their public views (see metrics.h; ragdb.h "Model metrics").
 *
 * Latency is kept twice: a fixed-bucket histogram (cumulative, what
 * Prometheus aggregates across processes) and a ring of the latest
 * RDB_METRICS_RESERVOIR latencies from which p50/p95/p99 are computed
 * exactly over that window. Requests per minute come from 60 one-second
 * slots stamped with their second, so stale slots are recognised without
 * a timer.
 */
#include "engine/providers/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/providers/balance.h"
#include "engine/providers/llm_cache.h"

static const double BUCKETS_S[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                   1,     2.5,  5,     10,   30,  60,   120};
#define N_BUCKETS (sizeof BUCKETS_S / sizeof BUCKETS_S[0])
_Static_assert(N_BUCKETS == RDB_METRICS_N_BUCKETS, "metrics.h names the bucket count");

static const char *const ERR_NAMES[RAGDB_MERR_COUNT] = {
	"timeout", "http_4xx", "http_5xx", "rate_limited", "network", "malformed", "stream_cut", "other",
};

typedef struct model_stat {
	char model[128];
	rdb_metric_kind kind;
	uint64_t requests, errors, errs[RAGDB_MERR_COUNT];
	uint64_t calls;
	uint64_t hist[N_BUCKETS + 1]; /* non-cumulative; last = over the top bucket */
	double sum_ms;
	double ring[RDB_METRICS_RESERVOIR];
	size_t ring_n, ring_next;
	uint64_t in_tok, out_tok;
	double cost;
	uint64_t sec_count[60];
	int64_t sec_stamp[60];
	uint64_t hits, misses;
} model_stat;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static model_stat *g_models[RDB_METRICS_MAX_MODELS];
static size_t g_n;

const char *ragdb_model_error_name(ragdb_model_error e)
{
	return (unsigned)e < RAGDB_MERR_COUNT ? ERR_NAMES[e] : "other";
}

double rdb_metrics_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int64_t now_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

ragdb_model_error rdb_metrics_classify(ragdb_status st, long http_status, const char *msg)
{
	if (st == RAGDB_OK)
		return RAGDB_MERR_OTHER;
	if (http_status == 429)
		return RAGDB_MERR_RATE_LIMITED;
	if (http_status >= 400 && http_status < 500)
		return RAGDB_MERR_HTTP_4XX;
	if (http_status >= 500)
		return RAGDB_MERR_HTTP_5XX;
	msg = msg ? msg : "";
	/* The wording is http.c's and llm.c's; kept in step with them. */
	if (strstr(msg, "cut off") || strstr(msg, "ended before"))
		return RAGDB_MERR_STREAM_CUT;
	if (strstr(msg, "no complete answer") || strstr(msg, "timed out") || strstr(msg, "Timeout"))
		return RAGDB_MERR_TIMEOUT;
	if (strstr(msg, "malformed") || strstr(msg, "not JSON") || strstr(msg, "dimension"))
		return RAGDB_MERR_MALFORMED;
	if (strstr(msg, "cannot connect") || strstr(msg, "request to "))
		return RAGDB_MERR_NETWORK;
	return RAGDB_MERR_OTHER;
}

/* The entry of @p model, created when new; NULL when out of memory. Caller
 * holds g_mu. */
static model_stat *find(const char *model, rdb_metric_kind kind)
{
	if (!model || !*model)
		model = "unknown";
	for (size_t i = 0; i < g_n; i++)
		if (g_models[i]->kind == kind && strcmp(g_models[i]->model, model) == 0)
			return g_models[i];
	if (g_n == RDB_METRICS_MAX_MODELS - 1 || g_n == RDB_METRICS_MAX_MODELS) {
		/* Full: the last slot is "other" for every later model. */
		for (size_t i = 0; i < g_n; i++)
			if (g_models[i]->kind == kind && strcmp(g_models[i]->model, "other") == 0)
				return g_models[i];
		if (g_n == RDB_METRICS_MAX_MODELS)
			return NULL;
		model = "other";
	}
	model_stat *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	snprintf(m->model, sizeof m->model, "%s", model);
	m->kind = kind;
	g_models[g_n++] = m;
	return m;
}

void rdb_metrics_record(const char *model, rdb_metric_kind kind, size_t requests, ragdb_status st,
                        long http_status, const char *msg, double ms, uint64_t in_tok,
                        uint64_t out_tok, double cost)
{
	int64_t sec = now_sec();
	if (ms < 0)
		ms = 0;
	pthread_mutex_lock(&g_mu);
	model_stat *m = find(model, kind);
	if (m) {
		m->requests += requests;
		if (st != RAGDB_OK) {
			m->errors++;
			m->errs[rdb_metrics_classify(st, http_status, msg)]++;
		}
		m->calls++;
		m->hist[rdb_metrics_bucket(ms)]++;
		m->sum_ms += ms;
		m->ring[m->ring_next] = ms;
		m->ring_next = (m->ring_next + 1) % RDB_METRICS_RESERVOIR;
		if (m->ring_n < RDB_METRICS_RESERVOIR)
			m->ring_n++;
		m->in_tok += in_tok;
		m->out_tok += out_tok;
		m->cost += cost;
		size_t slot = (size_t)(sec % 60);
		if (m->sec_stamp[slot] != sec) {
			m->sec_stamp[slot] = sec;
			m->sec_count[slot] = 0;
		}
		m->sec_count[slot] += requests;
	}
	pthread_mutex_unlock(&g_mu);
}

size_t rdb_metrics_bucket(double ms)
{
	size_t b = 0;
	while (b < N_BUCKETS && ms / 1e3 > BUCKETS_S[b])
		b++;
	return b;
}

double rdb_metrics_bucket_le(size_t k)
{
	return k < N_BUCKETS ? BUCKETS_S[k] : 1e300;
}

void rdb_metrics_cache(const char *model, int hit)
{
	rdb_metrics_cache_kind(model, RDB_METRIC_LLM, hit);
}

void rdb_metrics_cache_kind(const char *model, rdb_metric_kind kind, int hit)
{
	pthread_mutex_lock(&g_mu);
	model_stat *m = find(model, kind);
	if (m) {
		if (hit)
			m->hits++;
		else
			m->misses++;
	}
	pthread_mutex_unlock(&g_mu);
}

void rdb_metrics_reset(void)
{
	pthread_mutex_lock(&g_mu);
	for (size_t i = 0; i < g_n; i++)
		free(g_models[i]);
	g_n = 0;
	pthread_mutex_unlock(&g_mu);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted @p v. */
static double pct(const double *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t r = (size_t)(p * (double)n + 0.999999);
	if (r < 1)
		r = 1;
	return v[(r > n ? n : r) - 1];
}

static int cmp_metrics(const void *a, const void *b)
{
	const ragdb_model_metrics *x = a, *y = b;
	int c = strcmp(x->model, y->model);
	return c ? c : strcmp(x->kind, y->kind);
}

/* Snapshot with the buckets too (for Prometheus). Caller frees both. */
static ragdb_status snapshot(ragdb_model_metrics **out, uint64_t (**hist)[N_BUCKETS + 1], size_t *n)
{
	double *tmp = malloc(sizeof(double) * RDB_METRICS_RESERVOIR);
	ragdb_model_metrics *r = NULL;
	uint64_t(*h)[N_BUCKETS + 1] = NULL;
	ragdb_status st = RAGDB_OK;
	int64_t sec = now_sec();
	pthread_mutex_lock(&g_mu);
	size_t cnt = g_n;
	if (cnt) {
		r = calloc(cnt, sizeof *r);
		h = hist ? calloc(cnt, sizeof *h) : NULL;
	}
	if (!tmp || (cnt && (!r || (hist && !h)))) {
		pthread_mutex_unlock(&g_mu);
		free(r);
		free(h);
		st = RAGDB_ENOMEM;
		goto out_free;
	}
	for (size_t i = 0; i < cnt; i++) {
		const model_stat *m = g_models[i];
		ragdb_model_metrics *o = &r[i];
		memcpy(o->model, m->model, sizeof o->model);
		snprintf(o->kind, sizeof o->kind, "%s", m->kind == RDB_METRIC_LLM ? "llm" : "embed");
		o->requests = m->requests;
		o->errors = m->errors;
		memcpy(o->errors_by_kind, m->errs, sizeof o->errors_by_kind);
		o->calls = m->calls;
		memcpy(tmp, m->ring, sizeof(double) * m->ring_n);
		qsort(tmp, m->ring_n, sizeof *tmp, cmp_double);
		o->latency_p50_ms = pct(tmp, m->ring_n, 0.50);
		o->latency_p95_ms = pct(tmp, m->ring_n, 0.95);
		o->latency_p99_ms = pct(tmp, m->ring_n, 0.99);
		o->latency_sum_ms = m->sum_ms;
		o->input_tokens = m->in_tok;
		o->output_tokens = m->out_tok;
		o->cost = m->cost;
		uint64_t rpm = 0;
		for (size_t s = 0; s < 60; s++)
			if (m->sec_stamp[s] > sec - 60)
				rpm += m->sec_count[s];
		o->requests_per_minute = (double)rpm;
		o->cache_hits = m->hits;
		o->cache_misses = m->misses;
		if (h)
			memcpy(h[i], m->hist, sizeof h[i]);
	}
	pthread_mutex_unlock(&g_mu);
	/* Sort the snapshot and its buckets together: sort indices by name. */
	if (cnt > 1 && !h)
		qsort(r, cnt, sizeof *r, cmp_metrics);
	*out = r;
	*n = cnt;
	if (hist)
		*hist = h;
out_free:
	free(tmp);
	return st;
}

ragdb_status ragdb_model_metrics_get(ragdb_model_metrics **out, size_t *n)
{
	if (!out || !n)
		return RAGDB_EINVAL;
	return snapshot(out, NULL, n);
}

void ragdb_model_metrics_free(ragdb_model_metrics *m)
{
	free(m);
}

typedef struct pbuf {
	char *p;
	size_t len, cap;
	int oom;
} pbuf;

static void pb_printf(pbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pb_printf(pbuf *b, const char *fmt, ...)
{
	if (b->oom)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if (b->p && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t nc = b->cap ? b->cap * 2 : 4096;
		while (nc < b->len + (size_t)n + 1)
			nc *= 2;
		char *np = realloc(b->p, nc);
		if (!np) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = nc;
	}
}

static void head(pbuf *b, const char *name, const char *type, const char *help)
{
	pb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Model names come from users and configurations: escape what the text
 * format reserves inside label values (backslash, quote, newline). */
static void esc(const char *in, char *out, size_t cap)
{
	size_t o = 0;
	for (; *in && o + 3 < cap; in++) {
		if (*in == '\\' || *in == '"') {
			out[o++] = '\\';
			out[o++] = *in;
		} else if (*in == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *in;
		}
	}
	out[o] = 0;
}

/* Per endpoint of each model with several (balance.h): how the balancer's
 * attempts went. Models with one endpoint have no rows; their model's
 * figures are the endpoint's. */
static void render_endpoints(pbuf *b)
{
	rdb_endpoint_metrics *r = NULL;
	size_t n = 0;
	char (*lab)[800] = NULL;
	if (rdb_balancer_metrics_all(&r, &n, rdb_metrics_now_ms()) != RAGDB_OK) {
		b->oom = 1;
		return;
	}
	if (n && !(lab = calloc(n, sizeof *lab))) {
		b->oom = 1;
		goto out_free;
	}
	for (size_t i = 0; i < n; i++) {
		char em[260], ee[520];
		esc(r[i].model, em, sizeof em);
		esc(r[i].endpoint, ee, sizeof ee);
		snprintf(lab[i], sizeof lab[i], "model=\"%s\",endpoint=\"%s\"", em, ee);
	}
	head(b, "ragdb_model_endpoint_requests_total", "counter",
	     "Attempts sent to each endpoint of a balanced model (a retry is another attempt).");
	for (size_t i = 0; i < n; i++)
		pb_printf(b, "ragdb_model_endpoint_requests_total{%s} %llu\n", lab[i],
		          (unsigned long long)r[i].s.requests);
	head(b, "ragdb_model_endpoint_errors_total", "counter",
	     "Attempts to each endpoint that failed, by kind of error.");
	for (size_t i = 0; i < n; i++)
		for (int k = RDB_BAL_E_NONE + 1; k < RDB_BAL_E_COUNT; k++)
			pb_printf(b, "ragdb_model_endpoint_errors_total{%s,error=\"%s\"} %llu\n", lab[i],
			          rdb_bal_err_name((rdb_bal_err)k), (unsigned long long)r[i].s.ended[k]);
	head(b, "ragdb_model_endpoint_in_flight", "gauge", "Attempts to each endpoint not finished yet.");
	for (size_t i = 0; i < n; i++)
		pb_printf(b, "ragdb_model_endpoint_in_flight{%s} %u\n", lab[i], r[i].s.in_flight);
	head(b, "ragdb_model_endpoint_skipped", "gauge",
	     "1 while the endpoint is skipped after consecutive failures (its cool-down).");
	for (size_t i = 0; i < n; i++)
		pb_printf(b, "ragdb_model_endpoint_skipped{%s} %d\n", lab[i], r[i].s.ejected ? 1 : 0);
	head(b, "ragdb_model_endpoint_latency_seconds", "histogram",
	     "Duration of the attempts to each endpoint, failed ones included.");
	for (size_t i = 0; i < n; i++) {
		uint64_t cum = 0;
		for (size_t k = 0; k < N_BUCKETS; k++) {
			cum += r[i].s.hist[k];
			pb_printf(b, "ragdb_model_endpoint_latency_seconds_bucket{%s,le=\"%g\"} %llu\n", lab[i],
			          BUCKETS_S[k], (unsigned long long)cum);
		}
		pb_printf(b, "ragdb_model_endpoint_latency_seconds_bucket{%s,le=\"+Inf\"} %llu\n", lab[i],
		          (unsigned long long)r[i].s.latency_count);
		pb_printf(b, "ragdb_model_endpoint_latency_seconds_sum{%s} %.6f\n", lab[i],
		          r[i].s.latency_sum_ms / 1e3);
		pb_printf(b, "ragdb_model_endpoint_latency_seconds_count{%s} %llu\n", lab[i],
		          (unsigned long long)r[i].s.latency_count);
	}
	head(b, "ragdb_model_endpoint_latency_ewma_seconds", "gauge",
	     "Moving average of successful attempts' latency, as least_latency ranks them (0 = none yet).");
	for (size_t i = 0; i < n; i++)
		pb_printf(b, "ragdb_model_endpoint_latency_ewma_seconds{%s} %.6f\n", lab[i],
		          r[i].s.ewma_ms / 1e3);
out_free:
	free(lab);
	free(r);
}

char *ragdb_model_metrics_prometheus(size_t *len)
{
	ragdb_model_metrics *r = NULL;
	uint64_t(*h)[N_BUCKETS + 1] = NULL;
	size_t n = 0;
	pbuf b = {0};
	char (*lab)[300] = NULL;
	if (snapshot(&r, &h, &n) != RAGDB_OK)
		return NULL;
	if (n && !(lab = calloc(n, sizeof *lab)))
		goto out_free;
	for (size_t i = 0; i < n; i++) {
		char e[260];
		esc(r[i].model, e, sizeof e);
		snprintf(lab[i], sizeof lab[i], "model=\"%s\",kind=\"%s\"", e, r[i].kind);
	}
	head(&b, "ragdb_model_requests_total", "counter", "HTTP requests made to each model (an embedding batch is one).");
	for (size_t i = 0; i < n; i++)
		pb_printf(&b, "ragdb_model_requests_total{%s} %llu\n", lab[i], (unsigned long long)r[i].requests);
	head(&b, "ragdb_model_errors_total", "counter", "Failed model calls by kind of error.");
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < RAGDB_MERR_COUNT; k++)
			pb_printf(&b, "ragdb_model_errors_total{%s,error=\"%s\"} %llu\n", lab[i], ERR_NAMES[k],
			          (unsigned long long)r[i].errors_by_kind[k]);
	head(&b, "ragdb_model_latency_seconds", "histogram", "Duration of model calls, retries included.");
	for (size_t i = 0; i < n; i++) {
		uint64_t cum = 0;
		for (size_t k = 0; k < N_BUCKETS; k++) {
			cum += h[i][k];
			pb_printf(&b, "ragdb_model_latency_seconds_bucket{%s,le=\"%g\"} %llu\n", lab[i], BUCKETS_S[k],
			          (unsigned long long)cum);
		}
		pb_printf(&b, "ragdb_model_latency_seconds_bucket{%s,le=\"+Inf\"} %llu\n", lab[i],
		          (unsigned long long)r[i].calls);
		pb_printf(&b, "ragdb_model_latency_seconds_sum{%s} %.6f\n", lab[i], r[i].latency_sum_ms / 1e3);
		pb_printf(&b, "ragdb_model_latency_seconds_count{%s} %llu\n", lab[i], (unsigned long long)r[i].calls);
	}
	head(&b, "ragdb_model_latency_quantile_seconds", "gauge",
	     "Latency percentiles over the latest 1024 calls of each model.");
	for (size_t i = 0; i < n; i++) {
		pb_printf(&b, "ragdb_model_latency_quantile_seconds{%s,quantile=\"0.5\"} %.6f\n", lab[i], r[i].latency_p50_ms / 1e3);
		pb_printf(&b, "ragdb_model_latency_quantile_seconds{%s,quantile=\"0.95\"} %.6f\n", lab[i], r[i].latency_p95_ms / 1e3);
		pb_printf(&b, "ragdb_model_latency_quantile_seconds{%s,quantile=\"0.99\"} %.6f\n", lab[i], r[i].latency_p99_ms / 1e3);
	}
	head(&b, "ragdb_model_tokens_total", "counter", "Tokens as the providers reported them.");
	for (size_t i = 0; i < n; i++) {
		pb_printf(&b, "ragdb_model_tokens_total{%s,direction=\"input\"} %llu\n", lab[i], (unsigned long long)r[i].input_tokens);
		pb_printf(&b, "ragdb_model_tokens_total{%s,direction=\"output\"} %llu\n", lab[i], (unsigned long long)r[i].output_tokens);
	}
	head(&b, "ragdb_model_cost_total", "counter", "Cost from the configured prices per 1M tokens.");
	for (size_t i = 0; i < n; i++)
		pb_printf(&b, "ragdb_model_cost_total{%s} %.9g\n", lab[i], r[i].cost);
	head(&b, "ragdb_model_requests_per_minute", "gauge", "Requests in the last 60 seconds.");
	for (size_t i = 0; i < n; i++)
		pb_printf(&b, "ragdb_model_requests_per_minute{%s} %.0f\n", lab[i], r[i].requests_per_minute);
	head(&b, "ragdb_llm_cache_lookups_total", "counter",
	     "Cache lookups by result: answers (kind llm) and query vectors (kind embed).");
	for (size_t i = 0; i < n; i++) {
		if (r[i].cache_hits + r[i].cache_misses == 0 && strcmp(r[i].kind, "llm") != 0)
			continue;
		pb_printf(&b, "ragdb_llm_cache_lookups_total{%s,result=\"hit\"} %llu\n", lab[i], (unsigned long long)r[i].cache_hits);
		pb_printf(&b, "ragdb_llm_cache_lookups_total{%s,result=\"miss\"} %llu\n", lab[i], (unsigned long long)r[i].cache_misses);
	}
	size_t ce = 0, cb = 0;
	rdb_llm_cache_size(&ce, &cb);
	head(&b, "ragdb_llm_cache_entries", "gauge", "Answers held in the LLM answer cache.");
	pb_printf(&b, "ragdb_llm_cache_entries %zu\n", ce);
	head(&b, "ragdb_llm_cache_bytes", "gauge", "Bytes held in the LLM answer cache.");
	pb_printf(&b, "ragdb_llm_cache_bytes %zu\n", cb);
	render_endpoints(&b);
out_free:
	free(lab);
	free(r);
	free(h);
	if (b.oom || !lab) {
		if (n || b.oom) {
			free(b.p);
			return NULL;
		}
	}
	if (len)
		*len = b.len;
	return b.p;
}
