/*
 * benchmarks/bench_search.c — exact top-k search speed: from the LMDB store
 * versus from a plain array, single queries versus a batch, f32 versus the
 * quantized kernels, all against machine limits measured in the same run.
 *
 * Writes N synthetic clustered vectors (a Gaussian mixture, L2-normalised)
 * into a fresh ragdb store through the internal index API, then measures in
 * the same run:
 *   limits: the FMA peak per core (a register-only FMA loop, best of 300
 *               pinned ~1 ms runs, on 1 and on T threads at once) and a
 *               STREAM-like read bandwidth (a sum over the same array of
 *               vectors, 1 and T threads);
 *   (a) store:  one query at a time over the blocks of a read txn
 *               (txn begin + rdb_blocks_get + rdb_scan_topk + txn end);
 *   (b) array:  the same kernel over a malloc'd copy of the same vectors,
 *               split into the same blocks (the baseline);
 *   (q) quantized: bf16, int8 and binary copies of the array, one query at
 *               a time, scan only and with exact rescoring of the top
 *               k x oversample, against (b), with recall@k against exact;
 *   (c) batch:  all queries at once via rdb_scan_topk_batch_path over the
 *               store, on every batch path, in GFLOP/s against the peak
 *               measured right before and after; then interleaved with
 *               the peak (slices of the store, each after a few peak runs)
 *               so that both see the same load.
 * (a) and (b) must return identical ids; the batch is compared too.
 *
 *   bench_search [--n N] [--dim D] [--queries Q] [--threads T] [--k K]
 *                [--reps R] [--single S] [--recall-queries RQ]
 *                [--oversample O] [--batch-reps B] [--db DIR] [--keep]
 *                [--only batch|all] [--batch-path all|auto|amx|avx512|avx2|blas]
 *
 * --only batch skips (a), (b) and (q): data, store, limits and (c) only,
 * for measuring the batch kernel (1M x 384 x 1,000 queries, one path: ~1-2
 * minutes on 2 cores).
 * Without --db the store goes to a temp dir, removed at the end unless
 * --keep; a --db directory is always kept.
 */
#include <cblas.h>
#include <errno.h>
#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
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
#include "engine/kernels/quant.h"
#include "index/store.h"

typedef struct opts {
	size_t n, dim, queries, k, reps, single, recall_q, oversample, batch_reps;
	int threads;
	const char *db;
	int keep;
	int only_batch;         /* --only batch: skip the single-query and quantized parts */
	const char *batch_path; /* --batch-path: all, or one of auto, amx, avx512, avx2, blas */
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
	        "                    [--reps R] [--single S] [--recall-queries RQ]\n"
	        "                    [--oversample O] [--batch-reps B] [--db DIR] [--keep]\n"
	        "                    [--only batch|all] [--batch-path all|auto|amx|avx512|avx2|blas]\n"
	        "  defaults: N=1000000 D=384 Q=1000 (batch) T=cores K=10 R=5 S=10 (single\n"
	        "  queries timed per repetition) RQ=100 (recall of the quantized kernels)\n"
	        "  O=4 (rescoring candidates = K x O; binary uses 10 x O) B=1 (batch runs\n"
	        "  per path); without --db a temp dir is used and removed unless --keep;\n"
	        "  DIR must not hold a knowledge base yet and is kept; --only batch times the\n"
	        "  batch alone (no single or quantized queries); --batch-path limits it to one\n"
	        "  path (default all)\n");
}

static int parse_args(int argc, char **argv, opts *o)
{
	*o = (opts){1000000, 384, 1000, 10, 5, 10, 100, 4, 1, 0, NULL, 0, 0, "all"};
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
		if (strcmp(a, "--only") == 0) {
			if (strcmp(v, "batch") == 0) {
				o->only_batch = 1;
			} else if (strcmp(v, "all") != 0) {
				fprintf(stderr, "bench_search: --only takes batch or all, got '%s'\n", v);
				return -1;
			}
			continue;
		}
		if (strcmp(a, "--batch-path") == 0) {
			if (strcmp(v, "all") != 0 && strcmp(v, "auto") != 0 && strcmp(v, "amx") != 0 &&
			    strcmp(v, "avx512") != 0 && strcmp(v, "avx2") != 0 && strcmp(v, "blas") != 0) {
				fprintf(stderr, "bench_search: --batch-path takes all, auto, amx, avx512, avx2 "
				                "or blas, got '%s'\n", v);
				return -1;
			}
			o->batch_path = v;
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
		else if (strcmp(a, "--recall-queries") == 0)
			o->recall_q = x;
		else if (strcmp(a, "--oversample") == 0)
			o->oversample = x;
		else if (strcmp(a, "--batch-reps") == 0)
			o->batch_reps = x;
		else {
			usage();
			return -1;
		}
	}
	if (o->n == 0 || o->dim == 0 || o->dim > 65536 || o->k == 0 || o->reps == 0 ||
	    o->single == 0 || o->queries < o->single || o->queries < o->recall_q ||
	    o->oversample == 0 || o->batch_reps == 0) {
		fprintf(stderr, "bench_search: need N, D (<= 65536), K, R, S, O, B >= 1 and Q >= S, RQ\n");
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

/* One batch of all o->queries over the store, in a read txn of its own
 * (the listing included, as a caller's would be); 0 or -1 after a message. */
static int store_batch(rdb_store *s, rdb_batch_path path, const float *Q, const opts *o, int th,
                       rdb_scored *out, size_t *n_out)
{
	rdb_txn *txn = NULL;
	rdb_vblock *sb = NULL;
	size_t nsb = 0;
	rdb_err err;
	int rc = -1;
	if (rdb_txn_begin(s, 0, &txn, &err)) {
		fprintf(stderr, "bench_search: read txn: %s\n", err.msg);
		return -1;
	}
	if (!(sb = store_blocks(txn, &nsb)))
		goto out;
	if (rdb_scan_topk_batch_path(path, Q, o->queries, o->dim, sb, nsb, o->k, th, out, n_out,
	                             &err)) {
		fprintf(stderr, "bench_search: batch: %s\n", err.msg);
		goto out;
	}
	rc = 0;
out:
	free(sb);
	rdb_txn_abort(txn);
	return rc;
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

/* --- machine limits: FMA peak and read bandwidth --------------------------- */

static double cpu_s(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* 24 independent zmm FMA chains, registers only: 768 flops per iteration. */
__attribute__((target("avx512f"))) static void fma_loop512(long iters)
{
	__asm__ volatile("vxorps %%xmm30, %%xmm30, %%xmm30\n\t"
	                 "vxorps %%xmm31, %%xmm31, %%xmm31\n\t"
	                 "1:\n\t"
#define F(i) "vfmadd231ps %%zmm30, %%zmm31, %%zmm" #i "\n\t"
	                 F(0) F(1) F(2) F(3) F(4) F(5) F(6) F(7) F(8) F(9) F(10) F(11)
	                 F(12) F(13) F(14) F(15) F(16) F(17) F(18) F(19) F(20) F(21) F(22) F(23)
#undef F
	                 "dec %0\n\t"
	                 "jnz 1b\n\t"
	                 : "+r"(iters)
	                 :
	                 : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
	                   "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16",
	                   "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm30",
	                   "xmm31", "cc");
}

/* 12 independent ymm FMA chains: 192 flops per iteration. */
__attribute__((target("avx2,fma"))) static void fma_loop256(long iters)
{
	__asm__ volatile("vxorps %%xmm14, %%xmm14, %%xmm14\n\t"
	                 "vxorps %%xmm15, %%xmm15, %%xmm15\n\t"
	                 "1:\n\t"
#define F(i) "vfmadd231ps %%ymm14, %%ymm15, %%ymm" #i "\n\t"
	                 F(0) F(1) F(2) F(3) F(4) F(5) F(6) F(7) F(8) F(9) F(10) F(11)
#undef F
	                 "dec %0\n\t"
	                 "jnz 1b\n\t"
	                 : "+r"(iters)
	                 :
	                 : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
	                   "xmm9", "xmm10", "xmm11", "xmm14", "xmm15", "cc");
}

/* CPU seconds the whole machine spent busy (user, nice, system, irq,
 * softirq) and stolen by the host, from /proc/stat, at wall time t; zeros
 * where /proc/stat cannot be read. Busy time less this process's own CPU
 * time over an interval is the load from elsewhere that a wall-clock
 * figure suffered. */
typedef struct cpu_busy {
	double busy, steal, t;
} cpu_busy;

static cpu_busy cpu_busy_now(void)
{
	cpu_busy b = {0, 0, now_s()};
	FILE *f = fopen("/proc/stat", "r");
	unsigned long long u = 0, n = 0, sy = 0, id = 0, io = 0, irq = 0, sirq = 0, st = 0;
	if (f) {
		if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &u, &n, &sy, &id, &io, &irq,
		           &sirq, &st) == 8) {
			double hz = (double)sysconf(_SC_CLK_TCK);
			b.busy = (double)(u + n + sy + irq + sirq) / hz;
			b.steal = (double)st / hz;
		}
		fclose(f);
	}
	return b;
}

/* The FMA peak. A long run of the loop does not measure the core: on this
 * kind of VM a run of 50 ms is almost never left alone (the host runs
 * other vCPUs, possibly on this core's hyperthread sibling; the guest
 * runs other processes), and thread CPU time keeps counting while the
 * vCPU is held up, so best-of-7 of 50 ms read anything from ~100 to ~176
 * GFLOP/s depending on the moment. Here each thread, pinned to its own
 * CPU, times PEAK_RUNS runs of ~1 ms on the wall clock and keeps the
 * fastest: a few of hundreds of 1 ms windows are free of interruptions
 * even under load, and those are the core's speed. The median is kept
 * too, as a measure of how loaded the machine was. With several threads
 * they start together, so the figure is the per-core peak
 * when every core runs FMAs at once (frequency and power limits
 * included), which is what a T-thread batch is up against. */
#define PEAK_RUNS 300
#define PEAK_ITERS 200000L /* x 768 flops: ~0.9 ms at ~170 GFLOP/s */

typedef struct peak_arg {
	int cpu, wide, pinned, runs;
	atomic_int *go; /* spun on until set, so the threads start together */
	double best, med, mean; /* GFLOP/s; mean = all runs' flops over their total time */
} peak_arg;

static void *peak_main(void *arg)
{
	peak_arg *a = arg;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(a->cpu, &set);
	a->pinned = pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
	double t[PEAK_RUNS], sum = 0;
	while (!atomic_load(a->go))
		;
	/* The ymm loop runs 4x the iterations at 192 flops each: 768 per
	 * PEAK_ITERS either way. */
	const double flops = (double)PEAK_ITERS * 768.0;
	for (int r = 0; r < a->runs; r++) {
		double t0 = now_s();
		if (a->wide)
			fma_loop512(PEAK_ITERS);
		else
			fma_loop256(PEAK_ITERS * 4);
		t[r] = now_s() - t0;
		sum += t[r];
	}
	double best = t[0];
	for (int r = 1; r < a->runs; r++)
		best = t[r] < best ? t[r] : best;
	a->best = flops / (best > 0 ? best : 1e-9) / 1e9;
	double m = median(t, (size_t)a->runs);
	a->med = flops / (m > 0 ? m : 1e-9) / 1e9;
	a->mean = flops * a->runs / (sum > 0 ? sum : 1e-9) / 1e9;
	return NULL;
}

typedef struct peak {
	double best, med, mean; /* per core, averaged over the threads */
	int threads, pinned;
} peak;

/* The per-core FMA peak with `threads` threads running at once, each
 * pinned to CPU i (i < the CPUs this process may use), from `runs` (at
 * most PEAK_RUNS) runs each. best = 0 without AVX2. */
static peak fma_peak_runs(int threads, int runs, const char **isa)
{
	peak p = {0, 0, 0, threads, 0};
	runs = runs < 1 ? 1 : runs > PEAK_RUNS ? PEAK_RUNS : runs;
	__builtin_cpu_init();
	int wide = __builtin_cpu_supports("avx512f");
	if (!wide && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) {
		*isa = "none";
		return p;
	}
	*isa = wide ? "avx512" : "avx2";
	cpu_set_t allowed;
	int cpus[64], ncpu = 0;
	if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
		for (int c = 0; c < CPU_SETSIZE && ncpu < 64; c++)
			if (CPU_ISSET(c, &allowed))
				cpus[ncpu++] = c;
	if (threads > ncpu)
		threads = ncpu > 0 ? ncpu : 1;
	p.threads = threads;
	peak_arg a[64];
	pthread_t th[64];
	atomic_int go = 0;
	int started = 0;
	for (int i = 0; i < threads; i++) {
		a[i] = (peak_arg){ncpu ? cpus[i] : 0, wide, 0, runs, &go, 0, 0, 0};
		if (pthread_create(&th[i], NULL, peak_main, &a[i]) != 0)
			break;
		started++;
	}
	atomic_store(&go, 1);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	p.threads = started;
	p.pinned = started > 0;
	for (int i = 0; i < started; i++) {
		p.best += a[i].best / started;
		p.med += a[i].med / started;
		p.mean += a[i].mean / started;
		p.pinned &= a[i].pinned;
	}
	return p;
}

static peak fma_peak(int threads, const char **isa)
{
	return fma_peak_runs(threads, PEAK_RUNS, isa);
}

/* Sum of n floats, 4 independent accumulators of 16 (or 8) lanes. */
__attribute__((target("avx512f"))) static double sum512(const float *p, size_t n)
{
	__m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
	size_t i = 0;
	for (; i + 64 <= n; i += 64) {
		a0 = _mm512_add_ps(a0, _mm512_loadu_ps(p + i));
		a1 = _mm512_add_ps(a1, _mm512_loadu_ps(p + i + 16));
		a2 = _mm512_add_ps(a2, _mm512_loadu_ps(p + i + 32));
		a3 = _mm512_add_ps(a3, _mm512_loadu_ps(p + i + 48));
	}
	double s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
	for (; i < n; i++)
		s += p[i];
	return s;
}

__attribute__((target("avx2"))) static double sum256(const float *p, size_t n)
{
	__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
	size_t i = 0;
	for (; i + 32 <= n; i += 32) {
		a0 = _mm256_add_ps(a0, _mm256_loadu_ps(p + i));
		a1 = _mm256_add_ps(a1, _mm256_loadu_ps(p + i + 8));
		a2 = _mm256_add_ps(a2, _mm256_loadu_ps(p + i + 16));
		a3 = _mm256_add_ps(a3, _mm256_loadu_ps(p + i + 24));
	}
	float t[8];
	_mm256_storeu_ps(t, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
	double s = 0;
	for (int j = 0; j < 8; j++)
		s += t[j];
	for (; i < n; i++)
		s += p[i];
	return s;
}

typedef struct sum_arg {
	const float *p;
	size_t n;
	double s;
} sum_arg;

static void *sum_main(void *arg)
{
	sum_arg *a = arg;
	a->s = __builtin_cpu_supports("avx512f") ? sum512(a->p, a->n)
	       : __builtin_cpu_supports("avx2")  ? sum256(a->p, a->n)
	                                         : 0;
	if (!__builtin_cpu_supports("avx2"))
		for (size_t i = 0; i < a->n; i++)
			a->s += a->p[i];
	return NULL;
}

/* STREAM-like read bandwidth over p[0..n) with `threads` threads, each
 * summing its share: median GB/s of reps runs. */
static double read_bw(const float *p, size_t n, int threads, size_t reps)
{
	sum_arg a[64];
	pthread_t th[64];
	double t[16];
	if (threads > 64)
		threads = 64;
	if (reps > 16)
		reps = 16;
	volatile double sink = 0;
	for (size_t r = 0; r < reps; r++) {
		double t0 = now_s();
		int started = 0;
		for (int i = 0; i < threads; i++) {
			a[i] = (sum_arg){p + n * (size_t)i / (size_t)threads,
			                 n * (size_t)(i + 1) / (size_t)threads - n * (size_t)i / (size_t)threads, 0};
			if (i > 0 && pthread_create(&th[i], NULL, sum_main, &a[i]) == 0)
				started = i;
			else if (i > 0)
				sum_main(&a[i]);
		}
		sum_main(&a[0]);
		for (int i = 1; i <= started; i++)
			pthread_join(th[i], NULL);
		t[r] = now_s() - t0;
		for (int i = 0; i < threads; i++)
			sink += a[i].s;
	}
	(void)sink;
	return (double)n * sizeof(float) / median(t, reps) / 1e9;
}

/* --- quantized copies of the array ------------------------------------------ */

typedef struct qcopy {
	rdb_quant kind;
	unsigned char *codes;
	float *scales;
	rdb_qblock *blocks;
} qcopy;

/* Encode the array's vectors (ids 1..n in row order) in the array's blocks. */
static int qcopy_make(qcopy *c, rdb_quant kind, const float *vecs, const rdb_vblock *ab,
                      size_t nb, size_t n, size_t dim)
{
	size_t rb = rdb_quant_row_bytes(kind, dim);
	*c = (qcopy){kind, malloc(n * rb + 1), malloc((n + 1) * sizeof(float)),
	             malloc((nb + 1) * sizeof(rdb_qblock))};
	rdb_err err;
	if (!c->codes || !c->scales || !c->blocks) {
		fprintf(stderr, "bench_search: out of memory for the %s copy\n", rdb_quant_name(kind));
		return -1;
	}
	if (rdb_quantize(kind, vecs, n, dim, c->codes, kind == RDB_QUANT_INT8 ? c->scales : NULL,
	                 &err)) {
		fprintf(stderr, "bench_search: %s\n", err.msg);
		return -1;
	}
	for (size_t i = 0, at = 0; i < nb; at += ab[i].count, i++)
		c->blocks[i] = (rdb_qblock){ab[i].ids, c->codes + at * rb,
		                            kind == RDB_QUANT_INT8 ? c->scales + at : NULL, ab[i].count};
	return 0;
}

static void qcopy_free(qcopy *c)
{
	free(c->codes);
	free(c->scales);
	free(c->blocks);
}

typedef struct vec_ctx {
	const float *vecs;
	size_t n, dim;
} vec_ctx;

static const float *vec_of(void *ctx, uint64_t id)
{
	const vec_ctx *v = ctx;
	return id >= 1 && id <= v->n ? v->vecs + (id - 1) * v->dim : NULL;
}

/* ms per query of o->single queries: rescored (over > 0) or scan only. */
static double qsingle(const opts *o, const qcopy *c, size_t nb, const float *Q, int threads,
                      size_t over, vec_ctx *vc)
{
	rdb_scored res[1024];
	size_t nr = 0;
	size_t k = o->k < 1024 ? o->k : 1024;
	double t0 = now_s();
	for (size_t i = 0; i < o->single; i++) {
		rdb_qquery *q = NULL;
		rdb_err err;
		ragdb_status st = rdb_qquery_create(c->kind, Q + i * o->dim, o->dim, &q, &err);
		if (!st && over)
			st = rdb_qsearch_rescore(q, Q + i * o->dim, c->blocks, nb, k, over, threads, NULL,
			                         NULL, vec_of, vc, res, &nr, &err);
		else if (!st)
			st = rdb_qscan_topk(q, c->blocks, nb, k, threads, NULL, NULL, res, &nr, &err);
		rdb_qquery_free(q);
		if (st) {
			fprintf(stderr, "bench_search: %s scan: %s\n", rdb_quant_name(c->kind), err.msg);
			return -1;
		}
	}
	return (now_s() - t0) * 1e3 / (double)o->single;
}

/* Shared ids between two top-k lists. */
static size_t overlap(const rdb_scored *a, size_t na, const rdb_scored *b, size_t nb)
{
	size_t hit = 0;
	for (size_t i = 0; i < na; i++)
		for (size_t j = 0; j < nb; j++)
			hit += a[i].id == b[j].id;
	return hit;
}

/* The quantized batch (rdb_qsearch_rescore_batch, all Q queries in one
 * pass) against the f32 batch over the same array, each timed once after
 * the other, and its ids against single rescored queries. */
static int qbatch(const opts *o, const qcopy *c, size_t nb, const rdb_vblock *ab, const float *Q,
                  int threads, vec_ctx *vc)
{
	int rc = -1;
	size_t k = o->k < 1024 ? o->k : 1024;
	rdb_scored *out = malloc(o->queries * k * sizeof *out), one[1024];
	size_t *n = malloc(o->queries * sizeof *n);
	rdb_qquery **qs = calloc(o->queries, sizeof *qs);
	if (!out || !n || !qs)
		goto out;
	double t0 = now_s();
	if (rdb_scan_topk_batch(Q, o->queries, o->dim, ab, nb, k, threads, out, n, NULL))
		goto out;
	double f32 = now_s() - t0;
	printf("quantized batch of %zu queries, rescored (%d thread%s; f32 batch over the array "
	       "%.2f s, %.1f QPS):\n", o->queries, threads, threads == 1 ? "" : "s", f32,
	       (double)o->queries / f32);
	for (int i = 0; i < 2; i++) { /* bf16, int8: binary's batch is not its use */
		for (size_t q = 0; q < o->queries; q++)
			if (rdb_qquery_create(c[i].kind, Q + q * o->dim, o->dim, &qs[q], NULL))
				goto out;
		t0 = now_s();
		if (rdb_qsearch_rescore_batch((const rdb_qquery *const *)qs, Q, o->queries,
		                              c[i].blocks, nb, k, o->oversample, threads, vec_of, vc,
		                              out, n, NULL))
			goto out;
		double w = now_s() - t0;
		size_t agree = 0, ranks = 0;
		for (size_t q = 0; q < o->single && q < o->queries; q++) {
			size_t m = 0;
			if (rdb_qsearch_rescore(qs[q], Q + q * o->dim, c[i].blocks, nb, k, o->oversample,
			                        threads, NULL, NULL, vec_of, vc, one, &m, NULL))
				goto out;
			for (size_t j = 0; j < m && j < n[q]; j++, ranks++)
				agree += one[j].id == out[q * k + j].id;
		}
		printf("  %-6s %8.2f s %8.1f QPS  %5.2fx the f32 batch; ids equal to single rescored "
		       "queries: %zu of %zu ranks\n", rdb_quant_name(c[i].kind), w,
		       (double)o->queries / w, f32 / w, agree, ranks);
		for (size_t q = 0; q < o->queries; q++) {
			rdb_qquery_free(qs[q]);
			qs[q] = NULL;
		}
	}
	rc = 0;
out:
	if (qs)
		for (size_t q = 0; q < o->queries; q++)
			rdb_qquery_free(qs[q]);
	free(qs);
	free(n);
	free(out);
	return rc;
}

/* The quantized kernels against the f32 array: single-query speed (scan
 * only and rescored), interleaved with f32 runs, and recall@k. */
static int bench_quant(const opts *o, const float *vecs, const rdb_vblock *ab, size_t nb,
                       const float *Q, int threads)
{
	const rdb_quant kinds[3] = {RDB_QUANT_BF16, RDB_QUANT_INT8, RDB_QUANT_BINARY};
	qcopy c[3] = {{0}};
	int rc = -1;
	vec_ctx vc = {vecs, o->n, o->dim};
	double *t = NULL;
	rdb_scored *ex = NULL, *got = NULL, *raw = NULL;
	size_t k = o->k < 1024 ? o->k : 1024;
	double t0 = now_s();
	for (int i = 0; i < 3; i++)
		if (qcopy_make(&c[i], kinds[i], vecs, ab, nb, o->n, o->dim))
			goto out;
	printf("quantized copies encoded in %.1f s\n", now_s() - t0);
	/* Per repetition: f32 then each kind scan-only and rescored, on
	 * `threads` and on 1 thread: 2 x 7 timings. */
	const size_t cols = 14;
	if (!(t = malloc(cols * o->reps * sizeof *t)))
		goto out;
	for (size_t rep = 0; rep < o->reps; rep++) {
		for (int pass = 0; pass < 2; pass++) {
			int th = pass ? 1 : threads;
			double *row = t + (size_t)pass * 7 * o->reps;
			/* f32 over the array, timed here again so that load on the
			 * machine falls on f32 and the quantized runs alike. */
			double f0 = now_s();
			for (size_t i = 0; i < o->single; i++) {
				rdb_scored r[1024];
				size_t nr;
				rdb_scan_topk(Q + i * o->dim, o->dim, ab, nb, k, th, NULL, NULL, r, &nr, NULL);
			}
			row[rep] = (now_s() - f0) * 1e3 / (double)o->single;
			for (int i = 0; i < 3; i++) {
				size_t over = kinds[i] == RDB_QUANT_BINARY ? 10 * o->oversample : o->oversample;
				double a = qsingle(o, &c[i], nb, Q, th, 0, &vc);
				double b = qsingle(o, &c[i], nb, Q, th, over, &vc);
				if (a < 0 || b < 0)
					goto out;
				row[(size_t)(1 + 2 * i) * o->reps + rep] = a;
				row[(size_t)(2 + 2 * i) * o->reps + rep] = b;
			}
		}
	}
	printf("quantized single queries (%zu per repetition, median of %zu, interleaved with f32 "
	       "over the array; rescoring takes the top k x %zu, binary k x %zu):\n",
	       o->single, o->reps, o->oversample, 10 * o->oversample);
	for (int pass = 0; pass < 2; pass++) {
		int th = pass ? 1 : threads;
		double *row = t + (size_t)pass * 7 * o->reps;
		double f32 = median(row, o->reps);
		printf("  %-6s %-14s %d thread%s %8.3f ms/query  %7.2f GB/s\n", "f32", rdb_kernel_name(),
		       th, th == 1 ? " " : "s", f32,
		       (double)o->n * (double)o->dim * 4 / (f32 * 1e-3) / 1e9);
		for (int i = 0; i < 3; i++) {
			double a = median(row + (size_t)(1 + 2 * i) * o->reps, o->reps);
			double b = median(row + (size_t)(2 + 2 * i) * o->reps, o->reps);
			double bytes = (double)o->n * (double)rdb_quant_row_bytes(kinds[i], o->dim);
			printf("  %-6s %-14s %d thread%s %8.3f ms/query  %7.2f GB/s  %5.2fx f32 | rescored "
			       "%8.3f ms  %5.2fx f32\n",
			       rdb_quant_name(kinds[i]), rdb_qkernel_name(kinds[i]), th, th == 1 ? " " : "s",
			       a, bytes / (a * 1e-3) / 1e9, f32 / a, b, f32 / b);
		}
	}
	printf("  targets (rescored, vs f32): int8 >= 3.5x, bf16 >= 1.8x; binary: reported\n");

	/* Recall@k against the exact f32 scan. */
	ex = malloc(k * sizeof *ex);
	got = malloc(k * sizeof *got);
	raw = malloc(k * sizeof *raw);
	if (!ex || !got || !raw)
		goto out;
	size_t hits[3] = {0}, raw_hits[3] = {0}, total = 0;
	for (size_t qi = 0; qi < o->recall_q; qi++) {
		const float *q = Q + qi * o->dim;
		size_t ne = 0;
		rdb_scan_topk(q, o->dim, ab, nb, k, threads, NULL, NULL, ex, &ne, NULL);
		total += ne;
		for (int i = 0; i < 3; i++) {
			size_t over = kinds[i] == RDB_QUANT_BINARY ? 10 * o->oversample : o->oversample;
			rdb_qquery *qq = NULL;
			size_t ng = 0, nr = 0;
			if (rdb_qquery_create(kinds[i], q, o->dim, &qq, NULL) ||
			    rdb_qsearch_rescore(qq, q, c[i].blocks, nb, k, over, threads, NULL, NULL, vec_of,
			                        &vc, got, &ng, NULL) ||
			    rdb_qscan_topk(qq, c[i].blocks, nb, k, threads, NULL, NULL, raw, &nr, NULL)) {
				rdb_qquery_free(qq);
				goto out;
			}
			hits[i] += overlap(got, ng, ex, ne);
			raw_hits[i] += overlap(raw, nr, ex, ne);
			rdb_qquery_free(qq);
		}
	}
	printf("  recall@%zu against exact f32 (%zu queries):", k, o->recall_q);
	for (int i = 0; i < 3; i++)
		printf(" %s %.4f (%.4f before rescoring)%s", rdb_quant_name(kinds[i]),
		       total ? (double)hits[i] / (double)total : 0,
		       total ? (double)raw_hits[i] / (double)total : 0, i < 2 ? ";" : "\n");
	printf("  target: recall@10 >= 0.99 after rescoring for int8 and bf16\n");
	if (qbatch(o, c, nb, ab, Q, threads, &vc) != 0)
		goto out;
	rc = 0;
out:
	free(t);
	free(ex);
	free(got);
	free(raw);
	for (int i = 0; i < 3; i++)
		qcopy_free(&c[i]);
	return rc;
}

/* The batch and the FMA peak taking turns: the store's blocks in slices of
 * SLICE_BLOCKS (32,768 vectors at block_cap 512: ~0.1-0.2 s of a 1,000-query
 * batch), each slice scored by the whole batch of queries on `th` threads
 * right after SLICE_PEAK_RUNS peak runs on as many threads at once. The
 * two then sample the same seconds of the machine: a host that slows the
 * core for a while slows both, so their ratio (best to best, median to
 * median, total to total) holds still when the machine does not, which the
 * ratio of a multi-second batch to a separately measured peak does not.
 * Each slice is a batch of its own (fresh heaps, the queries packed again):
 * ~1-2% more work than one pass over the store, so the ratio errs low. */
#define SLICE_BLOCKS 64
#define SLICE_PEAK_RUNS 8

static int cmp_double_desc(const void *a, const void *b)
{
	return cmp_double(b, a);
}

static int interleaved(const opts *o, rdb_store *s, const float *Q, rdb_batch_path path, int th,
                       rdb_scored *out, size_t *n_out)
{
	rdb_err err;
	rdb_txn *txn = NULL;
	rdb_vblock *sb = NULL;
	size_t nsb = 0;
	double *gb = NULL, *gp = NULL, *bp = NULL;
	int rc = -1;
	const char *isa;
	if (rdb_txn_begin(s, 0, &txn, &err)) {
		fprintf(stderr, "bench_search: read txn: %s\n", err.msg);
		return -1;
	}
	if (!(sb = store_blocks(txn, &nsb)))
		goto out;
	size_t ns = (nsb + SLICE_BLOCKS - 1) / SLICE_BLOCKS;
	gb = malloc((ns + 1) * sizeof *gb);
	gp = malloc((ns + 1) * sizeof *gp);
	bp = malloc((ns + 1) * sizeof *bp);
	if (!gb || !gp || !bp)
		goto out;
	double flops_all = 0, t_all = 0, peak_flops = 0, peak_t = 0;
	cpu_busy busy0 = cpu_busy_now();
	double cpu0 = cpu_s(CLOCK_PROCESS_CPUTIME_ID);
	for (size_t i = 0; i < ns; i++) {
		size_t b0 = i * SLICE_BLOCKS, nb = nsb - b0 < SLICE_BLOCKS ? nsb - b0 : SLICE_BLOCKS;
		size_t nv = 0;
		for (size_t b = b0; b < b0 + nb; b++)
			nv += sb[b].count;
		peak p = fma_peak_runs(th, SLICE_PEAK_RUNS, &isa);
		double t0 = now_s();
		if (rdb_scan_topk_batch_path(path, Q, o->queries, o->dim, sb + b0, nb, o->k, th, out,
		                             n_out, &err)) {
			fprintf(stderr, "bench_search: batch: %s\n", err.msg);
			goto out;
		}
		double t = now_s() - t0;
		double fl = 2.0 * (double)o->queries * (double)nv * (double)o->dim;
		gb[i] = fl / (t > 0 ? t : 1e-9) / 1e9 / th;
		gp[i] = p.mean;
		bp[i] = p.best;
		flops_all += fl;
		t_all += t;
		/* The peak runs' own time, from their mean rate. */
		peak_flops += (double)SLICE_PEAK_RUNS * (double)PEAK_ITERS * 768.0;
		peak_t += (double)SLICE_PEAK_RUNS * (double)PEAK_ITERS * 768.0 / (p.mean * 1e9);
	}
	cpu_busy busy1 = cpu_busy_now();
	double cpu1 = cpu_s(CLOCK_PROCESS_CPUTIME_ID), span = busy1.t - busy0.t;
	qsort(gb, ns, sizeof *gb, cmp_double_desc);
	qsort(bp, ns, sizeof *bp, cmp_double_desc);
	double b_best = gb[0], b_med = median(gb, ns), p_best = bp[0], p_med = median(gp, ns);
	double b_all = flops_all / t_all / 1e9 / th, p_all = peak_flops / peak_t / 1e9;
	printf("  %-6s %d thread%s interleaved, %zu slices of %d blocks, each after %d peak runs: "
	       "per core batch/peak best %.1f/%.1f = %.2fx, median %.1f/%.1f = %.2fx, overall "
	       "%.1f/%.1f = %.2fx\n",
	       rdb_batch_path_name(path), th, th == 1 ? " " : "s", ns, SLICE_BLOCKS,
	       SLICE_PEAK_RUNS, b_best, p_best, b_best / p_best, b_med, p_med, b_med / p_med, b_all,
	       p_all, b_all / p_all);
	printf("         during these slices other processes kept %.2f of the %d CPUs busy and the "
	       "host took %.2f (steal)%s\n",
	       span > 0 ? (busy1.busy - busy0.busy - (cpu1 - cpu0)) / span : 0, rdb_ncores(),
	       span > 0 ? (busy1.steal - busy0.steal) / span : 0,
	       span > 0 && (busy1.busy - busy0.busy - (cpu1 - cpu0)) / span > 0.1
	           ? ": the ratios are not the kernel's"
	           : "");
	rc = 0;
out:
	free(gb);
	free(gp);
	free(bp);
	free(sb);
	rdb_txn_abort(txn);
	return rc;
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
	single_run rb1 = {0}, rbt = {0}; /* read bandwidth taking turns with the queries (GB/s in t) */
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

	/* Machine limits, measured in this run. */
	const char *isa;
	peak pk1 = fma_peak(1, &isa), pkt = threads > 1 ? fma_peak(threads, &isa) : pk1;
	double bw1 = read_bw(vecs, o.n * o.dim, 1, o.reps);
	double bwt = threads > 1 ? read_bw(vecs, o.n * o.dim, threads, o.reps) : bw1;
	printf("limits: FMA peak %.1f GFLOP/s per core on 1 thread, %.1f per core with %d threads "
	       "at once (%s; best of %d runs of ~1 ms on the wall clock%s; medians %.1f, %.1f); "
	       "read bandwidth (sum over the array, median of %zu) %.2f GB/s on 1 thread, %.2f "
	       "GB/s on %d\n",
	       pk1.best, pkt.best, pkt.threads, isa, PEAK_RUNS, pk1.pinned ? ", pinned" : "",
	       pk1.med, pkt.med, o.reps, bw1, bwt, threads);

	int ids_ok = 1;
	if (o.only_batch) {
		rdb_txn_abort(txn);
		txn = NULL;
		free(sb);
		sb = NULL;
		goto batch;
	}
	printf("single queries (%zu per repetition, median of %zu, paths interleaved):\n",
	       o.single, o.reps);
	if (single_init(&st, &o) || single_init(&ar, &o) || single_init(&sm, &o) ||
	    single_init(&st1, &o) || single_init(&ar1, &o) || single_init(&rb1, &o) ||
	    single_init(&rbt, &o))
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
		/* The read bandwidth too: on a shared host it moves by 1.5x
		 * between minutes, so the ratio the target is about is taken
		 * between figures of the same minutes. */
		rb1.t[rep] = read_bw(vecs, o.n * o.dim, 1, 1);
		rbt.t[rep] = threads > 1 ? read_bw(vecs, o.n * o.dim, threads, 1) : rb1.t[rep];
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
	ids_ok = same_ids(&st, &ar, o.single, o.k) && same_ids(&st, &sm, o.single, o.k) && same_ids(&st1, &ar1, o.single, o.k) &&
	             same_ids(&st, &st1, o.single, o.k);
	printf("  (a) and (b) ids identical: %s\n", ids_ok ? "yes" : "NO");
	printf("  f32 single query / read bandwidth: %.3f (store, 1 thread), %.3f (store, %d "
	       "threads); %.3f, %.3f (array); target >= 0.9\n",
	       bytes / (st1.ms * 1e-3) / 1e9 / bw1, bytes / (st.ms * 1e-3) / 1e9 / bwt, threads,
	       bytes / (ar1.ms * 1e-3) / 1e9 / bw1, bytes / (ar.ms * 1e-3) / 1e9 / bwt);
	{
		double b1 = median(rb1.t, o.reps), bt = median(rbt.t, o.reps);
		printf("  the same against the read bandwidth measured taking turns with the queries (%.2f "
		       "GB/s on 1 thread, %.2f on %d; median of %zu): %.3f (store, 1 thread), %.3f (store, "
		       "%d threads); %.3f, %.3f (array); target >= 0.9\n",
		       b1, bt, threads, o.reps, bytes / (st1.ms * 1e-3) / 1e9 / b1,
		       bytes / (st.ms * 1e-3) / 1e9 / bt, threads, bytes / (ar1.ms * 1e-3) / 1e9 / b1,
		       bytes / (ar.ms * 1e-3) / 1e9 / bt);
	}

	if (bench_quant(&o, vecs, ab, nsb, Q, threads) != 0)
		goto out;

batch:;

	/* Batch over the store, on every path this CPU runs. */
	double own_gf = 0, blas_gf = 0;
	rdb_batch_path chosen = rdb_batch_chosen(&own_gf, &blas_gf);
	printf("batch of %zu queries over the store (GFLOP/s = 2 x Q x N x D / time; per CPU "
	       "second = over the process's CPU time; median of %zu):\n",
	       o.queries, o.batch_reps < 16 ? o.batch_reps : 16);
	if (own_gf > 0 || blas_gf > 0)
		printf("  auto path: %s (one-time calibration on one core: own %.1f GFLOP/s, cblas "
		       "%.1f; openblas core %s)\n",
		       rdb_batch_path_name(chosen), own_gf, blas_gf, openblas_get_corename());
	else
		printf("  auto path: %s (not measured: forced, or openblas core %s runs SSE-era "
		       "kernels)\n", rdb_batch_path_name(chosen), openblas_get_corename());
	double flops = 2.0 * (double)o.queries * (double)o.n * (double)o.dim;
	double bt[16], bc[16];
	size_t breps = o.batch_reps < 16 ? o.batch_reps : 16;
	bout = malloc(o.queries * o.k * sizeof *bout);
	bn = malloc(o.queries * sizeof *bn);
	if (!bout || !bn)
		goto out;
	rdb_batch_path paths[4] = {RDB_BATCH_AMX, RDB_BATCH_AVX512, RDB_BATCH_AVX2, RDB_BATCH_BLAS};
	size_t npaths = 4;
	if (strcmp(o.batch_path, "all") != 0) {
		npaths = 1;
		paths[0] = strcmp(o.batch_path, "auto") == 0     ? chosen
		           : strcmp(o.batch_path, "amx") == 0    ? RDB_BATCH_AMX
		           : strcmp(o.batch_path, "avx512") == 0 ? RDB_BATCH_AVX512
		           : strcmp(o.batch_path, "avx2") == 0   ? RDB_BATCH_AVX2
		                                                 : RDB_BATCH_BLAS;
	}
	printf("  per core used = GFLOP/s / threads, against the FMA peak with as many threads "
	       "at once, measured right before and right after the batch's runs (the ratio is "
	       "against the higher of the two)\n");
	double chosen_qps = 0;
	int have_chosen = 0;
	for (size_t pi = 0; pi < npaths; pi++) {
		if (!rdb_batch_path_supported(paths[pi])) {
			printf("  %-6s not supported on this CPU\n", rdb_batch_path_name(paths[pi]));
			continue;
		}
		uint64_t amx_q0, amx_r0, amx_q1, amx_r1;
		rdb_batch_amx_stats(&amx_q0, &amx_r0);
		for (int pass = 0; pass < 2; pass++) {
			int th = pass == 0 ? threads : 1;
			if (pass == 1 && threads == 1)
				break;
			peak before = fma_peak(th, &isa);
			cpu_busy busy0 = cpu_busy_now(), busy1;
			double cpu0 = cpu_s(CLOCK_PROCESS_CPUTIME_ID), cpu1;
			for (size_t rep = 0; rep < breps; rep++) {
				t0 = now_s();
				double c0 = cpu_s(CLOCK_PROCESS_CPUTIME_ID);
				if (store_batch(s, paths[pi], Q, &o, th, bout, bn) != 0)
					goto out;
				bt[rep] = now_s() - t0;
				bc[rep] = cpu_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
			}
			busy1 = cpu_busy_now();
			cpu1 = cpu_s(CLOCK_PROCESS_CPUTIME_ID);
			peak after = fma_peak(th, &isa);
			double best = bt[0];
			for (size_t rep = 1; rep < breps; rep++)
				best = bt[rep] < best ? bt[rep] : best;
			double w = median(bt, breps), c = median(bc, breps);
			double pk = before.best > after.best ? before.best : after.best;
			double gw = flops / w / 1e9 / th, gb = flops / best / 1e9 / th;
			printf("  %-6s %d thread%s %8.2f s %8.1f QPS %7.1f GFLOP/s = %6.1f per core used "
			       "(%.2fx peak; best of %zu: %.1f, %.2fx), %6.1f per CPU second (%.2fx); peak "
			       "before %.1f, after %.1f (medians %.1f, %.1f)\n",
			       rdb_batch_path_name(paths[pi]), th, th == 1 ? " " : "s", w,
			       (double)o.queries / w, flops / w / 1e9, gw, gw / pk, breps, gb, gb / pk,
			       flops / c / 1e9, flops / c / 1e9 / pk, before.best, after.best,
			       before.med, after.med);
			printf("         during these runs other processes kept %.2f of the %d CPUs busy "
			       "and the host took %.2f (steal)%s\n",
			       (busy1.busy - busy0.busy) / (busy1.t - busy0.t) -
			           (cpu1 - cpu0) / (busy1.t - busy0.t),
			       rdb_ncores(), (busy1.steal - busy0.steal) / (busy1.t - busy0.t),
			       (busy1.busy - busy0.busy - (cpu1 - cpu0)) / (busy1.t - busy0.t) > 0.1
			           ? ": the ratios are not the kernel's"
			           : "");
			if (paths[pi] == chosen && th == threads)
				chosen_qps = (double)o.queries / w;
		}
		rdb_batch_amx_stats(&amx_q1, &amx_r1);
		if (paths[pi] == RDB_BATCH_AMX)
			printf("         amx: %llu of %llu queries scanned again (bound not proven)\n",
			       (unsigned long long)(amx_r1 - amx_r0), (unsigned long long)(amx_q1 - amx_q0));
		for (int pass = 0; pass < 2; pass++) {
			int th = pass == 0 ? threads : 1;
			if (pass == 1 && threads == 1)
				break;
			if (interleaved(&o, s, Q, paths[pi], th, bout, bn) != 0)
				goto out;
		}
		if (paths[pi] == chosen)
			have_chosen = 1;
	}
	/* The chosen path's whole batch for the comparison below, run after
	 * every path: the interleaved runs write their slices' results into
	 * the same buffer. */
	if (have_chosen && store_batch(s, chosen, Q, &o, threads, bout, bn) != 0)
		goto out;
	if (o.only_batch || !have_chosen) {
		printf("  target: >= 0.8x peak per core used\n");
	} else {
		printf("  target: >= 0.8x peak per core used; the auto path (%s) vs (a) single "
		       "queries: %.1fx the QPS\n",
		       rdb_batch_path_name(chosen), chosen_qps * st.ms / 1e3);
		size_t agree = 0, ranks = 0;
		for (size_t i = 0; i < o.single; i++) {
			for (size_t j = 0; j < bn[i] && j < st.n[i]; j++, ranks++)
				agree += bout[i * o.k + j].id == st.results[i * o.k + j].id;
		}
		printf("  batch ids equal to single-query ids: %zu of %zu ranks\n", agree, ranks);
	}
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
	single_free(&rb1);
	single_free(&rbt);
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
