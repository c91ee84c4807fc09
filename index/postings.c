/*
 * index/postings.c — the full-text index: term dictionary, postings and the
 * per-chunk forward records, kept exact in the write transaction of the
 * chunks they describe.
 *
 * Named databases (docs/ARCHITECTURE.md, "Full-text index", has the bytes):
 *   terms       term bytes -> u32 LE term id (ids from meta next_term, never
 *               reused; a term whose df falls to 0 keeps its id).
 *   postings    u32 BE term id + u64 BE 0 -> u64 LE df (the term's header);
 *               u32 BE term id + u64 BE c -> a segment: up to SEG_MAX postings
 *               of chunks >= c, in increasing chunk order, each as varints
 *               (chunk delta from the previous one, or from c for the first;
 *               tf_body; tf_title; len_body; len_title).
 *   chunkterms  u64 BE chunk id -> varints len_body, len_title, n, then n x
 *               (term id delta, tf_body, tf_title) in increasing id order.
 *
 * Invariants (rdb_ft_check verifies each):
 *   F1. Every chunk has exactly one chunkterms record and vice versa.
 *   F2. The postings of term T are exactly the (chunk, tf) pairs of the
 *       forward records naming T; segments of T are disjoint and ordered; a
 *       segment's key chunk is <= its first posting's chunk; no segment is
 *       empty; T's header df equals its number of postings (no header when 0).
 *   F3. Meta ft_len_body / ft_len_title equal the sums over forward records.
 *
 * Appends are cheap because chunk ids only grow: a write txn collects the
 * postings of the chunks it adds in memory (pending) and, at commit (or when
 * a delete or a cap needs it), sorts them by term and appends each term's run
 * to its last segment, so one term costs one segment rewrite per batch
 * instead of one per document. Deletes first flush pending postings when they
 * touch chunks of this txn, then remove the chunks' postings segment by
 * segment (a document's chunks are consecutive, so usually one per term).
 */
#include "index/postings.h"
#include "index/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>

#define SEG_MAX 128                 /* postings per segment */
#define PENDING_FLUSH (4u << 20)    /* pending postings before a mid-txn flush */
#define VARINT_MAX 10

/* ------------------------------------------------------------------ */
/* varints (LEB128) */

static size_t vput(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* Read a varint at *off (< size); -1 if truncated or over 64 bits. */
static int vget(const uint8_t *p, size_t size, size_t *off, uint64_t *out)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (*off >= size)
			return -1;
		uint8_t b = p[(*off)++];
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return -1;
}

static void pkey(uint8_t k[12], uint32_t term, uint64_t chunk)
{
	rdb_put_be32(k, term);
	rdb_put_be64(k + 4, chunk);
}

/* ------------------------------------------------------------------ */
/* segments */

typedef struct seg {
	rdb_posting *v;
	size_t n, cap;
} seg;

static int seg_push(seg *s, const rdb_posting *p)
{
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : SEG_MAX * 2;
		rdb_posting *nv = realloc(s->v, nc * sizeof *nv);
		if (!nv)
			return -1;
		s->v = nv;
		s->cap = nc;
	}
	s->v[s->n++] = *p;
	return 0;
}

/* vget with the one-byte case (most tf and title values, and the chunk
 * deltas of common terms) taken inline: every segment a search reads is
 * decoded whole. */
static inline int vget1(const uint8_t *p, size_t size, size_t *off, uint64_t *out)
{
	if (*off < size && p[*off] < 0x80) {
		*out = p[(*off)++];
		return 0;
	}
	return vget(p, size, off, out);
}

/* vget where the caller knows VARINT_MAX bytes are there to read (the same
 * values accepted, the same ones refused). */
static inline int vget_in(const uint8_t *p, size_t *off, uint64_t *out)
{
	uint64_t v = p[*off];
	if (v < 0x80) {
		(*off)++;
		*out = v;
		return 0;
	}
	v &= 0x7f;
	for (int i = 1; i < VARINT_MAX; i++) {
		uint8_t b = p[*off + (size_t)i];
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*off += (size_t)i + 1;
			*out = v;
			return 0;
		}
	}
	return -1;
}

/* Decode a segment keyed at @p base; appends to @p s. -1 if malformed. */
static int seg_decode(const uint8_t *p, size_t size, uint64_t base, seg *s, int *oom)
{
	size_t off = 0;
	uint64_t prev = base;
	int first = 1;
	while (off < size) {
		uint64_t d, a, b, c, e;
		if (size - off >= 5 * VARINT_MAX) { /* a whole posting fits: no bounds checks */
			if (vget_in(p, &off, &d) || vget_in(p, &off, &a) || vget_in(p, &off, &b) ||
			    vget_in(p, &off, &c) || vget_in(p, &off, &e))
				return -1;
		} else if (vget1(p, size, &off, &d) || vget1(p, size, &off, &a) ||
		           vget1(p, size, &off, &b) || vget1(p, size, &off, &c) ||
		           vget1(p, size, &off, &e)) {
			return -1;
		}
		if ((!first && d == 0) || d > UINT64_MAX - prev || a > UINT32_MAX || b > UINT32_MAX ||
		    c > UINT32_MAX || e > UINT32_MAX)
			return -1;
		first = 0;
		prev += d;
		rdb_posting x = { prev, (uint32_t)a, (uint32_t)b, (uint32_t)c, (uint32_t)e };
		if (s->n < s->cap) {
			s->v[s->n++] = x;
		} else if (seg_push(s, &x)) {
			*oom = 1;
			return -1;
		}
	}
	return 0;
}

/* Encode postings v[0..n) keyed at @p base into @p buf. */
static ragdb_status seg_encode(rdb_txn *t, const rdb_posting *v, size_t n, uint64_t base,
                               MDB_val *out, rdb_err *err)
{
	ragdb_status st = rdb_buf_reserve(&t->scratch, n * 5 * VARINT_MAX, err);
	if (st)
		return st;
	uint8_t *p = (uint8_t *)t->scratch.data;
	size_t off = 0;
	uint64_t prev = base;
	for (size_t i = 0; i < n; i++) {
		off += vput(p + off, v[i].chunk - prev);
		prev = v[i].chunk;
		off += vput(p + off, v[i].tf_body);
		off += vput(p + off, v[i].tf_title);
		off += vput(p + off, v[i].len_body);
		off += vput(p + off, v[i].len_title);
	}
	out->mv_data = p;
	out->mv_size = off;
	return RAGDB_OK;
}

/* ------------------------------------------------------------------ */
/* the txn's term-id cache and pending postings */

typedef struct ft_pend {
	uint32_t term;
	rdb_posting p;
} ft_pend;

struct rdb_ft_txn {
	/* term string -> id, for terms looked up or created in this txn */
	uint64_t *hash;   /* 0 = empty slot */
	uint32_t *ids;
	uint32_t *offs;   /* arena offset of the term string */
	size_t n_slots, n;
	char *arena;
	size_t arena_len, arena_cap;
	/* pending postings of chunks added in this txn */
	ft_pend *pend;
	size_t n_pend, cap_pend;
	uint64_t pend_min_chunk; /* smallest chunk id pending (UINT64_MAX: none) */
	uint64_t pend_last_chunk; /* chunk of the last pending posting */
	int pend_unordered;       /* a chunk was added below pend_last_chunk */
	/* pend_sort's buffers */
	ft_pend *sort_tmp;
	size_t cap_tmp;
	size_t *count; /* 65537 counters */
};

/* Buffers larger than this are freed at the txn's end, not kept. */
#define FT_SPARE_MAX (64u << 20)

void rdb_ft_txn_free(rdb_ft_txn *f)
{
	if (!f)
		return;
	free(f->hash);
	free(f->ids);
	free(f->offs);
	free(f->arena);
	free(f->pend);
	free(f->sort_tmp);
	free(f->count);
	free(f);
}

/* A batch of an ingest pends ~800k postings (~26 MB, as much again to sort
 * them): allocated afresh by every write txn, they came from mmap and were
 * page-faulted and zeroed each time, about a tenth of the writer's time. */
void rdb_ft_txn_release(rdb_store *s, rdb_ft_txn *f)
{
	if (!f)
		return;
	if (f->cap_pend * sizeof *f->pend > FT_SPARE_MAX) {
		rdb_ft_txn_free(f);
		return;
	}
	if (f->hash)
		memset(f->hash, 0, f->n_slots * sizeof *f->hash);
	f->n = 0;
	f->arena_len = 0;
	f->n_pend = 0;
	f->pend_min_chunk = UINT64_MAX;
	f->pend_last_chunk = 0;
	f->pend_unordered = 0;
	rdb_ft_txn_free(__atomic_exchange_n(&s->ft_spare, f, __ATOMIC_ACQ_REL));
}

void rdb_ft_spare_drop(rdb_store *s)
{
	rdb_ft_txn_free(__atomic_exchange_n(&s->ft_spare, NULL, __ATOMIC_ACQ_REL));
}

static ragdb_status ft_get(rdb_txn *t, rdb_ft_txn **out, rdb_err *err)
{
	if (!t->ft && t->write)
		t->ft = __atomic_exchange_n(&t->s->ft_spare, NULL, __ATOMIC_ACQ_REL);
	if (!t->ft) {
		t->ft = calloc(1, sizeof *t->ft);
		if (!t->ft)
			return rdb_err_set(err, RAGDB_ENOMEM, "out of memory for the full-text index");
		t->ft->pend_min_chunk = UINT64_MAX;
	}
	*out = t->ft;
	return RAGDB_OK;
}

static int cache_grow(rdb_ft_txn *f)
{
	size_t ns = f->n_slots ? f->n_slots * 2 : 4096;
	uint64_t *h = calloc(ns, sizeof *h);
	uint32_t *ids = malloc(ns * sizeof *ids), *offs = malloc(ns * sizeof *offs);
	if (!h || !ids || !offs) {
		free(h);
		free(ids);
		free(offs);
		return -1;
	}
	for (size_t i = 0; i < f->n_slots; i++) {
		if (!f->hash[i])
			continue;
		size_t j = f->hash[i] & (ns - 1);
		while (h[j])
			j = (j + 1) & (ns - 1);
		h[j] = f->hash[i];
		ids[j] = f->ids[i];
		offs[j] = f->offs[i];
	}
	free(f->hash);
	free(f->ids);
	free(f->offs);
	f->hash = h;
	f->ids = ids;
	f->offs = offs;
	f->n_slots = ns;
	return 0;
}

/* The id of @p term: from the cache, the terms db, or newly assigned. */
static ragdb_status term_id(rdb_txn *t, rdb_ft_txn *f, const char *term, uint32_t *id,
                            rdb_err *err)
{
	size_t len = strlen(term);
	if (len == 0 || len > RDB_MAX_TERM)
		return rdb_err_set(err, RAGDB_EINVAL, "a full-text term is %zu bytes; terms are 1..%d",
		                   len, RDB_MAX_TERM);
	if ((f->n + 1) * 2 > f->n_slots && cache_grow(f))
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory caching full-text terms");
	uint64_t h = XXH3_64bits(term, len) | 1; /* never 0 */
	size_t j = h & (f->n_slots - 1);
	for (; f->hash[j]; j = (j + 1) & (f->n_slots - 1)) {
		if (f->hash[j] == h && strcmp(f->arena + f->offs[j], term) == 0) {
			*id = f->ids[j];
			return RAGDB_OK;
		}
	}
	rdb_store *s = t->s;
	MDB_val k = { len, (void *)term }, v;
	uint32_t tid;
	int rc = mdb_get(t->txn, s->terms, &k, &v);
	if (rc == 0) {
		if (v.mv_size != 4)
			return rdb_corrupt(s, err, "term \"%s\" maps to %zu bytes, expected a 4-byte id",
			                   term, v.mv_size);
		tid = rdb_ld32(v.mv_data);
	} else if (rc == MDB_NOTFOUND) {
		if (t->c.next_term > UINT32_MAX)
			return rdb_err_set(err, RAGDB_EINVAL, "the full-text dictionary is full (2^32 terms)");
		tid = (uint32_t)t->c.next_term++;
		t->c_dirty = 1;
		uint8_t b[4];
		rdb_st32(b, tid);
		MDB_val nv = { 4, b };
		if ((rc = mdb_put(t->txn, s->terms, &k, &nv, MDB_NOOVERWRITE)))
			return rdb_mdb_fail(s, rc, err, "adding a full-text term");
	} else {
		return rdb_mdb_fail(s, rc, err, "looking up a full-text term");
	}
	if (f->arena_len + len + 1 > f->arena_cap) {
		size_t nc = f->arena_cap ? f->arena_cap * 2 : 65536;
		while (nc < f->arena_len + len + 1)
			nc *= 2;
		if (nc > UINT32_MAX)
			goto uncached; /* keep working, just without caching more */
		char *na = realloc(f->arena, nc);
		if (!na)
			return rdb_err_set(err, RAGDB_ENOMEM, "out of memory caching full-text terms");
		f->arena = na;
		f->arena_cap = nc;
	}
	memcpy(f->arena + f->arena_len, term, len + 1);
	f->hash[j] = h;
	f->ids[j] = tid;
	f->offs[j] = (uint32_t)f->arena_len;
	f->arena_len += len + 1;
	f->n++;
uncached:
	*id = tid;
	return RAGDB_OK;
}

/* ------------------------------------------------------------------ */
/* writes */

typedef struct idtf {
	uint32_t id, tf_body, tf_title;
} idtf;

/* Sort a chunk's terms by id: insertion sort for the short lists, else an
 * LSD radix sort on the id's bytes (passes over bytes that every id shares
 * are skipped) into @p tmp. A chunk has ~100 distinct terms, where qsort,
 * calling its comparator for every step, took 3-4x as long; below ~48
 * insertion beats the radix passes' counting. */
static void idtf_sort(idtf *v, idtf *tmp, size_t n)
{
	if (n <= 48) {
		for (size_t i = 1; i < n; i++) {
			idtf x = v[i];
			size_t j = i;
			for (; j > 0 && v[j - 1].id > x.id; j--)
				v[j] = v[j - 1];
			v[j] = x;
		}
		return;
	}
	uint32_t lo = v[0].id, hi = v[0].id;
	for (size_t i = 1; i < n; i++) {
		lo &= v[i].id;
		hi |= v[i].id;
	}
	idtf *src = v, *dst = tmp;
	for (int shift = 0; shift < 32; shift += 8) {
		if ((((lo ^ hi) >> shift) & 0xff) == 0)
			continue; /* every id has the same byte here */
		size_t count[257] = { 0 };
		for (size_t i = 0; i < n; i++)
			count[((src[i].id >> shift) & 0xff) + 1]++;
		for (size_t b = 1; b <= 256; b++)
			count[b] += count[b - 1];
		for (size_t i = 0; i < n; i++)
			dst[count[(src[i].id >> shift) & 0xff]++] = src[i];
		idtf *x = src;
		src = dst;
		dst = x;
	}
	if (src != v)
		memcpy(v, src, n * sizeof *v);
}

ragdb_status rdb_ft_put_chunk(rdb_txn *t, uint64_t chunk, const rdb_chunk_in *c, rdb_err *err)
{
	rdb_store *s = t->s;
	rdb_ft_txn *f = NULL;
	ragdb_status st = ft_get(t, &f, err);
	if (st)
		return st;
	size_t n = c->n_terms;
	if (n && !c->terms)
		return rdb_err_set(err, RAGDB_EINVAL, "chunk %llu: %zu terms without a term array",
		                   (unsigned long long)chunk, n);
	idtf *v = malloc((n ? 2 * n : 1) * sizeof *v); /* the terms, then the sort's buffer */
	if (!v)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory indexing chunk %llu",
		                   (unsigned long long)chunk);
	uint64_t sum_b = 0, sum_t = 0;
	for (size_t i = 0; i < n; i++) {
		if ((st = term_id(t, f, c->terms[i].term, &v[i].id, err)))
			goto out_free;
		v[i].tf_body = c->terms[i].tf_body;
		v[i].tf_title = c->terms[i].tf_title;
		sum_b += v[i].tf_body;
		sum_t += v[i].tf_title;
		if (v[i].tf_body + (uint64_t)v[i].tf_title == 0) {
			st = rdb_err_set(err, RAGDB_EINVAL, "chunk %llu: term \"%s\" has frequency 0",
			                 (unsigned long long)chunk, c->terms[i].term);
			goto out_free;
		}
	}
	if (sum_b > c->len_body || sum_t > c->len_title) {
		st = rdb_err_set(err, RAGDB_EINVAL, "chunk %llu: term frequencies add up to %llu/%llu, "
		                 "more than the field lengths %u/%u", (unsigned long long)chunk,
		                 (unsigned long long)sum_b, (unsigned long long)sum_t, c->len_body,
		                 c->len_title);
		goto out_free;
	}
	idtf_sort(v, v + n, n);
	for (size_t i = 1; i < n; i++)
		if (v[i].id == v[i - 1].id) {
			st = rdb_err_set(err, RAGDB_EINVAL, "chunk %llu: a term is listed twice",
			                 (unsigned long long)chunk);
			goto out_free;
		}
	/* forward record */
	if ((st = rdb_buf_reserve(&t->scratch, (3 + 3 * n) * VARINT_MAX, err)))
		goto out_free;
	uint8_t *p = (uint8_t *)t->scratch.data;
	size_t off = vput(p, c->len_body);
	off += vput(p + off, c->len_title);
	off += vput(p + off, n);
	uint32_t prev = 0;
	for (size_t i = 0; i < n; i++) {
		off += vput(p + off, v[i].id - prev);
		prev = v[i].id;
		off += vput(p + off, v[i].tf_body);
		off += vput(p + off, v[i].tf_title);
	}
	uint8_t kb[8];
	rdb_put_be64(kb, chunk);
	MDB_val k = { 8, kb }, val = { off, p };
	int rc = mdb_put(t->txn, s->chunkterms, &k, &val, MDB_APPEND);
	if (rc) {
		st = rc == MDB_KEYEXIST
		     ? rdb_corrupt(s, err, "chunk %llu already has full-text terms",
		                   (unsigned long long)chunk)
		     : rdb_mdb_fail(s, rc, err, "writing a chunk's full-text terms");
		goto out_free;
	}
	/* pending postings */
	if (f->n_pend + n > f->cap_pend) {
		size_t nc = f->cap_pend ? f->cap_pend : 4096;
		while (nc < f->n_pend + n)
			nc *= 2;
		ft_pend *np = realloc(f->pend, nc * sizeof *np);
		if (!np) {
			st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory indexing chunk %llu",
			                 (unsigned long long)chunk);
			goto out_free;
		}
		f->pend = np;
		f->cap_pend = nc;
	}
	for (size_t i = 0; i < n; i++)
		f->pend[f->n_pend++] = (ft_pend){ v[i].id, { chunk, v[i].tf_body, v[i].tf_title,
		                                              c->len_body, c->len_title } };
	if (n && chunk < f->pend_min_chunk)
		f->pend_min_chunk = chunk;
	if (n && chunk < f->pend_last_chunk)
		f->pend_unordered = 1;
	if (n)
		f->pend_last_chunk = chunk;
	t->c.ft_len_body += c->len_body;
	t->c.ft_len_title += c->len_title;
	t->c_dirty = 1;
	if (f->n_pend >= PENDING_FLUSH)
		st = rdb_ft_flush(t, err);
out_free:
	free(v);
	return st;
}

/* Order the pending postings by (term, chunk). They arrive in chunk order
 * (chunk ids grow within a txn), so a stable sort by term alone suffices:
 * LSD radix on the 32-bit term id, two 16-bit passes, O(n) where qsort was
 * the writer's largest cost. Falls back to qsort if the order was broken or
 * the scratch buffer cannot be had. */
static int pend_cmp(const void *a, const void *b);

static void pend_sort(rdb_ft_txn *f)
{
	size_t n = f->n_pend;
	if (!f->pend_unordered && f->cap_tmp < n) {
		ft_pend *t = realloc(f->sort_tmp, n * sizeof *t);
		if (t) {
			f->sort_tmp = t;
			f->cap_tmp = n;
		}
	}
	if (!f->pend_unordered && !f->count)
		f->count = malloc(65537 * sizeof *f->count);
	if (f->pend_unordered || f->cap_tmp < n || !f->count) {
		if (n > 1)
			qsort(f->pend, n, sizeof *f->pend, pend_cmp);
		return;
	}
	size_t *count = f->count;
	ft_pend *src = f->pend, *dst = f->sort_tmp;
	for (int shift = 0; shift < 32; shift += 16) {
		memset(count, 0, 65537 * sizeof *count);
		for (size_t i = 0; i < n; i++)
			count[((src[i].term >> shift) & 0xffff) + 1]++;
		for (size_t b = 1; b <= 65536; b++)
			count[b] += count[b - 1];
		for (size_t i = 0; i < n; i++)
			dst[count[(src[i].term >> shift) & 0xffff]++] = src[i];
		ft_pend *x = src;
		src = dst;
		dst = x;
	}
	/* Two passes: the sorted data is back in f->pend. */
}

static int pend_cmp(const void *a, const void *b)
{
	const ft_pend *x = a, *y = b;
	if (x->term != y->term)
		return x->term < y->term ? -1 : 1;
	return (x->p.chunk > y->p.chunk) - (x->p.chunk < y->p.chunk);
}

/* Read a term's header df (0 when absent). */
static ragdb_status df_read(rdb_txn *t, uint32_t term, uint64_t *df, rdb_err *err)
{
	uint8_t kb[12];
	pkey(kb, term, 0);
	MDB_val k = { 12, kb }, v;
	int rc = mdb_get(t->txn, t->s->postings, &k, &v);
	if (rc == MDB_NOTFOUND) {
		*df = 0;
		return RAGDB_OK;
	}
	if (rc)
		return rdb_mdb_fail(t->s, rc, err, "reading a term's document frequency");
	if (v.mv_size != 8)
		return rdb_corrupt(t->s, err, "term %u's header is %zu bytes, expected 8", term,
		                   v.mv_size);
	*df = rdb_ld64(v.mv_data);
	return RAGDB_OK;
}

static ragdb_status df_write(rdb_txn *t, uint32_t term, uint64_t df, rdb_err *err)
{
	uint8_t kb[12], vb[8];
	pkey(kb, term, 0);
	rdb_st64(vb, df);
	MDB_val k = { 12, kb }, v = { 8, vb };
	int rc = df ? mdb_put(t->txn, t->s->postings, &k, &v, 0)
	            : mdb_del(t->txn, t->s->postings, &k, NULL);
	if (rc && !(rc == MDB_NOTFOUND && !df))
		return rdb_mdb_fail(t->s, rc, err, "writing a term's document frequency");
	return RAGDB_OK;
}

/* Append postings v[0..n) (increasing chunks, all above the stored ones) to
 * term @p term's last segment, opening new segments as they fill. */
static ragdb_status term_append(rdb_txn *t, MDB_cursor *cur, uint32_t term,
                                const ft_pend *v, size_t n, seg *sg, rdb_err *err)
{
	rdb_store *s = t->s;
	ragdb_status st;
	uint8_t kb[12];
	pkey(kb, term, UINT64_MAX);
	MDB_val k = { 12, kb }, val;
	int rc = mdb_cursor_get(cur, &k, &val, MDB_SET_RANGE);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &val, MDB_PREV);
	else if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(cur, &k, &val, MDB_LAST);
	sg->n = 0;
	uint64_t base = 0;
	if (rc == 0 && k.mv_size == 12 && rdb_get_be32(k.mv_data) == term &&
	    (base = rdb_get_be64((const uint8_t *)k.mv_data + 4)) != 0) {
		int oom = 0;
		if (seg_decode(val.mv_data, val.mv_size, base, sg, &oom))
			return oom ? rdb_err_set(err, RAGDB_ENOMEM, "out of memory appending postings")
			           : rdb_corrupt(s, err, "term %u's postings segment at chunk %llu does "
			                         "not decode", term, (unsigned long long)base);
		if (sg->n >= SEG_MAX) {
			sg->n = 0; /* full: start a new segment */
			base = 0;
		}
	} else if (rc != 0 && rc != MDB_NOTFOUND) {
		return rdb_mdb_fail(s, rc, err, "finding a term's last postings segment");
	} else {
		base = 0;
	}
	size_t i = 0;
	while (i < n) {
		if (sg->n == 0)
			base = v[i].p.chunk;
		else if (v[i].p.chunk <= sg->v[sg->n - 1].chunk)
			return rdb_corrupt(s, err, "chunk %llu is not above term %u's stored postings",
			                   (unsigned long long)v[i].p.chunk, term);
		while (i < n && sg->n < SEG_MAX)
			if (seg_push(sg, &v[i++].p))
				return rdb_err_set(err, RAGDB_ENOMEM, "out of memory appending postings");
		MDB_val nv;
		if ((st = seg_encode(t, sg->v, sg->n, base, &nv, err)))
			return st;
		pkey(kb, term, base);
		MDB_val nk = { 12, kb };
		if ((rc = mdb_put(t->txn, s->postings, &nk, &nv, 0)))
			return rdb_mdb_fail(s, rc, err, "writing postings");
		sg->n = 0;
	}
	return RAGDB_OK;
}

ragdb_status rdb_ft_flush(rdb_txn *t, rdb_err *err)
{
	rdb_ft_txn *f = t->ft;
	if (!f || f->n_pend == 0)
		return RAGDB_OK;
	rdb_store *s = t->s;
	pend_sort(f);
	MDB_cursor *cur;
	int rc = mdb_cursor_open(t->txn, s->postings, &cur);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "opening a cursor on the postings");
	seg sg = { 0 };
	ragdb_status st = RAGDB_OK;
	for (size_t i = 0; i < f->n_pend;) {
		size_t j = i;
		while (j < f->n_pend && f->pend[j].term == f->pend[i].term)
			j++;
		uint64_t df;
		if ((st = df_read(t, f->pend[i].term, &df, err)) ||
		    (st = df_write(t, f->pend[i].term, df + (j - i), err)) ||
		    (st = term_append(t, cur, f->pend[i].term, f->pend + i, j - i, &sg, err)))
			goto out_close;
		i = j;
	}
	f->n_pend = 0;
	f->pend_min_chunk = UINT64_MAX;
	f->pend_last_chunk = 0;
	f->pend_unordered = 0;
out_close:
	mdb_cursor_close(cur);
	free(sg.v);
	return st;
}

typedef struct del_ref {
	uint32_t term;
	uint64_t chunk;
} del_ref;

static int del_cmp(const void *a, const void *b)
{
	const del_ref *x = a, *y = b;
	if (x->term != y->term)
		return x->term < y->term ? -1 : 1;
	return (x->chunk > y->chunk) - (x->chunk < y->chunk);
}

/* Decode forward record @p v of @p chunk: lengths, and (when @p cb) each
 * (term, tf_body, tf_title). -1 if malformed. */
static int fwd_decode(const MDB_val *v, uint64_t *len_b, uint64_t *len_t, uint64_t *n_terms,
                      int (*cb)(void *ctx, uint32_t term, uint64_t tfb, uint64_t tft), void *ctx)
{
	const uint8_t *p = v->mv_data;
	size_t size = v->mv_size, off = 0;
	uint64_t n;
	if (vget(p, size, &off, len_b) || vget(p, size, &off, len_t) || vget(p, size, &off, &n) ||
	    *len_b > UINT32_MAX || *len_t > UINT32_MAX || n > size)
		return -1;
	uint64_t id = 0, sb = 0, st = 0;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t d, a, b;
		if (vget(p, size, &off, &d) || vget(p, size, &off, &a) || vget(p, size, &off, &b))
			return -1;
		if ((i > 0 && d == 0) || id + d > UINT32_MAX || a + b == 0 || a > UINT32_MAX ||
		    b > UINT32_MAX)
			return -1;
		id += d;
		sb += a;
		st += b;
		if (cb && cb(ctx, (uint32_t)id, a, b))
			return -1;
	}
	if (off != size || sb > *len_b || st > *len_t)
		return -1;
	*n_terms = n;
	return 0;
}

struct del_collect {
	del_ref *v;
	size_t n, cap;
	uint64_t chunk;
	int oom;
};

static int del_add(void *ctx, uint32_t term, uint64_t tfb, uint64_t tft)
{
	struct del_collect *d = ctx;
	if (d->n == d->cap) {
		size_t nc = d->cap ? d->cap * 2 : 1024;
		del_ref *nv = realloc(d->v, nc * sizeof *nv);
		if (!nv) {
			d->oom = 1;
			return 1;
		}
		d->v = nv;
		d->cap = nc;
	}
	d->v[d->n++] = (del_ref){ term, d->chunk };
	return 0;
}

/* Remove the postings refs[0..n) (one term, increasing chunks). */
static ragdb_status term_remove(rdb_txn *t, MDB_cursor *cur, const del_ref *refs, size_t n,
                                seg *sg, rdb_err *err)
{
	rdb_store *s = t->s;
	uint32_t term = refs[0].term;
	ragdb_status st;
	size_t i = 0;
	while (i < n) {
		uint8_t kb[12];
		pkey(kb, term, refs[i].chunk);
		MDB_val k = { 12, kb }, val;
		int rc = mdb_cursor_get(cur, &k, &val, MDB_SET_RANGE);
		if (rc == 0 && !(k.mv_size == 12 && memcmp(k.mv_data, kb, 12) == 0))
			rc = mdb_cursor_get(cur, &k, &val, MDB_PREV);
		else if (rc == MDB_NOTFOUND)
			rc = mdb_cursor_get(cur, &k, &val, MDB_LAST);
		if (rc && rc != MDB_NOTFOUND)
			return rdb_mdb_fail(s, rc, err, "finding a postings segment");
		uint64_t base;
		if (rc || k.mv_size != 12 || rdb_get_be32(k.mv_data) != term ||
		    (base = rdb_get_be64((const uint8_t *)k.mv_data + 4)) == 0)
			return rdb_corrupt(s, err, "term %u has no postings segment for chunk %llu", term,
			                   (unsigned long long)refs[i].chunk);
		sg->n = 0;
		int oom = 0;
		if (seg_decode(val.mv_data, val.mv_size, base, sg, &oom))
			return oom ? rdb_err_set(err, RAGDB_ENOMEM, "out of memory deleting postings")
			           : rdb_corrupt(s, err, "term %u's postings segment at chunk %llu does "
			                         "not decode", term, (unsigned long long)base);
		/* Drop the refs up to this segment's last posting; each must be in
		 * it. Later refs belong to later segments (the next round). */
		size_t w = 0, before = i;
		int missing = 0;
		for (size_t r = 0; r < sg->n; r++) {
			if (i < n && refs[i].chunk < sg->v[r].chunk) {
				missing = 1; /* a ref between two postings: not stored */
				break;
			}
			if (i < n && refs[i].chunk == sg->v[r].chunk) {
				i++;
				continue;
			}
			sg->v[w++] = sg->v[r];
		}
		if (missing || i == before)
			return rdb_corrupt(s, err, "term %u's postings lack chunk %llu", term,
			                   (unsigned long long)refs[i].chunk);
		MDB_val sk = { 12, kb };
		pkey(kb, term, base);
		if (w == 0) {
			rc = mdb_del(t->txn, s->postings, &sk, NULL);
		} else {
			MDB_val nv;
			if ((st = seg_encode(t, sg->v, w, base, &nv, err)))
				return st;
			rc = mdb_put(t->txn, s->postings, &sk, &nv, 0);
		}
		if (rc)
			return rdb_mdb_fail(s, rc, err, "rewriting a postings segment");
	}
	uint64_t df;
	if ((st = df_read(t, term, &df, err)))
		return st;
	if (df < n)
		return rdb_corrupt(s, err, "term %u's df %llu is below the %zu postings deleted", term,
		                   (unsigned long long)df, n);
	return df_write(t, term, df - n, err);
}

ragdb_status rdb_ft_delete_chunks(rdb_txn *t, uint64_t first, uint32_t n, rdb_err *err)
{
	rdb_store *s = t->s;
	ragdb_status st = RAGDB_OK;
	if (n == 0)
		return RAGDB_OK;
	if (t->ft && t->ft->n_pend && first + n > t->ft->pend_min_chunk &&
	    (st = rdb_ft_flush(t, err)))
		return st;
	struct del_collect dc = { 0 };
	seg sg = { 0 };
	MDB_cursor *cur = NULL;
	int rc;
	for (uint32_t i = 0; i < n; i++) {
		uint8_t kb[8];
		rdb_put_be64(kb, first + i);
		MDB_val k = { 8, kb }, v;
		if ((rc = mdb_get(t->txn, s->chunkterms, &k, &v))) {
			st = rc == MDB_NOTFOUND
			     ? rdb_corrupt(s, err, "chunk %llu has no full-text record",
			                   (unsigned long long)(first + i))
			     : rdb_mdb_fail(s, rc, err, "reading a chunk's full-text terms");
			goto out_free;
		}
		uint64_t lb, lt, nt;
		dc.chunk = first + i;
		if (fwd_decode(&v, &lb, &lt, &nt, del_add, &dc)) {
			st = dc.oom ? rdb_err_set(err, RAGDB_ENOMEM, "out of memory deleting postings")
			            : rdb_corrupt(s, err, "chunk %llu's full-text record does not decode",
			                          (unsigned long long)(first + i));
			goto out_free;
		}
		if (t->c.ft_len_body < lb || t->c.ft_len_title < lt) {
			st = rdb_corrupt(s, err, "meta full-text lengths are below chunk %llu's",
			                 (unsigned long long)(first + i));
			goto out_free;
		}
		t->c.ft_len_body -= lb;
		t->c.ft_len_title -= lt;
		t->c_dirty = 1;
		if ((rc = mdb_del(t->txn, s->chunkterms, &k, NULL))) {
			st = rdb_mdb_fail(s, rc, err, "deleting a chunk's full-text terms");
			goto out_free;
		}
	}
	if (dc.n > 1)
		qsort(dc.v, dc.n, sizeof *dc.v, del_cmp);
	if ((rc = mdb_cursor_open(t->txn, s->postings, &cur))) {
		st = rdb_mdb_fail(s, rc, err, "opening a cursor on the postings");
		goto out_free;
	}
	for (size_t i = 0; i < dc.n;) {
		size_t j = i;
		while (j < dc.n && dc.v[j].term == dc.v[i].term)
			j++;
		if ((st = term_remove(t, cur, dc.v + i, j - i, &sg, err)))
			goto out_free;
		i = j;
	}
out_free:
	if (cur)
		mdb_cursor_close(cur);
	free(dc.v);
	free(sg.v);
	return st;
}

/* ------------------------------------------------------------------ */
/* reads */

ragdb_status rdb_ft_stats_get(rdb_txn *t, rdb_ft_stats *out, rdb_err *err)
{
	rdb_counters c;
	if (t->write) {
		c = t->c;
	} else {
		ragdb_status st = rdb_counters_read(t, &c, err);
		if (st)
			return st;
	}
	out->chunks = c.chunks;
	out->len_body = c.ft_len_body;
	out->len_title = c.ft_len_title;
	return RAGDB_OK;
}

ragdb_status rdb_term_id(rdb_txn *t, const char *term, uint32_t *id, rdb_err *err)
{
	rdb_store *s = t->s;
	size_t len = strlen(term);
	if (len == 0 || len > RDB_MAX_TERM)
		return rdb_err_set(err, RAGDB_ENOTFOUND, "no term \"%.80s\"", term);
	MDB_val k = { len, (void *)term }, v;
	int rc = mdb_get(t->txn, s->terms, &k, &v);
	if (rc == MDB_NOTFOUND)
		return rdb_err_set(err, RAGDB_ENOTFOUND, "no term \"%s\"", term);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "looking up a full-text term");
	if (v.mv_size != 4)
		return rdb_corrupt(s, err, "term \"%s\" maps to %zu bytes, expected 4", term, v.mv_size);
	*id = rdb_ld32(v.mv_data);
	return RAGDB_OK;
}

ragdb_status rdb_term_df(rdb_txn *t, uint32_t id, uint64_t *df, rdb_err *err)
{
	return df_read(t, id, df, err);
}

ragdb_status rdb_postings_get(rdb_txn *t, const char *term, uint64_t *df, rdb_posting **out,
                              size_t *n, rdb_err *err)
{
	uint32_t id = 0;
	*df = 0;
	*out = NULL;
	*n = 0;
	ragdb_status st = rdb_term_id(t, term, &id, err);
	if (st == RAGDB_ENOTFOUND) {
		rdb_err_clear(err);
		return RAGDB_OK;
	}
	if (st)
		return st;
	return rdb_postings_get_id(t, id, df, out, n, err);
}

/* ------------------------------------------------------------------ */
/* the postings cursor (postings.h) */

static int is_seg_of(const MDB_val *k, uint32_t term)
{
	return k->mv_size == 12 && rdb_get_be32(k->mv_data) == term &&
	       rdb_get_be64((const uint8_t *)k->mv_data + 4) != 0;
}

/* Decode segment (k, v) into pc at its first posting. Every posting must
 * come after @p floor, the last one read before it (0: none yet). */
static ragdb_status pcur_load(rdb_pcur *pc, const MDB_val *k, const MDB_val *v, uint64_t floor,
                              rdb_err *err)
{
	seg sg = { pc->v, 0, pc->cap };
	int oom = 0;
	uint64_t base = rdb_get_be64((const uint8_t *)k->mv_data + 4);
	int bad = seg_decode(v->mv_data, v->mv_size, base, &sg, &oom);
	pc->v = sg.v;
	pc->cap = sg.cap;
	pc->i = 0;
	pc->n = 0;
	if (bad || (sg.n && sg.v[0].chunk <= floor))
		return oom ? rdb_err_set(err, RAGDB_ENOMEM, "out of memory reading postings")
		           : rdb_corrupt(pc->t->s, err, "the postings of term %u do not decode; run "
		                         "`ragdb check`", pc->term);
	pc->n = sg.n;
	pc->key = base;
	return RAGDB_OK;
}

/* Load the first non-empty segment of pc's term from the record the cursor
 * is on (rc: how getting it went) onwards; none left: the end. */
static ragdb_status pcur_fill(rdb_pcur *pc, int rc, MDB_val *k, MDB_val *v, uint64_t floor,
                              rdb_err *err)
{
	for (; rc == 0; rc = mdb_cursor_get(pc->c, k, v, MDB_NEXT)) {
		if (!is_seg_of(k, pc->term))
			break;
		ragdb_status st = pcur_load(pc, k, v, floor, err);
		if (st || pc->n)
			return st;
	}
	pc->n = pc->i = 0;
	if (rc && rc != MDB_NOTFOUND)
		return rdb_mdb_fail(pc->t->s, rc, err, "reading postings");
	return RAGDB_OK;
}

ragdb_status rdb_pcur_open(rdb_txn *t, uint32_t id, rdb_pcur *pc, uint64_t *df, rdb_err *err)
{
	memset(pc, 0, sizeof *pc);
	pc->t = t;
	pc->term = id;
	*df = 0;
	if (t->write)
		return rdb_err_set(err, RAGDB_EINVAL, "rdb_pcur_open needs a read transaction");
	ragdb_status st = df_read(t, id, df, err);
	if (st || *df == 0)
		return st;
	int rc = mdb_cursor_open(t->txn, t->s->postings, &pc->c);
	if (rc) {
		pc->c = NULL;
		return rdb_mdb_fail(t->s, rc, err, "opening a cursor on the postings");
	}
	uint8_t kb[12];
	pkey(kb, id, 1);
	MDB_val k = { 12, kb }, v;
	return pcur_fill(pc, mdb_cursor_get(pc->c, &k, &v, MDB_SET_RANGE), &k, &v, 0, err);
}

ragdb_status rdb_pcur_next(rdb_pcur *pc, rdb_err *err)
{
	if (pc->i + 1 < pc->n || pc->n == 0) {
		pc->i += pc->n != 0;
		return RAGDB_OK;
	}
	MDB_val k, v;
	return pcur_fill(pc, mdb_cursor_get(pc->c, &k, &v, MDB_NEXT), &k, &v,
	                 pc->v[pc->n - 1].chunk, err);
}

/* Position at the first posting of chunk >= @p chunk in the loaded segment,
 * whose last posting is known to be >= chunk. */
static void pcur_bisect(rdb_pcur *pc, uint64_t chunk)
{
	size_t lo = pc->i, hi = pc->n - 1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (pc->v[mid].chunk < chunk)
			lo = mid + 1;
		else
			hi = mid;
	}
	pc->i = lo;
}

/*
 * A segment's key is at most its first posting, so the segment holding
 * @p chunk may be keyed below it: land on the first segment keyed >= chunk,
 * then look one segment back. Usually that one holds it, and one segment is
 * decoded per seek.
 */
ragdb_status rdb_pcur_seek(rdb_pcur *pc, uint64_t chunk, rdb_err *err)
{
	if (pc->n == 0 || pc->v[pc->i].chunk >= chunk)
		return RAGDB_OK;
	if (pc->v[pc->n - 1].chunk >= chunk) {
		pcur_bisect(pc, chunk);
		return RAGDB_OK;
	}
	uint64_t floor = pc->v[pc->n - 1].chunk, cur_key = pc->key;
	uint8_t kb[12];
	pkey(kb, pc->term, chunk);
	MDB_val k = { 12, kb }, v;
	int rc = mdb_cursor_get(pc->c, &k, &v, MDB_SET_RANGE);
	int landed = rc == 0;
	if (rc == 0)
		rc = mdb_cursor_get(pc->c, &k, &v, MDB_PREV);
	else if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(pc->c, &k, &v, MDB_LAST);
	if (rc && rc != MDB_NOTFOUND)
		return rdb_mdb_fail(pc->t->s, rc, err, "reading postings");
	ragdb_status st;
	if (rc == 0 && is_seg_of(&k, pc->term) &&
	    rdb_get_be64((const uint8_t *)k.mv_data + 4) > cur_key) {
		if ((st = pcur_load(pc, &k, &v, floor, err)))
			return st;
		if (pc->n && pc->v[pc->n - 1].chunk >= chunk) {
			pcur_bisect(pc, chunk);
			return RAGDB_OK;
		}
		if (pc->n)
			floor = pc->v[pc->n - 1].chunk;
	}
	if (!landed) {
		pc->n = pc->i = 0;
		return RAGDB_OK;
	}
	rc = rc == 0 ? mdb_cursor_get(pc->c, &k, &v, MDB_NEXT)
	             : mdb_cursor_get(pc->c, &k, &v, MDB_FIRST);
	if ((st = pcur_fill(pc, rc, &k, &v, floor, err)) || pc->n == 0)
		return st;
	if (pc->v[pc->n - 1].chunk < chunk) /* a segment holds no posting below its key */
		return rdb_corrupt(pc->t->s, err, "the postings of term %u are out of order; run "
		                   "`ragdb check`", pc->term);
	pcur_bisect(pc, chunk);
	return RAGDB_OK;
}

void rdb_pcur_close(rdb_pcur *pc)
{
	if (pc->c)
		mdb_cursor_close(pc->c);
	free(pc->v);
	memset(pc, 0, sizeof *pc);
}

/* The whole list, read through the cursor: one reader of the segments. */
ragdb_status rdb_postings_get_id(rdb_txn *t, uint32_t id, uint64_t *df, rdb_posting **out,
                                 size_t *n, rdb_err *err)
{
	*df = 0;
	*out = NULL;
	*n = 0;
	if (t->write)
		return rdb_err_set(err, RAGDB_EINVAL, "rdb_postings_get needs a read transaction");
	rdb_pcur pc;
	uint64_t d;
	seg sg = { 0 };
	ragdb_status st = rdb_pcur_open(t, id, &pc, &d, err);
	while (st == RAGDB_OK && pc.n) {
		/* The header's df does not size the array: a damaged one would
		 * allocate for nothing; the segments decide. */
		for (size_t i = 0; i < pc.n; i++)
			if (seg_push(&sg, &pc.v[i])) {
				st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory reading %llu postings "
				                 "of term %u", (unsigned long long)d, id);
				goto out;
			}
		pc.i = pc.n - 1;
		st = rdb_pcur_next(&pc, err);
	}
	if (st == RAGDB_OK && sg.n != d)
		st = rdb_corrupt(t->s, err, "term %u's header counts %llu postings but its segments "
		                 "hold %zu; run `ragdb check`", id, (unsigned long long)d, sg.n);
	if (st == RAGDB_OK && d) {
		*df = d;
		*out = sg.v;
		*n = sg.n;
		sg.v = NULL;
	}
out:
	rdb_pcur_close(&pc);
	free(sg.v);
	return st;
}

struct terms_out {
	rdb_chunk_term *v;
	size_t n;
};

static int terms_add(void *ctx, uint32_t term, uint64_t tfb, uint64_t tft)
{
	struct terms_out *o = ctx;
	o->v[o->n++] = (rdb_chunk_term){ term, (uint32_t)tfb, (uint32_t)tft };
	return 0;
}

ragdb_status rdb_chunk_terms_get(rdb_txn *t, uint64_t chunk, rdb_chunk_term **out, size_t *n,
                                 uint32_t *len_body, uint32_t *len_title, rdb_err *err)
{
	rdb_store *s = t->s;
	if (t->write)
		return rdb_err_set(err, RAGDB_EINVAL, "rdb_chunk_terms_get needs a read transaction");
	uint8_t kb[8];
	rdb_put_be64(kb, chunk);
	MDB_val k = { 8, kb }, v;
	int rc = mdb_get(t->txn, s->chunkterms, &k, &v);
	if (rc == MDB_NOTFOUND)
		return rdb_err_set(err, RAGDB_ENOTFOUND, "no chunk %llu", (unsigned long long)chunk);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "reading a chunk's full-text terms");
	uint64_t lb, lt, nt;
	if (fwd_decode(&v, &lb, &lt, &nt, NULL, NULL))
		return rdb_corrupt(s, err, "chunk %llu's full-text record does not decode",
		                   (unsigned long long)chunk);
	struct terms_out o = { malloc((nt ? nt : 1) * sizeof *o.v), 0 };
	if (!o.v)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory reading a chunk's terms");
	fwd_decode(&v, &lb, &lt, &nt, terms_add, &o);
	*out = o.v;
	*n = o.n;
	*len_body = (uint32_t)lb;
	*len_title = (uint32_t)lt;
	return RAGDB_OK;
}

const char *rdb_store_language(const rdb_store *s) { return s->m.language; }

/* ------------------------------------------------------------------ */
/* check */

typedef struct fwd_tuple {
	uint32_t term;
	uint64_t chunk;
	uint32_t tfb, tft, lb, lt;
} fwd_tuple;

struct chk {
	fwd_tuple *v;
	size_t n, cap;
	uint64_t chunk;
	uint32_t lb, lt;
	int oom;
};

static int chk_add(void *ctx, uint32_t term, uint64_t tfb, uint64_t tft)
{
	struct chk *c = ctx;
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 4096;
		fwd_tuple *nv = realloc(c->v, nc * sizeof *nv);
		if (!nv) {
			c->oom = 1;
			return 1;
		}
		c->v = nv;
		c->cap = nc;
	}
	c->v[c->n++] = (fwd_tuple){ term, c->chunk, (uint32_t)tfb, (uint32_t)tft, c->lb, c->lt };
	return 0;
}

static int tuple_cmp(const void *a, const void *b)
{
	const fwd_tuple *x = a, *y = b;
	if (x->term != y->term)
		return x->term < y->term ? -1 : 1;
	return (x->chunk > y->chunk) - (x->chunk < y->chunk);
}

ragdb_status rdb_ft_check(rdb_txn *t, const rdb_counters *cnt,
                          void (*report)(void *ctx, const char *msg), void *rctx, rdb_err *err)
{
	rdb_store *s = t->s;
	ragdb_status st = RAGDB_OK;
	char msg[512];
	struct chk c = { 0 };
	seg sg = { 0 };
	MDB_cursor *cur = NULL;
	uint64_t records = 0, sum_b = 0, sum_t = 0;
	if (t->write && (st = rdb_ft_flush(t, err)))
		return st;
#define REPORT(...) do { snprintf(msg, sizeof msg, __VA_ARGS__); report(rctx, msg); } while (0)
	/* F1 + F3: forward records */
	int rc = mdb_cursor_open(t->txn, s->chunkterms, &cur);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "opening a cursor on chunkterms");
	MDB_val k, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8) {
			REPORT("chunkterms: a key is %zu bytes, expected 8", k.mv_size);
			continue;
		}
		uint64_t id = rdb_get_be64(k.mv_data);
		records++;
		MDB_val ck = { 8, k.mv_data }, cv;
		int r2 = mdb_get(t->txn, s->chunks, &ck, &cv);
		if (r2 == MDB_NOTFOUND)
			REPORT("chunkterms: chunk %llu has full-text terms but no chunk record",
			       (unsigned long long)id);
		else if (r2) {
			st = rdb_mdb_fail(s, r2, err, "checking chunkterms");
			goto out_free;
		}
		uint64_t lb, lt, nt;
		c.chunk = id;
		/* lengths first, so the tuples carry them */
		if (fwd_decode(&v, &lb, &lt, &nt, NULL, NULL)) {
			REPORT("chunkterms: chunk %llu's record does not decode", (unsigned long long)id);
			continue;
		}
		c.lb = (uint32_t)lb;
		c.lt = (uint32_t)lt;
		if (fwd_decode(&v, &lb, &lt, &nt, chk_add, &c) && c.oom) {
			st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory checking the full-text index");
			goto out_free;
		}
		sum_b += lb;
		sum_t += lt;
	}
	if (rc != MDB_NOTFOUND) {
		st = rdb_mdb_fail(s, rc, err, "checking chunkterms");
		goto out_free;
	}
	mdb_cursor_close(cur);
	cur = NULL;
	MDB_stat ms;
	if ((rc = mdb_stat(t->txn, s->chunks, &ms))) {
		st = rdb_mdb_fail(s, rc, err, "counting chunks");
		goto out_free;
	}
	if (records != ms.ms_entries)
		REPORT("chunkterms holds %llu records for %llu chunks", (unsigned long long)records,
		       (unsigned long long)ms.ms_entries);
	if (sum_b != cnt->ft_len_body || sum_t != cnt->ft_len_title)
		REPORT("meta ft_len_body/ft_len_title are %llu/%llu; %llu/%llu counted",
		       (unsigned long long)cnt->ft_len_body, (unsigned long long)cnt->ft_len_title,
		       (unsigned long long)sum_b, (unsigned long long)sum_t);
	/* F2: postings against the sorted forward tuples */
	if (c.n > 1)
		qsort(c.v, c.n, sizeof *c.v, tuple_cmp);
	if ((rc = mdb_cursor_open(t->txn, s->postings, &cur))) {
		st = rdb_mdb_fail(s, rc, err, "opening a cursor on the postings");
		goto out_free;
	}
	size_t ti = 0;       /* next forward tuple expected */
	uint32_t cur_term = 0;
	int have_term = 0;
	uint64_t df = 0, seen = 0, last_chunk = 0;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		int end = rc != 0;
		uint32_t term = 0;
		uint64_t base = 0;
		if (!end) {
			if (k.mv_size != 12) {
				REPORT("postings: a key is %zu bytes, expected 12", k.mv_size);
				continue;
			}
			term = rdb_get_be32(k.mv_data);
			base = rdb_get_be64((const uint8_t *)k.mv_data + 4);
		}
		if (have_term && (end || term != cur_term)) {
			if (seen != df)
				REPORT("term %u: header df %llu, %llu postings stored", cur_term,
				       (unsigned long long)df, (unsigned long long)seen);
			while (ti < c.n && c.v[ti].term == cur_term) {
				REPORT("term %u: chunk %llu's forward record names it; its postings do not",
				       cur_term, (unsigned long long)c.v[ti].chunk);
				ti++;
			}
			have_term = 0;
		}
		if (end)
			break;
		/* forward tuples of terms with no postings at all */
		while (ti < c.n && c.v[ti].term < term) {
			REPORT("term %u: chunk %llu's forward record names it; it has no postings",
			       c.v[ti].term, (unsigned long long)c.v[ti].chunk);
			ti++;
		}
		if (base == 0) {
			if (v.mv_size != 8) {
				REPORT("term %u: header is %zu bytes, expected 8", term, v.mv_size);
				continue;
			}
			cur_term = term;
			have_term = 1;
			df = rdb_ld64(v.mv_data);
			seen = 0;
			last_chunk = 0;
			if (df == 0)
				REPORT("term %u: header df is 0 (it should be deleted)", term);
			continue;
		}
		if (!have_term || term != cur_term) {
			REPORT("term %u: postings segment at chunk %llu without a header", term,
			       (unsigned long long)base);
			continue;
		}
		sg.n = 0;
		int oom = 0;
		if (seg_decode(v.mv_data, v.mv_size, base, &sg, &oom)) {
			if (oom) {
				st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory checking postings");
				goto out_free;
			}
			REPORT("term %u: segment at chunk %llu does not decode", term,
			       (unsigned long long)base);
			continue;
		}
		if (sg.n == 0)
			REPORT("term %u: segment at chunk %llu is empty", term, (unsigned long long)base);
		for (size_t i = 0; i < sg.n; i++) {
			const rdb_posting *p = &sg.v[i];
			seen++;
			if (p->chunk <= last_chunk)
				REPORT("term %u: chunk %llu out of order", term, (unsigned long long)p->chunk);
			last_chunk = p->chunk;
			while (ti < c.n && c.v[ti].term == term && c.v[ti].chunk < p->chunk) {
				REPORT("term %u: chunk %llu's forward record names it; its postings do not",
				       term, (unsigned long long)c.v[ti].chunk);
				ti++;
			}
			if (ti < c.n && c.v[ti].term == term && c.v[ti].chunk == p->chunk) {
				const fwd_tuple *x = &c.v[ti++];
				if (x->tfb != p->tf_body || x->tft != p->tf_title || x->lb != p->len_body ||
				    x->lt != p->len_title)
					REPORT("term %u chunk %llu: posting says tf %u/%u len %u/%u, the "
					       "forward record tf %u/%u len %u/%u", term,
					       (unsigned long long)p->chunk, p->tf_body, p->tf_title,
					       p->len_body, p->len_title, x->tfb, x->tft, x->lb, x->lt);
			} else {
				REPORT("term %u: posting of chunk %llu has no forward record naming it",
				       term, (unsigned long long)p->chunk);
			}
		}
	}
	if (rc != MDB_NOTFOUND) {
		st = rdb_mdb_fail(s, rc, err, "checking postings");
		goto out_free;
	}
	while (ti < c.n) {
		REPORT("term %u: chunk %llu's forward record names it; it has no postings",
		       c.v[ti].term, (unsigned long long)c.v[ti].chunk);
		ti++;
	}
	/* term ids below next_term */
	mdb_cursor_close(cur);
	cur = NULL;
	if ((rc = mdb_cursor_open(t->txn, s->terms, &cur))) {
		st = rdb_mdb_fail(s, rc, err, "opening a cursor on the terms");
		goto out_free;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		if (v.mv_size != 4 || rdb_ld32(v.mv_data) >= cnt->next_term)
			REPORT("terms: \"%.*s\" has a bad id (%zu bytes, or not below next_term %llu)",
			       (int)(k.mv_size > 80 ? 80 : k.mv_size), (const char *)k.mv_data,
			       v.mv_size, (unsigned long long)cnt->next_term);
	if (rc != MDB_NOTFOUND)
		st = rdb_mdb_fail(s, rc, err, "checking terms");
#undef REPORT
out_free:
	if (cur)
		mdb_cursor_close(cur);
	free(c.v);
	free(sg.v);
	return st;
}
