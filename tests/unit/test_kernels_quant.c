/*
 * tests/unit/test_kernels_quant.c — the quantized kernels (bf16, int8,
 * binary): encodings against hand-computed values, every SIMD path against
 * its scalar reference (integers bit-exact, bf16 within f32 rounding), the
 * quantized scan against brute force, and rescoring: exact f32 scores, the
 * f32 scan's list when all vectors are candidates, and recall@10 on
 * clustered data.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/kernels/quant.h"
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

static const char *const kLevels[] = {"scalar", "avx2", "avx512"};
static const char *const kBf16Paths[] = {"scalar", "avx2", "avx512bf16"};
static const char *const kI8Paths[] = {"scalar", "avx2", "avx512vnni"};
static const char *const kBinPaths[] = {"scalar", "avx2", "avx512vpopcnt"};
static const rdb_quant kKinds[] = {RDB_QUANT_BF16, RDB_QUANT_INT8, RDB_QUANT_BINARY};

static int cmp_scored(const void *a, const void *b)
{
	const rdb_scored *x = a, *y = b;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static void check_same(const rdb_scored *got, size_t n_got, const rdb_scored *want, size_t n_want)
{
	ck_assert_uint_eq(n_got, n_want);
	for (size_t i = 0; i < n_got; i++) {
		ck_assert_msg(got[i].id == want[i].id, "rank %zu: id %llu, expected %llu", i,
		              (unsigned long long)got[i].id, (unsigned long long)want[i].id);
		ck_assert_msg(memcmp(&got[i].score, &want[i].score, sizeof(float)) == 0,
		              "rank %zu: score %.9g, expected %.9g", i, got[i].score, want[i].score);
	}
}

static double bf16_scale(const uint16_t *q, const uint16_t *v, size_t dim)
{
	double s = 0;
	for (size_t j = 0; j < dim; j++)
		s += fabs((double)rdb_bf16_to_f32(q[j]) * rdb_bf16_to_f32(v[j]));
	return s;
}

/* An index of f32 vectors with its encoded blocks (uneven block sizes). */
typedef struct {
	rdb_quant kind;
	size_t dim, total, n_blocks, rb;
	float *vecs;
	uint64_t *ids;
	unsigned char *codes;
	float *scales;
	rdb_qblock *qb;
	rdb_vblock *vb;
} qindex;

static void qindex_make(qindex *x, rdb_quant kind, size_t dim, const float *vecs,
                        const size_t *counts, size_t n_blocks)
{
	memset(x, 0, sizeof *x);
	x->kind = kind;
	x->dim = dim;
	x->n_blocks = n_blocks;
	for (size_t b = 0; b < n_blocks; b++)
		x->total += counts[b];
	x->rb = rdb_quant_row_bytes(kind, dim);
	x->vecs = malloc((x->total * dim + 1) * sizeof *x->vecs);
	memcpy(x->vecs, vecs, x->total * dim * sizeof *x->vecs);
	x->ids = malloc((x->total + 1) * sizeof *x->ids);
	x->codes = malloc(x->total * x->rb + 1);
	x->scales = malloc((x->total + 1) * sizeof *x->scales);
	x->qb = malloc((n_blocks + 1) * sizeof *x->qb);
	x->vb = malloc((n_blocks + 1) * sizeof *x->vb);
	ck_assert_int_eq(rdb_quantize(kind, x->vecs, x->total, dim, x->codes,
	                              kind == RDB_QUANT_INT8 ? x->scales : NULL, NULL),
	                 RAGDB_OK);
	for (size_t i = 0; i < x->total; i++)
		x->ids[i] = 1000 + i;
	size_t at = 0;
	for (size_t b = 0; b < n_blocks; b++) {
		x->qb[b] = (rdb_qblock){x->ids + at, x->codes + at * x->rb,
		                        kind == RDB_QUANT_INT8 ? x->scales + at : NULL, counts[b]};
		x->vb[b] = (rdb_vblock){x->ids + at, x->vecs + at * dim, counts[b]};
		at += counts[b];
	}
}

static void qindex_free(qindex *x)
{
	free(x->vecs);
	free(x->ids);
	free(x->codes);
	free(x->scales);
	free(x->qb);
	free(x->vb);
}

/* The f32 vector of an id (ids are 1000 + row), for rescoring. */
static const float *qindex_vec(void *ctx, uint64_t id)
{
	const qindex *x = ctx;
	if (id < 1000 || id - 1000 >= x->total)
		return NULL;
	return x->vecs + (id - 1000) * x->dim;
}

/* Brute force: each live row scored alone, sorted. */
static size_t brute_qtopk(const rdb_qquery *q, const qindex *x, size_t k, uint64_t skip_mod,
                          rdb_scored *out)
{
	rdb_scored *all = malloc((x->total + 1) * sizeof *all);
	size_t n = 0;
	for (size_t i = 0; i < x->total; i++) {
		uint64_t id = x->ids[i];
		if (id == 0 || (skip_mod && id % skip_mod == 0))
			continue;
		float s;
		rdb_qscore(q, x->codes + i * x->rb, x->kind == RDB_QUANT_INT8 ? x->scales + i : NULL, 1,
		           &s);
		all[n++] = (rdb_scored){isnan(s) ? -INFINITY : s, id};
	}
	qsort(all, n, sizeof *all, cmp_scored);
	size_t m = n < k ? n : k;
	memcpy(out, all, m * sizeof *out);
	free(all);
	return m;
}

static int keep_not_multiple(void *ctx, uint64_t id)
{
	return id % *(const uint64_t *)ctx != 0;
}

/* --- encodings --------------------------------------------------------------- */

/* f32 -> bf16 rounds to nearest, ties to even; NaN stays NaN, inf stays
 * inf, the largest floats round up to inf, and bf16 -> f32 is exact. */
START_TEST(test_bf16_rounding)
{
	const struct {
		uint32_t f;
		uint16_t b;
	} cases[] = {
		{0x3f800000u, 0x3f80}, /* 1.0 */
		{0x3f808000u, 0x3f80}, /* halfway, even below: down */
		{0x3f818000u, 0x3f82}, /* halfway, odd below: up */
		{0x3f808001u, 0x3f81}, /* just above halfway: up */
		{0x3f807fffu, 0x3f80}, /* just below halfway: down */
		{0xbf818000u, 0xbf82}, /* negative, same rule on the magnitude */
		{0x80000000u, 0x8000}, /* -0 */
		{0x7f800000u, 0x7f80}, /* inf */
		{0x7f7fffffu, 0x7f80}, /* FLT_MAX rounds to inf */
		{0x00000001u, 0x0000}, /* smallest denormal rounds to 0 */
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		float f;
		memcpy(&f, &cases[i].f, 4);
		ck_assert_msg(rdb_f32_to_bf16(f) == cases[i].b, "0x%08x -> 0x%04x, expected 0x%04x",
		              cases[i].f, rdb_f32_to_bf16(f), cases[i].b);
	}
	ck_assert(isnan(rdb_bf16_to_f32(rdb_f32_to_bf16(NAN))));
	uint32_t nan_near_inf = 0x7fffffffu;
	float f;
	memcpy(&f, &nan_near_inf, 4);
	ck_assert(isnan(rdb_bf16_to_f32(rdb_f32_to_bf16(f))));
	ck_assert_float_eq(rdb_bf16_to_f32(0x3f80), 1.0f);
	ck_assert_float_eq(rdb_bf16_to_f32(0xc040), -3.0f);
}
END_TEST

/* int8: the largest magnitude maps to +-127 and the scale is max/127; each
 * code is within half a step of the value; a zero vector has scale 0. */
START_TEST(test_int8_quantize)
{
	const float v[5] = {0.5f, -1.0f, 0.25f, 0.0f, 0.004f};
	int8_t c[5];
	float s = -1;
	ck_assert_int_eq(rdb_quantize(RDB_QUANT_INT8, v, 1, 5, c, &s, NULL), RAGDB_OK);
	ck_assert_float_eq(s, 1.0f / 127.0f);
	ck_assert_int_eq(c[1], -127);
	ck_assert_int_eq(c[0], 64);  /* 63.5 rounds to even */
	ck_assert_int_eq(c[2], 32);  /* 31.75 */
	ck_assert_int_eq(c[3], 0);
	ck_assert_int_eq(c[4], 1);   /* 0.508 */
	uint64_t seed = 11;
	float r[300];
	int8_t rc[300];
	fill_random(r, 300, &seed);
	ck_assert_int_eq(rdb_quantize(RDB_QUANT_INT8, r, 1, 300, rc, &s, NULL), RAGDB_OK);
	for (size_t j = 0; j < 300; j++) {
		ck_assert_int_ge(rc[j], -127);
		ck_assert_msg(fabsf(rc[j] * s - r[j]) <= s * 0.5001f, "element %zu", j);
	}
	const float z[3] = {0, 0, 0};
	ck_assert_int_eq(rdb_quantize(RDB_QUANT_INT8, z, 1, 3, rc, &s, NULL), RAGDB_OK);
	ck_assert_float_eq(s, 0.0f);
	ck_assert_int_eq(rc[0] | rc[1] | rc[2], 0);
	/* Bad arguments are refused with a message. */
	rdb_err err;
	ck_assert_int_eq(rdb_quantize(RDB_QUANT_INT8, z, 1, 3, rc, NULL, &err), RAGDB_EINVAL);
	ck_assert_int_eq(rdb_quantize(RDB_QUANT_F32, z, 1, 3, rc, NULL, &err), RAGDB_EINVAL);
	ck_assert_int_eq(rdb_quantize(RDB_QUANT_BF16, z, 1, 0, rc, NULL, &err), RAGDB_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "dim"));
}
END_TEST

/* binary: bit j of word j/64 is v[j] > 0 (0 and -0 are 0), padding 0, rows
 * of whole words. */
START_TEST(test_binary_quantize)
{
	ck_assert_uint_eq(rdb_quant_row_bytes(RDB_QUANT_BINARY, 1), 8);
	ck_assert_uint_eq(rdb_quant_row_bytes(RDB_QUANT_BINARY, 64), 8);
	ck_assert_uint_eq(rdb_quant_row_bytes(RDB_QUANT_BINARY, 65), 16);
	float v[70];
	for (size_t j = 0; j < 70; j++)
		v[j] = (j % 3 == 0) ? 1.0f : (j % 3 == 1 ? -1.0f : 0.0f);
	uint64_t w[2] = {~0ull, ~0ull};
	ck_assert_int_eq(rdb_quantize(RDB_QUANT_BINARY, v, 1, 70, w, NULL, NULL), RAGDB_OK);
	for (size_t j = 0; j < 128; j++) {
		int bit = (int)((w[j / 64] >> (j % 64)) & 1);
		ck_assert_int_eq(bit, j < 70 && j % 3 == 0);
	}
}
END_TEST

/* --- kernels vs scalar ------------------------------------------------------- */

/* Every bf16 path agrees with the scalar reference for dims 1..1025, 1..6
 * rows and around the 16-row groups (15, 16, 17, 33 rows), rows at a 2-byte
 * offset, within f32 rounding of the sum. */
START_TEST(test_bf16_paths_match_scalar)
{
	uint64_t seed = 1;
	enum { ROWS = 33 };
	static const size_t counts[] = {1, 2, 3, 4, 5, 6, 15, 16, 17, 33};
	const size_t max_dim = 1025, rows = ROWS;
	uint16_t *q = malloc(max_dim * 2), *v = malloc((max_dim * rows + 1) * 2);
	float *f = malloc(max_dim * rows * sizeof *f);
	int tested = 0;
	for (size_t p = 0; p < 3; p++) {
		rdb_bf16_dot_fn dot = rdb_bf16_dot_by_name(kBf16Paths[p]);
		if (!dot)
			continue;
		tested++;
		for (size_t dim = 1; dim <= max_dim; dim++) {
			uint16_t *vv = v + 1;
			fill_random(f, dim, &seed);
			rdb_quantize(RDB_QUANT_BF16, f, 1, dim, q, NULL, NULL);
			fill_random(f, dim * rows, &seed);
			rdb_quantize(RDB_QUANT_BF16, f, rows, dim, vv, NULL, NULL);
			for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
				const size_t n = counts[c];
				float ref[ROWS], got[ROWS] = {0};
				rdb_bf16_dot_scalar(q, vv, n, dim, ref);
				dot(q, vv, n, dim, got);
				for (size_t i = 0; i < n; i++)
					ck_assert_msg(fabs((double)got[i] - ref[i]) <=
					                  1e-5 * bf16_scale(q, vv + i * dim, dim) + 1e-30,
					              "%s dim %zu n %zu row %zu: %.9g vs %.9g", kBf16Paths[p], dim, n,
					              i, got[i], ref[i]);
			}
		}
	}
	ck_assert_int_ge(tested, 1);
	free(q);
	free(v);
	free(f);
}
END_TEST

/* Every int8 path equals the scalar dot bit for bit for dims 1..1025 and
 * 1..6 rows and around the 16-row groups (15, 16, 17, 33) at a 1-byte offset, on random codes over the whole range and on
 * the extremes the VNNI offset trick has to survive (-127 x -127, 127 x
 * -127) up to RDB_QUANT_MAX_DIM. */
START_TEST(test_int8_paths_match_scalar)
{
	uint64_t seed = 2;
	enum { ROWS = 33 };
	static const size_t counts[] = {1, 2, 3, 4, 5, 6, 15, 16, 17, 33};
	const size_t max_dim = 1025, rows = ROWS;
	int8_t *q = malloc(RDB_QUANT_MAX_DIM), *v = malloc(RDB_QUANT_MAX_DIM * ROWS + 1);
	int tested = 0;
	for (size_t p = 0; p < 3; p++) {
		rdb_i8_dot_fn dot = rdb_i8_dot_by_name(kI8Paths[p]);
		if (!dot)
			continue;
		tested++;
		for (size_t dim = 1; dim <= max_dim; dim++) {
			int8_t *vv = v + 1;
			for (size_t j = 0; j < dim; j++)
				q[j] = (int8_t)((int)(rng_next(&seed) % 255) - 127);
			for (size_t j = 0; j < dim * rows; j++)
				vv[j] = (int8_t)((int)(rng_next(&seed) % 255) - 127);
			for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
				const size_t n = counts[c];
				int32_t ref[ROWS], got[ROWS] = {0};
				rdb_i8_dot_scalar(q, vv, n, dim, ref);
				dot(q, vv, n, dim, got);
				for (size_t i = 0; i < n; i++)
					ck_assert_msg(got[i] == ref[i], "%s dim %zu n %zu row %zu: %d vs %d",
					              kI8Paths[p], dim, n, i, got[i], ref[i]);
				if (p == 2) {
					/* The fused scores: the dot times qscale * scale, bit for bit. */
					float sc[ROWS], fs[ROWS];
					const float qs = 0.0123f * (float)(dim % 7 + 1);
					for (size_t i = 0; i < n; i++)
						sc[i] = 0.001f * (float)(rng_next(&seed) % 1000 + 1);
					rdb_i8_score_avx512vnni(q, qs, vv, sc, n, dim, fs);
					for (size_t i = 0; i < n; i++) {
						const float want = (float)ref[i] * (qs * sc[i]);
						ck_assert_msg(memcmp(&fs[i], &want, 4) == 0,
						              "fused score dim %zu n %zu row %zu: %.9g vs %.9g", dim,
						              n, i, fs[i], want);
					}
				}
			}
		}
		const size_t big[] = {63, 64, 65, 1000, RDB_QUANT_MAX_DIM};
		for (size_t b = 0; b < sizeof big / sizeof *big; b++) {
			size_t dim = big[b];
			/* 17 rows: a full group of sixteen and one more. */
			memset(q, -127, dim);
			for (size_t r = 0; r < 17; r++)
				memset(v + r * dim, r % 2 ? 127 : -127, dim);
			int32_t got[17];
			dot(q, v, 17, dim, got);
			for (size_t r = 0; r < 17; r++)
				ck_assert_int_eq(got[r], (r % 2 ? -1 : 1) * (int32_t)(16129 * dim));
		}
	}
	ck_assert_int_ge(tested, 1);
	free(q);
	free(v);
}
END_TEST

/* Every binary path equals the scalar Hamming distance for dims 1..1025
 * (words 1..17) and 1..6 rows at a 1-byte offset; known distances. */
START_TEST(test_binary_paths_match_scalar)
{
	uint64_t seed = 3;
	const size_t max_words = 17, rows = 6;
	uint64_t q[17];
	unsigned char *v = malloc(max_words * 8 * rows + 1);
	int tested = 0;
	for (size_t p = 0; p < 3; p++) {
		rdb_bin_dist_fn dist = rdb_bin_dist_by_name(kBinPaths[p]);
		if (!dist)
			continue;
		tested++;
		for (size_t words = 1; words <= max_words; words++) {
			for (size_t rep = 0; rep < 8; rep++) {
				unsigned char *vv = v + 1;
				for (size_t w = 0; w < words; w++)
					q[w] = rng_next(&seed);
				for (size_t j = 0; j < words * 8 * rows; j++)
					vv[j] = (unsigned char)rng_next(&seed);
				for (size_t n = 1; n <= rows; n++) {
					int32_t ref[6], got[6] = {0};
					rdb_bin_dist_scalar(q, vv, n, words, ref);
					dist(q, vv, n, words, got);
					for (size_t i = 0; i < n; i++)
						ck_assert_msg(got[i] == ref[i], "%s words %zu row %zu: %d vs %d",
						              kBinPaths[p], words, i, got[i], ref[i]);
				}
			}
		}
		/* All equal, all different. */
		memset(q, 0xff, sizeof q);
		memset(v, 0xff, max_words * 8);
		memset(v + max_words * 8, 0, max_words * 8);
		int32_t got[2];
		dist(q, v, 2, max_words, got);
		ck_assert_int_eq(got[0], 0);
		ck_assert_int_eq(got[1], (int32_t)(64 * max_words));
	}
	ck_assert_int_ge(tested, 1);
	free(v);
}
END_TEST

/* A row's result is the same alone and in any group, on every path, and
 * n = 0 writes nothing. 35 rows, so groups of sixteen (the AVX-512 bf16 and
 * int8 kernels' block) start at every offset and leave every remainder. */
START_TEST(test_row_independent_of_group)
{
	uint64_t seed = 4;
	const size_t dims[] = {1, 31, 32, 33, 64, 100, 129, 384};
	for (size_t d = 0; d < sizeof dims / sizeof *dims; d++) {
		enum { N = 35 };
		const size_t dim = dims[d], n = N, words = (dim + 63) / 64;
		float *f = malloc((n + 1) * dim * sizeof *f);
		fill_random(f, (n + 1) * dim, &seed);
		uint16_t *qb = malloc(dim * 2), *vb = malloc(n * dim * 2);
		int8_t *qi = malloc(dim), *vi = malloc(n * dim);
		uint64_t *qw = calloc(words, 8);
		unsigned char *vw = malloc(n * words * 8);
		float s;
		float *sc = malloc(n * sizeof *sc);
		rdb_quantize(RDB_QUANT_BF16, f, 1, dim, qb, NULL, NULL);
		rdb_quantize(RDB_QUANT_BF16, f + dim, n, dim, vb, NULL, NULL);
		rdb_quantize(RDB_QUANT_INT8, f, 1, dim, qi, &s, NULL);
		rdb_quantize(RDB_QUANT_INT8, f + dim, n, dim, vi, sc, NULL);
		rdb_quantize(RDB_QUANT_BINARY, f, 1, dim, qw, NULL, NULL);
		rdb_quantize(RDB_QUANT_BINARY, f + dim, n, dim, vw, NULL, NULL);
		for (size_t p = 0; p < 3; p++) {
			rdb_bf16_dot_fn bd = rdb_bf16_dot_by_name(kBf16Paths[p]);
			rdb_i8_dot_fn id = rdb_i8_dot_by_name(kI8Paths[p]);
			rdb_bin_dist_fn hd = rdb_bin_dist_by_name(kBinPaths[p]);
			float fa[N], fp[N + 1];
			int32_t ia[N], ip[N + 1], ha[N], hp[N + 1];
			if (bd)
				bd(qb, vb, n, dim, fa);
			if (id)
				id(qi, vi, n, dim, ia);
			if (hd)
				hd(qw, vw, n, words, ha);
			for (size_t start = 0; start < n; start++) {
				for (size_t len = 0; start + len <= n; len++) {
					fp[len] = ip[len] = hp[len] = -7;
					if (bd)
						bd(qb, vb + start * dim, len, dim, fp);
					if (id)
						id(qi, vi + start * dim, len, dim, ip);
					if (hd)
						hd(qw, vw + start * words * 8, len, words, hp);
					for (size_t i = 0; i < len; i++) {
						ck_assert(!bd || memcmp(&fp[i], &fa[start + i], 4) == 0);
						ck_assert(!id || ip[i] == ia[start + i]);
						ck_assert(!hd || hp[i] == ha[start + i]);
					}
					ck_assert(!bd || fp[len] == -7);
					ck_assert(!id || ip[len] == -7);
					ck_assert(!hd || hp[len] == -7);
				}
			}
		}
		free(f);
		free(qb);
		free(vb);
		free(qi);
		free(vi);
		free(qw);
		free(vw);
		free(sc);
	}
}
END_TEST

/* --- dispatch ------------------------------------------------------------------ */

static int best_level(rdb_quant kind)
{
	const char *const *names = kind == RDB_QUANT_BF16   ? kBf16Paths
	                           : kind == RDB_QUANT_INT8 ? kI8Paths
	                                                    : kBinPaths;
	for (int l = 2; l >= 0; l--)
		if (rdb_qkernel_supported(kind, names[l]))
			return l;
	return 0;
}

static const char *path_at(rdb_quant kind, int l)
{
	return kind == RDB_QUANT_BF16 ? kBf16Paths[l] : kind == RDB_QUANT_INT8 ? kI8Paths[l] : kBinPaths[l];
}

/* Names, support and the dispatched choice: scalar always runs, the best
 * supported path wins without an override, unknown names are refused. */
START_TEST(test_qdispatch)
{
	const char *q = getenv("RAGDB_QKERNEL"), *k = getenv("RAGDB_KERNEL");
	for (size_t i = 0; i < 3; i++) {
		rdb_quant kind = kKinds[i];
		ck_assert_int_eq(rdb_qkernel_supported(kind, "scalar"), 1);
		ck_assert_int_eq(rdb_qkernel_supported(kind, "avx512"), 0);
		ck_assert_int_eq(rdb_qkernel_supported(kind, NULL), 0);
		const char *name = rdb_qkernel_name(kind);
		ck_assert_ptr_nonnull(name);
		ck_assert_int_eq(rdb_qkernel_supported(kind, name), 1);
		if ((!q || !*q) && (!k || !*k))
			ck_assert_str_eq(name, path_at(kind, best_level(kind)));
	}
	ck_assert_ptr_null(rdb_qkernel_name(RDB_QUANT_F32));
	ck_assert_ptr_eq(rdb_bf16_dot_by_name("scalar"), rdb_bf16_dot_scalar);
	ck_assert_ptr_null(rdb_i8_dot_by_name("avx512bf16"));
	ck_assert_ptr_eq(rdb_bf16_dot(), rdb_bf16_dot_by_name(rdb_qkernel_name(RDB_QUANT_BF16)));
	ck_assert_ptr_eq(rdb_i8_dot(), rdb_i8_dot_by_name(rdb_qkernel_name(RDB_QUANT_INT8)));
	ck_assert_ptr_eq(rdb_bin_dist(), rdb_bin_dist_by_name(rdb_qkernel_name(RDB_QUANT_BINARY)));
	rdb_quant kind;
	ck_assert_int_eq(rdb_quant_parse("int8", &kind), 0);
	ck_assert_int_eq(kind, RDB_QUANT_INT8);
	ck_assert_int_eq(rdb_quant_parse("int4", &kind), -1);
	ck_assert_str_eq(rdb_quant_name(RDB_QUANT_BINARY), "binary");
}
END_TEST

/* RAGDB_QKERNEL (or, unset, RAGDB_KERNEL) picks a level for every kind; a
 * level a kind cannot run, or an unknown one, gives the best supported
 * path. Dispatch happens once per process, so each case re-executes this
 * program (--expect-levels in main). */
START_TEST(test_qdispatch_override)
{
	const struct {
		const char *var, *val;
	} cases[] = {{"RAGDB_QKERNEL", "scalar"}, {"RAGDB_QKERNEL", "avx2"},
	             {"RAGDB_QKERNEL", "avx512"}, {"RAGDB_QKERNEL", "sse9"},
	             {"RAGDB_KERNEL", "scalar"},  {"RAGDB_KERNEL", "avx2"}};
	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
		char expect[3][32];
		int want = -1;
		for (int l = 0; l < 3; l++)
			if (strcmp(cases[c].val, kLevels[l]) == 0)
				want = l;
		for (size_t i = 0; i < 3; i++) {
			int l = want >= 0 && rdb_qkernel_supported(kKinds[i], path_at(kKinds[i], want))
			            ? want
			            : best_level(kKinds[i]);
			snprintf(expect[i], sizeof expect[i], "%s", path_at(kKinds[i], l));
		}
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			if (!freopen("/dev/null", "w", stderr))
				_exit(3);
			unsetenv("RAGDB_QKERNEL");
			unsetenv("RAGDB_KERNEL");
			setenv(cases[c].var, cases[c].val, 1);
			execl("/proc/self/exe", "test_kernels_quant", "--expect-levels", expect[0], expect[1],
			      expect[2], (char *)NULL);
			_exit(4);
		}
		int status = 0;
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		              "%s=%s: expected %s, %s, %s", cases[c].var, cases[c].val, expect[0],
		              expect[1], expect[2]);
	}
}
END_TEST

/* --- scans --------------------------------------------------------------------- */

/* The quantized scan equals brute force for each kind over uneven blocks
 * (empty ones too), with tombstones, with and without a filter, for k = 0,
 * 1, 10 and k > n, on 1 and 1..5 threads (split forced by
 * RAGDB_SCAN_MIN_WORK in main); zero vectors tie at 0 and come in id order. */
START_TEST(test_qscan_vs_brute)
{
	const size_t counts[] = {5, 0, 130, 1, 513, 64, 0, 7};
	const size_t dims[] = {1, 17, 64, 100, 384};
	const size_t ks[] = {0, 1, 10, 800};
	for (size_t d = 0; d < sizeof dims / sizeof *dims; d++) {
		const size_t dim = dims[d], total = 720;
		uint64_t seed = 20 + d;
		float *f = malloc(total * dim * sizeof *f), *qf = malloc(dim * sizeof *qf);
		fill_random(f, total * dim, &seed);
		fill_random(qf, dim, &seed);
		for (size_t i = 50; i < 70; i++)
			memset(f + i * dim, 0, dim * sizeof *f); /* zero vectors */
		for (size_t ki = 0; ki < 3; ki++) {
			qindex x;
			qindex_make(&x, kKinds[ki], dim, f, counts, 8);
			for (size_t i = 0; i < x.total; i += 9)
				x.ids[i] = 0;
			rdb_qquery *q = NULL;
			ck_assert_int_eq(rdb_qquery_create(kKinds[ki], qf, dim, &q, NULL), RAGDB_OK);
			for (size_t kk = 0; kk < sizeof ks / sizeof *ks; kk++) {
				size_t k = ks[kk];
				rdb_scored *got = malloc((k + 1) * sizeof *got), *want = malloc((k + 1) * sizeof *want);
				for (int filt = 0; filt < 2; filt++) {
					uint64_t mod = 3;
					size_t nw = brute_qtopk(q, &x, k, filt ? mod : 0, want);
					for (int th = 1; th <= 5; th++) {
						size_t ng = 12345;
						ck_assert_int_eq(rdb_qscan_topk(q, x.qb, 8, k, th,
						                                filt ? keep_not_multiple : NULL, &mod,
						                                got, &ng, NULL),
						                 RAGDB_OK);
						check_same(got, ng, want, nw);
					}
				}
				free(got);
				free(want);
			}
			rdb_qquery_free(q);
			qindex_free(&x);
		}
		free(f);
		free(qf);
	}
}
END_TEST

/* Rescoring with every vector a candidate returns exactly the f32 scan's
 * list and scores (bit for bit) for each kind; with fewer candidates the
 * scores are still the exact f32 ones; k = 0 and empty indexes give
 * nothing; a candidate without an f32 vector is RAGDB_ECORRUPT. */
START_TEST(test_rescore_exact)
{
	const size_t counts[] = {300, 0, 211, 9};
	const size_t dims[] = {3, 64, 97};
	for (size_t d = 0; d < 3; d++) {
		const size_t dim = dims[d], total = 520, k = 10;
		uint64_t seed = 40 + d;
		float *f = malloc(total * dim * sizeof *f), *qf = malloc(dim * sizeof *qf);
		fill_random(f, total * dim, &seed);
		fill_random(qf, dim, &seed);
		for (size_t ki = 0; ki < 3; ki++) {
			qindex x;
			qindex_make(&x, kKinds[ki], dim, f, counts, 4);
			for (size_t i = 3; i < x.total; i += 17)
				x.ids[i] = 0;
			rdb_qquery *q = NULL;
			ck_assert_int_eq(rdb_qquery_create(kKinds[ki], qf, dim, &q, NULL), RAGDB_OK);
			rdb_scored got[10], want[10];
			size_t ng = 0, nw = 0;
			ck_assert_int_eq(rdb_scan_topk(qf, dim, x.vb, 4, k, 1, NULL, NULL, want, &nw, NULL),
			                 RAGDB_OK);
			for (int th = 1; th <= 3; th++) {
				ck_assert_int_eq(rdb_qsearch_rescore(q, qf, x.qb, 4, k, 1000, th, NULL, NULL,
				                                     qindex_vec, &x, got, &ng, NULL),
				                 RAGDB_OK);
				check_same(got, ng, want, nw);
				/* The same through the parallel f32 blocks. */
				ng = 0;
				ck_assert_int_eq(rdb_qsearch_rescore_blocks(q, qf, x.qb, x.vb, 4, k, 1000, th,
				                                            NULL, NULL, got, &ng, NULL),
				                 RAGDB_OK);
				check_same(got, ng, want, nw);
			}
			/* Few candidates by place: the same list as by id (no ties in
			 * random data), exact scores. */
			{
				rdb_scored byid[10];
				size_t nb = 0;
				ck_assert_int_eq(rdb_qsearch_rescore(q, qf, x.qb, 4, k, 2, 2, NULL, NULL,
				                                     qindex_vec, &x, byid, &nb, NULL),
				                 RAGDB_OK);
				ck_assert_int_eq(rdb_qsearch_rescore_blocks(q, qf, x.qb, x.vb, 4, k, 2, 2, NULL,
				                                            NULL, got, &ng, NULL),
				                 RAGDB_OK);
				check_same(got, ng, byid, nb);
				/* f32 blocks that do not match the quantized ones. */
				rdb_vblock bad[4];
				memcpy(bad, x.vb, sizeof bad);
				bad[0].count = bad[0].count ? bad[0].count - 1 : 0;
				bad[2].count = bad[2].count - 1;
				rdb_err err;
				ng = 99;
				ck_assert_int_eq(rdb_qsearch_rescore_blocks(q, qf, x.qb, bad, 4, k, 1000, 1, NULL,
				                                            NULL, got, &ng, &err),
				                 RAGDB_ECORRUPT);
				ck_assert_uint_eq(ng, 99);
				ck_assert_ptr_nonnull(strstr(err.msg, "no matching f32 vector"));
			}
			/* Few candidates: each returned score is its vector's f32 score. */
			ck_assert_int_eq(rdb_qsearch_rescore(q, qf, x.qb, 4, k, 0, 1, NULL, NULL, qindex_vec,
			                                     &x, got, &ng, NULL),
			                 RAGDB_OK);
			ck_assert_uint_eq(ng, k);
			for (size_t i = 0; i < ng; i++) {
				float s;
				rdb_kernel_dot()(qf, qindex_vec(&x, got[i].id), 1, dim, &s);
				ck_assert(memcmp(&s, &got[i].score, 4) == 0);
				if (i)
					ck_assert(got[i - 1].score >= got[i].score);
			}
			ng = 99;
			ck_assert_int_eq(rdb_qsearch_rescore(q, qf, x.qb, 4, 0, 4, 1, NULL, NULL, qindex_vec,
			                                     &x, got, &ng, NULL),
			                 RAGDB_OK);
			ck_assert_uint_eq(ng, 0);
			ng = 99;
			ck_assert_int_eq(rdb_qsearch_rescore(q, qf, NULL, 0, k, 4, 1, NULL, NULL, qindex_vec,
			                                     &x, got, &ng, NULL),
			                 RAGDB_OK);
			ck_assert_uint_eq(ng, 0);
			/* An id the accessor does not know. */
			x.ids[0] = 999;
			rdb_err err;
			ng = 99;
			ck_assert_int_eq(rdb_qsearch_rescore(q, qf, x.qb, 4, k, 1000, 1, NULL, NULL,
			                                     qindex_vec, &x, got, &ng, &err),
			                 RAGDB_ECORRUPT);
			ck_assert_uint_eq(ng, 99);
			ck_assert_ptr_nonnull(strstr(err.msg, "999"));
			rdb_qquery_free(q);
			qindex_free(&x);
		}
		free(f);
		free(qf);
	}
	rdb_err err;
	rdb_qquery *q = NULL;
	float one = 1;
	ck_assert_int_eq(rdb_qquery_create(RDB_QUANT_F32, &one, 1, &q, &err), RAGDB_EINVAL);
	ck_assert_int_eq(rdb_qquery_create(RDB_QUANT_INT8, &one, 0, &q, &err), RAGDB_EINVAL);
	ck_assert_ptr_null(q);
}
END_TEST

/* --- recall ---------------------------------------------------------------------- */

static void normalise(float *v, size_t dim)
{
	double ss = 0;
	for (size_t j = 0; j < dim; j++)
		ss += (double)v[j] * v[j];
	float inv = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
	for (size_t j = 0; j < dim; j++)
		v[j] *= inv;
}

static float rng_gauss(uint64_t *s)
{
	double u = ((double)(rng_next(s) >> 11) + 1.0) / (double)(1ull << 53);
	double v = ((double)(rng_next(s) >> 11) + 1.0) / (double)(1ull << 53);
	return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

/* Clustered data as bench_search makes it: unit centroids plus Gaussian
 * noise of norm ~0.6, normalised. */
static void clustered(float *out, size_t n, size_t dim, size_t n_cent, uint64_t *seed)
{
	float *c = malloc(n_cent * dim * sizeof *c);
	for (size_t i = 0; i < n_cent * dim; i++)
		c[i] = rng_gauss(seed);
	for (size_t i = 0; i < n_cent; i++)
		normalise(c + i * dim, dim);
	const float sigma = 0.6f / sqrtf((float)dim);
	for (size_t i = 0; i < n; i++) {
		const float *cc = c + (rng_next(seed) % n_cent) * dim;
		for (size_t j = 0; j < dim; j++)
			out[i * dim + j] = cc[j] + sigma * rng_gauss(seed);
		normalise(out + i * dim, dim);
	}
	free(c);
}

/* Recall@10 of rescored quantized search against the exact f32 scan on
 * clustered data (20,000 x 128, 50 queries from the same mixture): int8
 * and bf16 reach >= 0.99 with oversample 4; binary is printed, and checked
 * only to beat a trivial level with oversample 10. Scores are always the
 * exact ones. */
START_TEST(test_rescore_recall)
{
	const size_t n = 20000, dim = 128, nq = 50, k = 10;
	uint64_t seed = 77;
	float *all = malloc((n + nq) * dim * sizeof *all);
	clustered(all, n + nq, dim, 200, &seed);
	const float *Q = all + n * dim;
	const size_t counts[] = {8000, 12000};
	for (size_t ki = 0; ki < 3; ki++) {
		qindex x;
		qindex_make(&x, kKinds[ki], dim, all, counts, 2);
		const size_t over = kKinds[ki] == RDB_QUANT_BINARY ? 10 : 4;
		size_t hit = 0, raw_hit = 0;
		for (size_t i = 0; i < nq; i++) {
			rdb_scored exact[10], got[10], raw[10];
			size_t ne = 0, ng = 0, nr = 0;
			rdb_qquery *q = NULL;
			ck_assert_int_eq(rdb_qquery_create(kKinds[ki], Q + i * dim, dim, &q, NULL), RAGDB_OK);
			rdb_scan_topk(Q + i * dim, dim, x.vb, 2, k, 0, NULL, NULL, exact, &ne, NULL);
			ck_assert_int_eq(rdb_qsearch_rescore(q, Q + i * dim, x.qb, 2, k, over, 0, NULL, NULL,
			                                     qindex_vec, &x, got, &ng, NULL),
			                 RAGDB_OK);
			rdb_qscan_topk(q, x.qb, 2, k, 0, NULL, NULL, raw, &nr, NULL);
			ck_assert_uint_eq(ng, k);
			for (size_t a = 0; a < k; a++) {
				for (size_t b = 0; b < k; b++) {
					if (got[a].id == exact[b].id) {
						hit++;
						ck_assert(memcmp(&got[a].score, &exact[b].score, 4) == 0);
					}
					raw_hit += raw[a].id == exact[b].id;
				}
			}
			rdb_qquery_free(q);
		}
		double recall = (double)hit / (double)(nq * k);
		printf("recall@10 %s: %.4f after rescoring (oversample %zu), %.4f before\n",
		       rdb_quant_name(kKinds[ki]), recall, over, (double)raw_hit / (double)(nq * k));
		if (kKinds[ki] == RDB_QUANT_BINARY)
			ck_assert_msg(recall >= 0.5, "binary recall %.4f", recall);
		else
			ck_assert_msg(recall >= 0.99, "%s recall %.4f", rdb_quant_name(kKinds[ki]), recall);
		qindex_free(&x);
	}
	free(all);
}
END_TEST

/* The batch scan gives every query exactly its single-query list (ids and
 * bit-identical scores), for every kind, uneven blocks with tombstones,
 * 1..3 threads; and the batch rescoring equals the single rescoring. */
START_TEST(test_qbatch_matches_single)
{
	const size_t counts[] = {300, 0, 700, 1, 513};
	const size_t dim = 67, total = 1514, nq = 9, k = 7;
	uint64_t seed = 77;
	float *f = malloc(total * dim * sizeof *f), *Q = malloc(nq * dim * sizeof *Q);
	fill_random(f, total * dim, &seed);
	fill_random(Q, nq * dim, &seed);
	for (size_t ki = 0; ki < 3; ki++) {
		qindex x;
		qindex_make(&x, kKinds[ki], dim, f, counts, 5);
		for (size_t i = 5; i < x.total; i += 13)
			x.ids[i] = 0;
		rdb_qquery *qs[9];
		for (size_t i = 0; i < nq; i++)
			ck_assert_int_eq(rdb_qquery_create(kKinds[ki], Q + i * dim, dim, &qs[i], NULL),
			                 RAGDB_OK);
		rdb_scored got[9 * 7], want[7];
		size_t ng[9], nw;
		for (int th = 1; th <= 3; th++) {
			ck_assert_int_eq(rdb_qscan_topk_batch((const rdb_qquery *const *)qs, nq, x.qb, 5, k,
			                                      th, got, ng, NULL),
			                 RAGDB_OK);
			for (size_t i = 0; i < nq; i++) {
				ck_assert_int_eq(rdb_qscan_topk(qs[i], x.qb, 5, k, 1, NULL, NULL, want, &nw,
				                                NULL),
				                 RAGDB_OK);
				check_same(got + i * k, ng[i], want, nw);
			}
			ck_assert_int_eq(rdb_qsearch_rescore_batch((const rdb_qquery *const *)qs, Q, nq,
			                                           x.qb, 5, k, 4, th, qindex_vec, &x, got,
			                                           ng, NULL),
			                 RAGDB_OK);
			for (size_t i = 0; i < nq; i++) {
				ck_assert_int_eq(rdb_qsearch_rescore(qs[i], Q + i * dim, x.qb, 5, k, 4, 1, NULL,
				                                     NULL, qindex_vec, &x, want, &nw, NULL),
				                 RAGDB_OK);
				check_same(got + i * k, ng[i], want, nw);
			}
		}
		for (size_t i = 0; i < nq; i++)
			rdb_qquery_free(qs[i]);
		qindex_free(&x);
	}
	free(f);
	free(Q);
}
END_TEST

/* rdb_qsearch_rescore_blocks_multi gives each query exactly
 * rdb_qsearch_rescore_blocks's list (ids and scores), for each kind, with
 * k of 0, 1, some and more than every vector (so the whole ranking is
 * compared and a skipped row shows), oversamples of 1, 4 and 0 (the
 * default's stand-in: one candidate per result), a filter on some queries,
 * tombstones, and 1..3 threads; queries of two kinds are refused. */
START_TEST(test_qmulti_matches_single)
{
	const size_t counts[] = {300, 0, 700, 1, 513};
	const size_t dim = 67, total = 1514;
	enum { NQ = 6 };
	const size_t ks[NQ] = {0, 1, 7, 2000, 3, 50};
	const size_t os[NQ] = {4, 1, 4, 1, 0, 4};
	uint64_t seed = 91;
	float *f = malloc(total * dim * sizeof *f), *Q = malloc(NQ * dim * sizeof *Q);
	fill_random(f, total * dim, &seed);
	fill_random(Q, NQ * dim, &seed);
	uint64_t kc = 3;
	for (size_t ki = 0; ki < 3; ki++) {
		qindex x;
		qindex_make(&x, kKinds[ki], dim, f, counts, 5);
		for (size_t i = 5; i < x.total; i += 13)
			x.ids[i] = 0;
		rdb_qquery *qq[NQ];
		rdb_qmulti qm[NQ];
		const rdb_qmulti *qmp[NQ];
		rdb_scored *got[NQ], *want = malloc(2000 * sizeof *want);
		size_t ng[NQ], nw;
		for (size_t i = 0; i < NQ; i++) {
			ck_assert_int_eq(rdb_qquery_create(kKinds[ki], Q + i * dim, dim, &qq[i], NULL),
			                 RAGDB_OK);
			got[i] = malloc((ks[i] + 1) * sizeof *got[i]);
			qm[i] = (rdb_qmulti){qq[i], Q + i * dim, ks[i], os[i],
			                     i % 2 ? keep_not_multiple : NULL, &kc, got[i], &ng[i]};
			qmp[i] = &qm[i];
		}
		for (int th = 1; th <= 3; th++) {
			ck_assert_int_eq(rdb_qsearch_rescore_blocks_multi(qmp, NQ, x.qb, x.vb, 5, th, NULL),
			                 RAGDB_OK);
			for (size_t i = 0; i < NQ; i++) {
				ck_assert_int_eq(rdb_qsearch_rescore_blocks(qq[i], Q + i * dim, x.qb, x.vb, 5,
				                                            ks[i], os[i], th, qm[i].keep, &kc,
				                                            want, &nw, NULL),
				                 RAGDB_OK);
				check_same(got[i], ng[i], want, nw);
			}
		}
		if (ki == 1) {
			rdb_qquery *other = NULL;
			ck_assert_int_eq(rdb_qquery_create(RDB_QUANT_BF16, Q, dim, &other, NULL), RAGDB_OK);
			rdb_qmulti other_q = qm[2];
			other_q.q = other;
			const rdb_qmulti *two[2] = {&qm[2], &other_q};
			rdb_err err;
			ck_assert_int_eq(rdb_qsearch_rescore_blocks_multi(two, 2, x.qb, x.vb, 5, 1, &err),
			                 RAGDB_EINVAL);
			rdb_qquery_free(other);
		}
		for (size_t i = 0; i < NQ; i++) {
			rdb_qquery_free(qq[i]);
			free(got[i]);
		}
		free(want);
		qindex_free(&x);
	}
	free(f);
	free(Q);
}
END_TEST

static Suite *quant_suite(void)
{
	Suite *s = suite_create("kernels_quant");
	TCase *tc = tcase_create("encode");
	tcase_add_test(tc, test_bf16_rounding);
	tcase_add_test(tc, test_int8_quantize);
	tcase_add_test(tc, test_binary_quantize);
	suite_add_tcase(s, tc);
	tc = tcase_create("kernels");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_bf16_paths_match_scalar);
	tcase_add_test(tc, test_int8_paths_match_scalar);
	tcase_add_test(tc, test_binary_paths_match_scalar);
	tcase_add_test(tc, test_row_independent_of_group);
	tcase_add_test(tc, test_qdispatch);
	tcase_add_test(tc, test_qdispatch_override);
	suite_add_tcase(s, tc);
	tc = tcase_create("scan");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_qscan_vs_brute);
	tcase_add_test(tc, test_rescore_exact);
	tcase_add_test(tc, test_rescore_recall);
	tcase_add_test(tc, test_qbatch_matches_single);
	tcase_add_test(tc, test_qmulti_matches_single);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	/* Child mode for test_qdispatch_override: exit 0 iff dispatch picks
	 * argv[2..4] for bf16, int8, binary. */
	if (argc == 5 && strcmp(argv[1], "--expect-levels") == 0) {
		for (size_t i = 0; i < 3; i++)
			if (strcmp(rdb_qkernel_name(kKinds[i]), argv[2 + i]) != 0)
				return 1;
		return 0;
	}
	setenv("RAGDB_SCAN_MIN_WORK", "200", 1);
	return tu_run(quant_suite());
}
