/*
 * benchmarks/bench_search.c — exact top-k search speed: from the LMDB store
 * versus from a plain array, single queries versus an sgemm batch.
 *
 * Writes N synthetic clustered vectors (a Gaussian mixture, L2-normalised)
 * into a fresh ragdb store through the internal index API, then measures in
 * the same run:
 *   (a) store:  one query at a time over the blocks of a read txn
 *               (txn begin + rdb_blocks_get + rdb_scan_topk + txn end);
 *   (b) array:  the same kernel over a malloc'd copy of the same vectors,
 *               split into the same blocks (the baseline);
 *   (c) batch:  all queries at once via rdb_scan_topk_batch over the store.
 * and prints ms/query, GB/s of vectors scanned, QPS, and store/array (target
 * >= 0.8). (a) and (b) must return identical ids; the batch is compared too.
 *
 *   bench_search [--n N] [--dim D] [--queries Q] [--threads T] [--k K]
 *                [--reps R] [--single S] [--db DIR] [--keep]
 *
 * Without --db the store goes to a temp dir, removed at the end unless
 * --keep; a --db directory is always kept.
 */
#include <cblas.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/kernels/kernels.h"
#include "index/store.h"

typedef struct opts {
	size_t n, dim, queries, k, reps, single;
	int threads;
	const char *db;
	int keep;
} opts;

/* --- random numbers --------------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s) /* (0, 1] */
{
	return ((double)(rng_next(s) >> 11) + 1.0) / (double)(1ull << 53);
}

static float rng_gauss(uint64_t *s)
{
	double u = rng_unit(s), v = rng_unit(s);
	return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

static void normalise(float *v, size_t dim)
{
	double ss = 0;
	for (size_t j = 0; j < dim; j++)
		ss += (double)v[j] * v[j];
	float inv = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
	for (size_t j = 0; j < dim; j++)
		v[j] *= inv;
}

#define N_CENTROIDS 1000

/* A point near a random centroid: centroid + noise, normalised. The noise
 * (norm ~0.6 against the unit centroid) keeps clusters tight enough to have
 * structure and loose enough that the top-10 is not one cluster's order. */
static void clustered(float *out, const float *cents, size_t dim, uint64_t *seed)
{
	const float *c = cents + (rng_next(seed) % N_CENTROIDS) * dim;
	const float sigma = 0.6f / sqrtf((float)dim);
	for (size_t j = 0; j < dim; j++)
		out[j] = c[j] + sigma * rng_gauss(seed);
	normalise(out, dim);
}

/* --- timing --------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* --- helpers ---------------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path);
}

static int parse_size(const char *s, size_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v > SIZE_MAX)
		return -1;
	*out = (size_t)v;
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: bench_search [--n N] [--dim D] [--queries Q] [--threads T] [--k K]\n"
	        "                    [--reps R] [--single S] [--db DIR] [--keep]\n"
	        "  defaults: N=1000000 D=384 Q=1000 (batch) T=cores K=10 R=5 S=10 (single\n"
	        "  queries timed per repetition); without --db a temp dir is used and removed\n"
	        "  unless --keep; DIR must not hold a knowledge base yet and is kept\n");
}

static int parse_args(int argc, char **argv, opts *o)
{
	*o = (opts){1000000, 384, 1000, 10, 5, 10, 0, NULL, 0};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		size_t x;
		if (strcmp(a, "--keep") == 0) {
			o->keep = 1;
			continue;
		}
		if (!v) {
			usage();
			return -1;
		}
		i++;
		if (strcmp(a, "--db") == 0) {
			o->db = v;
			continue;
		}
		if (parse_size(v, &x) != 0) {
			fprintf(stderr, "bench_search: %s needs a non-negative number, got '%s'\n", a, v);
			return -1;
		}
		if (strcmp(a, "--n") == 0)
			o->n = x;
		else if (strcmp(a, "--dim") == 0)
			o->dim = x;
		else if (strcmp(a, "--queries") == 0)
			o->queries = x;
		else if (strcmp(a, "--threads") == 0)
			o->threads = x > 1024 ? 1024 : (int)x;
		else if (strcmp(a, "--k") == 0)
			o->k = x;
		else if (strcmp(a, "--reps") == 0)
			o->reps = x;
		else if (strcmp(a, "--single") == 0)
			o->single = x;
		else {
			usage();
			return -1;
		}
	}
	if (o->n == 0 || o->dim == 0 || o->dim > 65536 || o->k == 0 || o->reps == 0 ||
	    o->single == 0 || o->queries < o->single) {
		fprintf(stderr, "bench_search: need N, D (<= 65536), K, R, S >= 1 and Q >= S\n");
		return -1;
	}
	if (o->n > SIZE_MAX / sizeof(float) / o->dim) {
		fprintf(stderr, "bench_search: N x D is too large\n");
		return -1;
	}
	return 0;
}

/* Write ids 1..n with their vectors, a few blocks per write txn, growing the
 * map when it fills. */
static int write_store(rdb_store *s, const float *vecs, size_t n, size_t dim)
{
	size_t cap = rdb_store_meta(s)->block_cap;
	size_t per_txn = cap * 64;
	uint64_t *ids = malloc(per_txn * sizeof *ids);
	if (!ids)
		return -1;
	rdb_err err;
	int rc = -1;
	for (size_t at = 0; at < n;) {
		size_t m = n - at < per_txn ? n - at : per_txn;
		for (size_t i = 0; i < m; i++)
			ids[i] = at + i + 1;
		rdb_txn *t = NULL;
		ragdb_status st = rdb_txn_begin(s, 1, &t, &err);
		if (!st)
			st = rdb_vectors_append(t, ids, vecs + at * dim, m, &err);
		if (!st) {
			st = rdb_txn_commit(t, &err);
			t = NULL;
		}
		if (st == RAGDB_EMAPFULL) {
			rdb_txn_abort(t);
			if (rdb_store_grow(s, &err) == RAGDB_OK)
				continue;
		}
		if (st) {
			rdb_txn_abort(t);
			fprintf(stderr, "bench_search: writing vectors %zu..: %s\n", at, err.msg);
			goto out;
		}
		at += m;
	}
	rc = 0;
out:
	free(ids);
	return rc;
}

/* Store blocks as the scan wants them (pointers valid while t is open). */
static rdb_vblock *store_blocks(rdb_txn *t, size_t *n_blocks)
{
	rdb_block_view *views = NULL;
	size_t n = 0;
	rdb_err err;
	if (rdb_blocks_get(t, &views, &n, &err)) {
		fprintf(stderr, "bench_search: reading blocks: %s\n", err.msg);
		return NULL;
	}
	rdb_vblock *b = malloc((n + 1) * sizeof *b);
	if (b)
		for (size_t i = 0; i < n; i++)
			b[i] = (rdb_vblock){views[i].ids, views[i].vecs, views[i].count};
	free(views);
	*n_blocks = n;
	return b;
}

/* Read every page of the blocks once so timings see a warm page cache. */
static double touch(const rdb_vblock *b, size_t n_blocks, size_t dim)
{
	double sum = 0;
	for (size_t i = 0; i < n_blocks; i++) {
		for (size_t j = 0; j < b[i].count; j += 64)
			sum += b[i].ids[j];
		for (size_t j = 0; j < b[i].count * dim; j += 1024)
			sum += b[i].vecs[j];
	}
	return sum;
}

typedef struct single_run {
	double *t;            /* ms per query, one per repetition */
	double ms;            /* their median */
	rdb_scored *results;  /* single x k, from the last repetition */
	size_t *n;
} single_run;

static int single_init(single_run *r, const opts *o)
{
	r->t = malloc(o->reps * sizeof *r->t);
	r->results = malloc(o->single * o->k * sizeof *r->results);
	r->n = malloc(o->single * sizeof *r->n);
	return r->t && r->results && r->n ? 0 : -1;
}

/* One repetition: o->single queries over fixed blocks (array, or the store
 * blocks of an open txn), or with a fresh read txn and rdb_blocks_get per
 * query (the store as a search sees it, when s != NULL). */
static int single_rep(const opts *o, rdb_store *s, const rdb_vblock *blocks, size_t n_blocks,
                      const float *Q, int threads, single_run *r, size_t rep)
{
	rdb_err err;
	double t0 = now_s();
	for (size_t i = 0; i < o->single; i++) {
		rdb_txn *txn = NULL;
		const rdb_vblock *b = blocks;
		size_t nb = n_blocks;
		rdb_vblock *own = NULL;
		if (s) {
			if (rdb_txn_begin(s, 0, &txn, &err)) {
				fprintf(stderr, "bench_search: read txn: %s\n", err.msg);
				return -1;
			}
			if (!(own = store_blocks(txn, &nb))) {
				rdb_txn_abort(txn);
				return -1;
			}
			b = own;
		}
		ragdb_status st = rdb_scan_topk(Q + i * o->dim, o->dim, b, nb, o->k, threads, NULL,
		                                NULL, r->results + i * o->k, &r->n[i], &err);
		free(own);
		rdb_txn_abort(txn);
		if (st) {
			fprintf(stderr, "bench_search: scan: %s\n", err.msg);
			return -1;
		}
	}
	r->t[rep] = (now_s() - t0) * 1e3 / (double)o->single;
	return 0;
}

static void single_free(single_run *r)
{
	free(r->t);
	free(r->results);
	free(r->n);
}

static int same_ids(const single_run *a, const single_run *b, size_t nq, size_t k)
{
	for (size_t i = 0; i < nq; i++) {
		if (a->n[i] != b->n[i])
			return 0;
		for (size_t j = 0; j < a->n[i]; j++)
			if (a->results[i * k + j].id != b->results[i * k + j].id)
				return 0;
	}
	return 1;
}

static void report(const char *what, double ms, double bytes)
{
	printf("  %-34s %9.3f ms/query  %7.2f GB/s  %9.1f QPS\n", what, ms, bytes / (ms * 1e-3) / 1e9,
	       1e3 / ms);
}

int main(int argc, char **argv)
{
	opts o;
	if (parse_args(argc, argv, &o) != 0)
		return 2;
	int threads = o.threads > 0 ? o.threads : rdb_ncores();
	int rc = 1;
	char tmp[] = "/tmp/bench_search-XXXXXX";
	const char *dir = o.db;
	rdb_store *s = NULL;
	rdb_txn *txn = NULL;
	rdb_vblock *sb = NULL, *ab = NULL;
	float *vecs = NULL, *cents = NULL, *Q = NULL;
	uint64_t *aids = NULL;
	rdb_scored *bout = NULL;
	size_t *bn = NULL;
	single_run st = {0}, ar = {0}, st1 = {0}, ar1 = {0}, sm = {0};
	rdb_err err;

	if (!dir) {
		if (!mkdtemp(tmp)) {
			perror("bench_search: mkdtemp");
			return 1;
		}
		dir = tmp;
	}

	/* Data: clustered vectors and queries from the same mixture. */
	double t0 = now_s();
	uint64_t seed = 20240611;
	cents = malloc(N_CENTROIDS * o.dim * sizeof *cents);
	vecs = malloc(o.n * o.dim * sizeof *vecs);
	Q = malloc(o.queries * o.dim * sizeof *Q);
	if (!cents || !vecs || !Q) {
		fprintf(stderr, "bench_search: out of memory for %zu x %zu vectors\n", o.n, o.dim);
		goto out;
	}
	for (size_t c = 0; c < N_CENTROIDS; c++) {
		for (size_t j = 0; j < o.dim; j++)
			cents[c * o.dim + j] = rng_gauss(&seed);
		normalise(cents + c * o.dim, o.dim);
	}
	for (size_t i = 0; i < o.n; i++)
		clustered(vecs + i * o.dim, cents, o.dim, &seed);
	for (size_t i = 0; i < o.queries; i++)
		clustered(Q + i * o.dim, cents, o.dim, &seed);
	double t_gen = now_s() - t0;

	/* Store. */
	rdb_meta meta = {0};
	snprintf(meta.embedder, sizeof meta.embedder, "bench");
	snprintf(meta.model, sizeof meta.model, "synthetic");
	meta.dim = (uint32_t)o.dim;
	t0 = now_s();
	if (rdb_store_open(dir, RDB_STORE_CREATE, &meta, &s, &err)) {
		fprintf(stderr, "bench_search: creating the store in %s: %s\n", dir, err.msg);
		goto out;
	}
	if (write_store(s, vecs, o.n, o.dim) != 0)
		goto out;
	double t_write = now_s() - t0;

	/* The array baseline: the same vectors and ids, in the same blocks. */
	size_t nsb = 0;
	if (rdb_txn_begin(s, 0, &txn, &err)) {
		fprintf(stderr, "bench_search: read txn: %s\n", err.msg);
		goto out;
	}
	if (!(sb = store_blocks(txn, &nsb)))
		goto out;
	size_t total = 0;
	for (size_t i = 0; i < nsb; i++)
		total += sb[i].count;
	if (total != o.n) {
		fprintf(stderr, "bench_search: the store holds %zu vectors, expected %zu\n", total, o.n);
		goto out;
	}
	ab = malloc((nsb + 1) * sizeof *ab);
	aids = malloc(o.n * sizeof *aids);
	if (!ab || !aids)
		goto out;
	for (size_t i = 0, at = 0; i < nsb; at += sb[i].count, i++) {
		memcpy(vecs + at * o.dim, sb[i].vecs, sb[i].count * o.dim * sizeof *vecs);
		memcpy(aids + at, sb[i].ids, sb[i].count * sizeof *aids);
		ab[i] = (rdb_vblock){aids + at, vecs + at * o.dim, sb[i].count};
	}

	double bytes = (double)o.n * (double)o.dim * sizeof(float);
	printf("bench_search: N=%zu dim=%zu k=%zu threads=%d blocks=%zu (block_cap %u) "
	       "kernel=%s openblas=%s\n",
	       o.n, o.dim, o.k, threads, nsb, rdb_store_meta(s)->block_cap, rdb_kernel_name(),
	       openblas_get_corename());
	printf("  data %.2f GB; generated in %.1f s, written to the store in %.1f s\n", bytes / 1e9,
	       t_gen, t_write);

	/* Warm up: every page of both copies, then one scan of each. */
	volatile double sink = touch(sb, nsb, o.dim) + touch(ab, nsb, o.dim);
	(void)sink;
	rdb_scored warm[64];
	size_t nw;
	rdb_scan_topk(Q, o.dim, sb, nsb, o.k < 64 ? o.k : 64, threads, NULL, NULL, warm, &nw, NULL);
	rdb_scan_topk(Q, o.dim, ab, nsb, o.k < 64 ? o.k : 64, threads, NULL, NULL, warm, &nw, NULL);

	printf("single queries (%zu per repetition, median of %zu, paths interleaved):\n",
	       o.single, o.reps);
	if (single_init(&st, &o) || single_init(&ar, &o) || single_init(&sm, &o) ||
	    single_init(&st1, &o) || single_init(&ar1, &o))
		goto out;
	/* Paths take turns within each repetition, so load from elsewhere on
	 * the machine falls on all of them alike. */
	for (size_t rep = 0; rep < o.reps; rep++) {
		if (single_rep(&o, s, NULL, 0, Q, threads, &st, rep) ||
		    single_rep(&o, NULL, ab, nsb, Q, threads, &ar, rep) ||
		    single_rep(&o, NULL, sb, nsb, Q, threads, &sm, rep) ||
		    single_rep(&o, s, NULL, 0, Q, 1, &st1, rep) ||
		    single_rep(&o, NULL, ab, nsb, Q, 1, &ar1, rep))
			goto out;
	}
	rdb_txn_abort(txn);
	txn = NULL;
	free(sb);
	sb = NULL;
	single_run *runs[] = {&st, &ar, &sm, &st1, &ar1};
	for (size_t i = 0; i < sizeof runs / sizeof *runs; i++)
		runs[i]->ms = median(runs[i]->t, o.reps);
	char label[64];
	snprintf(label, sizeof label, "(a) store, %d threads", threads);
	report(label, st.ms, bytes);
	snprintf(label, sizeof label, "(b) array, %d threads", threads);
	report(label, ar.ms, bytes);
	snprintf(label, sizeof label, "(a) store, scan only, %d threads", threads);
	report(label, sm.ms, bytes);
	report("(a) store, 1 thread", st1.ms, bytes);
	report("(b) array, 1 thread", ar1.ms, bytes);
	printf("  store/array throughput: %.3f (%d threads), %.3f (1 thread); target >= 0.8\n",
	       ar.ms / st.ms, threads, ar1.ms / st1.ms);
	int ids_ok = same_ids(&st, &ar, o.single, o.k) && same_ids(&st, &sm, o.single, o.k) && same_ids(&st1, &ar1, o.single, o.k) &&
	             same_ids(&st, &st1, o.single, o.k);
	printf("  (a) and (b) ids identical: %s\n", ids_ok ? "yes" : "NO");

	/* Batch over the store. */
	size_t breps = o.reps < 3 ? o.reps : 3;
	double bt[3];
	bout = malloc(o.queries * o.k * sizeof *bout);
	bn = malloc(o.queries * sizeof *bn);
	if (!bout || !bn)
		goto out;
	for (int pass = 0; pass < 2; pass++) {
		int th = pass == 0 ? threads : 1;
		for (size_t rep = 0; rep < breps; rep++) {
			t0 = now_s();
			if (rdb_txn_begin(s, 0, &txn, &err) || !(sb = store_blocks(txn, &nsb))) {
				fprintf(stderr, "bench_search: read txn: %s\n", err.msg);
				goto out;
			}
			if (rdb_scan_topk_batch(Q, o.queries, o.dim, sb, nsb, o.k, th, bout, bn, &err)) {
				fprintf(stderr, "bench_search: batch: %s\n", err.msg);
				goto out;
			}
			free(sb);
			sb = NULL;
			rdb_txn_abort(txn);
			txn = NULL;
			bt[rep] = (now_s() - t0) * 1e3;
		}
		double ms = median(bt, breps);
		printf("batch of %zu queries, %d thread%s (median of %zu): %.1f ms total\n", o.queries,
		       th, th == 1 ? "" : "s", breps, ms);
		report("(c) batch, per query", ms / (double)o.queries, bytes);
		printf("  vs (a) single queries: %.1fx the QPS\n",
		       (th == 1 ? st1.ms : st.ms) / (ms / (double)o.queries));
	}
	size_t agree = 0, ranks = 0;
	for (size_t i = 0; i < o.single; i++) {
		for (size_t j = 0; j < bn[i] && j < st.n[i]; j++, ranks++)
			agree += bout[i * o.k + j].id == st.results[i * o.k + j].id;
	}
	printf("  batch ids equal to single-query ids: %zu of %zu ranks\n", agree, ranks);
	rc = ids_ok ? 0 : 1;

out:
	free(sb);
	rdb_txn_abort(txn);
	rdb_store_close(s);
	single_free(&st);
	single_free(&ar);
	single_free(&st1);
	single_free(&ar1);
	single_free(&sm);
	free(bout);
	free(bn);
	free(ab);
	free(aids);
	free(vecs);
	free(cents);
	free(Q);
	/* Only our own temp dir is removed: --db may name a directory that
	 * held something before. */
	if (!o.db && !o.keep)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	else
		printf("store kept in %s\n", dir);
	return rc;
}
