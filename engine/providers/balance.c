/*
 * engine/providers/balance.c — endpoint balancing for one model (see
 * balance.h for the policies and invariants).
 *
 * One mutex per balancer guards what the picks read: a pick or report is a
 * few comparisons over at most RDB_BAL_MAX_ENDPOINTS entries, next to a
 * network round trip, so contention is not worth atomics there. The
 * counters only /metrics reads (how attempts ended, the latency histogram)
 * are relaxed atomics added after the mutex is released: a report holds
 * it no longer for them, and a scrape needs no lock to read them. The
 * registry of
 * process-wide balancers is a list under its own mutex; its entries are
 * never removed (a model's configuration is re-resolved for every
 * request, and all of them must find the same state).
 */
#include "engine/providers/balance.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct bal_ep {
	char *url;
	uint64_t requests, failures;
	uint32_t in_flight;
	uint32_t consecutive;    /* failures in a row */
	double ewma_ms;
	uint64_t samples;
	double ejected_until;    /* monotonic ms; 0 = not ejected */
	/* For /metrics only (atomics, see the top). */
	atomic_ullong ended[RDB_BAL_E_COUNT];
	atomic_ullong hist[RDB_METRICS_N_BUCKETS + 1];
	atomic_ullong lat_sum_us;
} bal_ep;

struct rdb_balancer {
	pthread_mutex_t mu;
	rdb_balance_policy policy;
	size_t n;
	uint64_t turn;           /* rotation: round robin, and ties of the others */
	bal_ep ep[RDB_BAL_MAX_ENDPOINTS];
	char *key;               /* registry key; NULL for a private one */
	char *model;             /* "provider:model" of a process-wide one */
	struct rdb_balancer *next;
};

static pthread_mutex_t g_reg_mu = PTHREAD_MUTEX_INITIALIZER;
static rdb_balancer *g_reg;

const char *rdb_balance_name(rdb_balance_policy p)
{
	switch (p) {
	case RDB_BAL_LEAST_LATENCY: return "least_latency";
	case RDB_BAL_LEAST_LOAD: return "least_load";
	default: return "round_robin";
	}
}

int rdb_balance_parse(const char *s)
{
	if (!s)
		return -1;
	if (strcmp(s, "round_robin") == 0)
		return RDB_BAL_ROUND_ROBIN;
	if (strcmp(s, "least_latency") == 0)
		return RDB_BAL_LEAST_LATENCY;
	if (strcmp(s, "least_load") == 0)
		return RDB_BAL_LEAST_LOAD;
	return -1;
}

void rdb_balancer_free(rdb_balancer *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++)
		free(b->ep[i].url);
	free(b->key);
	free(b->model);
	pthread_mutex_destroy(&b->mu);
	free(b);
}

ragdb_status rdb_balancer_create(const char *const *endpoints, size_t n, rdb_balance_policy p,
                                 rdb_balancer **out, rdb_err *err)
{
	if (n == 0 || n > RDB_BAL_MAX_ENDPOINTS)
		return rdb_err_set(err, RAGDB_EINVAL, "a model takes 1 to %d endpoints; %zu given",
		                   RDB_BAL_MAX_ENDPOINTS, n);
	rdb_balancer *b = calloc(1, sizeof *b);
	if (!b)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory");
	/* calloc's zeroes are valid initial values of lock-free atomics. */
	pthread_mutex_init(&b->mu, NULL);
	b->policy = p;
	for (size_t i = 0; i < n; i++) {
		b->ep[i].url = strdup(endpoints[i]);
		if (!b->ep[i].url) {
			b->n = i;
			rdb_balancer_free(b);
			return rdb_err_set(err, RAGDB_ENOMEM, "out of memory");
		}
	}
	b->n = n;
	*out = b;
	return RAGDB_OK;
}

ragdb_status rdb_balancer_get(const char *model_id, const char *const *endpoints, size_t n,
                              rdb_balance_policy p, rdb_balancer **out, rdb_err *err)
{
	/* The key: id, policy and every endpoint, NUL-free and unambiguous
	 * because the parts are joined with a byte no URL holds. */
	size_t kl = strlen(model_id) + 32;
	for (size_t i = 0; i < n; i++)
		kl += strlen(endpoints[i]) + 1;
	char *key = malloc(kl);
	if (!key)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory");
	size_t o = (size_t)snprintf(key, kl, "%s\x01%s", model_id, rdb_balance_name(p));
	for (size_t i = 0; i < n && o < kl; i++)
		o += (size_t)snprintf(key + o, kl - o, "\x01%s", endpoints[i]);
	ragdb_status st = RAGDB_OK;
	pthread_mutex_lock(&g_reg_mu);
	rdb_balancer *b;
	for (b = g_reg; b; b = b->next)
		if (strcmp(b->key, key) == 0)
			break;
	if (!b) {
		st = rdb_balancer_create(endpoints, n, p, &b, err);
		if (st == RAGDB_OK && !(b->model = strdup(model_id))) {
			rdb_balancer_free(b);
			st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory");
		}
		if (st == RAGDB_OK) {
			/* Each process starts the rotation somewhere else: short-lived
			 * CLI processes would otherwise all begin at the first. */
			b->turn = (uint64_t)getpid() * 2654435761u ^ (uint64_t)time(NULL);
			b->key = key;
			key = NULL;
			b->next = g_reg;
			g_reg = b;
		}
	}
	pthread_mutex_unlock(&g_reg_mu);
	free(key);
	if (st == RAGDB_OK)
		*out = b;
	return st;
}

size_t rdb_balancer_count(const rdb_balancer *b)
{
	return b ? b->n : 0;
}

const char *rdb_balancer_endpoint(const rdb_balancer *b, size_t i)
{
	return b && i < b->n ? b->ep[i].url : NULL;
}

rdb_balance_policy rdb_balancer_policy(const rdb_balancer *b)
{
	return b ? b->policy : RDB_BAL_ROUND_ROBIN;
}

int rdb_balancer_match(const rdb_balancer *b, const char *url, size_t *prefix_len)
{
	if (!b || !url)
		return -1;
	/* The longest match: one endpoint may be a prefix of another. */
	int best = -1;
	size_t bl = 0;
	for (size_t i = 0; i < b->n; i++) {
		size_t l = strlen(b->ep[i].url);
		if (l >= bl && strncmp(url, b->ep[i].url, l) == 0 &&
		    (url[l] == 0 || url[l] == '/' || url[l] == '?')) {
			best = (int)i;
			bl = l;
		}
	}
	if (best >= 0 && prefix_len)
		*prefix_len = bl;
	return best;
}

static int is_ejected(const bal_ep *e, double now)
{
	return e->ejected_until > now;
}

size_t rdb_balancer_pick(rdb_balancer *b, int avoid, double now)
{
	pthread_mutex_lock(&b->mu);
	size_t n = b->n;
	/* Candidates: not ejected and not the one that just failed; failing
	 * that, not ejected; failing that, none (probe below). */
	size_t nc = 0;
	int mask[RDB_BAL_MAX_ENDPOINTS] = {0};
	for (int pass = 0; pass < 2 && nc == 0; pass++) {
		for (size_t i = 0; i < n; i++) {
			mask[i] = !is_ejected(&b->ep[i], now) && (pass == 1 || (int)i != avoid);
			nc += (size_t)mask[i];
		}
	}
	size_t start = (size_t)(b->turn++ % n);
	size_t pick = start;
	if (nc == 0) {
		/* All ejected: probe the one whose cool-down ends first. */
		pick = 0;
		for (size_t i = 1; i < n; i++)
			if (b->ep[i].ejected_until < b->ep[pick].ejected_until)
				pick = i;
	} else if (b->policy == RDB_BAL_ROUND_ROBIN) {
		for (size_t k = 0; k < n; k++)
			if (mask[(start + k) % n]) {
				pick = (start + k) % n;
				break;
			}
	} else if (b->policy == RDB_BAL_LEAST_LOAD) {
		int found = 0;
		for (size_t k = 0; k < n; k++) {
			size_t i = (start + k) % n;
			if (mask[i] && (!found || b->ep[i].in_flight < b->ep[pick].in_flight)) {
				pick = i;
				found = 1;
			}
		}
	} else {
		/* least_latency: an endpoint never measured and idle first; one
		 * being measured counts as slow as the slowest known. */
		double slowest = 1.0;
		for (size_t i = 0; i < n; i++)
			if (b->ep[i].samples && b->ep[i].ewma_ms > slowest)
				slowest = b->ep[i].ewma_ms;
		int found = 0;
		double best = 0;
		for (size_t k = 0; k < n; k++) {
			size_t i = (start + k) % n;
			if (!mask[i])
				continue;
			const bal_ep *e = &b->ep[i];
			double score;
			if (!e->samples && e->in_flight == 0)
				score = -1.0;
			else
				score = (e->samples ? e->ewma_ms : slowest) * (1.0 + e->in_flight);
			if (!found || score < best) {
				pick = i;
				best = score;
				found = 1;
			}
		}
	}
	b->ep[pick].in_flight++;
	b->ep[pick].requests++;
	pthread_mutex_unlock(&b->mu);
	return pick;
}

void rdb_balancer_report_err(rdb_balancer *b, size_t i, rdb_bal_outcome o, rdb_bal_err k,
                             double latency_ms, double now)
{
	if (!b || i >= b->n)
		return;
	if ((unsigned)k >= RDB_BAL_E_COUNT)
		k = RDB_BAL_E_OTHER;
	if (!(latency_ms >= 0))
		latency_ms = 0;
	pthread_mutex_lock(&b->mu);
	bal_ep *e = &b->ep[i];
	if (e->in_flight > 0)
		e->in_flight--;
	if (o == RDB_BAL_OK) {
		e->consecutive = 0;
		e->ejected_until = 0;
		e->ewma_ms = e->samples ? RDB_BAL_EWMA_ALPHA * latency_ms + (1 - RDB_BAL_EWMA_ALPHA) * e->ewma_ms
		                        : latency_ms;
		e->samples++;
	} else if (o == RDB_BAL_FAIL) {
		e->failures++;
		e->consecutive++;
		if (e->consecutive >= RDB_BAL_EJECT_AFTER)
			e->ejected_until = now + RDB_BAL_EJECT_MS;
	}
	pthread_mutex_unlock(&b->mu);
	atomic_fetch_add_explicit(&e->ended[k], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&e->hist[rdb_metrics_bucket(latency_ms)], 1, memory_order_relaxed);
	/* Microseconds: an integer adds atomically; 2^64 us is 584,000 years. */
	atomic_fetch_add_explicit(&e->lat_sum_us, (unsigned long long)(latency_ms * 1e3),
	                          memory_order_relaxed);
}

void rdb_balancer_report(rdb_balancer *b, size_t i, rdb_bal_outcome o, double latency_ms,
                         double now)
{
	rdb_balancer_report_err(b, i, o, o == RDB_BAL_OK ? RDB_BAL_E_NONE : RDB_BAL_E_OTHER,
	                        latency_ms, now);
}

const char *rdb_bal_err_name(rdb_bal_err e)
{
	static const char *const names[RDB_BAL_E_COUNT] = {
		"ok", "timeout", "connect", "network", "http_4xx", "rate_limited", "http_5xx", "other",
	};
	return (unsigned)e < RDB_BAL_E_COUNT ? names[e] : "other";
}

void rdb_endpoint_public(const char *url, char *out, size_t cap)
{
	if (!url)
		url = "";
	/* The authority starts after "scheme://" (or at the start); a '@'
	 * before the path ends the user and password, which are dropped. */
	const char *sch = strstr(url, "://");
	const char *auth = sch ? sch + 3 : url;
	size_t alen = strcspn(auth, "/?#");
	const char *at = NULL;
	for (const char *p = auth; p < auth + alen; p++)
		if (*p == '@')
			at = p;
	size_t o = 0;
	const char *parts[2][2] = {{url, auth}, {at ? at + 1 : auth, NULL}};
	parts[1][1] = parts[1][0] + strcspn(parts[1][0], "?#");
	for (int k = 0; k < 2; k++)
		for (const char *p = parts[k][0]; p < parts[k][1] && o + 1 < cap; p++)
			out[o++] = *p;
	out[o] = 0;
}

size_t rdb_balancer_stats(rdb_balancer *b, rdb_balancer_stat *out, size_t cap, double now)
{
	if (!b)
		return 0;
	pthread_mutex_lock(&b->mu);
	size_t n = b->n < cap ? b->n : cap;
	for (size_t i = 0; i < n; i++) {
		const bal_ep *e = &b->ep[i];
		out[i] = (rdb_balancer_stat){.endpoint = e->url, .requests = e->requests,
		                             .failures = e->failures, .ewma_ms = e->samples ? e->ewma_ms : 0,
		                             .in_flight = e->in_flight, .ejected = is_ejected(e, now)};
	}
	pthread_mutex_unlock(&b->mu);
	for (size_t i = 0; i < n; i++) {
		bal_ep *e = &b->ep[i];
		for (size_t k = 0; k < RDB_BAL_E_COUNT; k++)
			out[i].ended[k] = atomic_load_explicit(&e->ended[k], memory_order_relaxed);
		uint64_t cnt = 0;
		for (size_t k = 0; k <= RDB_METRICS_N_BUCKETS; k++) {
			out[i].hist[k] = atomic_load_explicit(&e->hist[k], memory_order_relaxed);
			cnt += out[i].hist[k];
		}
		out[i].latency_count = cnt;
		out[i].latency_sum_ms =
			(double)atomic_load_explicit(&e->lat_sum_us, memory_order_relaxed) / 1e3;
	}
	return n;
}

static int cmp_rows(const void *a, const void *b)
{
	const rdb_endpoint_metrics *x = a, *y = b;
	int c = strcmp(x->model, y->model);
	return c ? c : strcmp(x->endpoint, y->endpoint);
}

/* Add @p s into @p r (the same model and public URL). */
static void add_stat(rdb_balancer_stat *r, const rdb_balancer_stat *s)
{
	r->requests += s->requests;
	r->failures += s->failures;
	/* The freshest figure wins: the latest balancer is the one in use. */
	if (s->ewma_ms > 0 && r->ewma_ms == 0)
		r->ewma_ms = s->ewma_ms;
	r->in_flight += s->in_flight;
	r->ejected |= s->ejected;
	for (size_t k = 0; k < RDB_BAL_E_COUNT; k++)
		r->ended[k] += s->ended[k];
	for (size_t k = 0; k <= RDB_METRICS_N_BUCKETS; k++)
		r->hist[k] += s->hist[k];
	r->latency_count += s->latency_count;
	r->latency_sum_ms += s->latency_sum_ms;
}

ragdb_status rdb_balancer_metrics_all(rdb_endpoint_metrics **out, size_t *n, double now)
{
	rdb_endpoint_metrics *rows = NULL;
	rdb_balancer_stat *st = malloc(sizeof *st * RDB_BAL_MAX_ENDPOINTS);
	size_t nr = 0;
	if (!st)
		return RAGDB_ENOMEM;
	pthread_mutex_lock(&g_reg_mu);
	size_t nb = 0;
	for (rdb_balancer *b = g_reg; b; b = b->next)
		nb++;
	/* Rows: at most every endpoint once, and never above the cap. */
	size_t cap = nb > RDB_BAL_METRICS_MAX / RDB_BAL_MAX_ENDPOINTS ? RDB_BAL_METRICS_MAX
	                                                              : nb * RDB_BAL_MAX_ENDPOINTS;
	if (cap && !(rows = calloc(cap, sizeof *rows))) {
		pthread_mutex_unlock(&g_reg_mu);
		free(st);
		return RAGDB_ENOMEM;
	}
	/* The list holds the newest first: that one's figures are met first. */
	for (rdb_balancer *b = g_reg; b; b = b->next) {
		size_t ns = rdb_balancer_stats(b, st, RDB_BAL_MAX_ENDPOINTS, now);
		for (size_t i = 0; i < ns; i++) {
			char pub[sizeof rows->endpoint];
			rdb_endpoint_public(st[i].endpoint, pub, sizeof pub);
			st[i].endpoint = NULL;
			size_t r;
			for (r = 0; r < nr; r++)
				if (strcmp(rows[r].endpoint, pub) == 0 && strcmp(rows[r].model, b->model) == 0)
					break;
			if (r < nr) {
				add_stat(&rows[r].s, &st[i]);
			} else if (nr < cap) {
				snprintf(rows[nr].model, sizeof rows[nr].model, "%s", b->model);
				memcpy(rows[nr].endpoint, pub, sizeof pub);
				rows[nr].s = st[i];
				nr++;
			}
		}
	}
	pthread_mutex_unlock(&g_reg_mu);
	free(st);
	if (nr > 1)
		qsort(rows, nr, sizeof *rows, cmp_rows);
	if (!nr) {
		free(rows);
		rows = NULL;
	}
	*out = rows;
	*n = nr;
	return RAGDB_OK;
}
