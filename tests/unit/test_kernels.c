/*
 * tests/unit/test_kernels.c — the exact top-k kernels: SIMD dot products
 * against the scalar reference, the heap against a brute-force sort, the
 * threaded and batch scans (every batch path) against the single-threaded
 * scan.
 *
 * Brute force scores each vector alone with the dispatched kernel, which by
 * the kernels' invariant gives bit-identical scores to a scan, so the ids
 * and scores of a scan must match it exactly, ties included.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/kernels/kernels.h"
#include "testutil.h"

/* --- helpers ------------------------------------------------------------ */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static float rng_float(uint64_t *s)
{
	return (float)((double)(rng_next(s) >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
}

static void fill_random(float *v, size_t n, uint64_t *seed)
{
	for (size_t i = 0; i < n; i++)
		v[i] = rng_float(seed);
}

static const char *const kPaths[] = {"scalar", "avx2", "avx512"};

/* Sort best-first: higher score, then smaller id (NaN already mapped). */
static int cmp_scored(const void *a, const void *b)
{
	const rdb_scored *x = a, *y = b;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

typedef struct {
	uint64_t mod; /* keep ids with id % mod != 0 */
} keep_ctx;

static int keep_not_multiple(void *ctx, uint64_t id)
{
	const keep_ctx *k = ctx;
	return id % k->mod != 0;
}

/* The expected top-k of q over blocks, by scoring each vector alone. */
static size_t brute_topk(const float *q, size_t dim, const rdb_vblock *blocks, size_t n_blocks,
                         size_t k, rdb_keep_fn keep, void *ctx, rdb_scored *out)
{
	size_t total = 0;
	for (size_t b = 0; b < n_blocks; b++)
		total += blocks[b].count;
	rdb_scored *all = malloc((total + 1) * sizeof *all);
	size_t n = 0;
	rdb_dot_fn dot = rdb_kernel_dot();
	for (size_t b = 0; b < n_blocks; b++) {
		for (size_t i = 0; i < blocks[b].count; i++) {
			uint64_t id = blocks[b].ids[i];
			if (id == 0 || (keep && !keep(ctx, id)))
				continue;
			float s;
			dot(q, blocks[b].vecs + i * dim, 1, dim, &s);
			all[n].score = isnan(s) ? -INFINITY : s;
			all[n].id = id;
			n++;
		}
	}
	qsort(all, n, sizeof *all, cmp_scored);
	size_t m = n < k ? n : k;
	memcpy(out, all, m * sizeof *out);
	free(all);
	return m;
}

/* A test index: n_blocks blocks of the given sizes over one array. */
typedef struct {
	size_t dim, total, n_blocks;
	float *vecs;
	uint64_t *ids;
	rdb_vblock *blocks;
} tindex;

static void tindex_make(tindex *x, size_t dim, const size_t *counts, size_t n_blocks,
                        uint64_t seed)
{
	x->dim = dim;
	x->n_blocks = n_blocks;
	x->total = 0;
	for (size_t b = 0; b < n_blocks; b++)
		x->total += counts[b];
	x->vecs = malloc((x->total * dim + 1) * sizeof(float));
	x->ids = malloc((x->total + 1) * sizeof(uint64_t));
	x->blocks = malloc((n_blocks + 1) * sizeof(rdb_vblock));
	fill_random(x->vecs, x->total * dim, &seed);
	size_t at = 0;
	for (size_t b = 0; b < n_blocks; b++) {
		x->blocks[b].ids = x->ids + at;
		x->blocks[b].vecs = x->vecs + at * dim;
		x->blocks[b].count = counts[b];
		at += counts[b];
	}
	for (size_t i = 0; i < x->total; i++)
		x->ids[i] = 1000 + i; /* not in storage order of any sort */
}

static void tindex_free(tindex *x)
{
	free(x->vecs);
	free(x->ids);
	free(x->blocks);
}

static void check_same(const rdb_scored *got, size_t n_got, const rdb_scored *want, size_t n_want)
{
	ck_assert_uint_eq(n_got, n_want);
	for (size_t i = 0; i < n_got; i++) {
		ck_assert_msg(got[i].id == want[i].id, "rank %zu: id %llu, expected %llu", i,
		              (unsigned long long)got[i].id, (unsigned long long)want[i].id);
		ck_assert_msg(got[i].score == want[i].score ||
		                  (isnan(got[i].score) && isnan(want[i].score)),
		              "rank %zu: score %.9g, expected %.9g", i, got[i].score, want[i].score);
	}
}

/* --- dot products --------------------------------------------------------- */

/* Every SIMD path this CPU runs agrees with the scalar reference on every
 * dim 1..1025 (covers each masked-tail length and the 16/32 steps), for
 * 1..6 rows (full and short groups of four) and 15, 16, 17 and 33 rows
 * (around the AVX-512 path's groups of sixteen), vectors at a 4-byte offset
 * (unaligned). Tolerance is relative to sum |q_j v_j|, the scale of the
 * rounding error. */
START_TEST(test_dot_paths_match_scalar)
{
	uint64_t seed = 42;
	enum { ROWS = 33 };
	static const size_t counts[] = {1, 2, 3, 4, 5, 6, 15, 16, 17, 33};
	const size_t max_dim = 1025, rows = ROWS;
	float *q = malloc((max_dim + 1) * sizeof *q);
	float *v = malloc((max_dim * rows + 1) * sizeof *v);
	float ref[ROWS], got[ROWS];
	int tested = 0;
	for (size_t p = 0; p < 3; p++) {
		if (!rdb_kernel_supported(kPaths[p]))
			continue;
		rdb_dot_fn dot = rdb_kernel_by_name(kPaths[p]);
		ck_assert_ptr_nonnull(dot);
		tested++;
		for (size_t dim = 1; dim <= max_dim; dim++) {
			fill_random(q, dim, &seed);
			float *vv = v + 1; /* 4-byte aligned only */
			fill_random(vv, dim * rows, &seed);
			for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
				const size_t n = counts[c];
				rdb_dot_scalar(q, vv, n, dim, ref);
				memset(got, 0, sizeof got);
				dot(q, vv, n, dim, got);
				for (size_t i = 0; i < n; i++) {
					double scale = 0;
					for (size_t j = 0; j < dim; j++)
						scale += fabs((double)q[j] * vv[i * dim + j]);
					ck_assert_msg(fabs((double)got[i] - ref[i]) <= 1e-5 * scale + 1e-30,
					              "%s dim %zu n %zu row %zu: %.9g vs scalar %.9g", kPaths[p],
					              dim, n, i, got[i], ref[i]);
				}
			}
		}
	}
	ck_assert_int_ge(tested, 1);
	free(q);
	free(v);
}
END_TEST

/* A row scores bit-identically alone and inside any group of rows, on every
 * path: the property that makes threaded scans equal single-threaded ones. */
START_TEST(test_dot_row_independent_of_group)
{
	uint64_t seed = 7;
	const size_t dims[] = {1, 7, 8, 15, 16, 17, 31, 33, 100, 384, 385};
	enum { N = 35 }; /* groups of sixteen (the AVX-512 block) at every offset */
	const size_t n = N;
	for (size_t p = 0; p < 3; p++) {
		if (!rdb_kernel_supported(kPaths[p]))
			continue;
		rdb_dot_fn dot = rdb_kernel_by_name(kPaths[p]);
		for (size_t d = 0; d < sizeof dims / sizeof *dims; d++) {
			size_t dim = dims[d];
			float *q = malloc(dim * sizeof *q), *v = malloc(n * dim * sizeof *v);
			fill_random(q, dim, &seed);
			fill_random(v, n * dim, &seed);
			float all[N];
			dot(q, v, n, dim, all);
			for (size_t start = 0; start < n; start++) {
				for (size_t len = 1; start + len <= n; len++) {
					float part[N];
					dot(q, v + start * dim, len, dim, part);
					for (size_t i = 0; i < len; i++)
						ck_assert_msg(memcmp(&part[i], &all[start + i], sizeof(float)) == 0,
						              "%s dim %zu: row %zu differs in a group at %zu+%zu",
						              kPaths[p], dim, start + i, start, len);
				}
			}
			free(q);
			free(v);
		}
	}
}
END_TEST

/* Known values: orthogonal, parallel and zero vectors, n = 0 writes nothing. */
START_TEST(test_dot_known_values)
{
	for (size_t p = 0; p < 3; p++) {
		if (!rdb_kernel_supported(kPaths[p]))
			continue;
		rdb_dot_fn dot = rdb_kernel_by_name(kPaths[p]);
		for (size_t dim = 1; dim <= 40; dim++) {
			float q[40] = {0}, v[3 * 40] = {0}, out[4] = {-5, -5, -5, -5};
			for (size_t j = 0; j < dim; j++) {
				q[j] = 0.5f;
				v[j] = 2.0f;          /* row 0: dot = dim */
				v[2 * dim + j] = j % 2 ? 1.0f : -1.0f;
			}
			dot(q, v, 3, dim, out);
			ck_assert_float_eq(out[0], (float)dim);
			ck_assert_float_eq(out[1], 0.0f);
			ck_assert_float_eq(out[2], dim % 2 ? -0.5f : 0.0f);
			ck_assert_float_eq(out[3], -5.0f);
			dot(q, v, 0, dim, out + 3);
			ck_assert_float_eq(out[3], -5.0f);
		}
	}
}
END_TEST

/* Dispatch: the chosen path is supported and named, scalar always exists,
 * unknown names are refused. */
START_TEST(test_dispatch)
{
	const char *name = rdb_kernel_name();
	ck_assert_ptr_nonnull(name);
	ck_assert_int_eq(rdb_kernel_supported(name), 1);
	ck_assert_ptr_eq(rdb_kernel_dot(), rdb_kernel_by_name(name));
	ck_assert_int_eq(rdb_kernel_supported("scalar"), 1);
	ck_assert_ptr_eq(rdb_kernel_by_name("scalar"), rdb_dot_scalar);
	ck_assert_int_eq(rdb_kernel_supported("sse9"), 0);
	ck_assert_int_eq(rdb_kernel_supported(NULL), 0);
	ck_assert_ptr_null(rdb_kernel_by_name("avx3"));
	/* Without an override the best path wins (avx512 implies avx2 here). */
	const char *env = getenv("RAGDB_KERNEL");
	if (!env || !*env) {
		if (rdb_kernel_supported("avx512"))
			ck_assert_str_eq(name, "avx512");
		else if (rdb_kernel_supported("avx2"))
			ck_assert_str_eq(name, "avx2");
	}
	ck_assert_int_ge(rdb_ncores(), 1);
}
END_TEST

/* The best supported path, as dispatch should pick it with no override. */
static const char *best_path(void)
{
	return rdb_kernel_supported("avx512") ? "avx512"
	       : rdb_kernel_supported("avx2") ? "avx2"
	                                      : "scalar";
}

/* RAGDB_KERNEL forces a supported path; an unsupported or unknown one falls
 * back to the best (with a warning). Dispatch happens once per process, so
 * each case re-executes this program (see --expect-kernel in main). */
START_TEST(test_dispatch_override)
{
	const char *wants[] = {"scalar", "avx2", "avx512", "avx1024", ""};
	for (size_t i = 0; i < sizeof wants / sizeof *wants; i++) {
		const char *expect = rdb_kernel_supported(wants[i]) ? wants[i] : best_path();
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			if (!freopen("/dev/null", "w", stderr))
				_exit(3);
			setenv("RAGDB_KERNEL", wants[i], 1);
			execl("/proc/self/exe", "test_kernels", "--expect-kernel", expect, (char *)NULL);
			_exit(4);
		}
		int status = 0;
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		              "RAGDB_KERNEL=%s: expected the %s path", wants[i], expect);
	}
}
END_TEST

/* --- top-k heap ----------------------------------------------------------- */

/* The heap keeps the k best of a random stream with many duplicate scores
 * (ties broken by smaller id), for k = 0..40 and n = 0..300, and drains
 * best-first; NaN scores count as -inf. */
START_TEST(test_topk_vs_sort)
{
	uint64_t seed = 99;
	rdb_scored all[300], want[300], store[41], got[41];
	for (size_t n = 0; n <= 300; n += (n < 20 ? 1 : 37)) {
		for (size_t k = 0; k <= 40; k += (k < 12 ? 1 : 7)) {
			for (size_t i = 0; i < n; i++) {
				uint64_t r = rng_next(&seed);
				float s = (float)(r % 13) / 4.0f - 1.0f; /* few distinct values */
				if (r % 53 == 0)
					s = NAN;
				all[i].score = s;
				all[i].id = rng_next(&seed) % 1000 + 1;
			}
			rdb_topk t;
			rdb_topk_init(&t, store, k);
			for (size_t i = 0; i < n; i++)
				rdb_topk_push(&t, all[i].score, all[i].id);
			for (size_t i = 0; i < n; i++)
				if (isnan(all[i].score))
					all[i].score = -INFINITY;
			memcpy(want, all, n * sizeof *all);
			qsort(want, n, sizeof *want, cmp_scored);
			size_t m = rdb_topk_drain(&t, got);
			ck_assert_uint_eq(t.n, 0);
			check_same(got, m, want, n < k ? n : k);
		}
	}
}
END_TEST

/* Draining into the heap's own storage works (callers do this). */
START_TEST(test_topk_drain_in_place)
{
	rdb_scored store[4];
	rdb_topk t;
	rdb_topk_init(&t, store, 4);
	const float s[] = {0.1f, 0.9f, 0.5f, 0.9f, 0.3f, 0.7f};
	for (size_t i = 0; i < 6; i++)
		rdb_topk_push(&t, s[i], 10 - i);
	ck_assert_int_eq(rdb_topk_would_enter(&t, 0.1f), 0);
	ck_assert_int_eq(rdb_topk_would_enter(&t, 0.5f), 1);
	size_t n = rdb_topk_drain(&t, store);
	ck_assert_uint_eq(n, 4);
	const uint64_t want[] = {7, 9, 5, 8};
	for (size_t i = 0; i < 4; i++)
		ck_assert_uint_eq(store[i].id, want[i]);
}
END_TEST

/* --- single-query scan ---------------------------------------------------- */

/* The scan equals brute force over random blocks of uneven sizes (incl.
 * empty blocks), with tombstones, with and without a keep filter, for
 * k = 0, 1, 10, and k larger than the number of vectors. */
START_TEST(test_scan_vs_brute)
{
	const size_t counts[] = {5, 0, 130, 1, 513, 64, 0, 7};
	const size_t dims[] = {1, 3, 16, 33, 100, 384};
	const size_t ks[] = {0, 1, 10, 700, 1000};
	for (size_t d = 0; d < sizeof dims / sizeof *dims; d++) {
		tindex x;
		tindex_make(&x, dims[d], counts, 8, 1234 + d);
		for (size_t i = 0; i < x.total; i += 9)
			x.ids[i] = 0; /* tombstones */
		uint64_t seed = 55 + d;
		float *q = malloc(dims[d] * sizeof *q);
		fill_random(q, dims[d], &seed);
		keep_ctx kc = {3};
		for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
			size_t k = ks[ki];
			rdb_scored *got = malloc((k + 1) * sizeof *got), *want = malloc((k + 1) * sizeof *want);
			for (int filt = 0; filt < 2; filt++) {
				rdb_keep_fn keep = filt ? keep_not_multiple : NULL;
				size_t n_got = 12345;
				rdb_err err;
				ck_assert_int_eq(rdb_scan_topk(q, x.dim, x.blocks, x.n_blocks, k, 1, keep, &kc,
				                               got, &n_got, &err),
				                 RAGDB_OK);
				size_t n_want = brute_topk(q, x.dim, x.blocks, x.n_blocks, k, keep, &kc, want);
				check_same(got, n_got, want, n_want);
				for (size_t i = 0; i < n_got; i++) {
					ck_assert_uint_ne(got[i].id, 0);
					if (filt)
						ck_assert_uint_ne(got[i].id % 3, 0);
				}
			}
			free(got);
			free(want);
		}
		free(q);
		tindex_free(&x);
	}
}
END_TEST

/* Empty inputs: no blocks, only empty blocks, only tombstones: nothing. */
START_TEST(test_scan_empty)
{
	float q[4] = {1, 0, 0, 0};
	rdb_scored out[5];
	size_t n = 99;
	ck_assert_int_eq(rdb_scan_topk(q, 4, NULL, 0, 5, 0, NULL, NULL, out, &n, NULL), RAGDB_OK);
	ck_assert_uint_eq(n, 0);
	const size_t counts[] = {0, 0};
	tindex x;
	tindex_make(&x, 4, counts, 2, 1);
	n = 99;
	ck_assert_int_eq(rdb_scan_topk(q, 4, x.blocks, 2, 5, 0, NULL, NULL, out, &n, NULL), RAGDB_OK);
	ck_assert_uint_eq(n, 0);
	tindex_free(&x);
	const size_t one[] = {3};
	tindex_make(&x, 4, one, 1, 1);
	memset(x.ids, 0, 3 * sizeof *x.ids);
	n = 99;
	ck_assert_int_eq(rdb_scan_topk(q, 4, x.blocks, 1, 5, 0, NULL, NULL, out, &n, NULL), RAGDB_OK);
	ck_assert_uint_eq(n, 0);
	tindex_free(&x);
}
END_TEST

/* Ties: equal vectors (and zero vectors, all scoring 0) come back in id
 * order, whatever their storage order; a NaN vector ranks last. */
START_TEST(test_scan_ties)
{
	const size_t dim = 19, n = 40;
	const size_t counts[] = {17, 23};
	tindex x;
	tindex_make(&x, dim, counts, 2, 3);
	for (size_t i = 0; i < n; i++) {
		x.ids[i] = 500 - 7 * i; /* descending in storage */
		for (size_t j = 0; j < dim; j++)
			x.vecs[i * dim + j] = i < 30 ? 0.25f : 0.0f; /* 30 equal, 10 zero */
	}
	x.vecs[5 * dim + 3] = NAN;
	float q[19];
	for (size_t j = 0; j < dim; j++)
		q[j] = 0.5f;
	rdb_scored got[n], want[n];
	for (size_t k = 1; k <= n; k += 6) {
		size_t ng = 0;
		ck_assert_int_eq(rdb_scan_topk(q, dim, x.blocks, 2, k, 1, NULL, NULL, got, &ng, NULL),
		                 RAGDB_OK);
		size_t nw = brute_topk(q, dim, x.blocks, 2, k, NULL, NULL, want);
		check_same(got, ng, want, nw);
		for (size_t i = 1; i < ng; i++)
			if (got[i].score == got[i - 1].score)
				ck_assert_uint_lt(got[i - 1].id, got[i].id);
	}
	size_t ng = 0;
	ck_assert_int_eq(rdb_scan_topk(q, dim, x.blocks, 2, n, 1, NULL, NULL, got, &ng, NULL),
	                 RAGDB_OK);
	ck_assert_uint_eq(ng, n);
	ck_assert_uint_eq(got[n - 1].id, 500 - 7 * 5);
	ck_assert(isinf(got[n - 1].score) && got[n - 1].score < 0);
	ck_assert_float_eq(got[n - 2].score, 0.0f);
	tindex_free(&x);
}
END_TEST

/* Threaded scans (forced to split small data, see RAGDB_SCAN_MIN_WORK in
 * main) equal the single-threaded one for 1..9 threads and uneven blocks,
 * with tombstones and a filter. */
START_TEST(test_scan_threads_equal_single)
{
	const size_t counts[] = {1000, 3, 4096, 0, 77, 2500, 1};
	const size_t dim = 37, k = 25;
	tindex x;
	tindex_make(&x, dim, counts, 7, 77);
	for (size_t i = 0; i < x.total; i += 13)
		x.ids[i] = 0;
	uint64_t seed = 8;
	float q[37];
	keep_ctx kc = {5};
	for (int rep = 0; rep < 4; rep++) {
		fill_random(q, dim, &seed);
		rdb_scored one[25], many[25];
		size_t n1 = 0, nm = 0;
		rdb_keep_fn keep = rep % 2 ? keep_not_multiple : NULL;
		ck_assert_int_eq(rdb_scan_topk(q, dim, x.blocks, 7, k, 1, keep, &kc, one, &n1, NULL),
		                 RAGDB_OK);
		ck_assert_uint_eq(n1, k);
		for (int th = 0; th <= 9; th++) {
			ck_assert_int_eq(rdb_scan_topk(q, dim, x.blocks, 7, k, th, keep, &kc, many, &nm, NULL),
			                 RAGDB_OK);
			check_same(many, nm, one, n1);
		}
	}
	tindex_free(&x);
}
END_TEST

/* rdb_scan_topk_multi gives each query exactly rdb_scan_topk's list, bit
 * for bit: over blocks of odd sizes with tombstones, at dims below, at and
 * above a run's row count, with k of 0, 1, some and more than every
 * vector (so the whole ranking is compared and a skipped row shows), a
 * filter on some queries, and 1..3 threads. */
START_TEST(test_scan_multi_equals_scan)
{
	const size_t counts[] = {1000, 3, 4096, 0, 77, 2500, 1};
	const size_t dims[] = {1, 7, 37, 384};
	const size_t ks[] = {0, 1, 25, 9000, 3, 100};
	enum { NQ = 6 };
	for (size_t di = 0; di < sizeof dims / sizeof *dims; di++) {
		const size_t dim = dims[di];
		tindex x;
		tindex_make(&x, dim, counts, 7, 91 + di);
		for (size_t i = 0; i < x.total; i += 11)
			x.ids[i] = 0;
		uint64_t seed = 17 + di;
		float *Q = malloc(NQ * dim * sizeof *Q);
		fill_random(Q, NQ * dim, &seed);
		keep_ctx kc = {3};
		rdb_scored *got[NQ], *want = malloc(9000 * sizeof *want);
		size_t n_got[NQ], n_want;
		rdb_multi_query mq[NQ];
		const rdb_multi_query *mqp[NQ];
		for (int i = 0; i < NQ; i++) {
			got[i] = malloc((ks[i] + 1) * sizeof *got[i]);
			mq[i] = (rdb_multi_query){Q + i * dim, ks[i], i % 2 ? keep_not_multiple : NULL, &kc,
			                          got[i], &n_got[i]};
			mqp[i] = &mq[i];
		}
		for (int th = 1; th <= 3; th++) {
			ck_assert_int_eq(rdb_scan_topk_multi(mqp, NQ, dim, x.blocks, 7, th, NULL), RAGDB_OK);
			for (int i = 0; i < NQ; i++) {
				ck_assert_int_eq(rdb_scan_topk(Q + i * dim, dim, x.blocks, 7, ks[i], th, mq[i].keep,
				                               &kc, want, &n_want, NULL),
				                 RAGDB_OK);
				check_same(got[i], n_got[i], want, n_want);
			}
		}
		for (int i = 0; i < NQ; i++)
			free(got[i]);
		free(want);
		free(Q);
		tindex_free(&x);
	}
}
END_TEST

typedef struct {
	const tindex *x;
	uint64_t seed;
	int failures;
} conc_arg;

static void *conc_main(void *p)
{
	conc_arg *a = p;
	float q[37];
	for (int rep = 0; rep < 20; rep++) {
		fill_random(q, a->x->dim, &a->seed);
		rdb_scored one[10], many[10];
		size_t n1 = 0, nm = 0;
		rdb_scan_topk(q, a->x->dim, a->x->blocks, a->x->n_blocks, 10, 1, NULL, NULL, one, &n1, NULL);
		rdb_scan_topk(q, a->x->dim, a->x->blocks, a->x->n_blocks, 10, 4, NULL, NULL, many, &nm, NULL);
		int same = n1 == nm;
		for (size_t i = 0; same && i < n1; i++)
			same = one[i].id == many[i].id && one[i].score == many[i].score;
		if (!same)
			a->failures++;
	}
	return NULL;
}

/* Several threads running threaded scans at once share the pool and each
 * still gets the single-threaded answer. */
START_TEST(test_scan_concurrent_callers)
{
	const size_t counts[] = {3000, 2000};
	tindex x;
	tindex_make(&x, 37, counts, 2, 5);
	pthread_t th[4];
	conc_arg a[4];
	for (int i = 0; i < 4; i++) {
		a[i] = (conc_arg){&x, 100 + (uint64_t)i, 0};
		ck_assert_int_eq(pthread_create(&th[i], NULL, conc_main, &a[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(a[i].failures, 0);
	}
	tindex_free(&x);
}
END_TEST

/* --- batch ---------------------------------------------------------------- */

static const rdb_batch_path kBatchPaths[] = {RDB_BATCH_AUTO, RDB_BATCH_BLAS, RDB_BATCH_AVX2,
                                              RDB_BATCH_AVX512, RDB_BATCH_AMX};

/* Batch hits against a single-query scan's: the same count; at each rank
 * the same id, or, where two vectors' scores are within the tolerance (the
 * paths sum in different orders, so near-ties may swap), the batch's id
 * must really score within the tolerance of the scan's score at that rank
 * (by the dot kernel, q against the id's vector in vecs, ids base 1000). */
static void check_batch_vs_scan(const char *path, const rdb_scored *b, size_t nb,
                                const rdb_scored *one, size_t n1, const float *q,
                                const float *vecs, size_t dim, size_t qi)
{
	ck_assert_uint_eq(nb, n1);
	const float tol = 1e-5f * (float)(dim ? dim : 1);
	for (size_t r = 0; r < n1; r++) {
		ck_assert_msg(fabsf(b[r].score - one[r].score) <= tol, "%s q %zu rank %zu: %g vs %g",
		              path, qi, r, b[r].score, one[r].score);
		if (b[r].id == one[r].id)
			continue;
		float s;
		rdb_kernel_dot()(q, vecs + (b[r].id - 1000) * dim, 1, dim, &s);
		ck_assert_msg(fabsf(s - one[r].score) <= tol,
		              "%s dim %zu q %zu rank %zu: id %llu (score %g) vs %llu (%g)", path, dim, qi,
		              r, (unsigned long long)b[r].id, s, (unsigned long long)one[r].id,
		              one[r].score);
	}
}

/* Every batch path (auto, blas, avx2, avx512, those this CPU runs) equals
 * one scan per query: same hits up to near-tie swaps, scores within a
 * relative tolerance, for query counts across the micro-kernel tiles (1,
 * 5, 13, 300) and run lengths not a multiple of the panels, dims 1..700
 * (700: the AVX-512 kernel parks partial sums between two passes),
 * 1 and 3 threads, with tombstones, k = 0 and k larger than the index. */
START_TEST(test_batch_equals_scan)
{
	const size_t counts[] = {700, 0, 1, 1300, 33};
	const size_t dims[] = {1, 24, 61, 100, 700};
	const size_t nqs[] = {1, 5, 13, 300};
	const size_t ks[] = {0, 10, 2100};
	int paths = 0;
	for (size_t pi = 0; pi < sizeof kBatchPaths / sizeof *kBatchPaths; pi++) {
		rdb_batch_path path = kBatchPaths[pi];
		if (!rdb_batch_path_supported(path))
			continue;
		paths++;
		const char *pname = rdb_batch_path_name(path);
		for (size_t d = 0; d < sizeof dims / sizeof *dims; d++) {
			size_t dim = dims[d];
			tindex x;
			tindex_make(&x, dim, counts, 5, 31 + d);
			for (size_t i = 0; i < x.total; i += 11)
				x.ids[i] = 0;
			for (size_t qi = 0; qi < sizeof nqs / sizeof *nqs; qi++) {
				size_t nq = nqs[qi];
				uint64_t seed = 3 + qi;
				float *Q = malloc(nq * dim * sizeof *Q);
				fill_random(Q, nq * dim, &seed);
				for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
					size_t k = ks[ki];
					if (k > 100 && nq > 5)
						continue;
					rdb_scored *out = malloc((nq * k + 1) * sizeof *out);
					rdb_scored *one = malloc((k + 1) * sizeof *one);
					size_t *n_out = malloc(nq * sizeof *n_out);
					for (int th = 1; th <= 3; th += 2) {
						rdb_err err;
						ck_assert_int_eq(rdb_scan_topk_batch_path(path, Q, nq, dim, x.blocks, 5, k,
						                                          th, out, n_out, &err),
						                 RAGDB_OK);
						for (size_t i = 0; i < nq; i++) {
							size_t n1 = 0;
							rdb_scan_topk(Q + i * dim, dim, x.blocks, 5, k, 1, NULL, NULL, one,
							              &n1, NULL);
							check_batch_vs_scan(pname, out + i * k, n_out[i], one, n1,
							                    Q + i * dim, x.vecs, dim, i);
						}
					}
					free(out);
					free(one);
					free(n_out);
				}
				free(Q);
			}
			tindex_free(&x);
		}
	}
	ck_assert_int_ge(paths, 2);
	/* A path this CPU cannot run is refused, not run. */
	for (size_t pi = 0; pi < sizeof kBatchPaths / sizeof *kBatchPaths; pi++) {
		if (rdb_batch_path_supported(kBatchPaths[pi]))
			continue;
		float q[4] = {1, 0, 0, 0};
		rdb_scored o[1];
		size_t no;
		rdb_err err;
		ck_assert_int_eq(rdb_scan_topk_batch_path(kBatchPaths[pi], q, 1, 4, NULL, 0, 1, 1, o, &no,
		                                          &err),
		                 RAGDB_EINVAL);
	}
}
END_TEST

/* Exact ties in the batch: identical vectors score identically on every
 * path, so they come back in id order exactly as from the scan (30 equal
 * vectors, 10 zero vectors, one NaN vector ranked last as -inf). */
START_TEST(test_batch_ties)
{
	const size_t dim = 19, n = 41, nq = 14;
	const size_t counts[] = {17, 24};
	tindex x;
	tindex_make(&x, dim, counts, 2, 3);
	for (size_t i = 0; i < n; i++) {
		x.ids[i] = 500 - 7 * i;
		for (size_t j = 0; j < dim; j++)
			x.vecs[i * dim + j] = i < 30 ? 0.25f : 0.0f;
	}
	x.vecs[40 * dim] = NAN;
	float Q[14 * 19];
	for (size_t i = 0; i < nq * dim; i++)
		Q[i] = 0.5f + (float)(i / dim) * 0.125f;
	for (size_t pi = 0; pi < sizeof kBatchPaths / sizeof *kBatchPaths; pi++) {
		if (!rdb_batch_path_supported(kBatchPaths[pi]))
			continue;
		for (size_t k = 1; k <= n; k += 8) {
			rdb_scored out[14 * 41], one[41];
			size_t n_out[14], n1;
			ck_assert_int_eq(rdb_scan_topk_batch_path(kBatchPaths[pi], Q, nq, dim, x.blocks, 2, k,
			                                          1, out, n_out, NULL),
			                 RAGDB_OK);
			for (size_t i = 0; i < nq; i++) {
				rdb_scan_topk(Q + i * dim, dim, x.blocks, 2, k, 1, NULL, NULL, one, &n1, NULL);
				ck_assert_uint_eq(n_out[i], n1);
				for (size_t r = 0; r < n1; r++)
					ck_assert_msg(out[i * k + r].id == one[r].id, "%s k %zu q %zu rank %zu",
					              rdb_batch_path_name(kBatchPaths[pi]), k, i, r);
			}
			if (k == n)
				ck_assert(isinf(out[n - 1].score) && out[n - 1].score < 0);
		}
	}
	tindex_free(&x);
}
END_TEST

/* The process's choice is a supported, named path; RAGDB_BATCH is
 * honoured (re-executed, see --expect-batch in main). */
START_TEST(test_batch_dispatch)
{
	rdb_batch_path p = rdb_batch_chosen(NULL, NULL);
	ck_assert_int_ne(p, RDB_BATCH_AUTO);
	ck_assert_int_eq(rdb_batch_path_supported(p), 1);
	ck_assert_str_eq(rdb_batch_path_name(RDB_BATCH_AVX512), "avx512");
	ck_assert_ptr_null(rdb_batch_path_name((rdb_batch_path)9));
	ck_assert_str_eq(rdb_batch_path_name(RDB_BATCH_AMX), "amx");
	const char *wants[] = {"blas", "avx2", "avx512", "amx", "gpu"};
	for (size_t i = 0; i < 5; i++) {
		rdb_batch_path want = (rdb_batch_path)(i + 1);
		int forced = i < 4 && rdb_batch_path_supported(want);
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			if (!freopen("/dev/null", "w", stderr))
				_exit(3);
			setenv("RAGDB_BATCH", wants[i], 1);
			execl("/proc/self/exe", "test_kernels", "--expect-batch", forced ? wants[i] : "any",
			      (char *)NULL);
			_exit(4);
		}
		int status = 0;
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "RAGDB_BATCH=%s", wants[i]);
	}
}
END_TEST

/* The AMX path proves its candidates complete on ordinary data: every
 * query of a batch over random vectors is answered without a second scan,
 * with the scan's hits. */
START_TEST(test_batch_amx_proven)
{
	if (!rdb_batch_path_supported(RDB_BATCH_AMX))
		return;
	const size_t dim = 100, nq = 40, k = 10;
	const size_t counts[] = {1000, 37, 2000};
	tindex x;
	tindex_make(&x, dim, counts, 3, 91);
	for (size_t i = 5; i < x.total; i += 17)
		x.ids[i] = 0;
	uint64_t seed = 17;
	float *Q = malloc(nq * dim * sizeof *Q);
	fill_random(Q, nq * dim, &seed);
	rdb_scored out[40 * 10], one[10];
	size_t n_out[40], n1;
	uint64_t q0, r0, q1, r1;
	rdb_batch_amx_stats(&q0, &r0);
	for (int th = 1; th <= 2; th++) {
		ck_assert_int_eq(rdb_scan_topk_batch_path(RDB_BATCH_AMX, Q, nq, dim, x.blocks, 3, k, th,
		                                          out, n_out, NULL),
		                 RAGDB_OK);
		for (size_t i = 0; i < nq; i++) {
			rdb_scan_topk(Q + i * dim, dim, x.blocks, 3, k, 1, NULL, NULL, one, &n1, NULL);
			check_batch_vs_scan("amx", out + i * k, n_out[i], one, n1, Q + i * dim, x.vecs, dim,
			                    i);
		}
	}
	rdb_batch_amx_stats(&q1, &r1);
	ck_assert_uint_eq(q1 - q0, 2 * nq);
	ck_assert_uint_eq(r1 - r0, 0);
	free(Q);
	tindex_free(&x);
}
END_TEST

/* Near-duplicates the bf16 split cannot tell apart (60 copies of one vector,
 * each moved by ~1e-6): the bound does not prove the candidates, so every
 * query is scanned again, and the hits are still the scan's. */
START_TEST(test_batch_amx_rescans_near_ties)
{
	if (!rdb_batch_path_supported(RDB_BATCH_AMX))
		return;
	const size_t dim = 64, nq = 20, k = 10;
	const size_t counts[] = {300, 200};
	tindex x;
	tindex_make(&x, dim, counts, 2, 7);
	uint64_t seed = 5;
	for (size_t i = 100; i < 160; i++)
		for (size_t d = 0; d < dim; d++)
			x.vecs[i * dim + d] = x.vecs[100 * dim + d] * (1.0f + 1e-6f * rng_float(&seed));
	float Q[20 * 64];
	for (size_t i = 0; i < nq; i++)
		for (size_t d = 0; d < dim; d++)
			Q[i * dim + d] = x.vecs[100 * dim + d] + 0.01f * rng_float(&seed);
	rdb_scored out[20 * 10], one[10];
	size_t n_out[20], n1;
	uint64_t q0, r0, q1, r1;
	rdb_batch_amx_stats(&q0, &r0);
	ck_assert_int_eq(rdb_scan_topk_batch_path(RDB_BATCH_AMX, Q, nq, dim, x.blocks, 2, k, 1, out,
	                                          n_out, NULL),
	                 RAGDB_OK);
	rdb_batch_amx_stats(&q1, &r1);
	ck_assert_uint_eq(q1 - q0, nq);
	ck_assert_uint_eq(r1 - r0, nq);
	for (size_t i = 0; i < nq; i++) {
		rdb_scan_topk(Q + i * dim, dim, x.blocks, 2, k, 1, NULL, NULL, one, &n1, NULL);
		check_batch_vs_scan("amx", out + i * k, n_out[i], one, n1, Q + i * dim, x.vecs, dim, i);
		for (size_t r = 0; r < n1; r++)
			ck_assert(out[i * k + r].id >= 1100 && out[i * k + r].id < 1160);
	}
	tindex_free(&x);
}
END_TEST

/* nq = 0 does nothing; an empty index gives no hits. */
START_TEST(test_batch_empty)
{
	float Q[8] = {1, 0, 0, 0, 0, 1, 0, 0};
	rdb_scored out[6];
	size_t n_out[2] = {9, 9};
	ck_assert_int_eq(rdb_scan_topk_batch(Q, 0, 4, NULL, 0, 3, 0, out, n_out, NULL), RAGDB_OK);
	ck_assert_uint_eq(n_out[0], 9);
	ck_assert_int_eq(rdb_scan_topk_batch(Q, 2, 4, NULL, 0, 3, 0, out, n_out, NULL), RAGDB_OK);
	ck_assert_uint_eq(n_out[0], 0);
	ck_assert_uint_eq(n_out[1], 0);
}
END_TEST

static Suite *kernels_suite(void)
{
	Suite *s = suite_create("kernels");
	TCase *tc = tcase_create("dot");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_dot_paths_match_scalar);
	tcase_add_test(tc, test_dot_row_independent_of_group);
	tcase_add_test(tc, test_dot_known_values);
	tcase_add_test(tc, test_dispatch);
	tcase_add_test(tc, test_dispatch_override);
	suite_add_tcase(s, tc);
	tc = tcase_create("topk");
	tcase_add_test(tc, test_topk_vs_sort);
	tcase_add_test(tc, test_topk_drain_in_place);
	suite_add_tcase(s, tc);
	tc = tcase_create("scan");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_scan_vs_brute);
	tcase_add_test(tc, test_scan_empty);
	tcase_add_test(tc, test_scan_ties);
	tcase_add_test(tc, test_scan_threads_equal_single);
	tcase_add_test(tc, test_scan_concurrent_callers);
	tcase_add_test(tc, test_scan_multi_equals_scan);
	suite_add_tcase(s, tc);
	tc = tcase_create("batch");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_batch_equals_scan);
	tcase_add_test(tc, test_batch_ties);
	tcase_add_test(tc, test_batch_dispatch);
	tcase_add_test(tc, test_batch_empty);
	tcase_add_test(tc, test_batch_amx_proven);
	tcase_add_test(tc, test_batch_amx_rescans_near_ties);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	/* Child mode for test_dispatch_override: exit 0 iff dispatch (under
	 * the inherited RAGDB_KERNEL) picks argv[2]. */
	if (argc == 3 && strcmp(argv[1], "--expect-kernel") == 0) {
		const char *got = rdb_kernel_name();
		return strcmp(got, argv[2]) == 0 && rdb_kernel_dot() == rdb_kernel_by_name(got) ? 0 : 1;
	}
	/* Child mode for test_batch_dispatch: exit 0 iff the batch path is
	 * argv[2] ("any": some supported path). */
	if (argc == 3 && strcmp(argv[1], "--expect-batch") == 0) {
		rdb_batch_path p = rdb_batch_chosen(NULL, NULL);
		if (strcmp(argv[2], "any") == 0)
			return p != RDB_BATCH_AUTO && rdb_batch_path_supported(p) ? 0 : 1;
		return strcmp(rdb_batch_path_name(p), argv[2]) == 0 ? 0 : 1;
	}
	/* Let a few hundred vectors make a part, so the threaded paths run on
	 * test-sized data (read once, at the first scan). */
	setenv("RAGDB_SCAN_MIN_WORK", "2000", 1);
	return tu_run(kernels_suite());
}
