/*
 * index/ivf.c — storage of the IVF index (index/ivf.h has the layout and
 * invariants I1-I4): header and centroids, lists in segments, appends of new
 * vectors to their nearest list, tombstones, and the check.
 *
 * Appends are pending in the write txn (rdb_ivf_txn) and reach LMDB once per
 * list per txn (at commit, or before anything reads the lists): rewriting a
 * list's last segment for every small document would dominate ingest time,
 * as it would for the vector blocks (blocks.c, the tail). Segments hold at
 * most seg_cap vectors (<= 256 KiB of vectors), so one txn rewrites at most
 * that much per list it touches.
 *
 * The nearest list of an appended vector is computed here (the index layer
 * has no kernels) by one dot product per process (AVX-512F, AVX2+FMA or
 * scalar, by cpuid), so a vector appended and later deleted finds the same
 * list. Vectors assigned by the build (the engine's
 * batch kernel, another summation order) may differ on a near-tie: a delete
 * then looks in every list before it reports the index corrupt.
 */
#include "index/ivf.h"
#include "index/store_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define IVF_MAGIC 0x58424452u  /* "RDBX": the header */
#define SEG_MAGIC 0x4c424452u  /* "RDBL": a list segment */
#define IVF_VERSION 1u
#define IVF_HDR_SIZE 88u
#define IVF_SEG_BYTES (256u << 10)
/* Pending appends per txn before they are written early (memory cap). */
#define IVF_PENDING_MAX 65536u

struct rdb_ivf_txn {
	int state;           /* 0 not loaded, 1 no index, 2 index */
	rdb_ivf_info info;
	int hdr_dirty;
	float *cent;         /* nlist x dim, a copy (map pointers die at writes) */
	float *sc;           /* nlist scores (scratch of nearest) */
	size_t n, cap;       /* pending appends */
	uint32_t *plist;
	uint64_t *pid;
	float *pvec;
};

/* mdb_dbi_open must not run in two transactions of one process at once. */
static pthread_mutex_t ivf_open_lock = PTHREAD_MUTEX_INITIALIZER;

/* Open the handles in a txn of their own (committed, so they stay open):
 * 0, MDB_NOTFOUND (no index databases), or an MDB error. */
static int ivf_open(rdb_store *s, int create)
{
	int rc = 0;
	pthread_mutex_lock(&ivf_open_lock);
	if (s->ivf_open)
		goto out_unlock;
	/* Held shared like every txn's, so the map is not resized under this
	 * one (store_int.h; reader-preferring, so a caller inside a txn of its
	 * own cannot deadlock). */
	pthread_rwlock_rdlock(&s->maplock);
	MDB_txn *txn;
	rc = mdb_txn_begin(s->env, NULL, create ? 0 : MDB_RDONLY, &txn);
	if (rc == MDB_MAP_RESIZED && create) {
		/* Another process grew the map: adopt its size, alone (create is
		 * called outside any txn of this process; readers inside one have
		 * adopted it already when their txn began). */
		pthread_rwlock_unlock(&s->maplock);
		pthread_rwlock_wrlock(&s->maplock);
		mdb_env_set_mapsize(s->env, 0);
		pthread_rwlock_unlock(&s->maplock);
		pthread_rwlock_rdlock(&s->maplock);
		rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	}
	if (rc)
		goto out;
	unsigned fl = create ? MDB_CREATE : 0;
	if ((rc = mdb_dbi_open(txn, "ivf", fl, &s->ivf)) ||
	    (rc = mdb_dbi_open(txn, "ivflists", fl, &s->ivflists))) {
		mdb_txn_abort(txn);
		goto out;
	}
	if ((rc = mdb_txn_commit(txn)))
		goto out;
	s->ivf_open = 1;
out:
	pthread_rwlock_unlock(&s->maplock);
out_unlock:
	pthread_mutex_unlock(&ivf_open_lock);
	return rc;
}

ragdb_status rdb_ivf_prepare(rdb_store *s, rdb_err *err)
{
	if (s->flags & RDB_STORE_RDONLY)
		return rdb_err_set(err, RAGDB_EREADONLY, "%s was opened read-only; open it for writing "
		                   "to build an index", s->dir);
	int rc = ivf_open(s, 1);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "creating the IVF index databases");
	return RAGDB_OK;
}

uint32_t rdb_ivf_seg_cap(uint32_t dim, uint32_t block_cap)
{
	uint32_t cap = 16;
	while (cap * 2 <= block_cap && (size_t)cap * 2 * dim * 4 <= IVF_SEG_BYTES)
		cap *= 2;
	return cap;
}

/* Scores of @p v against the centroids, out[l] for l < nlist. Three paths
 * (AVX-512F, AVX2+FMA, scalar), one chosen per process from cpuid: a
 * vector appended and later deleted on the same machine get the same
 * scores, hence the same list (elsewhere the delete falls back to looking
 * in every list). Each path's score of a centroid does not depend on the
 * others (4 are scored per pass only to reuse the loads of v). */
typedef void (*ivf_scores_fn)(const float *cent, uint32_t nlist, uint32_t dim, const float *v,
                              float *out);

static void scores_scalar(const float *cent, uint32_t nlist, uint32_t dim, const float *v,
                          float *out)
{
	for (uint32_t l = 0; l < nlist; l++) {
		const float *c = cent + (size_t)l * dim;
		float acc[16] = { 0 };
		size_t i = 0;
		for (; i + 16 <= dim; i += 16)
			for (size_t j = 0; j < 16; j++)
				acc[j] += c[i + j] * v[i + j];
		float s = 0;
		for (; i < dim; i++)
			s += c[i] * v[i];
		for (size_t j = 0; j < 16; j++)
			s += acc[j];
		out[l] = s;
	}
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

__attribute__((target("avx512f"))) static void scores_avx512(const float *cent, uint32_t nlist,
                                                             uint32_t dim, const float *v,
                                                             float *out)
{
	uint32_t l = 0;
	size_t d16 = dim / 16 * 16;
	for (; l + 4 <= nlist; l += 4) {
		const float *c0 = cent + (size_t)l * dim, *c1 = c0 + dim, *c2 = c1 + dim, *c3 = c2 + dim;
		__m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
		for (size_t i = 0; i < d16; i += 16) {
			__m512 x = _mm512_loadu_ps(v + i);
			a0 = _mm512_fmadd_ps(_mm512_loadu_ps(c0 + i), x, a0);
			a1 = _mm512_fmadd_ps(_mm512_loadu_ps(c1 + i), x, a1);
			a2 = _mm512_fmadd_ps(_mm512_loadu_ps(c2 + i), x, a2);
			a3 = _mm512_fmadd_ps(_mm512_loadu_ps(c3 + i), x, a3);
		}
		float s0 = _mm512_reduce_add_ps(a0), s1 = _mm512_reduce_add_ps(a1);
		float s2 = _mm512_reduce_add_ps(a2), s3 = _mm512_reduce_add_ps(a3);
		for (size_t i = d16; i < dim; i++) {
			s0 += c0[i] * v[i];
			s1 += c1[i] * v[i];
			s2 += c2[i] * v[i];
			s3 += c3[i] * v[i];
		}
		out[l] = s0;
		out[l + 1] = s1;
		out[l + 2] = s2;
		out[l + 3] = s3;
	}
	for (; l < nlist; l++) {
		const float *c = cent + (size_t)l * dim;
		__m512 a = _mm512_setzero_ps();
		for (size_t i = 0; i < d16; i += 16)
			a = _mm512_fmadd_ps(_mm512_loadu_ps(c + i), _mm512_loadu_ps(v + i), a);
		float s = _mm512_reduce_add_ps(a);
		for (size_t i = d16; i < dim; i++)
			s += c[i] * v[i];
		out[l] = s;
	}
}

__attribute__((target("avx2,fma"))) static float hsum256(__m256 a)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"))) static void scores_avx2(const float *cent, uint32_t nlist,
                                                            uint32_t dim, const float *v,
                                                            float *out)
{
	size_t d8 = dim / 8 * 8;
	for (uint32_t l = 0; l < nlist; l++) {
		const float *c = cent + (size_t)l * dim;
		__m256 a = _mm256_setzero_ps();
		for (size_t i = 0; i < d8; i += 8)
			a = _mm256_fmadd_ps(_mm256_loadu_ps(c + i), _mm256_loadu_ps(v + i), a);
		float s = hsum256(a);
		for (size_t i = d8; i < dim; i++)
			s += c[i] * v[i];
		out[l] = s;
	}
}
#endif

static ivf_scores_fn g_scores = scores_scalar;
static pthread_once_t g_scores_once = PTHREAD_ONCE_INIT;

static void scores_choose(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f"))
		g_scores = scores_avx512;
	else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		g_scores = scores_avx2;
#endif
}

/* The list whose centroid has the largest inner product with @p v (ties:
 * the smaller list); @p sc holds nlist scores of scratch. */
static uint32_t nearest(const float *cent, uint32_t nlist, uint32_t dim, const float *v,
                        float *sc)
{
	pthread_once(&g_scores_once, scores_choose);
	g_scores(cent, nlist, dim, v, sc);
	uint32_t best = 0;
	float bs = -INFINITY;
	for (uint32_t l = 0; l < nlist; l++)
		if (sc[l] > bs) {
			bs = sc[l];
			best = l;
		}
	return best;
}

static void seg_key(uint8_t kb[8], uint32_t list, uint32_t seg)
{
	rdb_put_be32(kb, list);
	rdb_put_be32(kb + 4, seg);
}

static ragdb_status hdr_decode(const rdb_store *s, const MDB_val *v, rdb_ivf_info *o, rdb_err *err)
{
	const uint8_t *p = v->mv_data;
	if (v->mv_size != IVF_HDR_SIZE || rdb_ld32(p) != IVF_MAGIC)
		return rdb_corrupt(s, err, "the IVF index header is %zu bytes or has a bad magic; "
		                   "drop the index (`ragdb index drop`) and build it again", v->mv_size);
	if (rdb_ld32(p + 4) != IVF_VERSION)
		return rdb_corrupt(s, err, "the IVF index has version %u; this build reads %u: drop "
		                   "it and build it again", rdb_ld32(p + 4), IVF_VERSION);
	memset(o, 0, sizeof *o);
	o->nlist = rdb_ld32(p + 8);
	o->dim = rdb_ld32(p + 12);
	o->nprobe = rdb_ld32(p + 16);
	o->seg_cap = rdb_ld32(p + 20);
	o->built = rdb_ld64(p + 24);
	o->added = rdb_ld64(p + 32);
	o->live = rdb_ld64(p + 40);
	o->dead = rdb_ld64(p + 48);
	o->sample = rdb_ld32(p + 56);
	o->iters = rdb_ld32(p + 60);
	memcpy(&o->recall_target, p + 64, 4);
	memcpy(&o->recall, p + 68, 4);
	o->created = (int64_t)rdb_ld64(p + 72);
	memcpy(&o->build_seconds, p + 80, 8);
	if (o->nlist == 0 || o->dim != s->m.dim || o->seg_cap == 0 || o->nprobe == 0 ||
	    o->nprobe > o->nlist)
		return rdb_corrupt(s, err, "the IVF index header is invalid (nlist %u, dim %u of %u, "
		                   "segment capacity %u, nprobe %u); drop the index and build it again",
		                   o->nlist, o->dim, s->m.dim, o->seg_cap, o->nprobe);
	return RAGDB_OK;
}

static void hdr_encode(const rdb_ivf_info *o, uint8_t *p)
{
	memset(p, 0, IVF_HDR_SIZE);
	rdb_st32(p, IVF_MAGIC);
	rdb_st32(p + 4, IVF_VERSION);
	rdb_st32(p + 8, o->nlist);
	rdb_st32(p + 12, o->dim);
	rdb_st32(p + 16, o->nprobe);
	rdb_st32(p + 20, o->seg_cap);
	rdb_st64(p + 24, o->built);
	rdb_st64(p + 32, o->added);
	rdb_st64(p + 40, o->live);
	rdb_st64(p + 48, o->dead);
	rdb_st32(p + 56, o->sample);
	rdb_st32(p + 60, o->iters);
	memcpy(p + 64, &o->recall_target, 4);
	memcpy(p + 68, &o->recall, 4);
	rdb_st64(p + 72, (uint64_t)o->created);
	memcpy(p + 80, &o->build_seconds, 8);
}

/* Read the header: RAGDB_ENOTFOUND when there is no index. */
static ragdb_status hdr_read(rdb_txn *t, rdb_ivf_info *o, rdb_err *err)
{
	rdb_store *s = t->s;
	int rc = s->ivf_open ? 0 : ivf_open(s, 0);
	if (rc == MDB_NOTFOUND)
		return rdb_err_set(err, RAGDB_ENOTFOUND, "%s has no IVF index; build one with `ragdb "
		                   "index build --ivf NLIST`", s->dir);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "opening the IVF index");
	MDB_val k = { 1, "h" }, v;
	rc = mdb_get(t->txn, s->ivf, &k, &v);
	if (rc == MDB_NOTFOUND)
		return rdb_err_set(err, RAGDB_ENOTFOUND, "%s has no IVF index; build one with `ragdb "
		                   "index build --ivf NLIST`", s->dir);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "reading the IVF index header");
	return hdr_decode(s, &v, o, err);
}

ragdb_status rdb_ivf_info_get(rdb_txn *t, rdb_ivf_info *out, rdb_err *err)
{
	/* In a write txn the counters of pending changes count too. */
	if (t->ivf && t->ivf->state == 2) {
		*out = t->ivf->info;
		return RAGDB_OK;
	}
	return hdr_read(t, out, err);
}

ragdb_status rdb_ivf_centroids(rdb_txn *t, const float **out, rdb_err *err)
{
	rdb_store *s = t->s;
	rdb_ivf_info info = {0};
	ragdb_status st = hdr_read(t, &info, err);
	if (st)
		return st;
	MDB_val k = { 1, "c" }, v;
	int rc = mdb_get(t->txn, s->ivf, &k, &v);
	if (rc == MDB_NOTFOUND)
		return rdb_corrupt(s, err, "the IVF index has a header but no centroids; drop it and "
		                   "build it again");
	if (rc)
		return rdb_mdb_fail(s, rc, err, "reading the IVF centroids");
	if (v.mv_size != (size_t)info.nlist * info.dim * 4)
		return rdb_corrupt(s, err, "the IVF centroids are %zu bytes; %u x %u need %zu", v.mv_size,
		                   info.nlist, info.dim, (size_t)info.nlist * info.dim * 4);
	const void *p = v.mv_data;
	if ((uintptr_t)p % 4) {
		void *c = malloc(v.mv_size);
		if (!c)
			return rdb_err_set(err, RAGDB_ENOMEM, "out of memory copying the IVF centroids");
		memcpy(c, p, v.mv_size);
		if ((st = rdb_txn_keep(t, c, err))) {
			free(c);
			return st;
		}
		p = c;
	}
	*out = p;
	return RAGDB_OK;
}

/* Validate a segment value; fills count and live. */
static ragdb_status seg_parse(const rdb_store *s, uint32_t list, uint32_t seg, uint32_t seg_cap,
                              const MDB_val *v, uint32_t *count, uint32_t *live, rdb_err *err)
{
	const uint8_t *p = v->mv_data;
	if (v->mv_size < RDB_BLOCK_HDR || rdb_ld32(p) != SEG_MAGIC || rdb_ld32(p + 8) != s->m.dim)
		return rdb_corrupt(s, err, "IVF list %u segment %u has a bad header; drop the index "
		                   "and build it again", list, seg);
	uint32_t n = rdb_ld32(p + 4), lv = rdb_ld32(p + 12);
	if ((seg_cap && n > seg_cap) || lv > n || v->mv_size != rdb_block_size(n, s->m.dim))
		return rdb_corrupt(s, err, "IVF list %u segment %u holds %u vectors (%u live) in %zu "
		                   "bytes; drop the index and build it again", list, seg, n, lv,
		                   v->mv_size);
	*count = n;
	*live = lv;
	return RAGDB_OK;
}

/* Write one segment of n entries (ids, vectors as rows or pointers). */
static ragdb_status seg_put(rdb_txn *t, uint32_t list, uint32_t seg, const uint64_t *ids,
                            const float *rows, const float *const *ptrs, uint32_t n,
                            uint32_t live, rdb_err *err)
{
	rdb_store *s = t->s;
	size_t dim = s->m.dim;
	uint8_t kb[8];
	seg_key(kb, list, seg);
	MDB_val k = { 8, kb }, v = { rdb_block_size(n, s->m.dim), NULL };
	int rc = mdb_put(t->txn, s->ivflists, &k, &v, MDB_RESERVE);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "writing an IVF list segment");
	uint8_t *p = v.mv_data;
	size_t off = rdb_block_vecs_off(n);
	memset(p, 0, off);
	rdb_st32(p, SEG_MAGIC);
	rdb_st32(p + 4, n);
	rdb_st32(p + 8, s->m.dim);
	rdb_st32(p + 12, live);
	memcpy(p + RDB_BLOCK_HDR, ids, (size_t)n * 8);
	if (rows)
		memcpy(p + off, rows, (size_t)n * dim * 4);
	else
		for (uint32_t i = 0; i < n; i++)
			memcpy(p + off + (size_t)i * dim * 4, ptrs[i], dim * 4);
	return RAGDB_OK;
}

ragdb_status rdb_ivf_list_views(rdb_txn *t, uint32_t list, rdb_block_view **views, size_t *n,
                                size_t *cap, rdb_err *err)
{
	rdb_store *s = t->s;
	ragdb_status st;
	if (t->write && (st = rdb_ivf_flush(t, err)))
		return st;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(t->txn, s->ivflists, &cur);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "opening a cursor on the IVF lists");
	uint8_t kb[8];
	seg_key(kb, list, 0);
	MDB_val k = { 8, kb }, v;
	st = RAGDB_OK;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8) {
			st = rdb_corrupt(s, err, "an IVF list key is %zu bytes, expected 8", k.mv_size);
			goto out_close;
		}
		if (rdb_get_be32(k.mv_data) != list)
			break;
		uint32_t seg = rdb_get_be32((const uint8_t *)k.mv_data + 4), count = 0, live = 0;
		if ((st = seg_parse(s, list, seg, 0, &v, &count, &live, err)))
			goto out_close;
		const uint8_t *p = v.mv_data;
		if ((uintptr_t)p % 8) {
			void *c = aligned_alloc(64, (v.mv_size + 63) & ~(size_t)63);
			if (!c) {
				st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory copying an IVF segment");
				goto out_close;
			}
			memcpy(c, p, v.mv_size);
			if ((st = rdb_txn_keep(t, c, err))) {
				free(c);
				goto out_close;
			}
			p = c;
		}
		if (*n == *cap) {
			size_t nc = *cap ? *cap * 2 : 64;
			rdb_block_view *nv = realloc(*views, nc * sizeof *nv);
			if (!nv) {
				st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory listing IVF segments");
				goto out_close;
			}
			*views = nv;
			*cap = nc;
		}
		(*views)[*n] = (rdb_block_view){ seg, count, (const uint64_t *)(const void *)(p + RDB_BLOCK_HDR),
		                                 (const float *)(const void *)(p + rdb_block_vecs_off(count)) };
		(*n)++;
	}
	if (rc && rc != MDB_NOTFOUND)
		st = rdb_mdb_fail(s, rc, err, "reading the IVF lists");
out_close:
	mdb_cursor_close(cur);
	return st;
}

ragdb_status rdb_ivf_list_sizes(rdb_txn *t, uint32_t nlist, uint64_t *sizes, uint64_t *bytes,
                                rdb_err *err)
{
	rdb_store *s = t->s;
	ragdb_status st;
	if (t->write && (st = rdb_ivf_flush(t, err)))
		return st;
	memset(sizes, 0, (size_t)nlist * sizeof *sizes);
	uint64_t b = 0;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(t->txn, s->ivflists, &cur);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "opening a cursor on the IVF lists");
	MDB_val k, v;
	st = RAGDB_OK;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8) {
			st = rdb_corrupt(s, err, "an IVF list key is %zu bytes, expected 8", k.mv_size);
			goto out_close;
		}
		uint32_t list = rdb_get_be32(k.mv_data), count = 0, live = 0;
		if ((st = seg_parse(s, list, rdb_get_be32((const uint8_t *)k.mv_data + 4), 0, &v, &count,
		                    &live, err)))
			goto out_close;
		if (list < nlist)
			sizes[list] += live;
		b += v.mv_size;
	}
	if (rc != MDB_NOTFOUND)
		st = rdb_mdb_fail(s, rc, err, "reading the IVF lists");
	else
		*bytes = b + IVF_HDR_SIZE + (uint64_t)nlist * s->m.dim * 4;
out_close:
	mdb_cursor_close(cur);
	return st;
}

/* ------------------------------------------------------------------ */
/* building */

static void xt_reset(rdb_ivf_txn *x)
{
	free(x->cent);
	free(x->sc);
	free(x->plist);
	free(x->pid);
	free(x->pvec);
	memset(x, 0, sizeof *x);
}

void rdb_ivf_txn_free(rdb_ivf_txn *x)
{
	if (!x)
		return;
	xt_reset(x);
	free(x);
}

ragdb_status rdb_ivf_drop(rdb_txn *t, rdb_err *err)
{
	rdb_store *s = t->s;
	int rc = s->ivf_open ? 0 : ivf_open(s, 0);
	if (t->ivf)
		xt_reset(t->ivf); /* pending appends belong to the dropped index */
	if (rc == MDB_NOTFOUND)
		return RAGDB_OK;
	if (rc)
		return rdb_mdb_fail(s, rc, err, "opening the IVF index");
	if ((rc = mdb_drop(t->txn, s->ivf, 0)) || (rc = mdb_drop(t->txn, s->ivflists, 0)))
		return rdb_mdb_fail(s, rc, err, "dropping the IVF index");
	return RAGDB_OK;
}

ragdb_status rdb_ivf_write_list(rdb_txn *t, uint32_t list, uint32_t seg_cap, const uint64_t *ids,
                                const float *const *vecs, size_t n, rdb_err *err)
{
	if (!t->s->ivf_open)
		return rdb_err_set(err, RAGDB_EINVAL, "rdb_ivf_write_list before rdb_ivf_prepare");
	ragdb_status st;
	for (size_t i = 0, seg = 0; i < n; i += seg_cap, seg++) {
		uint32_t m = (uint32_t)(n - i < seg_cap ? n - i : seg_cap);
		if ((st = seg_put(t, list, (uint32_t)seg, ids + i, NULL, vecs + i, m, m, err)))
			return st;
	}
	return RAGDB_OK;
}

ragdb_status rdb_ivf_write_header(rdb_txn *t, const rdb_ivf_info *info, const float *centroids,
                                  rdb_err *err)
{
	rdb_store *s = t->s;
	if (!s->ivf_open)
		return rdb_err_set(err, RAGDB_EINVAL, "rdb_ivf_write_header before rdb_ivf_prepare");
	uint8_t h[IVF_HDR_SIZE];
	hdr_encode(info, h);
	MDB_val hk = { 1, "h" }, hv = { IVF_HDR_SIZE, h };
	MDB_val ck = { 1, "c" }, cv = { (size_t)info->nlist * info->dim * 4, NULL };
	int rc = mdb_put(t->txn, s->ivf, &hk, &hv, 0);
	if (!rc && !(rc = mdb_put(t->txn, s->ivf, &ck, &cv, MDB_RESERVE)))
		memcpy(cv.mv_data, centroids, cv.mv_size);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "writing the IVF index header");
	if (t->ivf)
		xt_reset(t->ivf); /* reload from what was just written */
	return RAGDB_OK;
}

/* ------------------------------------------------------------------ */
/* appends and tombstones in a write txn (I4) */

/* Load this txn's view of the index: state 1 (none) or 2. */
static ragdb_status xt_load(rdb_txn *t, rdb_ivf_txn **out, rdb_err *err)
{
	if (!t->ivf && !(t->ivf = calloc(1, sizeof *t->ivf)))
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory");
	rdb_ivf_txn *x = t->ivf;
	*out = x;
	if (x->state)
		return RAGDB_OK;
	rdb_err e2 = { 0 };
	ragdb_status st = hdr_read(t, &x->info, &e2);
	if (st == RAGDB_ENOTFOUND) {
		x->state = 1;
		return RAGDB_OK;
	}
	if (st)
		return rdb_err_set(err, st, "%s", e2.msg);
	const float *c;
	if ((st = rdb_ivf_centroids(t, &c, err)))
		return st;
	size_t bytes = (size_t)x->info.nlist * x->info.dim * 4;
	x->cent = malloc(bytes);
	x->sc = malloc((size_t)x->info.nlist * sizeof *x->sc);
	if (!x->cent || !x->sc) {
		free(x->cent);
		free(x->sc);
		x->cent = x->sc = NULL;
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory for the IVF centroids");
	}
	memcpy(x->cent, c, bytes);
	x->state = 2;
	return RAGDB_OK;
}

ragdb_status rdb_ivf_on_append(rdb_txn *t, uint64_t id, const float *vec, rdb_err *err)
{
	rdb_ivf_txn *x;
	ragdb_status st = xt_load(t, &x, err);
	if (st || x->state != 2)
		return st;
	size_t dim = x->info.dim;
	if (x->n == IVF_PENDING_MAX && (st = rdb_ivf_flush(t, err)))
		return st;
	if (x->n == x->cap) {
		size_t nc = x->cap ? x->cap * 2 : 64;
		uint32_t *pl = realloc(x->plist, nc * sizeof *pl);
		if (pl)
			x->plist = pl;
		uint64_t *pi = realloc(x->pid, nc * sizeof *pi);
		if (pi)
			x->pid = pi;
		float *pv = realloc(x->pvec, nc * dim * sizeof *pv);
		if (pv)
			x->pvec = pv;
		if (!pl || !pi || !pv)
			return rdb_err_set(err, RAGDB_ENOMEM, "out of memory for IVF list appends");
		x->cap = nc;
	}
	x->plist[x->n] = nearest(x->cent, x->info.nlist, x->info.dim, vec, x->sc);
	x->pid[x->n] = id;
	memcpy(x->pvec + x->n * dim, vec, dim * 4);
	x->n++;
	x->info.added++;
	x->info.live++;
	x->hdr_dirty = 1;
	return RAGDB_OK;
}

/* Tombstone @p id in list @p list: 1 found, 0 not there, <0 error (err). */
static int kill_in_list(rdb_txn *t, uint32_t list, uint64_t id, rdb_err *err)
{
	rdb_store *s = t->s;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(t->txn, s->ivflists, &cur), found = 0;
	if (rc) {
		rdb_mdb_fail(s, rc, err, "opening a cursor on the IVF lists");
		return -1;
	}
	uint8_t kb[8];
	seg_key(kb, list, 0);
	MDB_val k = { 8, kb }, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && !found;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8 || rdb_get_be32(k.mv_data) != list)
			break;
		uint32_t seg = rdb_get_be32((const uint8_t *)k.mv_data + 4), count = 0, live = 0;
		if (seg_parse(s, list, seg, 0, &v, &count, &live, err)) {
			found = -1;
			break;
		}
		const uint8_t *p = v.mv_data;
		uint32_t i;
		for (i = 0; i < count; i++)
			if (rdb_ld64(p + RDB_BLOCK_HDR + (size_t)i * 8) == id)
				break;
		if (i == count)
			continue;
		/* Copy, patch, put back at the same size (as blocks.c does). Not in
		 * t->scratch: rdb_slots_kill holds the block it patches there. */
		uint8_t *q = malloc(v.mv_size);
		if (!q) {
			rdb_err_set(err, RAGDB_ENOMEM, "out of memory tombstoning an IVF entry");
			found = -1;
			break;
		}
		memcpy(q, p, v.mv_size);
		rdb_st64(q + RDB_BLOCK_HDR + (size_t)i * 8, 0);
		rdb_st32(q + 12, live - 1);
		MDB_val nk = { 8, kb }, nv = { v.mv_size, q };
		uint8_t kb2[8];
		seg_key(kb2, list, seg);
		nk.mv_data = kb2;
		mdb_cursor_close(cur);
		cur = NULL;
		rc = mdb_put(t->txn, s->ivflists, &nk, &nv, 0);
		free(q);
		if (rc) {
			rdb_mdb_fail(s, rc, err, "tombstoning an IVF list entry");
			return -1;
		}
		return 1;
	}
	if (rc && rc != MDB_NOTFOUND && found == 0) {
		rdb_mdb_fail(s, rc, err, "reading the IVF lists");
		found = -1;
	}
	if (cur)
		mdb_cursor_close(cur);
	return found;
}

ragdb_status rdb_ivf_on_kill(rdb_txn *t, uint64_t id, const float *vec, rdb_err *err)
{
	rdb_ivf_txn *x;
	ragdb_status st = xt_load(t, &x, err);
	if (st || x->state != 2)
		return st;
	size_t dim = x->info.dim;
	for (size_t i = 0; i < x->n; i++) {
		if (x->pid[i] != id)
			continue;
		/* Appended in this txn: it never reaches the list. */
		x->n--;
		x->plist[i] = x->plist[x->n];
		x->pid[i] = x->pid[x->n];
		memmove(x->pvec + i * dim, x->pvec + x->n * dim, dim * 4);
		x->info.added--;
		x->info.live--;
		x->hdr_dirty = 1;
		return RAGDB_OK;
	}
	/* The slot's vector was copied by the caller: list writes may move pages. */
	uint32_t l0 = nearest(x->cent, x->info.nlist, x->info.dim, vec, x->sc);
	int r = kill_in_list(t, l0, id, err);
	for (uint32_t l = 0; r == 0 && l < x->info.nlist; l++)
		if (l != l0)
			r = kill_in_list(t, l, id, err);
	if (r < 0)
		return err ? err->status : RAGDB_EIO;
	if (r == 0)
		return rdb_corrupt(t->s, err, "vector %llu is in no IVF list; drop the index (`ragdb "
		                   "index drop`) and build it again", (unsigned long long)id);
	x->info.live--;
	x->info.dead++;
	x->hdr_dirty = 1;
	return RAGDB_OK;
}

static int pending_cmp(const void *a, const void *b, void *ctx)
{
	const uint32_t *l = ctx;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	if (l[x] != l[y])
		return l[x] < l[y] ? -1 : 1;
	return (x > y) - (x < y);
}

/* Append pending entries idx[0..m) (all of list @p list) to the list. */
static ragdb_status append_list(rdb_txn *t, rdb_ivf_txn *x, uint32_t list, const size_t *idx,
                                size_t m, uint64_t *ids, float *rows, rdb_err *err)
{
	rdb_store *s = t->s;
	size_t dim = x->info.dim, cap = x->info.seg_cap;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(t->txn, s->ivflists, &cur);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "opening a cursor on the IVF lists");
	uint8_t kb[8];
	MDB_val k = { 8, kb }, v;
	uint32_t seg = 0, count = 0, live = 0;
	int have = 0;
	ragdb_status st = RAGDB_OK;
	/* The list's last segment: the entry before the next list's first key. */
	if (list == UINT32_MAX)
		rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	else {
		seg_key(kb, list + 1, 0);
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		rc = rc == 0 ? mdb_cursor_get(cur, &k, &v, MDB_PREV)
		     : rc == MDB_NOTFOUND ? mdb_cursor_get(cur, &k, &v, MDB_LAST) : rc;
	}
	if (rc && rc != MDB_NOTFOUND) {
		st = rdb_mdb_fail(s, rc, err, "reading the IVF lists");
		goto out_close;
	}
	if (rc == 0 && k.mv_size == 8 && rdb_get_be32(k.mv_data) == list) {
		seg = rdb_get_be32((const uint8_t *)k.mv_data + 4);
		if ((st = seg_parse(s, list, seg, (uint32_t)cap, &v, &count, &live, err)))
			goto out_close;
		have = 1;
	}
	size_t used = 0;
	if (have && count < cap) {
		/* Old entries, then new ones up to the capacity, rewritten once. */
		const uint8_t *p = v.mv_data;
		memcpy(ids, p + RDB_BLOCK_HDR, (size_t)count * 8);
		memcpy(rows, p + rdb_block_vecs_off(count), (size_t)count * dim * 4);
		size_t take = cap - count < m ? cap - count : m;
		for (size_t i = 0; i < take; i++) {
			ids[count + i] = x->pid[idx[i]];
			memcpy(rows + (count + i) * dim, x->pvec + idx[i] * dim, dim * 4);
		}
		mdb_cursor_close(cur);
		cur = NULL;
		if ((st = seg_put(t, list, seg, ids, rows, NULL, (uint32_t)(count + take),
		                  (uint32_t)(live + take), err)))
			goto out_close;
		used = take;
	}
	if (have)
		seg++;
	while (used < m) {
		size_t take = m - used < cap ? m - used : cap;
		for (size_t i = 0; i < take; i++) {
			ids[i] = x->pid[idx[used + i]];
			memcpy(rows + i * dim, x->pvec + idx[used + i] * dim, dim * 4);
		}
		if ((st = seg_put(t, list, seg++, ids, rows, NULL, (uint32_t)take, (uint32_t)take, err)))
			goto out_close;
		used += take;
	}
out_close:
	if (cur)
		mdb_cursor_close(cur);
	return st;
}

ragdb_status rdb_ivf_flush(rdb_txn *t, rdb_err *err)
{
	rdb_ivf_txn *x = t->ivf;
	if (!x || x->state != 2 || !t->write)
		return RAGDB_OK;
	ragdb_status st = RAGDB_OK;
	size_t *idx = NULL;
	uint64_t *ids = NULL;
	float *rows = NULL;
	if (x->n) {
		size_t cap = x->info.seg_cap, dim = x->info.dim;
		idx = malloc(x->n * sizeof *idx);
		ids = malloc(cap * sizeof *ids);
		rows = malloc(cap * dim * sizeof *rows);
		if (!idx || !ids || !rows) {
			st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory writing IVF list appends");
			goto out_free;
		}
		for (size_t i = 0; i < x->n; i++)
			idx[i] = i;
		qsort_r(idx, x->n, sizeof *idx, pending_cmp, x->plist);
		for (size_t i = 0; i < x->n;) {
			size_t j = i;
			while (j < x->n && x->plist[idx[j]] == x->plist[idx[i]])
				j++;
			if ((st = append_list(t, x, x->plist[idx[i]], idx + i, j - i, ids, rows, err)))
				goto out_free;
			i = j;
		}
		x->n = 0;
	}
	if (x->hdr_dirty) {
		uint8_t h[IVF_HDR_SIZE];
		hdr_encode(&x->info, h);
		MDB_val hk = { 1, "h" }, hv = { IVF_HDR_SIZE, h };
		int rc = mdb_put(t->txn, t->s->ivf, &hk, &hv, 0);
		if (rc) {
			st = rdb_mdb_fail(t->s, rc, err, "writing the IVF index header");
			goto out_free;
		}
		x->hdr_dirty = 0;
	}
out_free:
	free(idx);
	free(ids);
	free(rows);
	return st;
}

/* Rewrite list @p list without its tombstones (when it has any). */
static ragdb_status compact_list(rdb_txn *t, rdb_ivf_txn *x, uint32_t list, rdb_err *err)
{
	rdb_store *s = t->s;
	size_t dim = x->info.dim;
	uint64_t *ids = NULL;
	float *vecs = NULL;
	size_t n = 0, cap = 0, nseg = 0, dead = 0;
	ragdb_status st = RAGDB_OK;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(t->txn, s->ivflists, &cur);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "opening a cursor on the IVF lists");
	uint8_t kb[8];
	seg_key(kb, list, 0);
	MDB_val k = { 8, kb }, v;
	/* Copy the live entries out first: the writes below move pages. */
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8 || rdb_get_be32(k.mv_data) != list)
			break;
		uint32_t count = 0, live = 0;
		if ((st = seg_parse(s, list, rdb_get_be32((const uint8_t *)k.mv_data + 4), 0, &v, &count,
		                    &live, err)))
			goto out;
		nseg++;
		dead += count - live;
		if (n + live > cap) {
			size_t nc = (n + live) * 2;
			uint64_t *ni = realloc(ids, nc * sizeof *ni);
			if (ni)
				ids = ni;
			float *nv = realloc(vecs, nc * dim * sizeof *nv);
			if (nv)
				vecs = nv;
			if (!ni || !nv) {
				st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory compacting IVF list %u", list);
				goto out;
			}
			cap = nc;
		}
		const uint8_t *p = v.mv_data;
		for (uint32_t i = 0; i < count; i++) {
			uint64_t id = rdb_ld64(p + RDB_BLOCK_HDR + (size_t)i * 8);
			if (!id)
				continue;
			ids[n] = id;
			memcpy(vecs + n * dim, p + rdb_block_vecs_off(count) + (size_t)i * dim * 4, dim * 4);
			n++;
		}
	}
	if (rc && rc != MDB_NOTFOUND) {
		st = rdb_mdb_fail(s, rc, err, "reading the IVF lists");
		goto out;
	}
	mdb_cursor_close(cur);
	cur = NULL;
	if (dead == 0)
		goto out;
	for (size_t sg = 0; sg < nseg; sg++) {
		uint8_t dk[8];
		seg_key(dk, list, (uint32_t)sg);
		MDB_val key = { 8, dk };
		if ((rc = mdb_del(t->txn, s->ivflists, &key, NULL))) {
			st = rdb_mdb_fail(s, rc, err, "compacting an IVF list");
			goto out;
		}
	}
	for (size_t i = 0, sg = 0; i < n; i += x->info.seg_cap, sg++) {
		size_t m = n - i < x->info.seg_cap ? n - i : x->info.seg_cap;
		if ((st = seg_put(t, list, (uint32_t)sg, ids + i, vecs + i * dim, NULL, (uint32_t)m,
		                  (uint32_t)m, err)))
			goto out;
	}
out:
	if (cur)
		mdb_cursor_close(cur);
	free(ids);
	free(vecs);
	return st;
}

ragdb_status rdb_ivf_compact(rdb_txn *t, rdb_err *err)
{
	rdb_ivf_txn *x;
	ragdb_status st = xt_load(t, &x, err);
	if (st || x->state != 2 || (st = rdb_ivf_flush(t, err)) || x->info.dead == 0)
		return st;
	for (uint32_t l = 0; l < x->info.nlist; l++)
		if ((st = compact_list(t, x, l, err)))
			return st;
	x->info.dead = 0;
	x->hdr_dirty = 1;
	return RAGDB_OK;
}

/* ------------------------------------------------------------------ */
/* check (I1-I3) */

typedef struct ent {
	uint64_t id;
	const float *v;
	uint32_t list;
} ent;

static int ent_cmp(const void *a, const void *b)
{
	const ent *x = a, *y = b;
	return (x->id > y->id) - (x->id < y->id);
}

static ragdb_status ent_push(ent **v, size_t *n, size_t *cap, ent e, rdb_err *err)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 1024;
		ent *nv = realloc(*v, nc * sizeof *nv);
		if (!nv)
			return rdb_err_set(err, RAGDB_ENOMEM, "out of memory checking the IVF index");
		*v = nv;
		*cap = nc;
	}
	(*v)[(*n)++] = e;
	return RAGDB_OK;
}

#define IVF_MAX_DETAILS 20

ragdb_status rdb_ivf_check(rdb_txn *t, void (*report)(void *ctx, const char *msg), void *rctx,
                           rdb_err *err)
{
	rdb_store *s = t->s;
	char msg[512];
	ragdb_status st;
	if (t->write && ((st = rdb_ivf_flush(t, err)) || (st = rdb_tail_flush(t, err))))
		return st;
	int rc = s->ivf_open ? 0 : ivf_open(s, 0);
	if (rc == MDB_NOTFOUND)
		return RAGDB_OK;
	if (rc)
		return rdb_mdb_fail(s, rc, err, "opening the IVF index");
	rdb_ivf_info info;
	rdb_err e2 = { 0 };
	st = hdr_read(t, &info, &e2);
	MDB_stat ms;
	if (st == RAGDB_ENOTFOUND) {
		if ((rc = mdb_stat(t->txn, s->ivflists, &ms)))
			return rdb_mdb_fail(s, rc, err, "counting the IVF list segments");
		if (ms.ms_entries) {
			snprintf(msg, sizeof msg, "IVF: %zu list segments exist without an index header "
			         "(I2)", (size_t)ms.ms_entries);
			report(rctx, msg);
		}
		return RAGDB_OK;
	}
	if (st == RAGDB_ECORRUPT) {
		report(rctx, e2.msg);
		return RAGDB_OK;
	}
	if (st)
		return rdb_err_set(err, st, "%s", e2.msg);
	const float *cent;
	if ((st = rdb_ivf_centroids(t, &cent, &e2))) {
		if (st != RAGDB_ECORRUPT)
			return rdb_err_set(err, st, "%s", e2.msg);
		report(rctx, e2.msg);
		return RAGDB_OK;
	}
	for (size_t i = 0; i < (size_t)info.nlist * info.dim; i++)
		if (!isfinite(cent[i])) {
			snprintf(msg, sizeof msg, "IVF: centroid %zu is not finite", i / info.dim);
			report(rctx, msg);
			break;
		}

	ent *a = NULL, *b = NULL;
	size_t na = 0, ca = 0, nb = 0, cb = 0;
	rdb_block_view *views = NULL;
	size_t nv = 0;
	uint64_t live = 0, dead = 0, details = 0;
	MDB_cursor *cur = NULL;
	/* The live vectors of the blocks. */
	if ((st = rdb_blocks_get(t, &views, &nv, err)))
		goto out_free;
	for (size_t i = 0; i < nv; i++)
		for (uint32_t j = 0; j < views[i].count; j++)
			if (views[i].ids[j] &&
			    (st = ent_push(&a, &na, &ca, (ent){ views[i].ids[j],
			                   views[i].vecs + (size_t)j * s->m.dim, 0 }, err)))
				goto out_free;
	/* The lists' entries. */
	if ((rc = mdb_cursor_open(t->txn, s->ivflists, &cur))) {
		st = rdb_mdb_fail(s, rc, err, "opening a cursor on the IVF lists");
		goto out_free;
	}
	MDB_val k, v;
	uint32_t prev_list = UINT32_MAX, next_seg = 0;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8) {
			report(rctx, "IVF: a list key is not 8 bytes (I2)");
			continue;
		}
		uint32_t list = rdb_get_be32(k.mv_data), seg = rdb_get_be32((const uint8_t *)k.mv_data + 4);
		if (list != prev_list)
			next_seg = 0;
		prev_list = list;
		if (list >= info.nlist) {
			snprintf(msg, sizeof msg, "IVF: list %u exists; the index has %u lists (I2)", list,
			         info.nlist);
			report(rctx, msg);
		}
		if (seg != next_seg) {
			snprintf(msg, sizeof msg, "IVF: list %u has segment %u where %u was expected (I2)",
			         list, seg, next_seg);
			report(rctx, msg);
		}
		next_seg = seg + 1;
		uint32_t count, hl;
		if (seg_parse(s, list, seg, info.seg_cap, &v, &count, &hl, &e2)) {
			report(rctx, e2.msg);
			continue;
		}
		const uint8_t *p = v.mv_data;
		uint32_t nl = 0;
		for (uint32_t i = 0; i < count; i++) {
			uint64_t id = rdb_ld64(p + RDB_BLOCK_HDR + (size_t)i * 8);
			if (!id) {
				dead++;
				continue;
			}
			nl++;
			/* Vectors are compared bytewise; v points into the map (values
			 * of a read txn do not move; in a write txn nothing writes). */
			if ((st = ent_push(&b, &nb, &cb, (ent){ id, (const float *)(const void *)
			                   (p + rdb_block_vecs_off(count) + (size_t)i * s->m.dim * 4), list },
			                   err)))
				goto out_free;
		}
		live += nl;
		if (nl != hl) {
			snprintf(msg, sizeof msg, "IVF: list %u segment %u says %u live entries; it holds "
			         "%u (I2)", list, seg, hl, nl);
			report(rctx, msg);
		}
	}
	if (rc != MDB_NOTFOUND) {
		st = rdb_mdb_fail(s, rc, err, "reading the IVF lists");
		goto out_free;
	}
	if (live != info.live || dead != info.dead) {
		snprintf(msg, sizeof msg, "IVF: the header counts %llu live and %llu dead entries; "
		         "the lists hold %llu and %llu (I3)", (unsigned long long)info.live,
		         (unsigned long long)info.dead, (unsigned long long)live,
		         (unsigned long long)dead);
		report(rctx, msg);
	}
	qsort(a, na, sizeof *a, ent_cmp);
	qsort(b, nb, sizeof *b, ent_cmp);
	uint64_t missing = 0, extra = 0, twice = 0, differ = 0;
	size_t i = 0, j = 0;
	while (i < na || j < nb) {
		if (j < nb && i < na && a[i].id == b[j].id) {
			if (memcmp(a[i].v, b[j].v, (size_t)s->m.dim * 4) != 0 && differ++ < IVF_MAX_DETAILS) {
				snprintf(msg, sizeof msg, "IVF: vector %llu in list %u differs from its block "
				         "(I1)", (unsigned long long)b[j].id, b[j].list);
				report(rctx, msg);
			}
			for (j++; j < nb && b[j].id == a[i].id; j++)
				if (twice++ < IVF_MAX_DETAILS) {
					snprintf(msg, sizeof msg, "IVF: vector %llu is live in lists %u and more "
					         "(I1)", (unsigned long long)a[i].id, b[j].list);
					report(rctx, msg);
				}
			i++;
		} else if (j >= nb || (i < na && a[i].id < b[j].id)) {
			if (missing++ < IVF_MAX_DETAILS && details++ < IVF_MAX_DETAILS) {
				snprintf(msg, sizeof msg, "IVF: live vector %llu is in no list (I1)",
				         (unsigned long long)a[i].id);
				report(rctx, msg);
			}
			i++;
		} else {
			if (extra++ < IVF_MAX_DETAILS) {
				snprintf(msg, sizeof msg, "IVF: list %u holds %llu, which is not a live vector "
				         "(I1)", b[j].list, (unsigned long long)b[j].id);
				report(rctx, msg);
			}
			j++;
		}
	}
	if (missing > IVF_MAX_DETAILS || extra > IVF_MAX_DETAILS) {
		snprintf(msg, sizeof msg, "IVF: %llu live vectors in no list, %llu list entries not "
		         "live in the blocks (I1)", (unsigned long long)missing,
		         (unsigned long long)extra);
		report(rctx, msg);
	}
	st = RAGDB_OK;
out_free:
	if (cur)
		mdb_cursor_close(cur);
	free(views);
	free(a);
	free(b);
	return st;
}
