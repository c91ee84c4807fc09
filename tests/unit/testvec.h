/*
 * tests/unit/testvec.h — clustered test vectors for the engine suites that
 * bring their own vectors: a xorshift generator, a Gaussian mixture, and
 * ragdb_add_vectors of a range of rows, and the checks the suites that
 * rewrite a knowledge base share (check passes, the same answers).
 * Header-only (static inline), since
 * testutil.c is linked into suites that do not link the engine.
 */
#ifndef RDB_TESTVEC_H
#define RDB_TESTVEC_H

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "ragdb.h"

/* Uniform in [0, 1) from the xorshift64 state *s. */
static inline double tv_urand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (double)(*s >> 11) / 9007199254740992.0;
}

/* Standard normal (Box-Muller). */
static inline double tv_gauss(uint64_t *s)
{
	double u = tv_urand(s) + 1e-12, v = tv_urand(s);
	return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* nc x dim centres, each coordinate standard normal. */
static inline void tv_centres(uint64_t *s, float *cent, int nc, int dim)
{
	for (int i = 0; i < nc * dim; i++)
		cent[i] = (float)tv_gauss(s);
}

/* n points, each a random one of the nc centres plus noise x a standard
 * normal per coordinate. */
static inline void tv_mixture(uint64_t *s, const float *cent, int nc, int dim, float noise,
                              float *out, int n)
{
	for (int i = 0; i < n; i++) {
		int c = (int)(tv_urand(s) * nc);
		for (int j = 0; j < dim; j++)
			out[i * dim + j] = cent[c * dim + j] + noise * (float)tv_gauss(s);
	}
}

/* ragdb_add_vectors of rows [lo, hi) of v (dim floats each), ids
 * PREFIX<row>; with @p grp, metadata {"grp": "a"} on even rows and "b" on
 * odd ones. */
static inline void tv_add_rows(ragdb *db, const float *v, int dim, int lo, int hi,
                               const char *prefix, int grp)
{
	int n = hi - lo;
	ragdb_vector_record *r = calloc((size_t)n, sizeof *r);
	char (*ids)[32] = calloc((size_t)n, 32);
	ck_assert(r && ids);
	for (int i = 0; i < n; i++) {
		snprintf(ids[i], 32, "%s%d", prefix, lo + i);
		r[i].id = ids[i];
		if (grp)
			r[i].meta_json = (lo + i) % 2 ? "{\"grp\":\"b\"}" : "{\"grp\":\"a\"}";
		r[i].vector = v + (size_t)(lo + i) * (size_t)dim;
	}
	ck_assert_int_eq(ragdb_add_vectors(db, r, (size_t)n, (uint32_t)dim), RAGDB_OK);
	free(ids);
	free(r);
}

/* ragdb_check finds no problem. */
static inline void tv_check_ok(ragdb *db)
{
	uint64_t np = 99;
	ck_assert_int_eq(ragdb_check(db, NULL, NULL, &np), RAGDB_OK);
	ck_assert_uint_eq(np, 0);
}

/* The top @p k of each of the @p nq queries Q (dim floats each) at the
 * default search options, as "id:score" lines (malloc'd): two calls'
 * strings are equal exactly when every query got the same hits and
 * scores to 7 digits. */
static inline char *tv_answers(ragdb *db, const float *Q, int nq, int dim, size_t k)
{
	size_t cap = (size_t)nq * k * 48, len = 0;
	char *out = malloc(cap);
	ck_assert_ptr_nonnull(out);
	out[0] = 0;
	ragdb_search_options o = { .k = k };
	for (int q = 0; q < nq; q++) {
		ragdb_results *r = NULL;
		ck_assert_int_eq(ragdb_search_vectors(db, Q + (size_t)q * dim, 1, (uint32_t)dim, &o, &r),
		                 RAGDB_OK);
		for (size_t i = 0; i < r->n; i++)
			len += (size_t)snprintf(out + len, cap - len, "%s:%.7g\n", r->hits[i].id,
			                        (double)r->hits[i].score);
		ragdb_results_free(r);
	}
	return out;
}

#endif
