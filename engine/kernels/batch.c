/*
 * engine/kernels/batch.c — exact top-k of many queries in one pass.
 *
 * Three ways to score a run of vectors against all queries:
 *   own   our register-blocked micro-kernels (batch_avx512.c, 12 queries x
 *         32 vectors; batch_avx2.c, 6 x 16) over packed operands, fused
 *         with the top-k: scores leave the registers only when they would
 *         enter a heap, so no score matrix exists (see batch_impl.h);
 *   blas  S = Q_tile . V_runᵀ by cblas_sgemm per tile of RDB_BATCH_TILE
 *         queries, then each row of S pushed into its query's heap;
 *   amx   AMX tiles (batch_amxbf16.c) score every pair from bf16 hi/lo
 *         splits of the operands, within a proven bound of the f32 dot
 *         product; each query keeps 1.5k + 8 candidates, and those within
 *         reach of the top k are rescored with the f32 dot kernel. If the
 *         candidates' floor plus the bound is below the k-th rescored
 *         score, no other vector can be in the top k and the answer is
 *         exact; otherwise (near-ties the split cannot separate) that query
 *         is scanned again on the AVX-512 kernel. On 1M x 384 x 1,000
 *         queries no query needed that, and the batch ran 2.1-3.3x faster
 *         than the AVX-512 kernel in the same runs (0.84-2.03x the one-core
 *         FMA peak per core, counting the f32 flops it stands for).
 * Which one runs is decided once per process (see choose_path): AMX where
 * the CPU and the kernel allow it (batches of fewer than RDB_BATCH_AMX_MIN
 * queries or over fewer than RDB_BATCH_AMX_MIN_VECTORS vectors then take the
 * AVX-512 kernel: the tiles are 32 queries wide, every vector is packed,
 * and the candidates' heaps cost most on few vectors, so it measured
 * slower there); OpenBLAS
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
 * may differ in the last bits (the AMX path's scores are the dot kernel's,
 * except for queries scanned again); ids agree with rdb_scan_topk except
 * between near-equal scores.
 *
 * Memory: parts x nq x k heap entries, plus the packed queries (nq x dim
 * rounded up to a tile) and per part a packed run or a tile x run S buffer;
 * on the amx path parts x nq x (1.5k + 8) candidates, the queries as bf16
 * hi and lo (the bytes of f32), and per part a packed run and 4 KB of tiles.
 */
#include <cblas.h>
#include <cpuid.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

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
	/* amx: packed queries; per part a packed run (va_elems bf16), four
	 * score tiles, and what the part saw of the vectors. */
	const uint16_t *Qa;
	uint16_t *Va;
	size_t va_elems;
	float *tiles;
	float *maxnorm2;
	int *nonfinite;
} batch_job;

/* The job's parts and slice size. The parts claim slices of the vectors as
 * they go rather than one fixed share each, so a core that the host slows
 * down (or that another job holds) leaves its last slice to the others,
 * not half the batch. The heaps stay per part, so a slice costs no
 * warm-up. */
static void set_parts(batch_job *j, size_t parts)
{
	j->parts = parts;
	j->slice = parts > 1 ? (j->total + parts * SLICES_PER_PART - 1) / (parts * SLICES_PER_PART)
	                     : j->total;
	j->slice = j->slice ? (j->slice + j->rows - 1) / j->rows * j->rows : 1;
}

/* Query i's heaps of parts 1.. pushed into its heap of part 0. */
static void merge_parts(rdb_topk *heaps, size_t nq, size_t parts, size_t i)
{
	for (size_t p = 1; p < parts; p++) {
		const rdb_topk *o = &heaps[p * nq + i];
		for (size_t e = 0; e < o->n; e++)
			rdb_topk_push(&heaps[i], o->h[e].score, o->h[e].id);
	}
}

/* Claim the next unclaimed slice of the vectors, starting at *start; 0
 * when none is left. */
static int claim_slice(batch_job *j, rdb_range *r, size_t *start)
{
	const size_t s = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED);
	if (s >= (j->total + j->slice - 1) / j->slice)
		return 0;
	*start = s * j->slice;
	const size_t end = j->total - *start < j->slice ? j->total : *start + j->slice;
	rdb_range_init(r, j->blocks, j->n_blocks, *start, end);
	return 1;
}

/* One part of an AMX batch: candidates into the part's heaps. */
static void batch_part_amx(batch_job *j, size_t part)
{
	rdb_bamx b = {j->Qa, j->nq, j->dim, NULL, NULL, 0, 0, j->Va + part * j->va_elems,
	              j->tiles + part * 1024, j->heaps + part * j->nq, j->thr + part * j->nq, 0, 0};
	for (size_t i = 0; i < j->nq; i++)
		b.thr[i] = -INFINITY;
	rdb_range r;
	size_t pos;
	rdb_batch_amx_begin();
	while (claim_slice(j, &r, &pos)) {
		while ((b.m = rdb_range_next(&r, j->rows, &b.ids, &b.vecs, j->dim)) > 0) {
			b.pos = pos;
			rdb_batch_run_amx(&b);
			pos += b.m;
		}
	}
	rdb_batch_amx_end();
	j->maxnorm2[part] = b.maxnorm2;
	j->nonfinite[part] = b.nonfinite;
}

static void batch_part(void *arg, size_t part)
{
	batch_job *j = arg;
	rdb_topk *heaps = j->heaps + part * j->nq;
	float *S = j->S + part * j->s_floats;
	rdb_range r;
	const uint64_t *ids;
	const float *vecs;
	size_t m, start;
	if (j->path == RDB_BATCH_AMX) {
		batch_part_amx(j, part);
		return;
	}
	if (j->path != RDB_BATCH_BLAS) {
		float *thr = j->thr + part * j->nq;
		for (size_t i = 0; i < j->nq; i++)
			thr[i] = -INFINITY;
		while (claim_slice(j, &r, &start)) {
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
	while (claim_slice(j, &r, &start)) {
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

static const char *const g_path_names[] = {"auto", "blas", "avx2", "avx512", "amx"};

const char *rdb_batch_path_name(rdb_batch_path path)
{
	return (unsigned)path < 5 ? g_path_names[path] : NULL;
}

/* Linux hands out the tile data state (8 KB per thread) only to processes
 * that ask for it (arch_prctl ARCH_REQ_XCOMP_PERM, since 5.16). */
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static pthread_once_t g_amx_once = PTHREAD_ONCE_INIT;
static int g_amx_ok;

static void amx_probe(void)
{
	unsigned a, b, c, d;
	if (!rdb_kernel_supported("avx512"))
		return;
	/* AMX-BF16 and AMX-TILE (leaf 7 EDX bits 22, 24), AVX512_BF16 (leaf 7
	 * subleaf 1 EAX bit 5) for the packing's conversions. */
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 22)) || !(d & (1u << 24)))
		return;
	if (!__get_cpuid_count(7, 1, &a, &b, &c, &d) || !(a & (1u << 5)))
		return;
	/* The OS must save the tile state (XCR0 bits 17, 18) and grant it. */
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	if ((lo & 0x60000u) != 0x60000u)
		return;
	g_amx_ok = syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
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
	case RDB_BATCH_AMX:
		pthread_once(&g_amx_once, amx_probe);
		return g_amx_ok;
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
		for (unsigned p = RDB_BATCH_BLAS; p <= RDB_BATCH_AMX; p++) {
			if (strcmp(want, g_path_names[p]) == 0 && rdb_batch_path_supported((rdb_batch_path)p)) {
				g_auto = (rdb_batch_path)p;
				return;
			}
		}
		fprintf(stderr,
		        "ragdb: RAGDB_BATCH=%s is not a batch path this CPU can run (expected blas, "
		        "avx2, avx512 or amx); measuring which is faster instead\n",
		        want);
	}
	/* Tiles do 16x the flops of AVX-512 FMAs a cycle; no sgemm on vector
	 * registers comes near (measured in benchmarks/bench_search). */
	if (rdb_batch_path_supported(RDB_BATCH_AMX)) {
		g_auto = RDB_BATCH_AMX;
		return;
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

/* --- AMX: candidates, exact rescoring, a proof or a second scan ---------- */

static uint64_t g_amx_queries, g_amx_rescanned;

void rdb_batch_amx_stats(uint64_t *queries, uint64_t *rescanned)
{
	if (queries)
		*queries = __atomic_load_n(&g_amx_queries, __ATOMIC_RELAXED);
	if (rescanned)
		*rescanned = __atomic_load_n(&g_amx_rescanned, __ATOMIC_RELAXED);
}

/* Candidates per query: enough beyond k that the bound below rarely fails
 * (200k x 384, k = 10: k + 4 already left no query to scan again; see
 * benchmarks/README.md), few enough that filling the heaps stays cheap:
 * each part pushes ~m (1 + ln(n / m)) candidates per query, which is what
 * costs on small knowledge bases. */
static size_t amx_candidates(size_t k)
{
	return k > SIZE_MAX / 2 ? SIZE_MAX : k + k / 2 + 8;
}

/* How far an AMX score may lie from the f32 dot kernel's score of the same
 * pair, for a query of norm qn against vectors of norm at most xn. Per
 * element the split drops q_lo.x_lo and the remainders' rounding: at most
 * ~3 * 2^-16 |q_i x_i|; the tiles round ~3 * kd partial sums in f32 and the
 * dot kernel up to dim: each at most 2^-24 of sum |q_i x_i|; and
 * sum |q_i x_i| <= qn * xn (Cauchy-Schwarz). Rounded up generously: the
 * bound only decides whether a query is scanned again. */
static double amx_eps(size_t dim, double qn, double xn)
{
	const double kd = (double)RDB_BAMX_KD(dim);
	return (4.0 / 65536.0 + (4.0 * kd + 2.0 * (double)dim + 64.0) / 16777216.0) * qn * xn * 1.01 +
	       1e-30;
}

/* The place of a vector in the blocks (starts: n_blocks + 1 prefix sums). */
static size_t block_of(const size_t *starts, size_t n_blocks, size_t pos)
{
	size_t lo = 0, hi = n_blocks;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (starts[mid] <= pos)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* Query i's candidates (heap c, parts merged in; consumed) rescored with
 * the dot kernel into its top k in out. Every vector that is not a
 * candidate scored at most the candidates' floor by AMX, so at most
 * floor + eps by the dot kernel: below the k-th exact score, it cannot be
 * in the top k. Returns 0 when that is not proven (then the query is
 * scanned again). */
static int amx_finish(const float *q, size_t dim, const rdb_vblock *blocks, size_t n_blocks,
                      const size_t *starts, rdb_topk *c, size_t mc, size_t k, double xn,
                      rdb_scored *out, size_t *n_out)
{
	const int full = c->n == mc;
	const float floor = full ? c->h[0].score : -INFINITY;
	double qn = 0;
	for (size_t d = 0; d < dim; d++)
		qn += (double)q[d] * q[d];
	const double eps = amx_eps(dim, sqrt(qn), xn);
	/* Best first. The k best candidates score at least their k-th AMX
	 * score minus eps exactly, so one more than 2 eps below it cannot
	 * reach the top k and is not rescored: ~k dots instead of 1.5k + 8. */
	const size_t nc = rdb_topk_drain(c, c->h);
	const double cut = nc >= k ? (double)c->h[k - 1].score - 2 * eps : -INFINITY;
	rdb_dot_fn dot = rdb_kernel_dot();
	rdb_topk t;
	rdb_topk_init(&t, out, k);
	for (size_t e = 0; e < nc && (double)c->h[e].score >= cut; e++) {
		const size_t pos = (size_t)c->h[e].id - 1;
		const size_t b = block_of(starts, n_blocks, pos), row = pos - starts[b];
		float s;
		dot(q, blocks[b].vecs + row * dim, 1, dim, &s);
		rdb_topk_push(&t, isnan(s) ? -INFINITY : s, blocks[b].ids[row]);
	}
	if (full && (t.n < k || !((double)floor + eps < (double)t.h[0].score)))
		return 0;
	*n_out = rdb_topk_drain(&t, out);
	return 1;
}

/* The rescoring, shared by the parts: query i goes to part i % parts. */
typedef struct amx_fin {
	const float *Q;
	size_t nq, dim;
	const rdb_vblock *blocks;
	size_t n_blocks;
	const size_t *starts;
	rdb_topk *heaps; /* parts x nq candidate heaps */
	size_t parts, mc, k;
	double xn;
	rdb_scored *out;
	size_t *n_out;
	unsigned char *redo; /* out: 1 where the query must be scanned again */
} amx_fin;

static void amx_finish_part(void *arg, size_t part)
{
	amx_fin *f = arg;
	for (size_t i = part; i < f->nq; i += f->parts) {
		merge_parts(f->heaps, f->nq, f->parts, i);
		f->redo[i] = !amx_finish(f->Q + i * f->dim, f->dim, f->blocks, f->n_blocks, f->starts,
		                         &f->heaps[i], f->mc, f->k, f->xn, f->out + i * f->k,
		                         &f->n_out[i]);
	}
}

/* rdb_scan_topk_batch on the AMX path (dim >= 1, k >= 1, nq >= 1). Queries
 * or vectors holding NaN or infinities void the bound: the whole batch
 * then takes the AVX-512 kernel. */
static ragdb_status batch_amx(const float *Q, size_t nq, size_t dim, const rdb_vblock *blocks,
                              size_t n_blocks, size_t k, int threads, rdb_scored *out,
                              size_t *n_out, rdb_err *err)
{
	const size_t kd = RDB_BAMX_KD(dim), mc = amx_candidates(k);
	const size_t nq_pad = (nq + RDB_BAMX_BLOCK - 1) / RDB_BAMX_BLOCK * RDB_BAMX_BLOCK;
	batch_job j = {.path = RDB_BATCH_AMX, .Q = Q, .nq = nq, .dim = dim, .blocks = blocks,
	               .n_blocks = n_blocks, .total = rdb_blocks_total(blocks, n_blocks), .parts = 1,
	               .k = mc, .rows = run_rows(dim), .nr = RDB_BAMX_BLOCK};
	j.rows = j.rows / RDB_BAMX_BLOCK * RDB_BAMX_BLOCK;
	j.va_elems = j.rows * 2 * kd;
	const size_t parts = rdb_scan_parts(j.total, nq > SIZE_MAX / dim ? SIZE_MAX : nq * dim, threads);
	ragdb_status st = RAGDB_ENOMEM;
	uint16_t *Qa = NULL, *Va = NULL;
	float *tiles = NULL, *thr = NULL, *maxnorm2 = NULL, *Qf = NULL;
	rdb_scored *storage = NULL, *fout = NULL;
	rdb_topk *heaps = NULL;
	int *nonfinite = NULL;
	size_t *starts = NULL, *fn = NULL, nredo = 0;
	unsigned char *redo = NULL;
	if (mc == SIZE_MAX || nq > SIZE_MAX / mc / parts / sizeof *storage ||
	    nq_pad > SIZE_MAX / 4 / kd || j.va_elems > SIZE_MAX / 2 / parts)
		goto out;
	if (!(Qa = aligned_alloc(64, nq_pad * 2 * kd * sizeof *Qa)) ||
	    !(Va = aligned_alloc(64, parts * j.va_elems * sizeof *Va)) ||
	    !(tiles = aligned_alloc(64, parts * 1024 * sizeof *tiles)) ||
	    !(storage = malloc(parts * nq * mc * sizeof *storage)) ||
	    !(heaps = malloc(parts * nq * sizeof *heaps)) ||
	    !(thr = malloc(parts * nq * sizeof *thr)) ||
	    !(maxnorm2 = calloc(parts, sizeof *maxnorm2)) ||
	    !(nonfinite = calloc(parts, sizeof *nonfinite)) ||
	    !(starts = malloc((n_blocks + 1) * sizeof *starts)) || !(redo = malloc(nq)))
		goto out;
	if (rdb_batch_amx_pack_queries(Q, nq, dim, Qa)) {
		st = rdb_scan_topk_batch_path(RDB_BATCH_AVX512, Q, nq, dim, blocks, n_blocks, k, threads,
		                              out, n_out, err);
		goto out;
	}
	for (size_t i = 0; i < parts * nq; i++)
		rdb_topk_init(&heaps[i], storage + i * mc, mc);
	set_parts(&j, parts);
	j.heaps = heaps;
	j.thr = thr;
	j.Qa = Qa;
	j.Va = Va;
	j.tiles = tiles;
	j.maxnorm2 = maxnorm2;
	j.nonfinite = nonfinite;
	rdb_pool_run(batch_part, &j, parts);

	float xn2 = 0;
	int bad = 0;
	for (size_t p = 0; p < parts; p++) {
		bad |= nonfinite[p];
		xn2 = maxnorm2[p] > xn2 ? maxnorm2[p] : xn2;
	}
	if (bad || !isfinite(xn2)) {
		st = rdb_scan_topk_batch_path(RDB_BATCH_AVX512, Q, nq, dim, blocks, n_blocks, k, threads,
		                              out, n_out, err);
		goto out;
	}
	starts[0] = 0;
	for (size_t b = 0; b < n_blocks; b++)
		starts[b + 1] = starts[b] + blocks[b].count;
	amx_fin f = {Q, nq, dim, blocks, n_blocks, starts, heaps, parts, mc, k, sqrt(xn2), out, n_out,
	             redo};
	rdb_pool_run(amx_finish_part, &f, parts);
	for (size_t i = 0; i < nq; i++)
		nredo += redo[i];
	__atomic_fetch_add(&g_amx_queries, nq, __ATOMIC_RELAXED);
	if (nredo) {
		__atomic_fetch_add(&g_amx_rescanned, nredo, __ATOMIC_RELAXED);
		if (!(Qf = malloc(nredo * dim * sizeof *Qf)) || !(fout = malloc(nredo * k * sizeof *fout)) ||
		    !(fn = malloc(nredo * sizeof *fn)))
			goto out;
		for (size_t i = 0, r = 0; i < nq; i++)
			if (redo[i])
				memcpy(Qf + r++ * dim, Q + i * dim, dim * sizeof *Qf);
		st = rdb_scan_topk_batch_path(RDB_BATCH_AVX512, Qf, nredo, dim, blocks, n_blocks, k,
		                              threads, fout, fn, err);
		if (st != RAGDB_OK)
			goto out;
		for (size_t i = 0, r = 0; i < nq; i++) {
			if (!redo[i])
				continue;
			memcpy(out + i * k, fout + r * k, fn[r] * sizeof *fout);
			n_out[i] = fn[r++];
		}
	}
	st = RAGDB_OK;
out:
	if (st == RAGDB_ENOMEM)
		rdb_err_set(err, st,
		            "batch scan: no memory for %zu queries x %zu candidates in %zu parts; "
		            "use smaller batches or a smaller k",
		            nq, mc, parts);
	free(Qa);
	free(Va);
	free(tiles);
	free(storage);
	free(heaps);
	free(thr);
	free(maxnorm2);
	free(nonfinite);
	free(starts);
	free(redo);
	free(Qf);
	free(fout);
	free(fn);
	return st;
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
	if (path == RDB_BATCH_AUTO) {
		path = rdb_batch_chosen(NULL, NULL);
		/* A batch of a few queries does not pay for packing every vector
		 * into tiles, nor a few vectors for the candidates' heaps and the
		 * rescoring (benchmarks/README.md, "The AMX path"). */
		if (path == RDB_BATCH_AMX && (nq < RDB_BATCH_AMX_MIN ||
		                              rdb_blocks_total(blocks, n_blocks) < RDB_BATCH_AMX_MIN_VECTORS))
			path = RDB_BATCH_AVX512;
	}
	if (path == RDB_BATCH_AMX && dim > 0)
		return batch_amx(Q, nq, dim, blocks, n_blocks, k, threads, out, n_out, err);
	if (path == RDB_BATCH_AMX)
		path = RDB_BATCH_AVX512;
	const int own = path != RDB_BATCH_BLAS;
	const size_t mr = path == RDB_BATCH_AVX512 ? RDB_B512_MR : RDB_B2_MR;
	batch_job j = {.path = path, .Q = Q, .nq = nq, .dim = dim, .blocks = blocks,
	               .n_blocks = n_blocks, .total = rdb_blocks_total(blocks, n_blocks), .parts = 1,
	               .k = k, .rows = run_rows(dim),
	               .nr = path == RDB_BATCH_AVX512 ? RDB_B512_NR : RDB_B2_NR};
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
	set_parts(&j, parts);
	j.heaps = heaps;
	j.S = S;
	j.Qp = Qp;
	j.thr = thr;
	if (!own)
		pthread_once(&g_blas_once, blas_one_thread);
	rdb_pool_run(batch_part, &j, parts);

	for (size_t i = 0; i < nq; i++) {
		merge_parts(heaps, nq, parts, i);
		n_out[i] = rdb_topk_drain(&heaps[i], out + i * k);
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
