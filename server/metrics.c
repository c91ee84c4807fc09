/*
 * server/metrics.c — the server's counters and their Prometheus text
 * exposition (/metrics): HTTP requests by route and status, latency
 * histograms by route, requests refused by the rate limit, documents and
 * chunks ingested through the API, live gauges (in-flight requests,
 * streams, connections), the knowledge base's size from ragdb_get_stats,
 * and per model, and per endpoint of a balanced model, the engine's
 * counters (ragdb_model_metrics_prometheus; endpoint URLs stripped of
 * credentials there).
 *
 * Counters are lock-free atomics indexed by route id and status slot: the
 * label sets are fixed, so memory and scrape size stay bounded whatever
 * clients send.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/internal.h"

static const int status_codes[] = { 200, 201, 204, 400, 401, 403, 404, 405, 409, 413,
                                    415, 429, 499, 500, 502, 503, 507 };
#define N_STATUS (sizeof status_codes / sizeof status_codes[0] + 1) /* + "other" */

static const double buckets[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                  0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

struct srv_metrics {
	atomic_ullong requests[SRV_R_COUNT][N_STATUS];
	atomic_ullong hist[SRV_R_COUNT][N_BUCKETS]; /* non-cumulative; summed when rendered */
	atomic_ullong hist_count[SRV_R_COUNT];
	atomic_ullong hist_sum_us[SRV_R_COUNT];
	atomic_ullong rate_limited;
	atomic_ullong ingest_requests;
	atomic_ullong docs_added, docs_replaced, docs_unchanged, docs_failed, chunks, bytes;
};

srv_metrics *srv_metrics_create(void)
{
	/* calloc gives zeroed atomics: valid initial values for lock-free types. */
	return calloc(1, sizeof(srv_metrics));
}

void srv_metrics_free(srv_metrics *m)
{
	free(m);
}

static size_t status_slot(int status)
{
	for (size_t i = 0; i < N_STATUS - 1; i++)
		if (status_codes[i] == status)
			return i;
	return N_STATUS - 1;
}

void srv_metrics_request(rdb_srv *srv, srv_route_id route, int status, double seconds)
{
	srv_metrics *m = srv_get_metrics(srv);
	size_t b = 0;

	if ((unsigned)route >= SRV_R_COUNT)
		route = SRV_R_NOTFOUND;
	atomic_fetch_add(&m->requests[route][status_slot(status)], 1);
	while (b < N_BUCKETS && seconds > buckets[b])
		b++;
	if (b < N_BUCKETS)
		atomic_fetch_add(&m->hist[route][b], 1);
	atomic_fetch_add(&m->hist_count[route], 1);
	atomic_fetch_add(&m->hist_sum_us[route], (unsigned long long)(seconds * 1e6));
}

void srv_metrics_ingest(rdb_srv *srv, const ragdb_ingest_summary *s)
{
	srv_metrics *m = srv_get_metrics(srv);

	atomic_fetch_add(&m->ingest_requests, 1);
	atomic_fetch_add(&m->docs_added, s->added);
	atomic_fetch_add(&m->docs_replaced, s->replaced);
	atomic_fetch_add(&m->docs_unchanged, s->unchanged);
	atomic_fetch_add(&m->docs_failed, s->failed);
	atomic_fetch_add(&m->chunks, s->chunks);
	atomic_fetch_add(&m->bytes, s->bytes);
}

void srv_metrics_rate_limited(rdb_srv *srv)
{
	atomic_fetch_add(&srv_get_metrics(srv)->rate_limited, 1);
}

/* A growing text buffer, capped (the exposition is a few tens of KB). */
typedef struct mbuf {
	char *p;
	size_t len, cap;
	int oom;
} mbuf;

#define MBUF_MAX (4u << 20)

static void mb_printf(mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mb_printf(mbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t ncap = b->cap * 2;
		char *np;
		if (ncap > MBUF_MAX || !(np = realloc(b->p, ncap))) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
}

static void header(mbuf *b, const char *name, const char *type, const char *help)
{
	mb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

char *srv_metrics_render(rdb_srv *srv, size_t *len)
{
	srv_metrics *m = srv_get_metrics(srv);
	mbuf b = { malloc(16384), 0, 16384, 0 };
	ragdb_stats s;
	long in_flight, streams, conns;

	if (!b.p)
		return NULL;
	header(&b, "ragdb_http_requests_total", "counter", "HTTP requests by route and status.");
	for (int r = 0; r < SRV_R_COUNT; r++) {
		for (size_t k = 0; k < N_STATUS; k++) {
			unsigned long long v = atomic_load(&m->requests[r][k]);
			if (!v)
				continue;
			if (k < N_STATUS - 1)
				mb_printf(&b, "ragdb_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
				          srv_route_label((srv_route_id)r), status_codes[k], v);
			else
				mb_printf(&b, "ragdb_http_requests_total{route=\"%s\",status=\"other\"} %llu\n",
				          srv_route_label((srv_route_id)r), v);
		}
	}
	header(&b, "ragdb_http_request_duration_seconds", "histogram",
	       "Time from a request's first byte to its completion, by route.");
	for (int r = 0; r < SRV_R_COUNT; r++) {
		unsigned long long count = atomic_load(&m->hist_count[r]), cum = 0;
		const char *label = srv_route_label((srv_route_id)r);
		if (!count)
			continue;
		for (size_t k = 0; k < N_BUCKETS; k++) {
			cum += atomic_load(&m->hist[r][k]);
			mb_printf(&b, "ragdb_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
			          label, buckets[k], cum);
		}
		mb_printf(&b, "ragdb_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
		          label, count);
		mb_printf(&b, "ragdb_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", label,
		          (double)atomic_load(&m->hist_sum_us[r]) / 1e6);
		mb_printf(&b, "ragdb_http_request_duration_seconds_count{route=\"%s\"} %llu\n", label,
		          count);
	}
	header(&b, "ragdb_http_rate_limited_total", "counter",
	       "Requests refused with 429 by the per-client rate limit.");
	mb_printf(&b, "ragdb_http_rate_limited_total %llu\n", atomic_load(&m->rate_limited));

	srv_get_gauges(srv, &in_flight, &streams, &conns);
	header(&b, "ragdb_http_requests_in_flight", "gauge", "Requests being served.");
	mb_printf(&b, "ragdb_http_requests_in_flight %ld\n", in_flight);
	header(&b, "ragdb_http_streams_active", "gauge", "Streaming answers being written.");
	mb_printf(&b, "ragdb_http_streams_active %ld\n", streams);
	header(&b, "ragdb_http_connections", "gauge", "Open HTTP connections.");
	mb_printf(&b, "ragdb_http_connections %ld\n", conns);
	header(&b, "ragdb_http_slow_clients_dropped_total", "counter",
	       "Connections closed because their request came too slowly (request_timeout).");
	mb_printf(&b, "ragdb_http_slow_clients_dropped_total %ld\n", srv_get_slow_dropped(srv));

	header(&b, "ragdb_ingest_requests_total", "counter", "Document writes through the API.");
	mb_printf(&b, "ragdb_ingest_requests_total %llu\n", atomic_load(&m->ingest_requests));
	header(&b, "ragdb_ingest_documents_total", "counter",
	       "Documents sent through the API, by what happened to them.");
	mb_printf(&b, "ragdb_ingest_documents_total{action=\"added\"} %llu\n",
	          atomic_load(&m->docs_added));
	mb_printf(&b, "ragdb_ingest_documents_total{action=\"replaced\"} %llu\n",
	          atomic_load(&m->docs_replaced));
	mb_printf(&b, "ragdb_ingest_documents_total{action=\"unchanged\"} %llu\n",
	          atomic_load(&m->docs_unchanged));
	mb_printf(&b, "ragdb_ingest_documents_total{action=\"failed\"} %llu\n",
	          atomic_load(&m->docs_failed));
	header(&b, "ragdb_ingest_chunks_total", "counter", "Chunks written through the API.");
	mb_printf(&b, "ragdb_ingest_chunks_total %llu\n", atomic_load(&m->chunks));
	header(&b, "ragdb_ingest_bytes_total", "counter", "Bytes of text ingested through the API.");
	mb_printf(&b, "ragdb_ingest_bytes_total %llu\n", atomic_load(&m->bytes));

	if (ragdb_get_stats(srv_get_db(srv), &s) == RAGDB_OK) {
		header(&b, "ragdb_index_documents", "gauge", "Documents in the knowledge base.");
		mb_printf(&b, "ragdb_index_documents %llu\n", (unsigned long long)s.documents);
		header(&b, "ragdb_index_chunks", "gauge", "Chunks in the knowledge base.");
		mb_printf(&b, "ragdb_index_chunks %llu\n", (unsigned long long)s.chunks);
		header(&b, "ragdb_index_vectors", "gauge", "Vectors, live and tombstoned (until compact).");
		mb_printf(&b, "ragdb_index_vectors{state=\"live\"} %llu\n",
		          (unsigned long long)s.vectors_live);
		mb_printf(&b, "ragdb_index_vectors{state=\"dead\"} %llu\n",
		          (unsigned long long)s.vectors_dead);
		header(&b, "ragdb_index_text_bytes", "gauge", "Bytes of document text.");
		mb_printf(&b, "ragdb_index_text_bytes %llu\n", (unsigned long long)s.text_bytes);
		header(&b, "ragdb_index_file_bytes", "gauge", "Size of the data file.");
		mb_printf(&b, "ragdb_index_file_bytes %llu\n", (unsigned long long)s.file_bytes);
		header(&b, "ragdb_index_map_bytes", "gauge", "Size of the memory map.");
		mb_printf(&b, "ragdb_index_map_bytes %llu\n", (unsigned long long)s.map_bytes);
		header(&b, "ragdb_index_info", "gauge", "The knowledge base's embedder and kernel.");
		mb_printf(&b, "ragdb_index_info{embedder=\"%s\",model=\"%s\",dim=\"%u\",kernel=\"%s\"} 1\n",
		          s.embedder, s.embedder_model, s.dim, s.kernel);
	}
	uint64_t passes = 0, shared = 0;
	if (ragdb_scan_stats(srv_get_db(srv), &passes, &shared) == RAGDB_OK) {
		header(&b, "ragdb_search_scan_passes_total", "counter",
		       "Passes over the vectors by exact and quantized scans.");
		mb_printf(&b, "ragdb_search_scan_passes_total %llu\n", (unsigned long long)passes);
		header(&b, "ragdb_search_scan_shared_total", "counter",
		       "Searches answered by a pass they shared with other searches.");
		mb_printf(&b, "ragdb_search_scan_shared_total %llu\n", (unsigned long long)shared);
	}
	/* Per model (embedders and language models): the engine renders them. */
	char *mm = ragdb_model_metrics_prometheus(NULL);
	if (mm)
		mb_printf(&b, "%s", mm);
	else
		b.oom = 1;
	free(mm);
	header(&b, "ragdb_build_info", "gauge", "The ragdb version serving.");
	mb_printf(&b, "ragdb_build_info{version=\"%s\"} 1\n", ragdb_version());
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}
