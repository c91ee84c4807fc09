/*
 * index/ivf.c — storage of the IVF index (index/ivf.h has the layout and
 * invariants I1-I4): header and centroids, lists in segments (f32 copies or
 * the knowledge base's quantized codes), appends of new vectors to their
 * nearest list, tombstones, re-encoding on `ragdb quantize`, and the check.
 *
 * Codes are made by the quantized blocks' encoder (rdb_qencode_block), so a
 * list entry's code equals the code of the same vector in `qvectors` byte
 * for byte; old codes cannot be decoded, so re-encoding reads the f32
 * vectors from the blocks.
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
#define SEG_MAGIC 0x4c424452u  /* "RDBL": an f32 list segment */
#define QSEG_MAGIC 0x4b424452u /* "RDBK": a quantized list segment */
#define QSEG_HDR 24u
/* Version 1 (88-byte header) had f32 lists only; version 2 adds the lists'
 * encoding; version 3 adds which half of the keys holds the lists (ivf.h).
 * All are read; version 2 is written while the lists are in the lower half, so
 * builds before version 3 keep reading such an index, and 3 otherwise. */
#define IVF_VERSION 3u
#define IVF_HDR_SIZE_V1 88u
#define IVF_HDR_SIZE 96u
#define IVF_SEG_BYTES (256u << 10)
/* Pending appends per txn before they are written early (memory cap). */
#define IVF_PENDING_MAX 65536u

static const char *const g_kind_names[] = { "f32", "bf16", "int8", "binary" };

static const char *kind_name(uint32_t kind)
{
	return kind < 4 ? g_kind_names[kind] : "unknown";
}

/* Bytes of one entry's row: the f32 vector, or its code (the encodings of
 * engine/kernels/quant.h, as qblocks.c writes them). */
static size_t row_bytes(uint32_t kind, size_t dim)
{
	return kind == 1 ? dim * 2 : kind == 2 ? dim : kind == 3 ? (dim + 63) / 64 * 8 : dim * 4;
}

static size_t seg_ids_off(uint32_t kind)
{
	return kind ? QSEG_HDR : RDB_BLOCK_HDR;
}

static size_t seg_codes_off(uint32_t kind, uint32_t count)
{
	if (kind == 0)
		return rdb_block_vecs_off(count);
	size_t h = QSEG_HDR + (size_t)count * 8 + (kind == 2 ? (size_t)count * 4 : 0);
	return (h + 63) & ~(size_t)63;
}

static size_t seg_size(uint32_t kind, uint32_t count, uint32_t dim)
{
	return seg_codes_off(kind, count) + (size_t)count * row_bytes(kind, dim);
}

/* A parsed segment: raw pointers into its value (ids may be unaligned).
 * Callers zero it first: GCC -O3 cannot see that seg_parse sets it on
 * success and warns (-Wmaybe-uninitialized) otherwise. */
typedef struct segp {
	uint32_t count, live;
	const uint8_t *ids, *scales, *codes; /* scales: int8 only */
} segp;

/* Entries being assembled into segments: ids, int8 scales, rows (f32
 * bytes or codes), cap entries each; tmp encodes up to cap f32 rows. */
typedef struct ebuf {
	uint32_t kind;
	size_t dim, rb, cap;
	uint64_t *ids;
	float *scales;
	uint8_t *rows;
	uint8_t *tmp;
} ebuf;

static void ebuf_free(ebuf *b)
{
	free(b->ids);
	free(b->scales);
	free(b->rows);
	free(b->tmp);
	memset(b, 0, sizeof *b);
}

/* (Re)size @p b to hold @p cap entries of @p kind (contents kept). */
static ragdb_status ebuf_reserve(ebuf *b, uint32_t kind, size_t dim, size_t cap, rdb_err *err)
{
	b->kind = kind;
	b->dim = dim;
	b->rb = row_bytes(kind, dim);
	if (cap <= b->cap)
		return RAGDB_OK;
	if (cap > SIZE_MAX / (b->rb + 16) / 2)
		return rdb_err_set(err, RAGDB_ENOMEM, "an IVF list of %zu entries is too large", cap);
	uint64_t *ni = realloc(b->ids, cap * sizeof *ni);
	if (ni)
		b->ids = ni;
	float *ns = realloc(b->scales, cap * sizeof *ns);
	if (ns)
		b->scales = ns;
	uint8_t *nr = realloc(b->rows, cap * b->rb);
	if (nr)
		b->rows = nr;
	if (!ni || !ns || !nr)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory for %zu IVF list entries", cap);
	b->cap = cap;
	return RAGDB_OK;
}

/* Entry @p i of segment @p sp into slot @p at of @p b. */
static void ebuf_copy(ebuf *b, size_t at, const segp *sp, uint32_t i, uint64_t id)
{
	b->ids[at] = id;
	if (b->kind == 2)
		memcpy(&b->scales[at], sp->scales + (size_t)i * 4, 4);
	memcpy(b->rows + at * b->rb, sp->codes + (size_t)i * b->rb, b->rb);
}

/* Encode @p n f32 rows (contiguous, 4-byte aligned) into slots at.. of @p b:
 * copies for f32, else the block encoder (rdb_qencode_block), so the codes
 * equal the quantized blocks' byte for byte. n <= IVF_ENC_ROWS per call. */
#define IVF_ENC_ROWS 256u
static ragdb_status ebuf_encode(ebuf *b, size_t at, const float *rows, size_t n, rdb_err *err)
{
	if (b->kind == 0) {
		memcpy(b->rows + at * b->rb, rows, n * b->rb);
		return RAGDB_OK;
	}
	if (!b->tmp && !(b->tmp = malloc(rdb_qblock_size(b->kind, IVF_ENC_ROWS, (uint32_t)b->dim))))
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory encoding IVF list entries");
	for (size_t i = 0; i < n; i += IVF_ENC_ROWS) {
		uint32_t m = (uint32_t)(n - i < IVF_ENC_ROWS ? n - i : IVF_ENC_ROWS);
		rdb_qencode_block(b->kind, rows + i * b->dim, m, (uint32_t)b->dim, b->tmp);
		size_t sz = rdb_qblock_size(b->kind, m, (uint32_t)b->dim);
		if (b->kind == 2)
			memcpy(b->scales + at + i, b->tmp + RDB_BLOCK_HDR, (size_t)m * 4);
		memcpy(b->rows + (at + i) * b->rb, b->tmp + sz - (size_t)m * b->rb, (size_t)m * b->rb);
	}
	return RAGDB_OK;
}

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

/* The two halves of the list keys (ivf.h): an index's lists are keyed
 * base + list, base 0 or IVF_HALF (rdb_ivf_info.lists 0 or 1). */
#define IVF_HALF 0x80000000u

static uint32_t lists_base(uint32_t which)
{
	return which ? IVF_HALF : 0;
}

static void seg_key(uint8_t kb[8], uint32_t list, uint32_t seg)
{
	rdb_put_be32(kb, list);
	rdb_put_be32(kb + 4, seg);
}

static ragdb_status hdr_decode(const rdb_store *s, const MDB_val *v, rdb_ivf_info *o, rdb_err *err)
{
	const uint8_t *p = v->mv_data;
	if (v->mv_size < 8 || rdb_ld32(p) != IVF_MAGIC)
		return rdb_corrupt(s, err, "the IVF index header is %zu bytes or has a bad magic; "
		                   "drop the index (`ragdb index drop`) and build it again", v->mv_size);
	uint32_t ver = rdb_ld32(p + 4);
	if (ver < 1 || ver > IVF_VERSION ||
	    v->mv_size != (ver == 1 ? IVF_HDR_SIZE_V1 : IVF_HDR_SIZE))
		return rdb_corrupt(s, err, "the IVF index has version %u (%zu bytes); this build "
		                   "reads 1 to %u: rebuild with `ragdb index build`", ver, v->mv_size,
		                   IVF_VERSION);
	memset(o, 0, sizeof *o);
	o->qkind = ver == 1 ? 0 : rdb_ld32(p + 88); /* version 1: f32 lists */
	o->lists = ver < 3 ? 0 : rdb_ld32(p + 92);
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
	    o->nprobe > o->nlist || o->qkind > 3 || o->lists > 1)
		return rdb_corrupt(s, err, "the IVF index header is invalid (nlist %u, dim %u of %u, "
		                   "segment capacity %u, nprobe %u, list encoding %u, lists half "
		                   "%u); rebuild with `ragdb index build`", o->nlist, o->dim, s->m.dim,
		                   o->seg_cap, o->nprobe, o->qkind, o->lists);
	return RAGDB_OK;
}

static void hdr_encode(const rdb_ivf_info *o, uint8_t *p)
{
	memset(p, 0, IVF_HDR_SIZE);
	rdb_st32(p, IVF_MAGIC);
	rdb_st32(p + 4, o->lists ? 3 : 2);
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
	rdb_st32(p + 88, o->qkind);
	rdb_st32(p + 92, o->lists);
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

/* Validate a segment value of an index whose lists hold @p kind entries
 * (an f32 segment in a quantized index, or a segment of another kind, is
 * corruption: never read codes as something else); fills @p sp. */
static ragdb_status seg_parse(const rdb_store *s, uint32_t list, uint32_t seg, uint32_t seg_cap,
                              uint32_t kind, const MDB_val *v, segp *sp, rdb_err *err)
{
	const uint8_t *p = v->mv_data;
	uint32_t magic = v->mv_size >= RDB_BLOCK_HDR ? rdb_ld32(p) : 0;
	uint32_t sk = magic == SEG_MAGIC ? 0
	              : magic == QSEG_MAGIC && v->mv_size >= QSEG_HDR ? rdb_ld32(p + 16) : UINT32_MAX;
	if (sk == UINT32_MAX || rdb_ld32(p + 8) != s->m.dim)
		return rdb_corrupt(s, err, "IVF list %u segment %u has a bad header; rebuild with "
		                   "`ragdb index build`", list, seg);
	if (sk != kind)
		return rdb_corrupt(s, err, "IVF list %u segment %u holds %s entries but the index "
		                   "header says %s; rebuild with `ragdb index build`", list, seg,
		                   kind_name(sk), kind_name(kind));
	uint32_t n = rdb_ld32(p + 4), lv = rdb_ld32(p + 12);
	if ((seg_cap && n > seg_cap) || lv > n || v->mv_size != seg_size(kind, n, s->m.dim))
		return rdb_corrupt(s, err, "IVF list %u segment %u holds %u vectors (%u live) in %zu "
		                   "bytes; rebuild with `ragdb index build`", list, seg, n, lv,
		                   v->mv_size);
	sp->count = n;
	sp->live = lv;
	sp->ids = p + seg_ids_off(kind);
	sp->scales = kind == 2 ? p + QSEG_HDR + (size_t)n * 8 : NULL;
	sp->codes = p + seg_codes_off(kind, n);
	return RAGDB_OK;
}

/* Write one segment of entries 0..n of @p b (live of them not tombstoned). */
static ragdb_status seg_put(rdb_txn *t, uint32_t base, uint32_t list, uint32_t seg,
                            const ebuf *b, uint32_t n, uint32_t live, rdb_err *err)
{
	rdb_store *s = t->s;
	uint8_t kb[8];
	seg_key(kb, base + list, seg);
	MDB_val k = { 8, kb }, v = { seg_size(b->kind, n, s->m.dim), NULL };
	int rc = mdb_put(t->txn, s->ivflists, &k, &v, MDB_RESERVE);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "writing an IVF list segment");
	uint8_t *p = v.mv_data;
	size_t off = seg_codes_off(b->kind, n);
	memset(p, 0, off);
	rdb_st32(p, b->kind ? QSEG_MAGIC : SEG_MAGIC);
	rdb_st32(p + 4, n);
	rdb_st32(p + 8, s->m.dim);
	rdb_st32(p + 12, live);
	if (b->kind)
		rdb_st32(p + 16, b->kind);
	memcpy(p + seg_ids_off(b->kind), b->ids, (size_t)n * 8);
	if (b->kind == 2)
		memcpy(p + QSEG_HDR + (size_t)n * 8, b->scales, (size_t)n * 4);
	memcpy(p + off, b->rows, (size_t)n * b->rb);
	return RAGDB_OK;
}

ragdb_status rdb_ivf_list_views(rdb_txn *t, const rdb_ivf_info *ix, uint32_t list,
                                rdb_ivf_view **views, size_t *n, size_t *cap, rdb_err *err)
{
	rdb_store *s = t->s;
	uint32_t kind = ix->qkind;
	ragdb_status st;
	if (t->write && (st = rdb_ivf_flush(t, err)))
		return st;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(t->txn, s->ivflists, &cur);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "opening a cursor on the IVF lists");
	uint32_t key = lists_base(ix->lists) + list;
	uint8_t kb[8];
	seg_key(kb, key, 0);
	MDB_val k = { 8, kb }, v;
	st = RAGDB_OK;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8) {
			st = rdb_corrupt(s, err, "an IVF list key is %zu bytes, expected 8", k.mv_size);
			goto out_close;
		}
		if (rdb_get_be32(k.mv_data) != key)
			break;
		uint32_t seg = rdb_get_be32((const uint8_t *)k.mv_data + 4);
		segp sp = {0};
		if ((st = seg_parse(s, list, seg, 0, kind, &v, &sp, err)))
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
			rdb_ivf_view *nv = realloc(*views, nc * sizeof *nv);
			if (!nv) {
				st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory listing IVF segments");
				goto out_close;
			}
			*views = nv;
			*cap = nc;
		}
		/* The same offsets in the copy (sp points into the value). */
		const uint8_t *v0 = v.mv_data;
		(*views)[*n] = (rdb_ivf_view){
			seg, sp.count, (const uint64_t *)(const void *)(p + (sp.ids - v0)),
			p + (sp.codes - v0),
			sp.scales ? (const float *)(const void *)(p + (sp.scales - v0)) : NULL };
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
	rdb_ivf_info info;
	if ((t->write && (st = rdb_ivf_flush(t, err))) || (st = hdr_read(t, &info, err)))
		return st;
	uint32_t kind = info.qkind;
	memset(sizes, 0, (size_t)nlist * sizeof *sizes);
	uint64_t b = 0;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(t->txn, s->ivflists, &cur);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "opening a cursor on the IVF lists");
	uint32_t base = lists_base(info.lists);
	uint8_t kb[8];
	seg_key(kb, base, 0);
	MDB_val k = { 8, kb }, v;
	st = RAGDB_OK;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8) {
			st = rdb_corrupt(s, err, "an IVF list key is %zu bytes, expected 8", k.mv_size);
			goto out_close;
		}
		uint32_t list = rdb_get_be32(k.mv_data);
		if ((list & IVF_HALF) != base) {
			rc = MDB_NOTFOUND; /* the other half: not this index */
			break;
		}
		list -= base;
		segp sp = {0};
		if ((st = seg_parse(s, list, rdb_get_be32((const uint8_t *)k.mv_data + 4), 0, kind, &v,
		                    &sp, err)))
			goto out_close;
		if (list < nlist)
			sizes[list] += sp.live;
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

/* Walk the segments of half @p which, adding their bytes to *bytes (when
 * not NULL) and, with @p del, deleting them. 0 or an MDB error. */
static int half_walk(rdb_txn *t, uint32_t which, int del, uint64_t *bytes)
{
	uint32_t base = lists_base(which);
	MDB_cursor *cur;
	int rc = mdb_cursor_open(t->txn, t->s->ivflists, &cur);
	if (rc)
		return rc;
	uint8_t kb[8];
	seg_key(kb, base, 0);
	MDB_val k = { 8, kb }, v;
	/* After a delete the cursor stands on the next entry, which MDB_NEXT
	 * returns rather than skips. */
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size == 8 && (rdb_get_be32(k.mv_data) & IVF_HALF) != base)
			break;
		if (bytes)
			*bytes += v.mv_size;
		if (del && (rc = mdb_cursor_del(cur, 0)))
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int half_clear(rdb_txn *t, uint32_t which, uint64_t *bytes)
{
	return half_walk(t, which, 1, bytes);
}

ragdb_status rdb_ivf_half_bytes(rdb_txn *t, uint32_t which, uint64_t *bytes, rdb_err *err)
{
	*bytes = 0;
	int rc = half_walk(t, which, 0, bytes);
	if (rc)
		return rdb_mdb_fail(t->s, rc, err, "reading the IVF lists");
	return RAGDB_OK;
}

ragdb_status rdb_ivf_stage_clear(rdb_txn *t, uint32_t which, rdb_err *err)
{
	rdb_store *s = t->s;
	if (!s->ivf_open)
		return rdb_err_set(err, RAGDB_EINVAL, "rdb_ivf_stage_clear before rdb_ivf_prepare");
	int rc = half_clear(t, which, NULL);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "emptying the IVF list keys of a new build");
	return RAGDB_OK;
}

ragdb_status rdb_ivf_write_list(rdb_txn *t, uint32_t which, uint32_t list, uint32_t seg_cap,
                                uint32_t kind, const uint64_t *ids, const float *const *vecs,
                                size_t n, rdb_err *err)
{
	if (!t->s->ivf_open)
		return rdb_err_set(err, RAGDB_EINVAL, "rdb_ivf_write_list before rdb_ivf_prepare");
	uint32_t base = lists_base(which);
	if (kind > 3)
		return rdb_err_set(err, RAGDB_EINVAL, "IVF list encoding %u is not a known kind", kind);
	size_t dim = t->s->m.dim;
	ebuf b = { 0 };
	ragdb_status st = ebuf_reserve(&b, kind, dim, seg_cap, err);
	float *rows = st ? NULL : malloc((size_t)seg_cap * dim * sizeof *rows);
	if (!st && !rows)
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory writing IVF list %u", list);
	for (size_t i = 0, seg = 0; !st && i < n; i += seg_cap, seg++) {
		uint32_t m = (uint32_t)(n - i < seg_cap ? n - i : seg_cap);
		memcpy(b.ids, ids + i, (size_t)m * 8);
		for (uint32_t j = 0; j < m; j++)
			memcpy(rows + (size_t)j * dim, vecs[i + j], dim * 4);
		if (!(st = ebuf_encode(&b, 0, rows, m, err)))
			st = seg_put(t, base, list, (uint32_t)seg, &b, m, m, err);
	}
	free(rows);
	ebuf_free(&b);
	return st;
}

ragdb_status rdb_ivf_write_header(rdb_txn *t, const rdb_ivf_info *info, const float *centroids,
                                  rdb_err *err)
{
	rdb_store *s = t->s;
	if (!s->ivf_open)
		return rdb_err_set(err, RAGDB_EINVAL, "rdb_ivf_write_header before rdb_ivf_prepare");
	/* The other half holds the previous index's lists, if any. */
	int rc = half_clear(t, !info->lists, NULL);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "dropping the previous IVF lists");
	uint8_t h[IVF_HDR_SIZE];
	hdr_encode(info, h);
	MDB_val hk = { 1, "h" }, hv = { IVF_HDR_SIZE, h };
	MDB_val ck = { 1, "c" }, cv = { (size_t)info->nlist * info->dim * 4, NULL };
	rc = mdb_put(t->txn, s->ivf, &hk, &hv, 0);
	if (!rc && centroids && !(rc = mdb_put(t->txn, s->ivf, &ck, &cv, MDB_RESERVE)))
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
	rdb_ivf_txn *x = NULL;
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
static int kill_in_list(rdb_txn *t, const rdb_ivf_info *ix, uint32_t list, uint64_t id,
                        rdb_err *err)
{
	rdb_store *s = t->s;
	uint32_t kind = ix->qkind;
	uint32_t key = lists_base(ix->lists) + list;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(t->txn, s->ivflists, &cur), found = 0;
	if (rc) {
		rdb_mdb_fail(s, rc, err, "opening a cursor on the IVF lists");
		return -1;
	}
	uint8_t kb[8];
	seg_key(kb, key, 0);
	MDB_val k = { 8, kb }, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && !found;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8 || rdb_get_be32(k.mv_data) != key)
			break;
		uint32_t seg = rdb_get_be32((const uint8_t *)k.mv_data + 4);
		segp sp = {0};
		if (seg_parse(s, list, seg, 0, kind, &v, &sp, err)) {
			found = -1;
			break;
		}
		const uint8_t *p = v.mv_data;
		uint32_t i, live = sp.live;
		for (i = 0; i < sp.count; i++)
			if (rdb_ld64(sp.ids + (size_t)i * 8) == id)
				break;
		if (i == sp.count)
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
		rdb_st64(q + seg_ids_off(kind) + (size_t)i * 8, 0);
		rdb_st32(q + 12, live - 1);
		MDB_val nk = { 8, kb }, nv = { v.mv_size, q };
		uint8_t kb2[8];
		seg_key(kb2, key, seg);
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
	rdb_ivf_txn *x = NULL;
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
	int r = kill_in_list(t, &x->info, l0, id, err);
	for (uint32_t l = 0; r == 0 && l < x->info.nlist; l++)
		if (l != l0)
			r = kill_in_list(t, &x->info, l, id, err);
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

/* Pending entries idx[i..i+m) into slots at.. of @p b (encoded). */
static ragdb_status gather_pending(rdb_ivf_txn *x, const size_t *idx, size_t m, ebuf *b, size_t at,
                                   float *rows, rdb_err *err)
{
	size_t dim = x->info.dim;
	for (size_t i = 0; i < m; i++) {
		b->ids[at + i] = x->pid[idx[i]];
		memcpy(rows + i * dim, x->pvec + idx[i] * dim, dim * 4);
	}
	return ebuf_encode(b, at, rows, m, err);
}

/* Append pending entries idx[0..m) (all of list @p list) to the list, in
 * the index's encoding; b holds seg_cap entries, rows seg_cap f32 rows. */
static ragdb_status append_list(rdb_txn *t, rdb_ivf_txn *x, uint32_t list, const size_t *idx,
                                size_t m, ebuf *b, float *rows, rdb_err *err)
{
	rdb_store *s = t->s;
	size_t cap = x->info.seg_cap;
	uint32_t kind = x->info.qkind;
	uint32_t base = lists_base(x->info.lists), key = base + list;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(t->txn, s->ivflists, &cur);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "opening a cursor on the IVF lists");
	uint8_t kb[8];
	MDB_val k = { 8, kb }, v;
	uint32_t seg = 0;
	segp sp = { 0 };
	int have = 0;
	ragdb_status st = RAGDB_OK;
	/* The list's last segment: the entry before the next list's first key
	 * (list < nlist <= 2^20, so key + 1 stays in the half). */
	seg_key(kb, key + 1, 0);
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	rc = rc == 0 ? mdb_cursor_get(cur, &k, &v, MDB_PREV)
	     : rc == MDB_NOTFOUND ? mdb_cursor_get(cur, &k, &v, MDB_LAST) : rc;
	if (rc && rc != MDB_NOTFOUND) {
		st = rdb_mdb_fail(s, rc, err, "reading the IVF lists");
		goto out_close;
	}
	if (rc == 0 && k.mv_size == 8 && rdb_get_be32(k.mv_data) == key) {
		seg = rdb_get_be32((const uint8_t *)k.mv_data + 4);
		if ((st = seg_parse(s, list, seg, (uint32_t)cap, kind, &v, &sp, err)))
			goto out_close;
		have = 1;
	}
	size_t used = 0;
	if (have && sp.count < cap) {
		/* Old entries as they are, then new ones up to the capacity,
		 * rewritten once. */
		for (uint32_t i = 0; i < sp.count; i++)
			ebuf_copy(b, i, &sp, i, rdb_ld64(sp.ids + (size_t)i * 8));
		uint32_t count = sp.count, live = sp.live;
		size_t take = cap - count < m ? cap - count : m;
		mdb_cursor_close(cur);
		cur = NULL;
		if ((st = gather_pending(x, idx, take, b, count, rows, err)) ||
		    (st = seg_put(t, base, list, seg, b, (uint32_t)(count + take),
		                  (uint32_t)(live + take), err)))
			goto out_close;
		used = take;
	}
	if (have)
		seg++;
	while (used < m) {
		size_t take = m - used < cap ? m - used : cap;
		if ((st = gather_pending(x, idx + used, take, b, 0, rows, err)) ||
		    (st = seg_put(t, base, list, seg++, b, (uint32_t)take, (uint32_t)take, err)))
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
	float *rows = NULL;
	ebuf b = { 0 };
	if (x->n) {
		size_t cap = x->info.seg_cap, dim = x->info.dim;
		if ((st = ebuf_reserve(&b, x->info.qkind, dim, cap, err)))
			goto out_free;
		idx = malloc(x->n * sizeof *idx);
		rows = malloc(cap * dim * sizeof *rows);
		if (!idx || !rows) {
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
			if ((st = append_list(t, x, x->plist[idx[i]], idx + i, j - i, &b, rows, err)))
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
	free(rows);
	ebuf_free(&b);
	return st;
}

/* The live entries of list @p list, in order, into @p b (grown; *n set);
 * *nseg its segments, *dead its tombstones. The entries are copies: the
 * caller may rewrite the list afterwards. */
static ragdb_status list_read(rdb_txn *t, uint32_t base, uint32_t list, uint32_t kind, ebuf *b,
                              size_t *n, size_t *nseg, size_t *dead, rdb_err *err)
{
	rdb_store *s = t->s;
	ragdb_status st = RAGDB_OK;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(t->txn, s->ivflists, &cur);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "opening a cursor on the IVF lists");
	uint8_t kb[8];
	seg_key(kb, base + list, 0);
	MDB_val k = { 8, kb }, v;
	*n = *nseg = *dead = 0;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8 || rdb_get_be32(k.mv_data) != base + list)
			break;
		segp sp = {0};
		if ((st = seg_parse(s, list, rdb_get_be32((const uint8_t *)k.mv_data + 4), 0, kind, &v,
		                    &sp, err)))
			goto out;
		(*nseg)++;
		*dead += sp.count - sp.live;
		if (*n + sp.live > b->cap &&
		    (st = ebuf_reserve(b, kind, s->m.dim, (*n + sp.live) * 2, err)))
			goto out;
		for (uint32_t i = 0; i < sp.count; i++) {
			uint64_t id = rdb_ld64(sp.ids + (size_t)i * 8);
			if (id)
				ebuf_copy(b, (*n)++, &sp, i, id);
		}
	}
	if (rc && rc != MDB_NOTFOUND)
		st = rdb_mdb_fail(s, rc, err, "reading the IVF lists");
out:
	mdb_cursor_close(cur);
	return st;
}

/* Delete segments 0..nseg of list @p list. */
static ragdb_status list_del(rdb_txn *t, uint32_t base, uint32_t list, size_t nseg,
                             rdb_err *err)
{
	for (size_t sg = 0; sg < nseg; sg++) {
		uint8_t dk[8];
		seg_key(dk, base + list, (uint32_t)sg);
		MDB_val key = { 8, dk };
		int rc = mdb_del(t->txn, t->s->ivflists, &key, NULL);
		if (rc)
			return rdb_mdb_fail(t->s, rc, err, "rewriting an IVF list");
	}
	return RAGDB_OK;
}

ragdb_status rdb_ivf_list_live_ids(rdb_txn *t, const rdb_ivf_info *ix, uint32_t list,
                                   uint64_t **ids, size_t *n, size_t *cap, rdb_err *err)
{
	rdb_store *s = t->s;
	uint32_t key = lists_base(ix->lists) + list;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(t->txn, s->ivflists, &cur);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "opening a cursor on the IVF lists");
	uint8_t kb[8];
	seg_key(kb, key, 0);
	MDB_val k = { 8, kb }, v;
	ragdb_status st = RAGDB_OK;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8 || rdb_get_be32(k.mv_data) != key)
			break;
		segp sp = {0};
		if ((st = seg_parse(s, list, rdb_get_be32((const uint8_t *)k.mv_data + 4), 0, ix->qkind,
		                    &v, &sp, err)))
			goto out;
		if (*n + sp.count > *cap) {
			size_t nc = (*n + sp.count) * 2;
			uint64_t *ni = realloc(*ids, nc * sizeof *ni);
			if (!ni) {
				st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory reading an IVF list");
				goto out;
			}
			*ids = ni;
			*cap = nc;
		}
		for (uint32_t i = 0; i < sp.count; i++) {
			uint64_t id = rdb_ld64(sp.ids + (size_t)i * 8);
			if (id)
				(*ids)[(*n)++] = id;
		}
	}
	if (rc && rc != MDB_NOTFOUND)
		st = rdb_mdb_fail(s, rc, err, "reading the IVF lists");
out:
	mdb_cursor_close(cur);
	return st;
}

/* Rewrite list @p list without its tombstones (when it has any). */
/* Rewrite @p list without its tombstones, in place (a list without them is
 * as valid as with them); *dropped: how many, *bytes: entry bytes written. */
static ragdb_status compact_list(rdb_txn *t, rdb_ivf_txn *x, uint32_t list, size_t *dropped,
                                 size_t *bytes, rdb_err *err)
{
	ebuf b = { 0 }, part = { 0 };
	size_t n = 0, nseg = 0, dead = 0, cap = x->info.seg_cap;
	uint32_t base = lists_base(x->info.lists);
	*dropped = *bytes = 0;
	ragdb_status st = ebuf_reserve(&b, x->info.qkind, x->info.dim, cap, err);
	if (st || (st = list_read(t, base, list, x->info.qkind, &b, &n, &nseg, &dead, err)) ||
	    dead == 0 || (st = list_del(t, base, list, nseg, err)))
		goto out;
	for (size_t i = 0, sg = 0; i < n; i += cap, sg++) {
		size_t m = n - i < cap ? n - i : cap;
		/* A window on b's entries i.. (seg_put reads ids, scales, rows). */
		part = b;
		part.ids = b.ids + i;
		part.scales = b.scales + i;
		part.rows = b.rows + i * b.rb;
		if ((st = seg_put(t, base, list, (uint32_t)sg, &part, (uint32_t)m, (uint32_t)m, err)))
			goto out;
	}
	*dropped = dead;
	*bytes = n * (b.rb + 8);
out:
	ebuf_free(&b);
	return st;
}

ragdb_status rdb_ivf_clear_unused(rdb_txn *t, uint64_t *bytes, rdb_err *err)
{
	rdb_store *s = t->s;
	int rc = s->ivf_open ? 0 : ivf_open(s, 0);
	if (rc == MDB_NOTFOUND)
		return RAGDB_OK;
	if (rc)
		return rdb_mdb_fail(s, rc, err, "opening the IVF index");
	rdb_ivf_info info;
	rdb_err e2 = { 0 };
	ragdb_status st = rdb_ivf_info_get(t, &info, &e2);
	if (st && st != RAGDB_ENOTFOUND)
		return rdb_err_set(err, st, "%s", e2.msg);
	/* Without an index every segment is a leftover: both halves. */
	if ((st == RAGDB_ENOTFOUND && (rc = half_clear(t, 0, bytes))) ||
	    (rc = half_clear(t, st == RAGDB_ENOTFOUND ? 1 : !info.lists, bytes)))
		return rdb_mdb_fail(s, rc, err, "removing the lists of an unfinished IVF build");
	return RAGDB_OK;
}

ragdb_status rdb_ivf_compact_step(rdb_txn *t, size_t budget, uint32_t *next_list, int *done,
                                  rdb_err *err)
{
	rdb_ivf_txn *x = NULL;
	ragdb_status st = xt_load(t, &x, err);
	*done = 1;
	if (st || x->state != 2 || (st = rdb_ivf_flush(t, err)) || x->info.dead == 0)
		return st;
	size_t bytes = 0;
	uint32_t l = *next_list;
	for (; l < x->info.nlist && (l == *next_list || bytes < budget); l++) {
		size_t dropped, written;
		if ((st = compact_list(t, x, l, &dropped, &written, err)))
			return st;
		if (dropped > x->info.dead)
			return rdb_corrupt(t->s, err, "the IVF header counts %llu tombstones; list %u "
			                   "alone holds %zu; rebuild with `ragdb index build`",
			                   (unsigned long long)x->info.dead, l, dropped);
		x->info.dead -= dropped;
		bytes += written;
	}
	x->hdr_dirty = 1;
	*next_list = l;
	*done = l >= x->info.nlist || x->info.dead == 0;
	return RAGDB_OK;
}

ragdb_status rdb_ivf_compact(rdb_txn *t, rdb_err *err)
{
	uint32_t next = 0;
	int done = 0;
	ragdb_status st = RAGDB_OK;
	while (!st && !done)
		st = rdb_ivf_compact_step(t, SIZE_MAX, &next, &done, err);
	return st;
}

ragdb_status rdb_ivf_vector(rdb_txn *t, uint64_t id, float *buf, const float **out, rdb_err *err)
{
	rdb_store *s = t->s;
	uint32_t block, slot, count, live;
	ragdb_status st;
	if (t->write && (st = rdb_tail_flush(t, err)))
		return st;
	if ((st = rdb_chunk_slot(t, id, &block, &slot, err)))
		return st;
	uint8_t kb[4];
	rdb_put_be32(kb, block);
	MDB_val k = { 4, kb }, v;
	int rc = mdb_get(t->txn, t->vec, &k, &v);
	if (rc == MDB_NOTFOUND)
		return rdb_err_set(err, RAGDB_ENOTFOUND, "chunk %llu names vector block %u, which does "
		                   "not exist", (unsigned long long)id, block);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "reading a vector block");
	if ((st = rdb_block_parse(s, block, &v, &count, &live, err)))
		return st;
	const uint8_t *p = v.mv_data;
	if (slot >= count || rdb_ld64(p + RDB_BLOCK_HDR + (size_t)slot * 8) != id)
		return rdb_err_set(err, RAGDB_ENOTFOUND, "vector %llu is not live at block %u slot %u",
		                   (unsigned long long)id, block, slot);
	const uint8_t *row = p + rdb_block_vecs_off(count) + (size_t)slot * s->m.dim * 4;
	if ((uintptr_t)row % 4) {
		/* A small block is only 2-byte aligned in its leaf page. */
		memcpy(buf, row, (size_t)s->m.dim * 4);
		*out = buf;
	} else {
		*out = (const float *)(const void *)row;
	}
	return RAGDB_OK;
}

ragdb_status rdb_ivf_requant(rdb_txn *t, uint32_t kind, int *converted, rdb_err *err)
{
	rdb_ivf_txn *x = NULL;
	if (kind > 3)
		return rdb_err_set(err, RAGDB_EINVAL, "unknown quantization %u; use f32, bf16, int8 "
		                   "or binary", kind);
	ragdb_status st = xt_load(t, &x, err);
	if (st || x->state != 2)
		return st;
	if ((st = rdb_ivf_flush(t, err)) || (st = rdb_tail_flush(t, err)))
		return st;
	if (x->info.qkind == kind) {
		*converted = 0;
		return RAGDB_OK;
	}
	size_t cap = x->info.seg_cap, dim = x->info.dim;
	uint32_t old = x->info.qkind;
	uint32_t base = lists_base(x->info.lists);
	ebuf in = { 0 }, out = { 0 };
	float *rows = malloc(cap * dim * sizeof *rows);
	if (!rows) {
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory converting the IVF lists");
		goto out_free;
	}
	if ((st = ebuf_reserve(&in, old, dim, cap, err)) ||
	    (st = ebuf_reserve(&out, kind, dim, cap, err)))
		goto out_free;
	for (uint32_t l = 0; l < x->info.nlist; l++) {
		size_t n = 0, nseg = 0, dead = 0;
		if ((st = list_read(t, base, l, old, &in, &n, &nseg, &dead, err)) ||
		    (st = list_del(t, base, l, nseg, err)))
			goto out_free;
		/* Re-encode from the f32 vectors of the blocks (the old codes
		 * cannot be decoded), fetched one by one: the writes below may
		 * move pages of the map. Tombstones are dropped on the way. */
		for (size_t i = 0, sg = 0; i < n; i += cap, sg++) {
			size_t m = n - i < cap ? n - i : cap;
			for (size_t j = 0; j < m; j++) {
				const float *v;
				rdb_err e2 = { 0 };
				if (rdb_ivf_vector(t, in.ids[i + j], rows + j * dim, &v, &e2)) {
					st = e2.status == RAGDB_ENOTFOUND
					     ? rdb_corrupt(t->s, err, "IVF list %u holds %llu, which is not a "
					                   "live vector (%s); rebuild with `ragdb index build`",
					                   l, (unsigned long long)in.ids[i + j], e2.msg)
					     : rdb_err_set(err, e2.status, "%s", e2.msg);
					goto out_free;
				}
				if (v != rows + j * dim)
					memcpy(rows + j * dim, v, dim * 4);
				out.ids[j] = in.ids[i + j];
			}
			if ((st = ebuf_encode(&out, 0, rows, m, err)) ||
			    (st = seg_put(t, base, l, (uint32_t)sg, &out, (uint32_t)m, (uint32_t)m, err)))
				goto out_free;
		}
	}
	x->info.qkind = kind;
	x->info.dead = 0;
	x->hdr_dirty = 1;
	*converted = 1;
	st = rdb_ivf_flush(t, err);
out_free:
	free(rows);
	ebuf_free(&in);
	ebuf_free(&out);
	return st;
}

/* ------------------------------------------------------------------ */
/* check (I1-I3) */

/* A live vector of the blocks (v) or a list entry (row: its f32 bytes or
 * code, scale: its int8 scale). */
typedef struct ent {
	uint64_t id;
	const float *v;
	const uint8_t *row, *scale;
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
	/* Without a header, segments are those of a build not finished (ivf.h):
	 * not part of any index. */
	if (st == RAGDB_ENOTFOUND)
		return RAGDB_OK;
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
	uint32_t kbq = rdb_txn_quant(t), kind = info.qkind;
	/* f32 lists on a quantized knowledge base are an index built before
	 * the lists were quantized: still exact, so not a problem. */
	if (kind != 0 && kind != kbq) {
		snprintf(msg, sizeof msg, "IVF: the lists hold %s codes but the knowledge base is "
		         "quantized %s; rebuild with `ragdb index build`", kind_name(kind),
		         kind_name(kbq));
		report(rctx, msg);
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
	size_t rb = row_bytes(kind, s->m.dim), qsz = rdb_qblock_size(kind, 1, s->m.dim);
	uint8_t *enc = kind ? malloc(qsz) : NULL;
	if (kind && !enc) {
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory checking the IVF index");
		goto out_free;
	}
	/* The live vectors of the blocks. */
	if ((st = rdb_blocks_get(t, &views, &nv, err)))
		goto out_free;
	for (size_t i = 0; i < nv; i++)
		for (uint32_t j = 0; j < views[i].count; j++)
			if (views[i].ids[j] &&
			    (st = ent_push(&a, &na, &ca, (ent){ views[i].ids[j],
			                   views[i].vecs + (size_t)j * s->m.dim, NULL, NULL, 0 }, err)))
				goto out_free;
	/* The lists' entries. */
	if ((rc = mdb_cursor_open(t->txn, s->ivflists, &cur))) {
		st = rdb_mdb_fail(s, rc, err, "opening a cursor on the IVF lists");
		goto out_free;
	}
	/* This index's half of the keys only: the other holds nothing or
	 * what an unfinished build wrote (ivf.h). */
	uint32_t base = lists_base(info.lists);
	uint8_t kb0[8];
	seg_key(kb0, base, 0);
	MDB_val k = { 8, kb0 }, v;
	uint32_t prev_list = UINT32_MAX, next_seg = 0;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8) {
			report(rctx, "IVF: a list key is not 8 bytes (I2)");
			continue;
		}
		uint32_t list = rdb_get_be32(k.mv_data), seg = rdb_get_be32((const uint8_t *)k.mv_data + 4);
		if ((list & IVF_HALF) != base) {
			rc = MDB_NOTFOUND;
			break;
		}
		list -= base;
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
		segp sp = {0};
		if (seg_parse(s, list, seg, info.seg_cap, kind, &v, &sp, &e2)) {
			report(rctx, e2.msg);
			continue;
		}
		uint32_t count = sp.count, hl = sp.live, nl = 0;
		for (uint32_t i = 0; i < count; i++) {
			uint64_t id = rdb_ld64(sp.ids + (size_t)i * 8);
			if (!id) {
				dead++;
				continue;
			}
			nl++;
			/* Vectors are compared bytewise; v points into the map (values
			 * of a read txn do not move; in a write txn nothing writes). */
			if ((st = ent_push(&b, &nb, &cb, (ent){ id, NULL, sp.codes + (size_t)i * rb,
			                   sp.scales ? sp.scales + (size_t)i * 4 : NULL, list }, err)))
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
	/* Either may be empty (NULL): every segment unreadable, say. */
	if (na)
		qsort(a, na, sizeof *a, ent_cmp);
	if (nb)
		qsort(b, nb, sizeof *b, ent_cmp);
	uint64_t missing = 0, extra = 0, twice = 0, differ = 0;
	size_t i = 0, j = 0;
	while (i < na || j < nb) {
		if (j < nb && i < na && a[i].id == b[j].id) {
			int same;
			if (kind == 0) {
				same = memcmp(a[i].v, b[j].row, rb) == 0;
			} else {
				/* The code the quantized blocks hold for this vector (Q2). */
				rdb_qencode_block(kind, a[i].v, 1, s->m.dim, enc);
				same = memcmp(enc + qsz - rb, b[j].row, rb) == 0 &&
				       (kind != 2 || memcmp(enc + RDB_BLOCK_HDR, b[j].scale, 4) == 0);
			}
			if (!same && differ++ < IVF_MAX_DETAILS) {
				snprintf(msg, sizeof msg, "IVF: vector %llu in list %u differs from its block "
				         "(%s, I1)", (unsigned long long)b[j].id, b[j].list, kind_name(kind));
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
	free(enc);
	return st;
}
