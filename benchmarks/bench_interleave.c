/*
 * benchmarks/bench_interleave.c — single-query speed of several knowledge
 * bases holding the same vectors (f32 and its quantized copies, say),
 * measured turn by turn: each query runs on every knowledge base before
 * the next query starts, so a change in what the machine gives (on a shared
 * VM, memory bandwidth drifts by 10-20% within a minute) falls on all of
 * them alike and their ratio holds still. bench_peers.sh uses it for the
 * quantized-vs-f32 ratios; the per-row QPS of its table are measured one
 * knowledge base after another (bench_vectors) and drift between rows.
 *
 *   bench_interleave --queries Q.fbin [-k K] [--threads T] [--seconds S]
 *                    DB [DB...]
 *
 * Runs query i on DB (i + j) mod n for j = 0..n-1 (the order rotates, so
 * no knowledge base always follows the same one), until every query ran
 * or S seconds passed (default 20). Each knowledge base is opened
 * read-only and warmed with one query first; the files should be in the
 * page cache (the caller reads them). Prints one JSON line:
 *   {"queries":N,"threads":T,"dbs":[{"db":...,"quantize":...,
 *    "median_ms":...,"mean_ms":...,"speed_vs_first":...}, ...]}
 * where speed_vs_first is the first knowledge base's median over this
 * one's. Exit 1 on any failure. Never used in tests.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ragdb.h"

#define BI_MAX_DBS 8
#define BI_MAX_VALUES (64u * 1024u * 1024u)

static double bi_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int bi_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The .fbin queries (int32 n, int32 d, n x d float32), or NULL. */
static float *bi_read_fbin(const char *path, uint32_t *n, uint32_t *d)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "bench_interleave: cannot open %s\n", path);
		return NULL;
	}
	float *q = NULL;
	int32_t h[2];
	if (fread(h, 4, 2, f) != 2 || h[0] <= 0 || h[1] <= 0 ||
	    (uint64_t)h[0] * (uint64_t)h[1] > BI_MAX_VALUES) {
		fprintf(stderr, "bench_interleave: %s: expected int32 n > 0, int32 d > 0, then n x d "
		        "float32\n", path);
		goto out;
	}
	size_t nv = (size_t)h[0] * (size_t)h[1];
	if (!(q = malloc(nv * sizeof *q)) || fread(q, 4, nv, f) != nv) {
		fprintf(stderr, "bench_interleave: cannot read %zu floats from %s\n", nv, path);
		free(q);
		q = NULL;
		goto out;
	}
	*n = (uint32_t)h[0];
	*d = (uint32_t)h[1];
out:
	fclose(f);
	return q;
}

static void bi_usage(void)
{
	fprintf(stderr, "usage: bench_interleave --queries Q.fbin [-k K] [--threads T] "
	        "[--seconds S] DB [DB...]\n");
}

int main(int argc, char **argv)
{
	const char *qpath = NULL, *dirs[BI_MAX_DBS];
	size_t nd = 0;
	uint32_t k = 10;
	int threads = 0;
	double seconds = 20;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int more = i + 1 < argc;
		if (!strcmp(a, "--queries") && more)
			qpath = argv[++i];
		else if (!strcmp(a, "-k") && more)
			k = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(a, "--threads") && more)
			threads = atoi(argv[++i]);
		else if (!strcmp(a, "--seconds") && more)
			seconds = atof(argv[++i]);
		else if (a[0] == '-') {
			bi_usage();
			return 1;
		} else if (nd < BI_MAX_DBS) {
			dirs[nd++] = a;
		} else {
			fprintf(stderr, "bench_interleave: at most %d knowledge bases\n", BI_MAX_DBS);
			return 1;
		}
	}
	if (!qpath || nd == 0 || k == 0 || seconds <= 0) {
		bi_usage();
		return 1;
	}
	uint32_t nq = 0, dim = 0;
	float *qs = bi_read_fbin(qpath, &nq, &dim);
	if (!qs)
		return 1;
	int rc = 1;
	ragdb *db[BI_MAX_DBS] = {0};
	double *t[BI_MAX_DBS] = {0};
	ragdb_search_options so;
	memset(&so, 0, sizeof so);
	so.k = k;
	so.threads = threads;
	for (size_t i = 0; i < nd; i++) {
		ragdb_results *r = NULL;
		if (ragdb_open(dirs[i], RAGDB_RDONLY, &db[i]) != RAGDB_OK) {
			fprintf(stderr, "bench_interleave: cannot open %s: %s\n", dirs[i],
			        ragdb_errmsg(db[i]));
			goto out;
		}
		if (!(t[i] = malloc(nq * sizeof *t[i])) ||
		    ragdb_search_vectors(db[i], qs, 1, dim, &so, &r) != RAGDB_OK) {
			fprintf(stderr, "bench_interleave: a search of %s failed: %s\n", dirs[i],
			        ragdb_errmsg(db[i]));
			goto out;
		}
		ragdb_results_free_array(r, 1);
	}
	uint32_t ran = 0;
	const double t_end = bi_now() + seconds;
	for (; ran < nq && bi_now() < t_end; ran++) {
		for (size_t j = 0; j < nd; j++) {
			size_t i = (ran + j) % nd;
			ragdb_results *r = NULL;
			double t0 = bi_now();
			if (ragdb_search_vectors(db[i], qs + (size_t)ran * dim, 1, dim, &so, &r) != RAGDB_OK) {
				fprintf(stderr, "bench_interleave: a search of %s failed: %s\n", dirs[i],
				        ragdb_errmsg(db[i]));
				goto out;
			}
			t[i][ran] = (bi_now() - t0) * 1e3;
			ragdb_results_free_array(r, 1);
		}
	}
	printf("{\"queries\":%u,\"threads\":%d,\"dbs\":[", ran, threads);
	double first = 0;
	for (size_t i = 0; i < nd; i++) {
		double sum = 0;
		for (uint32_t q = 0; q < ran; q++)
			sum += t[i][q];
		qsort(t[i], ran, sizeof *t[i], bi_cmp);
		double med = ran ? t[i][ran / 2] : 0;
		if (i == 0)
			first = med;
		printf("%s{\"db\":\"%s\",\"quantize\":\"%s\",\"median_ms\":%.3f,\"mean_ms\":%.3f,"
		       "\"speed_vs_first\":%.3f}", i ? "," : "", dirs[i], ragdb_quantization(db[i]), med,
		       ran ? sum / ran : 0, med > 0 ? first / med : 0);
	}
	printf("]}\n");
	rc = 0;
out:
	for (size_t i = 0; i < nd; i++) {
		ragdb_close(db[i]);
		free(t[i]);
	}
	free(qs);
	return rc;
}
