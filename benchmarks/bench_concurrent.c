/*
 * benchmarks/bench_concurrent.c — many clients searching one knowledge base
 * at once, with shared scans (engine/share.c) and without, taking turns.
 *
 *   bench_concurrent --queries Q.fbin [-k K] [--clients C[,C...]]
 *                    [--seconds S] [--rounds R] [--threads T] DB
 *
 * For each client count C: R rounds, each running C threads that search
 * the queries (one vector each, ragdb_search_vectors, k = K) for S seconds
 * with shared scans, then S seconds with RAGDB_SHARED_SCANS=0 (the handle
 * is reopened for each phase, since the setting is read at open; the
 * order alternates between rounds). Every search is timed. Prints, per C
 * and mode: searches, QPS, median and p95 latency; then the QPS ratio
 * shared / alone over all rounds, and whether every query searched in both
 * modes got the same hits (ids and scores, bit for bit).
 *
 * Defaults: K 10, clients 1,2,4,8,16, S 5, R 3, T 0 (the library's
 * default scan threads). The files should be in the page cache. Never used
 * in tests.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ragdb.h"

#define BC_MAX_CLIENTS 256
#define BC_MAX_VALUES (64u * 1024u * 1024u)
#define BC_MAX_SEARCHES (1u << 20)

static double bc_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int bc_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static float *bc_read_fbin(const char *path, uint32_t *n, uint32_t *d)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "bench_concurrent: cannot open %s\n", path);
		return NULL;
	}
	float *q = NULL;
	int32_t h[2];
	if (fread(h, 4, 2, f) != 2 || h[0] <= 0 || h[1] <= 0 ||
	    (uint64_t)h[0] * (uint64_t)h[1] > BC_MAX_VALUES) {
		fprintf(stderr, "bench_concurrent: %s: expected int32 n > 0, int32 d > 0, then n x d "
		                "float32\n", path);
	} else if (!(q = malloc((size_t)h[0] * (size_t)h[1] * sizeof *q)) ||
	           fread(q, sizeof *q, (size_t)h[0] * (size_t)h[1], f) != (size_t)h[0] * (size_t)h[1]) {
		fprintf(stderr, "bench_concurrent: %s: short file\n", path);
		free(q);
		q = NULL;
	} else {
		*n = (uint32_t)h[0];
		*d = (uint32_t)h[1];
	}
	fclose(f);
	return q;
}

/* The first hits each query got in each mode, to compare the modes. */
typedef struct bc_seen {
	int have[2];
	size_t n[2];
	char ids[2][64][40];
	float scores[2][64];
} bc_seen;

typedef struct bc_run {
	ragdb *db;
	const float *qs;
	uint32_t nq, dim;
	ragdb_search_options so;
	int mode;              /* 0 shared, 1 alone */
	double until;
	unsigned next;         /* next query (atomic) */
	double *lat;           /* latencies in ms (BC_MAX_SEARCHES) */
	unsigned nlat;         /* (atomic) */
	bc_seen *seen;
	pthread_mutex_t seen_mu;
	int failed;
} bc_run;

static void *bc_client(void *arg)
{
	bc_run *r = arg;
	for (;;) {
		double t0 = bc_now();
		if (t0 >= r->until)
			break;
		unsigned i = __atomic_fetch_add(&r->next, 1, __ATOMIC_RELAXED) % r->nq;
		ragdb_results *res = NULL;
		if (ragdb_search_vectors(r->db, r->qs + (size_t)i * r->dim, 1, r->dim, &r->so, &res) !=
		    RAGDB_OK) {
			fprintf(stderr, "bench_concurrent: search failed: %s\n", ragdb_errmsg(r->db));
			__atomic_store_n(&r->failed, 1, __ATOMIC_RELAXED);
			break;
		}
		double ms = (bc_now() - t0) * 1e3;
		unsigned at = __atomic_fetch_add(&r->nlat, 1, __ATOMIC_RELAXED);
		if (at < BC_MAX_SEARCHES)
			r->lat[at] = ms;
		pthread_mutex_lock(&r->seen_mu);
		bc_seen *s = &r->seen[i];
		if (!s->have[r->mode]) {
			s->have[r->mode] = 1;
			s->n[r->mode] = res->n < 64 ? res->n : 64;
			for (size_t h = 0; h < s->n[r->mode]; h++) {
				snprintf(s->ids[r->mode][h], sizeof s->ids[r->mode][h], "%s", res->hits[h].id);
				s->scores[r->mode][h] = res->hits[h].score;
			}
		}
		pthread_mutex_unlock(&r->seen_mu);
		ragdb_results_free(res);
	}
	return NULL;
}

typedef struct bc_total {
	double seconds;
	unsigned searches;
	double *lat;
	unsigned nlat;
} bc_total;

/* One phase: open the handle (sharing on or off), warm it, run the clients. */
static int bc_phase(const char *dir, bc_run *r, int clients, double seconds, bc_total *tot)
{
	if (r->mode)
		setenv("RAGDB_SHARED_SCANS", "0", 1);
	else
		unsetenv("RAGDB_SHARED_SCANS");
	if (ragdb_open(dir, RAGDB_RDONLY, &r->db) != RAGDB_OK) {
		fprintf(stderr, "bench_concurrent: cannot open %s: %s\n", dir, ragdb_errmsg(r->db));
		ragdb_close(r->db);
		return -1;
	}
	ragdb_results *res = NULL;
	if (ragdb_search_vectors(r->db, r->qs, 1, r->dim, &r->so, &res) != RAGDB_OK) {
		fprintf(stderr, "bench_concurrent: %s: %s\n", dir, ragdb_errmsg(r->db));
		ragdb_close(r->db);
		return -1;
	}
	ragdb_results_free(res);
	pthread_t th[BC_MAX_CLIENTS];
	r->nlat = 0;
	double t0 = bc_now();
	r->until = t0 + seconds;
	for (int c = 0; c < clients; c++)
		if (pthread_create(&th[c], NULL, bc_client, r) != 0) {
			fprintf(stderr, "bench_concurrent: cannot start client %d\n", c);
			r->until = 0;
			clients = c;
			r->failed = 1;
		}
	for (int c = 0; c < clients; c++)
		pthread_join(th[c], NULL);
	double el = bc_now() - t0;
	ragdb_close(r->db);
	r->db = NULL;
	unsigned n = r->nlat < BC_MAX_SEARCHES ? r->nlat : BC_MAX_SEARCHES;
	double *grown = realloc(tot->lat, (tot->nlat + n + 1) * sizeof *grown);
	if (!grown)
		return -1;
	tot->lat = grown;
	memcpy(tot->lat + tot->nlat, r->lat, n * sizeof *grown);
	tot->nlat += n;
	tot->seconds += el;
	tot->searches += r->nlat;
	return r->failed ? -1 : 0;
}

static void bc_usage(void)
{
	fprintf(stderr, "usage: bench_concurrent --queries Q.fbin [-k K] [--clients C[,C...]] "
	                "[--seconds S] [--rounds R] [--threads T] DB\n");
}

int main(int argc, char **argv)
{
	const char *qpath = NULL, *dir = NULL, *clist = "1,2,4,8,16";
	size_t k = 10;
	double seconds = 5;
	int rounds = 3, threads = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int more = i + 1 < argc;
		if (strcmp(a, "--queries") == 0 && more)
			qpath = argv[++i];
		else if (strcmp(a, "-k") == 0 && more)
			k = strtoul(argv[++i], NULL, 10);
		else if (strcmp(a, "--clients") == 0 && more)
			clist = argv[++i];
		else if (strcmp(a, "--seconds") == 0 && more)
			seconds = atof(argv[++i]);
		else if (strcmp(a, "--rounds") == 0 && more)
			rounds = atoi(argv[++i]);
		else if (strcmp(a, "--threads") == 0 && more)
			threads = atoi(argv[++i]);
		else if (a[0] != '-' && !dir)
			dir = a;
		else {
			bc_usage();
			return 2;
		}
	}
	if (!qpath || !dir || k < 1 || k > 64 || seconds <= 0 || rounds < 1) {
		bc_usage();
		fprintf(stderr, "  (k must be 1..64, seconds and rounds positive)\n");
		return 2;
	}
	uint32_t nq, dim;
	float *qs = bc_read_fbin(qpath, &nq, &dim);
	if (!qs)
		return 1;
	bc_run r;
	memset(&r, 0, sizeof r);
	r.qs = qs;
	r.nq = nq;
	r.dim = dim;
	r.so.k = k;
	r.so.threads = threads;
	r.lat = malloc(BC_MAX_SEARCHES * sizeof *r.lat);
	r.seen = calloc(nq, sizeof *r.seen);
	pthread_mutex_init(&r.seen_mu, NULL);
	if (!r.lat || !r.seen) {
		fprintf(stderr, "bench_concurrent: out of memory\n");
		return 1;
	}
	printf("bench_concurrent: %s, %u queries of dim %u, k %zu, %d rounds of %.1f s per mode\n", dir,
	       nq, dim, k, rounds, seconds);
	int rc = 0;
	for (const char *c = clist; *c && rc == 0;) {
		int clients = atoi(c);
		if (clients < 1 || clients > BC_MAX_CLIENTS) {
			fprintf(stderr, "bench_concurrent: clients must be 1..%d\n", BC_MAX_CLIENTS);
			return 2;
		}
		bc_total tot[2];
		memset(tot, 0, sizeof tot);
		for (int round = 0; round < rounds && rc == 0; round++)
			for (int m = 0; m < 2 && rc == 0; m++) {
				r.mode = round % 2 ? 1 - m : m;
				if (bc_phase(dir, &r, clients, seconds, &tot[r.mode]) != 0)
					rc = 1;
			}
		double qps[2];
		for (int m = 0; m < 2 && rc == 0; m++) {
			qsort(tot[m].lat, tot[m].nlat, sizeof *tot[m].lat, bc_cmp);
			qps[m] = tot[m].searches / tot[m].seconds;
			double med = tot[m].nlat ? tot[m].lat[tot[m].nlat / 2] : 0;
			double p95 = tot[m].nlat ? tot[m].lat[(size_t)(tot[m].nlat * 0.95)] : 0;
			printf("  %3d clients  %-6s  %7u searches  %8.1f QPS  median %8.2f ms  p95 %8.2f ms\n",
			       clients, m ? "alone" : "shared", tot[m].searches, qps[m], med, p95);
		}
		if (rc == 0)
			printf("  %3d clients  shared / alone: %.2fx the QPS\n", clients, qps[0] / qps[1]);
		free(tot[0].lat);
		free(tot[1].lat);
		while (*c && *c != ',')
			c++;
		if (*c == ',')
			c++;
	}
	size_t compared = 0, differ = 0;
	for (uint32_t i = 0; i < nq; i++) {
		const bc_seen *s = &r.seen[i];
		if (!s->have[0] || !s->have[1])
			continue;
		compared++;
		int same = s->n[0] == s->n[1];
		for (size_t h = 0; same && h < s->n[0]; h++)
			same = strcmp(s->ids[0][h], s->ids[1][h]) == 0 &&
			       memcmp(&s->scores[0][h], &s->scores[1][h], sizeof(float)) == 0;
		differ += !same;
	}
	printf("hits identical in both modes: %zu of %zu queries searched in both%s\n",
	       compared - differ, compared, differ ? " (DIFFERENT)" : "");
	free(r.lat);
	free(r.seen);
	free(qs);
	return rc || differ ? 1 : 0;
}
