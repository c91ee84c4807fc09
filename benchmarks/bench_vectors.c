/*
 * benchmarks/bench_vectors.c — one ragdb knowledge base of imported vectors,
 * measured in-process through the public API only (include/ragdb.h), for
 * benchmarks/bench_peers.sh, which runs the same measurements on FAISS,
 * hnswlib, sqlite-vec and usearch:
 *
 *   cold start   ragdb_open (read-only) + the first single query, with the
 *                file in the page cache (the caller reads it first);
 *   single QPS   ragdb_search_vectors with n = 1 in a loop, one query after
 *                another, until every query ran or --single-seconds passed;
 *                with --threads T other than 1, again on one thread (qps1_1t,
 *                to compare with libraries that search one query on one);
 *   batch QPS    all queries in one ragdb_search_vectors call, after an
 *                untimed batch of a few queries: the first batch of a
 *                process picks its kernel path by timing them once
 *                (engine/kernels/batch.c), a one-time cost reported apart
 *                as first_batch_ms;
 *   recall@k     of the batch lists (and of the single ones) against the
 *                exact top-k given as --gt (row numbers = the ids that
 *                `ragdb import-vectors` gives);
 *   peak RSS     getrusage ru_maxrss, and from /proc/self/status how much of
 *                the resident memory is the file map (RssFile) and how much
 *                is the process's own (RssAnon).
 *
 *   bench_vectors --db DIR --queries Q.fbin --gt GT.ibin [-k K] [--threads T]
 *                 [--oversample O] [--nprobe N] [--exact] [--single-seconds S]
 *                 [--label NAME]
 *
 * --nprobe N searches the IVF index with N lists (ragdb index build);
 * --exact ignores an IVF index (the exact scan), whatever the size.
 *
 * .fbin: int32 n, int32 d, then n x d float32. .ibin: int32 n, int32 k, then
 * n x k int32. Prints one JSON line on stdout; exit 1 on any failure.
 * Never used in tests: timings here are for people to read, not to assert.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "ragdb.h"

/* Files larger than this are not query or ground-truth files. */
#define BV_MAX_FILE_VALUES (64u * 1024u * 1024u)

typedef struct bv_opts {
	const char *db, *queries, *gt, *label;
	uint32_t k, oversample, nprobe;
	int threads, exact;
	double single_seconds;
} bv_opts;

static double bv_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Reads a header (int32 rows, int32 cols) and rows x cols 4-byte values.
 * Returns the values (free()) or NULL with a message on stderr. */
static void *bv_read_matrix(const char *path, uint32_t *rows, uint32_t *cols)
{
	void *data = NULL;
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "bench_vectors: cannot open %s\n", path);
		return NULL;
	}
	int32_t h[2];
	if (fread(h, sizeof h[0], 2, f) != 2 || h[0] <= 0 || h[1] <= 0 ||
	    (uint64_t)h[0] * (uint64_t)h[1] > BV_MAX_FILE_VALUES) {
		fprintf(stderr, "bench_vectors: %s: expected a header int32 n > 0, int32 d > 0 "
		        "with n x d <= %u; found something else\n", path, BV_MAX_FILE_VALUES);
		goto out_close;
	}
	size_t nv = (size_t)h[0] * (size_t)h[1];
	data = malloc(nv * 4);
	if (!data) {
		fprintf(stderr, "bench_vectors: out of memory for %s\n", path);
		goto out_close;
	}
	if (fread(data, 4, nv, f) != nv) {
		fprintf(stderr, "bench_vectors: %s is shorter than its header says (%d x %d)\n",
		        path, h[0], h[1]);
		free(data);
		data = NULL;
		goto out_close;
	}
	*rows = (uint32_t)h[0];
	*cols = (uint32_t)h[1];
out_close:
	fclose(f);
	return data;
}

/* Hits of @p r whose id (a row number) is among the first k of @p truth. */
static uint32_t bv_hits(const ragdb_results *r, const int32_t *truth, uint32_t k)
{
	uint32_t found = 0;
	for (size_t i = 0; i < r->n && i < k; i++) {
		char *end;
		long id = strtol(r->hits[i].id, &end, 10);
		if (*end)
			continue; /* not an import-vectors id: cannot be in the truth */
		for (uint32_t j = 0; j < k; j++)
			if (truth[j] == id) {
				found++;
				break;
			}
	}
	return found;
}

/* kB from a "Key:   123 kB" line of /proc/self/status; -1 if absent. */
static long bv_status_kb(const char *key)
{
	char line[256];
	long v = -1;
	size_t kl = strlen(key);
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* Single queries one after another from the first, until all ran or
 * @p seconds passed (at least 5). Returns the count, or 0 on a failure. */
static uint32_t bv_single(ragdb *db, const float *q, uint32_t nq, uint32_t dim,
                          const ragdb_search_options *so, double seconds, const int32_t *gt,
                          uint32_t kgt, uint64_t *hits, double *elapsed)
{
	uint32_t n = 0;
	double t0 = bv_now(), t = 0;
	*hits = 0;
	while (n < nq && (n < 5 || t < seconds)) {
		ragdb_results *r = NULL;
		if (ragdb_search_vectors(db, q + (size_t)n * dim, 1, dim, so, &r) != RAGDB_OK) {
			fprintf(stderr, "bench_vectors: single query %u: %s\n", n, ragdb_errmsg(db));
			return 0;
		}
		*hits += bv_hits(r, gt + (size_t)n * kgt, so->k);
		ragdb_results_free(r);
		n++;
		t = bv_now() - t0;
	}
	*elapsed = t;
	return n;
}

static int bv_usage(void)
{
	fprintf(stderr, "usage: bench_vectors --db DIR --queries Q.fbin --gt GT.ibin [-k K] "
	        "[--threads T] [--oversample O] [--nprobe N] [--exact] [--single-seconds S] "
	        "[--label NAME]\n");
	return 2;
}

static int bv_parse(int argc, char **argv, bv_opts *o)
{
	*o = (bv_opts){ .k = 10, .single_seconds = 5.0, .label = "ragdb" };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--exact")) {
			o->exact = 1;
			continue;
		}
		if (!v)
			return -1;
		if (!strcmp(a, "--db"))
			o->db = v;
		else if (!strcmp(a, "--queries"))
			o->queries = v;
		else if (!strcmp(a, "--gt"))
			o->gt = v;
		else if (!strcmp(a, "--label"))
			o->label = v;
		else if (!strcmp(a, "-k") || !strcmp(a, "--k"))
			o->k = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--threads"))
			o->threads = atoi(v);
		else if (!strcmp(a, "--oversample"))
			o->oversample = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--nprobe"))
			o->nprobe = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--single-seconds"))
			o->single_seconds = atof(v);
		else
			return -1;
		i++;
	}
	if (!o->db || !o->queries || !o->gt || o->k == 0 || o->k > 1000 || o->threads < 0)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	bv_opts o;
	if (bv_parse(argc, argv, &o))
		return bv_usage();
	int rc = 1;
	uint32_t nq, dim, ngt, kgt;
	ragdb *db = NULL;
	ragdb_results *r = NULL, *batch = NULL;
	int32_t *gt = NULL;
	float *q = bv_read_matrix(o.queries, &nq, &dim);
	if (!q)
		return 1;
	gt = bv_read_matrix(o.gt, &ngt, &kgt);
	if (!gt)
		goto out_free_q;
	if (ngt < nq || kgt < o.k) {
		fprintf(stderr, "bench_vectors: %s holds %u x %u ids; %u queries with k = %u need "
		        "at least %u x %u\n", o.gt, ngt, kgt, nq, o.k, nq, o.k);
		goto out_free_gt;
	}
	ragdb_search_options so = { .k = o.k, .threads = o.threads, .mode = RAGDB_MODE_VECTOR,
	                            .oversample = o.oversample, .nprobe = o.nprobe,
	                            .exact = o.exact };

	/* Cold start: the file is in the page cache, the process is not. */
	double t0 = bv_now();
	ragdb_status st = ragdb_open(o.db, RAGDB_RDONLY, &db);
	if (st == RAGDB_OK)
		st = ragdb_search_vectors(db, q, 1, dim, &so, &r);
	double cold = bv_now() - t0;
	if (st != RAGDB_OK) {
		fprintf(stderr, "bench_vectors: %s: %s\n", o.db, db ? ragdb_errmsg(db) :
		        ragdb_strerror(st));
		goto out_close;
	}
	ragdb_results_free(r);
	r = NULL;

	/* Single queries, one after another, bounded in time; on one thread too. */
	uint64_t single_hits, hits_1t;
	double t_single, t_1t = 0;
	uint32_t n_single = bv_single(db, q, nq, dim, &so, o.single_seconds, gt, kgt,
	                              &single_hits, &t_single);
	uint32_t n_1t = 0;
	if (n_single && o.threads != 1) {
		ragdb_search_options so1 = so;
		so1.threads = 1;
		n_1t = bv_single(db, q, nq, dim, &so1, o.single_seconds, gt, kgt, &hits_1t, &t_1t);
		if (!n_1t)
			goto out_close;
	}
	if (!n_single)
		goto out_close;

	/* The first batch of the process, with its one-time path choice. */
	uint32_t n_warm = nq < 16 ? nq : 16;
	t0 = bv_now();
	st = ragdb_search_vectors(db, q, n_warm, dim, &so, &batch);
	double t_warm = bv_now() - t0;
	if (st != RAGDB_OK) {
		fprintf(stderr, "bench_vectors: batch of %u: %s\n", n_warm, ragdb_errmsg(db));
		goto out_close;
	}
	ragdb_results_free_array(batch, n_warm);
	batch = NULL;

	/* All queries in one call. */
	t0 = bv_now();
	st = ragdb_search_vectors(db, q, nq, dim, &so, &batch);
	double t_batch = bv_now() - t0;
	if (st != RAGDB_OK) {
		fprintf(stderr, "bench_vectors: batch of %u: %s\n", nq, ragdb_errmsg(db));
		goto out_close;
	}
	uint64_t batch_hits = 0;
	for (uint32_t i = 0; i < nq; i++)
		batch_hits += bv_hits(&batch[i], gt + (size_t)i * kgt, o.k);

	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("{\"label\":\"%s\",\"quantize\":\"%s\",\"nprobe\":%u,\"exact\":%d,"
	       "\"threads\":%d,\"k\":%u,\"queries\":%u,"
	       "\"dim\":%u,\"cold_ms\":%.3f,\"n_single\":%u,\"qps1\":%.3f,\"qps1_1t\":%.3f,\"qps_batch\":%.3f,"
	       "\"batch_s\":%.4f,\"first_batch_ms\":%.3f,\"recall\":%.5f,\"recall_single\":%.5f,\"rss_mb\":%.1f,"
	       "\"rss_anon_mb\":%.1f,\"rss_file_mb\":%.1f}\n",
	       o.label, ragdb_quantization(db), o.nprobe, o.exact, o.threads, o.k, nq, dim,
	       cold * 1e3, n_single, n_single / t_single,
	       n_1t ? n_1t / t_1t : n_single / t_single, nq / t_batch, t_batch, t_warm * 1e3,
	       (double)batch_hits / ((double)nq * o.k),
	       (double)single_hits / ((double)n_single * o.k), ru.ru_maxrss / 1024.0,
	       bv_status_kb("RssAnon") / 1024.0, bv_status_kb("RssFile") / 1024.0);
	rc = 0;
	ragdb_results_free_array(batch, nq);
out_close:
	ragdb_close(db);
out_free_gt:
	free(gt);
out_free_q:
	free(q);
	return rc;
}
