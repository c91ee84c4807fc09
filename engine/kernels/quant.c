/*
 * engine/kernels/quant.c — quantized encodings, the scalar reference
 * kernels, query encoding and the per-kind dispatch.
 *
 * The scalar kernels are plain C and the ground truth in tests: bf16
 * accumulates in double (so its own error is far below the SIMD paths'),
 * int8 and binary are exact integers. Dispatch state is written once under
 * pthread_once and only read afterwards.
 */
#include <cpuid.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/quant.h"

static const char *const g_quant_names[] = {"f32", "bf16", "int8", "binary"};

const char *rdb_quant_name(rdb_quant kind)
{
	return (unsigned)kind < 4 ? g_quant_names[kind] : NULL;
}

int rdb_quant_parse(const char *name, rdb_quant *out)
{
	for (unsigned i = 0; name && i < 4; i++) {
		if (strcmp(name, g_quant_names[i]) == 0) {
			*out = (rdb_quant)i;
			return 0;
		}
	}
	return -1;
}

size_t rdb_quant_row_bytes(rdb_quant kind, size_t dim)
{
	switch (kind) {
	case RDB_QUANT_F32:
		return dim * sizeof(float);
	case RDB_QUANT_BF16:
		return dim * sizeof(uint16_t);
	case RDB_QUANT_INT8:
		return dim;
	case RDB_QUANT_BINARY:
		return (dim + 63) / 64 * sizeof(uint64_t);
	}
	return 0;
}

uint16_t rdb_f32_to_bf16(float x)
{
	uint32_t u;
	memcpy(&u, &x, sizeof u);
	/* A NaN must stay a NaN: rounding could carry it into infinity. */
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 0x40u);
	u += 0x7fffu + ((u >> 16) & 1u);
	return (uint16_t)(u >> 16);
}

/* One int8 row; a row without a finite non-zero maximum (all zero, or
 * holding inf) gets scale 0 and codes 0: its quantized score is 0 and the
 * rescoring step still sees the real vector. NaN elements encode as 0. */
static void quantize_i8_row(const float *v, size_t dim, int8_t *codes, float *scale)
{
	float m = 0;
	for (size_t j = 0; j < dim; j++) {
		float a = fabsf(v[j]);
		if (a > m)
			m = a;
	}
	if (!(m > 0) || !isfinite(m)) {
		memset(codes, 0, dim);
		*scale = 0;
		return;
	}
	const float inv = 127.0f / m;
	for (size_t j = 0; j < dim; j++) {
		float c = nearbyintf(v[j] * inv);
		if (!(c == c))
			c = 0;
		codes[j] = (int8_t)(c > 127.0f ? 127 : c < -127.0f ? -127 : (int)c);
	}
	*scale = m / 127.0f;
}

static void quantize_bin_row(const float *v, size_t dim, unsigned char *codes)
{
	/* Byte j/8, bit j%8: the little-endian layout of the uint64 words. */
	memset(codes, 0, rdb_quant_row_bytes(RDB_QUANT_BINARY, dim));
	for (size_t j = 0; j < dim; j++)
		if (v[j] > 0)
			codes[j >> 3] |= (unsigned char)(1u << (j & 7));
}

ragdb_status rdb_quantize(rdb_quant kind, const float *vecs, size_t n, size_t dim, void *codes,
                          float *scales, rdb_err *err)
{
	if (kind == RDB_QUANT_F32 || !rdb_quant_name(kind) || dim == 0 || dim > RDB_QUANT_MAX_DIM)
		return rdb_err_set(err, RAGDB_EINVAL,
		                   "quantize: expected kind bf16, int8 or binary and 1 <= dim <= %d, "
		                   "got kind %d dim %zu",
		                   RDB_QUANT_MAX_DIM, (int)kind, dim);
	if (kind == RDB_QUANT_INT8 && !scales && n > 0)
		return rdb_err_set(err, RAGDB_EINVAL, "quantize: int8 needs a scales array; pass one of n floats");
	const size_t rb = rdb_quant_row_bytes(kind, dim);
	unsigned char *c = codes;
	for (size_t i = 0; i < n; i++) {
		const float *v = vecs + i * dim;
		if (kind == RDB_QUANT_BF16) {
			for (size_t j = 0; j < dim; j++) {
				uint16_t b = rdb_f32_to_bf16(v[j]);
				memcpy(c + i * rb + j * 2, &b, 2);
			}
		} else if (kind == RDB_QUANT_INT8) {
			quantize_i8_row(v, dim, (int8_t *)(c + i * rb), &scales[i]);
		} else {
			quantize_bin_row(v, dim, c + i * rb);
		}
	}
	return RAGDB_OK;
}

/* --- scalar reference kernels --------------------------------------------- */

void rdb_bf16_dot_scalar(const uint16_t *q, const uint16_t *rows, size_t n, size_t dim, float *out)
{
	for (size_t i = 0; i < n; i++) {
		const uint16_t *v = rows + i * dim;
		double s = 0;
		for (size_t j = 0; j < dim; j++)
			s += (double)rdb_bf16_to_f32(q[j]) * rdb_bf16_to_f32(v[j]);
		out[i] = (float)s;
	}
}

void rdb_i8_dot_scalar(const int8_t *q, const int8_t *rows, size_t n, size_t dim, int32_t *out)
{
	for (size_t i = 0; i < n; i++) {
		const int8_t *v = rows + i * dim;
		int32_t s = 0; /* |s| <= 127 * 127 * RDB_QUANT_MAX_DIM < 2^31 */
		for (size_t j = 0; j < dim; j++)
			s += (int32_t)q[j] * v[j];
		out[i] = s;
	}
}

void rdb_bin_dist_scalar(const uint64_t *q, const unsigned char *rows, size_t n, size_t words,
                         int32_t *out)
{
	for (size_t i = 0; i < n; i++) {
		const unsigned char *v = rows + i * words * 8;
		int32_t h = 0;
		for (size_t w = 0; w < words; w++) {
			uint64_t x;
			memcpy(&x, v + w * 8, 8);
			h += __builtin_popcountll(q[w] ^ x);
		}
		out[i] = h;
	}
}

/* --- queries and scores ----------------------------------------------------- */

ragdb_status rdb_qquery_create(rdb_quant kind, const float *q, size_t dim, rdb_qquery **out,
                               rdb_err *err)
{
	if (kind == RDB_QUANT_F32 || !rdb_quant_name(kind) || dim == 0 || dim > RDB_QUANT_MAX_DIM)
		return rdb_err_set(err, RAGDB_EINVAL,
		                   "quantized query: expected kind bf16, int8 or binary and "
		                   "1 <= dim <= %d, got kind %d dim %zu",
		                   RDB_QUANT_MAX_DIM, (int)kind, dim);
	rdb_qquery *x = calloc(1, sizeof *x);
	/* Whole uint64 words, so the binary kernels may load the query as such. */
	size_t words = (rdb_quant_row_bytes(kind, dim) + 7) / 8;
	if (!x || !(x->codes = calloc(words, sizeof(uint64_t)))) {
		free(x);
		return rdb_err_set(err, RAGDB_ENOMEM, "quantized query: out of memory for dim %zu", dim);
	}
	x->kind = kind;
	x->dim = dim;
	rdb_quantize(kind, q, 1, dim, x->codes, &x->scale, NULL);
	*out = x;
	return RAGDB_OK;
}

void rdb_qquery_free(rdb_qquery *q)
{
	if (!q)
		return;
	free(q->codes);
	free(q);
}

void rdb_qscore(const rdb_qquery *q, const void *rows, const float *scales, size_t n, float *out)
{
	if (q->kind == RDB_QUANT_BF16) {
		rdb_bf16_dot()(q->codes, rows, n, q->dim, out);
		return;
	}
	if (q->kind == RDB_QUANT_INT8 && rdb_i8_dot() == rdb_i8_dot_avx512vnni) {
		rdb_i8_score_avx512vnni(q->codes, q->scale, rows, scales, n, q->dim, out);
		return;
	}
	int32_t raw[256];
	const size_t rb = rdb_quant_row_bytes(q->kind, q->dim);
	const unsigned char *r = rows;
	for (size_t at = 0; at < n; at += 256) {
		size_t m = n - at < 256 ? n - at : 256;
		if (q->kind == RDB_QUANT_INT8) {
			rdb_i8_dot()(q->codes, (const int8_t *)(r + at * rb), m, q->dim, raw);
			for (size_t i = 0; i < m; i++)
				out[at + i] = (float)raw[i] * (q->scale * scales[at + i]);
		} else {
			rdb_bin_dist()(q->codes, r + at * rb, m, rb / 8, raw);
			for (size_t i = 0; i < m; i++)
				out[at + i] = (float)((int32_t)q->dim - 2 * raw[i]) / (float)q->dim;
		}
	}
}

/* --- dispatch ----------------------------------------------------------------- */

enum { LVL_SCALAR, LVL_AVX2, LVL_AVX512, N_LVL };
static const char *const g_levels[N_LVL] = {"scalar", "avx2", "avx512"};
/* Path names by kind (bf16, int8, binary) and level. */
static const char *const g_paths[3][N_LVL] = {
	{"scalar", "avx2", "avx512bf16"},
	{"scalar", "avx2", "avx512vnni"},
	{"scalar", "avx2", "avx512vpopcnt"},
};

/* The AVX-512 extension a kind's top path needs, from cpuid leaf 7. */
static int cpu_has_ext(rdb_quant kind)
{
	unsigned a, b, c, d;
	if (kind == RDB_QUANT_BF16)
		return __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 5));
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return 0;
	return kind == RDB_QUANT_INT8 ? (c >> 11) & 1 : (c >> 14) & 1; /* VNNI, VPOPCNTDQ */
}

static int level_of(rdb_quant kind, const char *name)
{
	if (kind < RDB_QUANT_BF16 || kind > RDB_QUANT_BINARY || !name)
		return -1;
	for (int l = 0; l < N_LVL; l++)
		if (strcmp(name, g_paths[kind - 1][l]) == 0)
			return l;
	return -1;
}

static int level_supported(rdb_quant kind, int l)
{
	if (l == LVL_SCALAR)
		return 1;
	if (l == LVL_AVX2) {
		/* The avx2 files may use popcnt (-mavx2 implies it in GCC). */
		__builtin_cpu_init();
		return rdb_kernel_supported("avx2") && __builtin_cpu_supports("popcnt");
	}
	/* "avx512" checks F/BW/DQ/VL and that the OS saves the ZMM state. */
	return l == LVL_AVX512 && rdb_kernel_supported("avx512") && cpu_has_ext(kind);
}

int rdb_qkernel_supported(rdb_quant kind, const char *name)
{
	int l = level_of(kind, name);
	return l >= 0 && level_supported(kind, l);
}

static const rdb_bf16_dot_fn g_bf16_fns[N_LVL] = {rdb_bf16_dot_scalar, rdb_bf16_dot_avx2,
                                                  rdb_bf16_dot_avx512bf16};
static const rdb_i8_dot_fn g_i8_fns[N_LVL] = {rdb_i8_dot_scalar, rdb_i8_dot_avx2,
                                              rdb_i8_dot_avx512vnni};
static const rdb_bin_dist_fn g_bin_fns[N_LVL] = {rdb_bin_dist_scalar, rdb_bin_dist_avx2,
                                                 rdb_bin_dist_avx512vpopcnt};

rdb_bf16_dot_fn rdb_bf16_dot_by_name(const char *name)
{
	int l = level_of(RDB_QUANT_BF16, name);
	return l >= 0 && level_supported(RDB_QUANT_BF16, l) ? g_bf16_fns[l] : NULL;
}

rdb_i8_dot_fn rdb_i8_dot_by_name(const char *name)
{
	int l = level_of(RDB_QUANT_INT8, name);
	return l >= 0 && level_supported(RDB_QUANT_INT8, l) ? g_i8_fns[l] : NULL;
}

rdb_bin_dist_fn rdb_bin_dist_by_name(const char *name)
{
	int l = level_of(RDB_QUANT_BINARY, name);
	return l >= 0 && level_supported(RDB_QUANT_BINARY, l) ? g_bin_fns[l] : NULL;
}

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_level[3] = {LVL_SCALAR, LVL_SCALAR, LVL_SCALAR};

static void choose(void)
{
	const char *want = getenv("RAGDB_QKERNEL");
	int explicit = want && *want;
	if (!explicit)
		want = getenv("RAGDB_KERNEL");
	int asked = -1;
	for (int l = 0; want && l < N_LVL; l++)
		if (strcmp(want, g_levels[l]) == 0)
			asked = l;
	if (explicit && asked < 0)
		fprintf(stderr,
		        "ragdb: RAGDB_QKERNEL=%s is not a level (expected scalar, avx2 or avx512); "
		        "using the best supported paths\n",
		        want);
	for (int k = 0; k < 3; k++) {
		rdb_quant kind = (rdb_quant)(k + 1);
		if (asked >= 0 && level_supported(kind, asked)) {
			g_level[k] = asked;
			continue;
		}
		if (explicit && asked >= 0)
			fprintf(stderr,
			        "ragdb: RAGDB_QKERNEL=%s: this CPU cannot run the %s path for %s; "
			        "using the best supported one\n",
			        want, g_paths[k][asked], g_quant_names[kind]);
		for (int l = N_LVL - 1; l >= 0; l--) {
			if (level_supported(kind, l)) {
				g_level[k] = l;
				break;
			}
		}
	}
}

const char *rdb_qkernel_name(rdb_quant kind)
{
	if (kind < RDB_QUANT_BF16 || kind > RDB_QUANT_BINARY)
		return NULL;
	pthread_once(&g_once, choose);
	return g_paths[kind - 1][g_level[kind - 1]];
}

rdb_bf16_dot_fn rdb_bf16_dot(void)
{
	pthread_once(&g_once, choose);
	return g_bf16_fns[g_level[0]];
}

rdb_i8_dot_fn rdb_i8_dot(void)
{
	pthread_once(&g_once, choose);
	return g_i8_fns[g_level[1]];
}

rdb_bin_dist_fn rdb_bin_dist(void)
{
	pthread_once(&g_once, choose);
	return g_bin_fns[g_level[2]];
}
