/*
 * engine/kernels/batch.c — exact top-k of many queries in one pass.
 *
 * Two ways to score a run of vectors against all queries:
 *   own   our register-blocked micro-kernels (batch_avx512.c, 12 queries x
 *         32 vectors; batch_avx2.c, 6 x 16) over packed operands, fused
 *         with the top-k: scores leave the registers only when they would
 *         enter a heap, so no score matrix exists (see batch_impl.h);
 *   blas  S = Q_tile . V_runᵀ by cblas_sgemm per tile of RDB_BATCH_TILE
 *         queries, then each row of S pushed into its query's heap.
 * Which one runs is decided once per process (see choose_path): OpenBLAS
 * speed depends on whether it recognises the CPU. When it reports an
 * SSE-era core our kernel runs without asking; otherwise a short
 * measurement decides.
 * Debian's 0.3.21 takes a Sapphire Rapids for a Prescott and runs SSE3
 * kernels at ~30 GFLOP/s per core, where our AVX-512 kernel does several
 * times that; with a correct core type sgemm is close to peak and may win.
 * RAGDB_BATCH=blas|avx2|avx512 forces a path (tests, benchmarks).
 *
 * Either way the vectors are walked once: a run of up to ~1 MB of V (fewer
 * rows at large dims) stays in L2 while every query tile is scored against
 * it. Threads split the vectors: each part has its own nq heaps (and
 * thresholds, packed run or S buffer) and claims slices of the vectors
 * (16 per part) until none is left; the heaps are merged per query at the
 * end. Fixed halves left one core idle for 5-10% of a 1M x 1,000 batch on
 * this shared machine (CPU time vs wall: 123 vs 110 GFLOP/s per core);
 * with slices the two agree within 1-2%. OpenBLAS is held to one thread per
 * call (it is process-wide and nothing else in ragdb calls BLAS): our parts
 * already use the cores, and that measured faster than letting OpenBLAS
 * thread one call at a time (2 cores, N=50k, 200 queries: 129 vs 201 ms with the
 * Prescott kernel, 61 vs 75 ms with Haswell).
 *
 * Scores come from other summation orders than the dot kernels', so they
 * may differ in the last bits; ids agree with rdb_scan_topk except between
 * near-equal scores.
 *
 * Memory: parts x nq x k heap entries, plus the packed queries (nq x dim
 * rounded up to a tile) and per part a packed run or a tile x run S buffer.
 */
#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/kernels/batch_impl.h"
#include "engine/kernels/kernels.h"
#include "engine/kernels/pool.h"
#include "engine/kernels/scan_util.h"

#define RDB_BATCH_TILE 256

/* Slices of the vectors per part (see rdb_scan_topk_batch_path). */
#define SLICES_PER_PART 16

/* Rows per run: up to ~1 MB of V, so the run stays in L2 across the query
 * tiles even at large dims. */
static size_t run_rows(size_t dim)
{
	size_t rows = ((size_t)1024 * 1024) / ((dim ? dim : 1) * sizeof(float));
	return rows < 32 ? 32 : rows > RDB_SCAN_CHUNK ? RDB_SCAN_CHUNK : rows;
}

/* rows x dim (row-major) into groups of `group` rows, each d-major, the
 * last group padded with zero rows. The queries, and the AVX2 path's runs;
 * the AVX-512 path packs its runs with rdb_batch_pack_avx512 (the same
 * layout, in registers). */
static void pack(const float *src, size_t rows, size_t dim, size_t group, float *dst)
{
	for (size_t g = 0; g * group < rows; g++) {
		float *p = dst + g * group * dim;
		const size_t live = rows - g * group < group ? rows - g * group : group;
		for (size_t r = 0; r < live; r++) {
			const float *s = src + (g * group + r) * dim;
			for (size_t d = 0; d < dim; d++)
				p[d * group + r] = s[d];
		}
		for (size_t r = live; r < group; r++)
			for (size_t d = 0; d < dim; d++)
				p[d * group + r] = 0;
	}
}

typedef struct batch_job {
	rdb_batch_path path;
	const float *Q;   /* blas: as given */
	const float *Qp;  /* own: packed in tiles of mr */
	size_t nq, dim;
	const rdb_vblock *blocks;
	size_t n_blocks;
	size_t total, parts, k, rows, nr;
	rdb_topk *heaps;  /* parts x nq */
	float *S;         /* blas: parts x RDB_BATCH_TILE x rows; own: parts x packed run */
	size_t s_floats;  /* per part */
	float *thr;       /* own: parts x nq */
	size_t slice;     /* vectors per slice of the range, a multiple of rows */
	size_t next;      /* next slice to claim (atomic) */
} batch_job;

/* Claim the next unclaimed slice of the vectors; 0 when none is left. */
static int claim_slice(batch_job *j, rdb_range *r)
{
	const size_t s = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED);
	if (s >= (j->total + j->slice - 1) / j->slice)
		return 0;
	const size_t start = s * j->slice;
	const size_t end = j->total - start < j->slice ? j->total : start + j->slice;
	rdb_range_init(r, j->blocks, j->n_blocks, start, end);
	return 1;
}

static void batch_part(void *arg, size_t part)
{
	batch_job *j = arg;
	rdb_topk *heaps = j->heaps + part * j->nq;
	float *S = j->S + part * j->s_floats;
	rdb_range r;
	const uint64_t *ids;
	const float *vecs;
	size_t m;
	if (j->path != RDB_BATCH_BLAS) {
		float *thr = j->thr + part * j->nq;
		for (size_t i = 0; i < j->nq; i++)
			thr[i] = -INFINITY;
		while (claim_slice(j, &r)) {
			while ((m = rdb_range_next(&r, j->rows, &ids, &vecs, j->dim)) > 0) {
				rdb_brun b = {j->Qp, j->nq, j->dim, S, ids, m, heaps, thr};
				if (j->path == RDB_BATCH_AVX512) {
					rdb_batch_pack_avx512(vecs, m, j->dim, S);
					rdb_batch_run_avx512(&b);
				} else {
					pack(vecs, m, j->dim, j->nr, S);
					rdb_batch_run_avx2(&b);
				}
			}
		}
		return;
	}
	while (claim_slice(j, &r)) {
		while ((m = rdb_range_next(&r, j->rows, &ids, &vecs, j->dim)) > 0) {
			for (size_t q0 = 0; q0 < j->nq; q0 += RDB_BATCH_TILE) {
				size_t tq = j->nq - q0 < RDB_BATCH_TILE ? j->nq - q0 : RDB_BATCH_TILE;
				if (j->dim == 0)
					memset(S, 0, tq * m * sizeof *S);
				else
					cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)tq, (int)m,
					            (int)j->dim, 1.0f, j->Q + q0 * j->dim, (int)j->dim, vecs,
					            (int)j->dim, 0.0f, S, (int)m);
				for (size_t i = 0; i < tq; i++)
					rdb_push_scores(&heaps[q0 + i], S + i * m, ids, m, NULL, NULL);
			}
		}
	}
}

static pthread_once_t g_blas_once = PTHREAD_ONCE_INIT;
static void blas_one_thread(void) { openblas_set_num_threads(1); }

/* OpenBLAS (pthreads build) starts its worker threads when it is loaded,
 * and they spin on sched_yield for ~2^28 cycles before they sleep: 130 ms
 * of CPU at the start of every process that links it, measured on this
 * 2-core machine, i.e. one core taken away from a CLI search or a cold
 * start's first query. ragdb runs BLAS on one thread only (blas_one_thread),
 * so the workers are stopped as soon as the library is loaded (constructors
 * of a library run after those of the libraries it depends on). OpenBLAS
 * starts them again by itself if someone asks it for several threads.
 * Weak: builds of OpenBLAS without the thread server do not have it. */
extern int blas_thread_shutdown_(void) __attribute__((weak));

__attribute__((constructor)) static void blas_stop_spinning(void)
{
	if (blas_thread_shutdown_)
		blas_thread_shutdown_();
}

static const char *const g_path_names[] = {"auto", "blas", "avx2", "avx512"};

const char *rdb_batch_path_name(rdb_batch_path path)
{
	return (unsigned)path < 4 ? g_path_names[path] : NULL;
}

int rdb_batch_path_supported(rdb_batch_path path)
{
	switch (path) {
	case RDB_BATCH_AUTO:
	case RDB_BATCH_BLAS:
		return 1;
	case RDB_BATCH_AVX2:
		return rdb_kernel_supported("avx2");
	case RDB_BATCH_AVX512:
		return rdb_kernel_supported("avx512");
	}
	return 0;
}

static pthread_once_t g_path_once = PTHREAD_ONCE_INIT;
static rdb_batch_path g_auto = RDB_BATCH_BLAS;
static double g_gflops_own, g_gflops_blas;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* One timed run of a path on the calibration problem, in GFLOP/s (0 if
 * it failed). */
static double time_path(rdb_batch_path path, const float *Q, size_t nq, size_t dim,
                        const rdb_vblock *b, size_t nb, size_t n, rdb_scored *out, size_t *n_out)
{
	double t0 = now_s();
	if (rdb_scan_topk_batch_path(path, Q, nq, dim, b, nb, 10, 1, out, n_out, NULL))
		return 0;
	double t = now_s() - t0;
	return 2.0 * (double)nq * (double)n * (double)dim / (t > 0 ? t : 1e-9) / 1e9;
}

/* Whether OpenBLAS's kernels for the core it detected use at most SSE
 * registers (cores before Sandy Bridge, and its generic targets). */
static int blas_core_is_sse_only(const char *core)
{
	static const char *const sse[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem",
	                                  "Atom", "Katmai", "Coppermine", "Northwood", "Banias",
	                                  "Opteron", "Barcelona", "Bobcat", "generic", "Generic",
	                                  "Unknown", "unknown"};
	if (!core || !*core)
		return 1;
	for (size_t i = 0; i < sizeof sse / sizeof *sse; i++)
		if (strncmp(core, sse[i], strlen(sse[i])) == 0)
			return 1;
	return 0;
}

/* Pick the batch path once: RAGDB_BATCH if set and supported; our best
 * micro-kernel when OpenBLAS runs SSE-era kernels; else our micro-kernel
 * against cblas_sgemm on one core, measured on a small
 * problem (192 queries x 2048 vectors x dim 256: ~200 MFLOP, 1-2 ms for
 * our kernel, ~8 ms for a Prescott sgemm), the faster one winning. Smaller
 * problems favour sgemm unfairly: our packing and the heaps' warm-up
 * weigh more there than on real batches. */
static void choose_path(void)
{
	const char *want = getenv("RAGDB_BATCH");
	if (want && *want) {
		for (unsigned p = RDB_BATCH_BLAS; p <= RDB_BATCH_AVX512; p++) {
			if (strcmp(want, g_path_names[p]) == 0 && rdb_batch_path_supported((rdb_batch_path)p)) {
				g_auto = (rdb_batch_path)p;
				return;
			}
		}
		fprintf(stderr,
		        "ragdb: RAGDB_BATCH=%s is not a batch path this CPU can run (expected blas, "
		        "avx2 or avx512); measuring which is faster instead\n",
		        want);
	}
	rdb_batch_path own = rdb_batch_path_supported(RDB_BATCH_AVX512) ? RDB_BATCH_AVX512
	                     : rdb_batch_path_supported(RDB_BATCH_AVX2) ? RDB_BATCH_AVX2
	                                                                : RDB_BATCH_BLAS;
	if (own == RDB_BATCH_BLAS)
		return;
	/* An OpenBLAS that runs SSE-era kernels (it did not recognise the CPU,
	 * as Debian's 0.3.21 does not recognise Sapphire Rapids) cannot beat a
	 * micro-kernel on AVX2 or AVX-512 registers: measured 11-30 against
	 * 75-140 GFLOP/s here. Skip the measurement then; it cost every process
	 * ~70-140 ms at its first batch, mostly in the slow sgemm. */
	if (blas_core_is_sse_only(openblas_get_corename())) {
		g_auto = own;
		return;
	}
	enum { NQ = 192, N = 2048, D = 256 };
	float *Q = malloc((size_t)NQ * D * sizeof *Q), *V = malloc((size_t)N * D * sizeof *V);
	uint64_t *ids = malloc(N * sizeof *ids);
	rdb_scored *out = malloc((size_t)NQ * 10 * sizeof *out);
	size_t *n_out = malloc(NQ * sizeof *n_out);
	if (Q && V && ids && out && n_out) {
		uint64_t x = 0x9e3779b97f4a7c15ull;
		for (size_t i = 0; i < (size_t)NQ * D; i++, x = x * 6364136223846793005ull + 1)
			Q[i] = (float)(x >> 40) / (float)(1u << 24) - 0.5f;
		for (size_t i = 0; i < (size_t)N * D; i++, x = x * 6364136223846793005ull + 1)
			V[i] = (float)(x >> 40) / (float)(1u << 24) - 0.5f;
		for (size_t i = 0; i < N; i++)
			ids[i] = i + 1;
		rdb_vblock b[4];
		for (size_t i = 0; i < 4; i++)
			b[i] = (rdb_vblock){ids + i * N / 4, V + i * (size_t)N / 4 * D, N / 4};
		/* Best of three each, taking turns, so that load from elsewhere on
		 * the machine falls on both alike. */
		for (int rep = 0; rep < 3; rep++) {
			double a = time_path(own, Q, NQ, D, b, 4, N, out, n_out);
			double c = time_path(RDB_BATCH_BLAS, Q, NQ, D, b, 4, N, out, n_out);
			g_gflops_own = a > g_gflops_own ? a : g_gflops_own;
			g_gflops_blas = c > g_gflops_blas ? c : g_gflops_blas;
		}
		g_auto = g_gflops_own >= g_gflops_blas ? own : RDB_BATCH_BLAS;
	}
	free(Q);
	free(V);
	free(ids);
	free(out);
	free(n_out);
}

rdb_batch_path rdb_batch_chosen(double *own_gflops, double *blas_gflops)
{
	pthread_once(&g_path_once, choose_path);
	if (own_gflops)
		*own_gflops = g_gflops_own;
	if (blas_gflops)
		*blas_gflops = g_gflops_blas;
	return g_auto;
}

ragdb_status rdb_scan_topk_batch(const float *Q, size_t nq, size_t dim, const rdb_vblock *blocks,
                                 size_t n_blocks, size_t k, int threads, rdb_scored *out,
                                 size_t *n_out, rdb_err *err)
{
	return rdb_scan_topk_batch_path(RDB_BATCH_AUTO, Q, nq, dim, blocks, n_blocks, k, threads, out,
	                                n_out, err);
}

ragdb_status rdb_scan_topk_batch_path(rdb_batch_path path, const float *Q, size_t nq, size_t dim,
                                      const rdb_vblock *blocks, size_t n_blocks, size_t k,
                                      int threads, rdb_scored *out, size_t *n_out, rdb_err *err)
{
	if (!rdb_batch_path_supported(path))
		return rdb_err_set(err, RAGDB_EINVAL,
		                   "batch scan: path %s is not supported on this CPU; use "
		                   "RDB_BATCH_AUTO",
		                   rdb_batch_path_name(path) ? rdb_batch_path_name(path) : "(unknown)");
	if (dim > INT_MAX)
		return rdb_err_set(err, RAGDB_EINVAL,
		                   "batch scan: dim %zu is larger than BLAS can take (%d); "
		                   "use rdb_scan_topk per query",
		                   dim, INT_MAX);
	if (nq == 0)
		return RAGDB_OK;
	if (k == 0) {
		memset(n_out, 0, nq * sizeof *n_out);
		return RAGDB_OK;
	}
	if (path == RDB_BATCH_AUTO)
		path = rdb_batch_chosen(NULL, NULL);
	const int own = path != RDB_BATCH_BLAS;
	const size_t mr = path == RDB_BATCH_AVX512 ? RDB_B512_MR : RDB_B2_MR;
	batch_job j = {path, Q, NULL, nq, dim, blocks, n_blocks, rdb_blocks_total(blocks, n_blocks), 1,
	               k, run_rows(dim), path == RDB_BATCH_AVX512 ? RDB_B512_NR : RDB_B2_NR,
	               NULL, NULL, 0, NULL, 0, 0};
	/* Whole panels per run: blocks hold a multiple of 32 vectors, so runs
	 * then split them without a padded panel at every run's end. */
	if (own)
		j.rows = j.rows / j.nr * j.nr;
	/* Each query scores every vector: the work is nq scans' (saturated). */
	size_t d = dim ? dim : 1;
	size_t parts = rdb_scan_parts(j.total, nq > SIZE_MAX / d ? SIZE_MAX : nq * d, threads);
	ragdb_status st = RAGDB_ENOMEM;
	rdb_scored *storage = NULL;
	rdb_topk *heaps = NULL;
	float *S = NULL, *Qp = NULL, *thr = NULL;

	/* Part 0 keeps its heaps in out; the others need parts-1 more. */
	const size_t entry = sizeof(rdb_scored);
	const size_t nq_pad = (nq + mr - 1) / mr * mr;
	const size_t rows_pad = (j.rows + j.nr - 1) / j.nr * j.nr;
	j.s_floats = own ? rows_pad * d : (size_t)RDB_BATCH_TILE * j.rows;
	/* Whole cache lines per part, and 64-byte alignment for the packed
	 * operands' aligned loads. */
	j.s_floats = (j.s_floats + 15) & ~(size_t)15;
	if (nq > SIZE_MAX / k || nq * k > SIZE_MAX / entry / parts ||
	    nq > SIZE_MAX / sizeof *heaps / parts || nq_pad > SIZE_MAX / sizeof(float) / d ||
	    j.s_floats > SIZE_MAX / sizeof(float) / parts)
		goto out;
	if (parts > 1 && !(storage = malloc((parts - 1) * nq * k * entry)))
		goto out;
	if (!(heaps = malloc(parts * nq * sizeof *heaps)))
		goto out_free_storage;
	if (!(S = aligned_alloc(64, parts * j.s_floats * sizeof *S)))
		goto out_free_heaps;
	if (own) {
		/* nq_pad * d floats is a multiple of 16 since mr * 4 bytes is a
		 * multiple of 16 and aligned_alloc wants a size multiple of 64. */
		size_t qbytes = (nq_pad * d * sizeof(float) + 63) & ~(size_t)63;
		if (!(Qp = aligned_alloc(64, qbytes)) || !(thr = malloc(parts * nq * sizeof *thr)))
			goto out_free_own;
		pack(Q, nq, dim, mr, Qp);
	}

	for (size_t i = 0; i < nq; i++)
		rdb_topk_init(&heaps[i], out + i * k, k);
	for (size_t p = 1; p < parts; p++)
		for (size_t i = 0; i < nq; i++)
			rdb_topk_init(&heaps[p * nq + i], storage + ((p - 1) * nq + i) * k, k);
	j.parts = parts;
	/* The parts claim slices of the vectors as they go rather than one
	 * fixed share each, so a core that the host slows down (or that another
	 * job holds) leaves its last slice to the others, not half the batch.
	 * The heaps stay per part, so a slice costs no warm-up. */
	j.slice = parts > 1 ? (j.total + parts * SLICES_PER_PART - 1) / (parts * SLICES_PER_PART)
	                    : j.total;
	j.slice = j.slice ? (j.slice + j.rows - 1) / j.rows * j.rows : 1;
	j.heaps = heaps;
	j.S = S;
	j.Qp = Qp;
	j.thr = thr;
	if (!own)
		pthread_once(&g_blas_once, blas_one_thread);
	rdb_pool_run(batch_part, &j, parts);

	for (size_t i = 0; i < nq; i++) {
		rdb_topk *t = &heaps[i];
		for (size_t p = 1; p < parts; p++) {
			const rdb_topk *o = &heaps[p * nq + i];
			for (size_t e = 0; e < o->n; e++)
				rdb_topk_push(t, o->h[e].score, o->h[e].id);
		}
		n_out[i] = rdb_topk_drain(t, out + i * k);
	}
	st = RAGDB_OK;
out_free_own:
	free(thr);
	free(Qp);
	free(S);
out_free_heaps:
	free(heaps);
out_free_storage:
	free(storage);
out:
	if (st != RAGDB_OK)
		rdb_err_set(err, st,
		            "batch scan: no memory for %zu queries x top-%zu in %zu parts; "
		            "use smaller batches or a smaller k",
		            nq, k, parts);
	return st;
}
