/*
 * index/check.c — rdb_store_check: verifies invariants 2 and 3 of store.h
 * exhaustively (invariant 1 is LMDB's atomic commit; what it leaves behind
 * is what this checks).
 *
 * Passes, each a cursor walk:
 *   1. docs: every record decodes; its id maps back to it in ids; its
 *      source key exists; every chunk in its range exists and names it.
 *   2. ids and sources: every entry names a document that names it back.
 *   3. chunks: every record decodes (compressed text included); its document
 *      exists and its id/ordinal fall in that document's range. Its
 *      (id, block, slot) goes to a list, in id order.
 *   4. blocks: headers valid; every live slot goes to a second list; ids
 *      finite, live vectors of norm 1 (or 0); header live counts exact.
 *   5. the two lists, sorted by id, must be equal: each chunk's slot holds
 *      it, each live slot names a chunk that points back, no id twice.
 *   6. counters equal what was counted.
 *   7. the full-text index (rdb_ft_check in postings.c).
 *   8. the tuned embedder (tune.c), the quantized blocks (qblocks.c) and the
 *      IVF index (ivf.c, I1-I3).
 * Decoding failures are reported as problems, not returned: the point is to
 * list everything that is wrong. Only I/O and memory failures stop it.
 */
#include "index/ivf.h"
#include "index/repair.h"
#include "index/store_int.h"
#include "index/vstage.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <zstd.h>

#define MAX_REPORTED 1000

typedef struct loc {
	uint64_t id;
	uint32_t block, slot;
} loc;

typedef struct loc_list {
	loc *v;
	size_t n, cap;
} loc_list;

typedef struct checker {
	rdb_txn *t;
	rdb_store *s;
	void (*cb)(void *ctx, const char *problem);
	void *ctx;
	uint64_t problems;
	rdb_err *err;
	loc_list chunk_locs, slot_locs;
	uint64_t docs, chunks, live, dead, text_bytes, ids, sources;
	uint64_t max_doc, max_chunk, max_block;
	int any_block;
	rdb_buf scratch;
} checker;

static void problem(checker *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(checker *c, const char *fmt, ...)
{
	c->problems++;
	if (c->problems > MAX_REPORTED || !c->cb)
		return;
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (c->problems == MAX_REPORTED)
		strncat(msg, " (further problems are counted, not listed)", sizeof msg - strlen(msg) - 1);
	c->cb(c->ctx, msg);
}

static void problem_str(void *c, const char *msg)
{
	problem(c, "%s", msg);
}

static ragdb_status loc_push(checker *c, loc_list *l, uint64_t id, uint32_t block, uint32_t slot)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		loc *v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return rdb_err_set(c->err, RAGDB_ENOMEM, "out of memory checking %zu vectors", l->n);
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = (loc){ id, block, slot };
	return RAGDB_OK;
}

static int loc_cmp(const void *a, const void *b)
{
	const loc *x = a, *y = b;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	if (x->block != y->block)
		return x->block < y->block ? -1 : 1;
	return x->slot < y->slot ? -1 : x->slot > y->slot;
}

typedef ragdb_status (*visit_fn)(checker *c, const MDB_val *k, const MDB_val *v);

static ragdb_status walk(checker *c, MDB_dbi dbi, const char *what, visit_fn fn)
{
	MDB_cursor *cur;
	int rc = mdb_cursor_open(c->t->txn, dbi, &cur);
	if (rc)
		return rdb_mdb_fail(c->s, rc, c->err, what);
	ragdb_status st = RAGDB_OK;
	MDB_val k, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		if ((st = fn(c, &k, &v)))
			goto out_close;
	if (rc != MDB_NOTFOUND)
		st = rdb_mdb_fail(c->s, rc, c->err, what);
out_close:
	mdb_cursor_close(cur);
	return st;
}

/* Look up a document; 1 found (decoded into *d), 0 missing or undecodable. */
static int doc_find(checker *c, uint64_t num, rdb_doc *d, ragdb_status *st)
{
	rdb_err e;
	*st = rdb_doc_get(c->t, num, d, &e);
	if (*st == RAGDB_ENOTFOUND || *st == RAGDB_ECORRUPT) {
		*st = RAGDB_OK;
		return 0;
	}
	if (*st && c->err)
		*c->err = e;
	return *st == RAGDB_OK;
}

/* Chunks a..b of document @p num's range are not stored: one problem. */
static void missing_chunks(checker *c, uint64_t num, const rdb_doc *d, uint64_t a, uint64_t b)
{
	if (a == b)
		problem(c, "document %llu: chunk %llu (ordinal %llu of %u) is missing",
		        (unsigned long long)num, (unsigned long long)a,
		        (unsigned long long)(a - d->first_chunk), d->n_chunks);
	else
		problem(c, "document %llu: chunks %llu to %llu (ordinals %llu to %llu of %u) are "
		        "missing", (unsigned long long)num, (unsigned long long)a,
		        (unsigned long long)b, (unsigned long long)(a - d->first_chunk),
		        (unsigned long long)(b - d->first_chunk), d->n_chunks);
}

static ragdb_status visit_doc(checker *c, const MDB_val *k, const MDB_val *v)
{
	rdb_store *s = c->s;
	if (k->mv_size != 8) {
		problem(c, "docs: a key is %zu bytes, expected 8", k->mv_size);
		return RAGDB_OK;
	}
	uint64_t num = rdb_get_be64(k->mv_data);
	c->docs++;
	if (num > c->max_doc)
		c->max_doc = num;
	rdb_doc d;
	rdb_err e;
	if (rdb_doc_decode(s, num, v, &d, &e)) {
		problem(c, "document %llu: %s", (unsigned long long)num, e.msg);
		return RAGDB_OK;
	}
	c->text_bytes += d.size;
	size_t id_len = strlen(d.id), src_len = strlen(d.source);
	MDB_val ik = { id_len, (void *)d.id }, iv;
	int rc = id_len && id_len <= RDB_MAX_KEY ? mdb_get(c->t->txn, s->ids, &ik, &iv) : MDB_NOTFOUND;
	if (rc && rc != MDB_NOTFOUND)
		return rdb_mdb_fail(s, rc, c->err, "checking ids");
	if (rc)
		problem(c, "document %llu: its id \"%s\" is not in ids", (unsigned long long)num, d.id);
	else if (iv.mv_size != 8 || rdb_get_be64(iv.mv_data) != num)
		problem(c, "document %llu: id \"%s\" maps to document %llu instead",
		        (unsigned long long)num, d.id,
		        iv.mv_size == 8 ? (unsigned long long)rdb_get_be64(iv.mv_data) : 0ULL);
	if (src_len <= RDB_MAX_KEY - 9) {
		uint8_t sk[RDB_MAX_KEY + 1];
		memcpy(sk, d.source, src_len + 1);
		rdb_put_be64(sk + src_len + 1, num);
		MDB_val skv = { src_len + 9, sk }, sv;
		rc = mdb_get(c->t->txn, s->sources, &skv, &sv);
		if (rc && rc != MDB_NOTFOUND)
			return rdb_mdb_fail(s, rc, c->err, "checking sources");
		if (rc)
			problem(c, "document %llu: source \"%s\" has no sources entry for it",
			        (unsigned long long)num, d.source);
	} else {
		problem(c, "document %llu: source is %zu bytes, too long for a key",
		        (unsigned long long)num, src_len);
	}
	/* A document's chunks are consecutive ids: one cursor walks them, so a
	 * damaged chunk count costs a seek, not a lookup per chunk it claims. */
	uint64_t end = d.first_chunk + d.n_chunks, next = d.first_chunk;
	if (end < d.first_chunk)
		end = UINT64_MAX;
	MDB_cursor *cur;
	if ((rc = mdb_cursor_open(c->t->txn, s->chunks, &cur)))
		return rdb_mdb_fail(s, rc, c->err, "checking chunks");
	uint8_t kb[8];
	rdb_put_be64(kb, next);
	MDB_val ck = { 8, kb }, cv;
	for (rc = mdb_cursor_get(cur, &ck, &cv, MDB_SET_RANGE); rc == 0 && next < end;
	     rc = mdb_cursor_get(cur, &ck, &cv, MDB_NEXT)) {
		uint64_t cid = ck.mv_size == 8 ? rdb_get_be64(ck.mv_data) : UINT64_MAX;
		if (cid >= end)
			break;
		if (cid > next)
			missing_chunks(c, num, &d, next, cid - 1);
		rdb_chunk_raw r;
		if (rdb_chunk_decode(s, cid, &cv, &r, &e) == RAGDB_OK && r.doc != num)
			problem(c, "document %llu: chunk %llu in its range belongs to document %llu",
			        (unsigned long long)num, (unsigned long long)cid,
			        (unsigned long long)r.doc);
		next = cid + 1;
	}
	mdb_cursor_close(cur);
	if (rc && rc != MDB_NOTFOUND)
		return rdb_mdb_fail(s, rc, c->err, "checking chunks");
	if (next < end)
		missing_chunks(c, num, &d, next, end - 1);
	return RAGDB_OK;
}

static ragdb_status visit_id(checker *c, const MDB_val *k, const MDB_val *v)
{
	c->ids++;
	if (v->mv_size != 8) {
		problem(c, "ids: \"%.*s\" holds %zu bytes, expected an 8-byte document number",
		        (int)k->mv_size, (const char *)k->mv_data, v->mv_size);
		return RAGDB_OK;
	}
	uint64_t num = rdb_get_be64(v->mv_data);
	rdb_doc d;
	ragdb_status st;
	if (!doc_find(c, num, &d, &st)) {
		if (!st)
			problem(c, "ids: \"%.*s\" names document %llu, which is missing or corrupt",
			        (int)k->mv_size, (const char *)k->mv_data, (unsigned long long)num);
		return st;
	}
	if (strlen(d.id) != k->mv_size || memcmp(d.id, k->mv_data, k->mv_size) != 0)
		problem(c, "ids: \"%.*s\" names document %llu, whose id is \"%s\"", (int)k->mv_size,
		        (const char *)k->mv_data, (unsigned long long)num, d.id);
	return RAGDB_OK;
}

static ragdb_status visit_source(checker *c, const MDB_val *k, const MDB_val *v)
{
	c->sources++;
	const uint8_t *p = k->mv_data;
	if (k->mv_size < 9 || p[k->mv_size - 9] != 0 || memchr(p, 0, k->mv_size - 9)) {
		problem(c, "sources: a key of %zu bytes is not source + NUL + number", k->mv_size);
		return RAGDB_OK;
	}
	uint64_t num = rdb_get_be64(p + k->mv_size - 8);
	rdb_doc d;
	ragdb_status st;
	if (!doc_find(c, num, &d, &st)) {
		if (!st)
			problem(c, "sources: \"%s\" names document %llu, which is missing or corrupt",
			        (const char *)p, (unsigned long long)num);
		return st;
	}
	if (strcmp(d.source, (const char *)p) != 0)
		problem(c, "sources: \"%s\" names document %llu, whose source is \"%s\"",
		        (const char *)p, (unsigned long long)num, d.source);
	return RAGDB_OK;
}

static ragdb_status visit_chunk(checker *c, const MDB_val *k, const MDB_val *v)
{
	rdb_store *s = c->s;
	if (k->mv_size != 8) {
		problem(c, "chunks: a key is %zu bytes, expected 8", k->mv_size);
		return RAGDB_OK;
	}
	uint64_t id = rdb_get_be64(k->mv_data);
	c->chunks++;
	if (id > c->max_chunk)
		c->max_chunk = id;
	if (id == 0)
		problem(c, "chunks: chunk id 0 is stored (0 marks a tombstone)");
	rdb_chunk_raw r;
	rdb_err e;
	if (rdb_chunk_decode(s, id, v, &r, &e)) {
		problem(c, "chunk %llu: %s", (unsigned long long)id, e.msg);
		return RAGDB_OK;
	}
	if (r.flags & RDB_CHUNK_ZSTD) {
		rdb_chunk ch;
		ragdb_status st = rdb_chunk_get(c->t, id, &ch, &c->scratch, &e);
		if (st == RAGDB_ECORRUPT)
			problem(c, "chunk %llu: %s", (unsigned long long)id, e.msg);
		else if (st)
			return (c->err ? (*c->err = e, st) : st);
	}
	if (r.start > r.end)
		problem(c, "chunk %llu: byte range %llu..%llu is reversed", (unsigned long long)id,
		        (unsigned long long)r.start, (unsigned long long)r.end);
	rdb_doc d;
	ragdb_status st;
	if (!doc_find(c, r.doc, &d, &st)) {
		if (!st)
			problem(c, "chunk %llu: its document %llu is missing or corrupt",
			        (unsigned long long)id, (unsigned long long)r.doc);
		if (st)
			return st;
	} else if (id < d.first_chunk || id - d.first_chunk >= d.n_chunks ||
	           id - d.first_chunk != r.ordinal) {
		problem(c, "chunk %llu (ordinal %u): outside document %llu's chunks %llu..+%u or at "
		        "the wrong ordinal", (unsigned long long)id, r.ordinal,
		        (unsigned long long)r.doc, (unsigned long long)d.first_chunk, d.n_chunks);
	} else if (r.end > d.size) {
		problem(c, "chunk %llu: byte range ends at %llu, past document %llu's %llu bytes",
		        (unsigned long long)id, (unsigned long long)r.end, (unsigned long long)r.doc,
		        (unsigned long long)d.size);
	}
	return loc_push(c, &c->chunk_locs, id, r.block, r.slot);
}

static ragdb_status visit_block(checker *c, const MDB_val *k, const MDB_val *v)
{
	rdb_store *s = c->s;
	if (k->mv_size != 4) {
		problem(c, "vectors: a key is %zu bytes, expected 4", k->mv_size);
		return RAGDB_OK;
	}
	uint32_t no = rdb_get_be32(k->mv_data), count, live;
	if (!c->any_block || no > c->max_block)
		c->max_block = no;
	c->any_block = 1;
	rdb_err e;
	if (rdb_block_parse(s, no, v, &count, &live, &e)) {
		problem(c, "%s", e.msg);
		return RAGDB_OK;
	}
	const uint8_t *p = v->mv_data;
	const uint8_t *vecs = p + rdb_block_vecs_off(count);
	uint32_t dim = s->m.dim, seen_live = 0;
	for (uint32_t i = 0; i < count; i++) {
		uint64_t id = rdb_ld64(p + RDB_BLOCK_HDR + (size_t)i * 8);
		double ss = 0;
		int finite = 1;
		for (uint32_t j = 0; j < dim; j++) {
			float x;
			memcpy(&x, vecs + ((size_t)i * dim + j) * 4, 4);
			if (!isfinite(x))
				finite = 0;
			else
				ss += (double)x * x;
		}
		if (!finite)
			problem(c, "block %u slot %u (chunk %llu): vector has non-finite values", no, i,
			        (unsigned long long)id);
		if (id == 0) {
			c->dead++;
			continue;
		}
		seen_live++;
		c->live++;
		if (finite && ss != 0 && fabs(ss - 1.0) > 2e-3)
			problem(c, "block %u slot %u (chunk %llu): vector norm is %.6f, expected 1 or 0",
			        no, i, (unsigned long long)id, sqrt(ss));
		ragdb_status st = loc_push(c, &c->slot_locs, id, no, i);
		if (st)
			return st;
	}
	if (seen_live != live)
		problem(c, "block %u: header says %u live vectors, it holds %u", no, live, seen_live);
	return RAGDB_OK;
}

/* Both lists sorted by id: report every id on one side only or at
 * different places, and every id twice among the slots. */
static void compare_locs(checker *c)
{
	loc_list *a = &c->chunk_locs, *b = &c->slot_locs;
	if (b->n > 1)
		qsort(b->v, b->n, sizeof *b->v, loc_cmp);
	for (size_t j = 1; j < b->n; j++)
		if (b->v[j].id == b->v[j - 1].id)
			problem(c, "chunk %llu has live vectors in block %u slot %u and block %u slot %u",
			        (unsigned long long)b->v[j].id, b->v[j - 1].block, b->v[j - 1].slot,
			        b->v[j].block, b->v[j].slot);
	size_t i = 0, j = 0;
	while (i < a->n || j < b->n) {
		if (j == b->n || (i < a->n && a->v[i].id < b->v[j].id)) {
			problem(c, "chunk %llu names block %u slot %u, which does not hold it live",
			        (unsigned long long)a->v[i].id, a->v[i].block, a->v[i].slot);
			i++;
		} else if (i == a->n || b->v[j].id < a->v[i].id) {
			problem(c, "block %u slot %u holds chunk %llu, which does not exist",
			        b->v[j].block, b->v[j].slot, (unsigned long long)b->v[j].id);
			j++;
		} else {
			uint64_t id = a->v[i].id;
			int match = 0;
			size_t j0 = j;
			for (; j < b->n && b->v[j].id == id; j++)
				if (b->v[j].block == a->v[i].block && b->v[j].slot == a->v[i].slot)
					match = 1;
			if (!match)
				problem(c, "chunk %llu names block %u slot %u, but its vector is in block %u "
				        "slot %u", (unsigned long long)id, a->v[i].block, a->v[i].slot,
				        b->v[j0].block, b->v[j0].slot);
			i++;
		}
	}
}

static void compare_counter(checker *c, const char *name, uint64_t stored, uint64_t counted)
{
	if (stored != counted)
		problem(c, "meta counter %s is %llu; %llu counted", name, (unsigned long long)stored,
		        (unsigned long long)counted);
}

/* Set a counter the check found wrong; report it through @p fix. */
static void fix_counter(uint64_t *slot, uint64_t want, const char *name, uint64_t *n,
                        void (*fix)(void *ctx, const char *msg), void *ctx)
{
	char msg[160];
	if (*slot == want)
		return;
	snprintf(msg, sizeof msg, "meta counter %s: %llu -> %llu", name, (unsigned long long)*slot,
	         (unsigned long long)want);
	*slot = want;
	(*n)++;
	if (fix)
		fix(ctx, msg);
}

static ragdb_status check_impl(rdb_txn *t, void (*cb)(void *ctx, const char *problem), void *ctx,
                               uint64_t *n_problems, void (*fix)(void *ctx, const char *msg),
                               void *fix_ctx, uint64_t *n_repaired, rdb_err *err);

ragdb_status rdb_store_check(rdb_txn *t, void (*cb)(void *ctx, const char *problem), void *ctx,
                             uint64_t *n_problems, rdb_err *err)
{
	return check_impl(t, cb, ctx, n_problems, NULL, NULL, NULL, err);
}

ragdb_status rdb_store_repair(rdb_txn *t, void (*fix)(void *ctx, const char *repaired), void *ctx,
                              uint64_t *n_repaired, rdb_err *err)
{
	uint64_t n_problems = 0, n = 0;
	if (!t->write)
		return rdb_err_set(err, RAGDB_EINVAL, "rdb_store_repair needs a write transaction");
	ragdb_status st = check_impl(t, NULL, NULL, &n_problems, fix, ctx, &n, err);
	if (st == RAGDB_OK)
		*n_repaired = n;
	return st;
}

static ragdb_status check_impl(rdb_txn *t, void (*cb)(void *ctx, const char *problem), void *ctx,
                               uint64_t *n_problems, void (*fix)(void *ctx, const char *msg),
                               void *fix_ctx, uint64_t *n_repaired, rdb_err *err)
{
	rdb_store *s = t->s;
	checker c = { .t = t, .s = s, .cb = cb, .ctx = ctx, .err = err };
	ragdb_status st;
	rdb_counters cnt;
	if (t->write) {
		if ((st = rdb_tail_flush(t, err)))
			return st;
		cnt = t->c;
	} else if ((st = rdb_counters_read(t, &cnt, err))) {
		if (st != RAGDB_ECORRUPT)
			return st;
		problem(&c, "%s", err ? err->msg : "meta counters are corrupt");
		memset(&cnt, 0, sizeof cnt);
	}
	if ((st = walk(&c, s->docs, "checking documents", visit_doc)) ||
	    (st = walk(&c, s->ids, "checking ids", visit_id)) ||
	    (st = walk(&c, s->sources, "checking sources", visit_source)) ||
	    (st = walk(&c, s->chunks, "checking chunks", visit_chunk)) ||
	    (st = walk(&c, t->vec, "checking vector blocks", visit_block)))
		goto out_free;
	compare_locs(&c);
	if ((st = rdb_ft_check(t, &cnt, problem_str, &c, err)))
		goto out_free;
	if ((st = rdb_tune_check(t, problem_str, &c, err)))
		goto out_free;
	if ((st = rdb_qblocks_check(t, problem_str, &c, err)))
		goto out_free;
	if ((st = rdb_vstage_check(t, problem_str, &c, err)))
		goto out_free;
	if ((st = rdb_ivf_check(t, problem_str, &c, err)))
		goto out_free;
	if (c.ids != c.docs)
		problem(&c, "ids holds %llu entries for %llu documents", (unsigned long long)c.ids,
		        (unsigned long long)c.docs);
	if (c.sources != c.docs)
		problem(&c, "sources holds %llu entries for %llu documents",
		        (unsigned long long)c.sources, (unsigned long long)c.docs);
	compare_counter(&c, "documents", cnt.documents, c.docs);
	compare_counter(&c, "chunks", cnt.chunks, c.chunks);
	compare_counter(&c, "vectors_live", cnt.vectors_live, c.live);
	compare_counter(&c, "vectors_dead", cnt.vectors_dead, c.dead);
	compare_counter(&c, "text_bytes", cnt.text_bytes, c.text_bytes);
	if (c.docs && cnt.next_doc <= c.max_doc)
		problem(&c, "meta next_doc is %llu, not above the largest document number %llu",
		        (unsigned long long)cnt.next_doc, (unsigned long long)c.max_doc);
	if (c.chunks && cnt.next_chunk <= c.max_chunk)
		problem(&c, "meta next_chunk is %llu, not above the largest chunk id %llu",
		        (unsigned long long)cnt.next_chunk, (unsigned long long)c.max_chunk);
	if (c.any_block && cnt.next_block <= c.max_block)
		problem(&c, "meta next_block is %llu, not above the largest block number %u",
		        (unsigned long long)cnt.next_block, (unsigned)c.max_block);
	/* Repair: the counters are derived from the records, which are the
	 * truth; setting them from what was counted loses nothing. */
	if (n_repaired && t->write) {
		uint64_t n = 0;
		fix_counter(&t->c.documents, c.docs, "documents", &n, fix, fix_ctx);
		fix_counter(&t->c.chunks, c.chunks, "chunks", &n, fix, fix_ctx);
		fix_counter(&t->c.vectors_live, c.live, "vectors_live", &n, fix, fix_ctx);
		fix_counter(&t->c.vectors_dead, c.dead, "vectors_dead", &n, fix, fix_ctx);
		fix_counter(&t->c.text_bytes, c.text_bytes, "text_bytes", &n, fix, fix_ctx);
		if (c.docs && t->c.next_doc <= c.max_doc)
			fix_counter(&t->c.next_doc, c.max_doc + 1, "next_doc", &n, fix, fix_ctx);
		if (c.chunks && t->c.next_chunk <= c.max_chunk)
			fix_counter(&t->c.next_chunk, c.max_chunk + 1, "next_chunk", &n, fix, fix_ctx);
		if (c.any_block && t->c.next_block <= c.max_block)
			fix_counter(&t->c.next_block, (uint64_t)c.max_block + 1, "next_block", &n, fix, fix_ctx);
		if (n)
			t->c_dirty = 1;
		*n_repaired = n;
	}
	*n_problems = c.problems;
	st = RAGDB_OK;
out_free:
	free(c.chunk_locs.v);
	free(c.slot_locs.v);
	rdb_buf_free(&c.scratch);
	return st;
}
