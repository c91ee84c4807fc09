/*
 * tests/unit/testvec.h — clustered test vectors for the engine suites that
 * bring their own vectors: a xorshift generator, a Gaussian mixture, and
 * ragdb_add_vectors of a range of rows. Header-only (static inline), since
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

#endif
