/*
 * index/records.c — document and chunk records: their codecs, and the
 * write paths that keep docs, ids, sources, chunks and vector slots in step
 * (invariant 2 of store.h) with the counters (invariant 3).
 *
 * Document record (little-endian): hash[16], u64 size, i64 mtime,
 * i64 ingested, u64 first_chunk, u32 n_chunks, then id, source, title and
 * meta_json, each as u32 length + bytes + NUL (so they can be handed out as
 * pointers into the map).
 *
 * Chunk record: u32 flags, u32 ordinal, u64 doc, u64 start, u64 end,
 * u32 block, u32 slot, u32 heading_len, u32 text_len, u32 stored_len, then
 * heading + NUL, then the text as stored: raw text + NUL (stored_len =
 * text_len + 1) or, with flag RDB_CHUNK_ZSTD, one zstd frame.
 */
#include "index/store_int.h"

#include <math.h>
#include <stdlib.h>
#include <zstd.h>

#define ZSTD_LEVEL 3
#define ZSTD_MIN_TEXT 128 /* shorter texts rarely shrink by 10% */

/* ------------------------------------------------------------------ */
/* codecs */

/* Read a u32-length-prefixed NUL-ended string at *off. */
static int take_str(const uint8_t *p, size_t size, size_t *off, const char **out)
{
	if (size - *off < 4)
		return -1;
	uint32_t len = rdb_ld32(p + *off);
	*off += 4;
	if (size - *off < (size_t)len + 1 || p[*off + len] != 0)
		return -1;
	*out = (const char *)(p + *off);
	*off += (size_t)len + 1;
	return 0;
}

ragdb_status rdb_doc_decode(const rdb_store *s, uint64_t num, const MDB_val *v, rdb_doc *out,
                            rdb_err *err)
{
	const uint8_t *p = v->mv_data;
	size_t size = v->mv_size, off = RDB_DOC_HDR;
	rdb_doc d;
	if (size < RDB_DOC_HDR)
		return rdb_corrupt(s, err, "document %llu's record is %zu bytes, shorter than its header",
		                   (unsigned long long)num, size);
	d.num = num;
	memcpy(d.hash, p, 16);
	d.size = rdb_ld64(p + 16);
	d.mtime = (int64_t)rdb_ld64(p + 24);
	d.ingested = (int64_t)rdb_ld64(p + 32);
	d.first_chunk = rdb_ld64(p + 40);
	d.n_chunks = rdb_ld32(p + 48);
	if (take_str(p, size, &off, &d.id) || take_str(p, size, &off, &d.source) ||
	    take_str(p, size, &off, &d.title) || take_str(p, size, &off, &d.meta_json) || off != size)
		return rdb_corrupt(s, err, "document %llu's record (%zu bytes) has bad string fields",
		                   (unsigned long long)num, size);
	*out = d;
	return RAGDB_OK;
}

static size_t doc_encoded_size(const char *const str[4])
{
	size_t n = RDB_DOC_HDR;
	for (int i = 0; i < 4; i++)
		n += 4 + strlen(str[i]) + 1;
	return n;
}

static void doc_encode(uint8_t *p, const rdb_doc *d, const char *const str[4])
{
	memcpy(p, d->hash, 16);
	rdb_st64(p + 16, d->size);
	rdb_st64(p + 24, (uint64_t)d->mtime);
	rdb_st64(p + 32, (uint64_t)d->ingested);
	rdb_st64(p + 40, d->first_chunk);
	rdb_st32(p + 48, d->n_chunks);
	size_t off = RDB_DOC_HDR;
	for (int i = 0; i < 4; i++) {
		uint32_t len = (uint32_t)strlen(str[i]);
		rdb_st32(p + off, len);
		memcpy(p + off + 4, str[i], (size_t)len + 1);
		off += 4 + (size_t)len + 1;
	}
}

ragdb_status rdb_chunk_decode(const rdb_store *s, uint64_t id, const MDB_val *v,
                              rdb_chunk_raw *out, rdb_err *err)
{
	const uint8_t *p = v->mv_data;
	size_t size = v->mv_size;
	rdb_chunk_raw c;
	if (size < RDB_CHUNK_HDR)
		return rdb_corrupt(s, err, "chunk %llu's record is %zu bytes, shorter than its header",
		                   (unsigned long long)id, size);
	c.flags = rdb_ld32(p);
	c.ordinal = rdb_ld32(p + 4);
	c.doc = rdb_ld64(p + 8);
	c.start = rdb_ld64(p + 16);
	c.end = rdb_ld64(p + 24);
	c.block = rdb_ld32(p + 32);
	c.slot = rdb_ld32(p + 36);
	uint32_t hlen = rdb_ld32(p + 40);
	c.text_len = rdb_ld32(p + 44);
	c.stored_len = rdb_ld32(p + 48);
	size_t off = RDB_CHUNK_HDR;
	if ((c.flags & ~RDB_CHUNK_ZSTD) || size - off < (size_t)hlen + 1 || p[off + hlen] != 0)
		return rdb_corrupt(s, err, "chunk %llu's record has bad flags 0x%x or heading",
		                   (unsigned long long)id, c.flags);
	c.heading = (const char *)(p + off);
	off += (size_t)hlen + 1;
	if (size - off != c.stored_len || c.text_len > RDB_MAX_TEXT ||
	    (!(c.flags & RDB_CHUNK_ZSTD) &&
	     (c.stored_len != c.text_len + 1 || p[off + c.text_len] != 0)))
		return rdb_corrupt(s, err, "chunk %llu's text is %u bytes stored for %u of text in a "
		                   "%zu-byte record", (unsigned long long)id, c.stored_len, c.text_len,
		                   size);
	c.stored = p + off;
	*out = c;
	return RAGDB_OK;
}

/* ------------------------------------------------------------------ */
/* reads */

static void be64_key(uint8_t kb[8], uint64_t v) { rdb_put_be64(kb, v); }

ragdb_status rdb_doc_get(rdb_txn *t, uint64_t num, rdb_doc *out, rdb_err *err)
{
	uint8_t kb[8];
	be64_key(kb, num);
	MDB_val k = { 8, kb }, v;
	int rc = mdb_get(t->txn, t->s->docs, &k, &v);
	if (rc == MDB_NOTFOUND)
		return rdb_err_set(err, RAGDB_ENOTFOUND, "no document number %llu in %s",
		                   (unsigned long long)num, t->s->dir);
	if (rc)
		return rdb_mdb_fail(t->s, rc, err, "reading a document");
	return rdb_doc_decode(t->s, num, &v, out, err);
}

static int id_lookup(rdb_txn *t, const char *id, uint64_t *num)
{
	size_t len = strlen(id);
	if (len == 0 || len > RDB_MAX_KEY)
		return MDB_NOTFOUND;
	MDB_val k = { len, (void *)id }, v;
	int rc = mdb_get(t->txn, t->s->ids, &k, &v);
	if (rc)
		return rc;
	if (v.mv_size != 8)
		return MDB_CORRUPTED;
	*num = rdb_get_be64(v.mv_data);
	return 0;
}

ragdb_status rdb_doc_get_by_id(rdb_txn *t, const char *id, rdb_doc *out, rdb_err *err)
{
	uint64_t num;
	int rc = id_lookup(t, id, &num);
	if (rc == MDB_NOTFOUND)
		return rdb_err_set(err, RAGDB_ENOTFOUND, "no document with id \"%s\" in %s", id,
		                   t->s->dir);
	if (rc)
		return rdb_mdb_fail(t->s, rc, err, "looking up a document id");
	return rdb_doc_get(t, num, out, err);
}

ragdb_status rdb_chunk_get(rdb_txn *t, uint64_t chunk_id, rdb_chunk *out, rdb_buf *scratch,
                           rdb_err *err)
{
	rdb_store *s = t->s;
	uint8_t kb[8];
	be64_key(kb, chunk_id);
	MDB_val k = { 8, kb }, v;
	int rc = mdb_get(t->txn, s->chunks, &k, &v);
	if (rc == MDB_NOTFOUND)
		return rdb_err_set(err, RAGDB_ENOTFOUND, "no chunk %llu in %s",
		                   (unsigned long long)chunk_id, s->dir);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "reading a chunk");
	rdb_chunk_raw r;
	ragdb_status st = rdb_chunk_decode(s, chunk_id, &v, &r, err);
	if (st)
		return st;
	const char *text = (const char *)r.stored;
	if (r.flags & RDB_CHUNK_ZSTD) {
		if (!scratch)
			return rdb_err_set(err, RAGDB_EINVAL, "chunk %llu is compressed; rdb_chunk_get "
			                   "needs a scratch buffer", (unsigned long long)chunk_id);
		unsigned long long fsz = ZSTD_getFrameContentSize(r.stored, r.stored_len);
		if (fsz != r.text_len)
			return rdb_corrupt(s, err, "chunk %llu's zstd frame declares %llu bytes, the "
			                   "record %u", (unsigned long long)chunk_id, fsz, r.text_len);
		if ((st = rdb_buf_reserve(scratch, (size_t)r.text_len + 1, err)))
			return st;
		size_t got = ZSTD_decompress(scratch->data, r.text_len, r.stored, r.stored_len);
		if (ZSTD_isError(got) || got != r.text_len)
			return rdb_corrupt(s, err, "chunk %llu's text does not decompress: %s",
			                   (unsigned long long)chunk_id,
			                   ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short output");
		scratch->data[got] = 0;
		scratch->len = got;
		text = scratch->data;
	}
	rdb_chunk c = {
		.id = chunk_id, .doc = r.doc, .ordinal = r.ordinal, .start = r.start, .end = r.end,
		.heading = r.heading, .text = text, .text_len = r.text_len,
		.block = r.block, .slot = r.slot,
	};
	*out = c;
	return RAGDB_OK;
}

ragdb_status rdb_doc_iter(rdb_txn *t, int (*cb)(void *ctx, const rdb_doc *d), void *ctx,
                          rdb_err *err)
{
	rdb_store *s = t->s;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(t->txn, s->ids, &cur);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "opening a cursor on the document ids");
	ragdb_status st = RAGDB_OK;
	MDB_val k, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (v.mv_size != 8) {
			st = rdb_corrupt(s, err, "an ids entry holds %zu bytes, expected 8", v.mv_size);
			goto out_close;
		}
		rdb_doc d;
		if ((st = rdb_doc_get(t, rdb_get_be64(v.mv_data), &d, err))) {
			if (st == RAGDB_ENOTFOUND)
				st = rdb_corrupt(s, err, "id \"%.*s\" names a missing document",
				                 (int)k.mv_size, (const char *)k.mv_data);
			goto out_close;
		}
		if (cb(ctx, &d))
			goto out_close;
	}
	if (rc != MDB_NOTFOUND)
		st = rdb_mdb_fail(s, rc, err, "listing documents");
out_close:
	mdb_cursor_close(cur);
	return st;
}

/* Collect the entries of sources whose key starts with @p pre (@p pre_len
 * bytes) into @p acc as [u64 num][source + NUL] records. */
static ragdb_status source_collect(rdb_txn *t, const char *pre, size_t pre_len, int exact,
                                   rdb_buf *acc, rdb_err *err)
{
	rdb_store *s = t->s;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(t->txn, s->sources, &cur);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "opening a cursor on the sources");
	ragdb_status st = RAGDB_OK;
	MDB_val k = { pre_len, (void *)pre }, v;
	for (rc = pre_len ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)
	                  : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	     rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const uint8_t *kp = k.mv_data;
		if (k.mv_size < pre_len || memcmp(kp, pre, pre_len) != 0)
			break;
		if (k.mv_size < 9 || kp[k.mv_size - 9] != 0) {
			st = rdb_corrupt(s, err, "a sources key of %zu bytes lacks its NUL + number",
			                 k.mv_size);
			goto out_close;
		}
		size_t slen = k.mv_size - 9;
		if (exact && slen + 1 != pre_len)
			break; /* pre ends with the NUL: only one source matches */
		if ((st = rdb_buf_reserve(acc, acc->len + 8 + slen + 1, err)))
			goto out_close;
		rdb_st64((uint8_t *)acc->data + acc->len, rdb_get_be64(kp + slen + 1));
		memcpy(acc->data + acc->len + 8, kp, slen + 1);
		acc->len += 8 + slen + 1;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		st = rdb_mdb_fail(s, rc, err, "scanning the sources");
out_close:
	mdb_cursor_close(cur);
	return st;
}

ragdb_status rdb_source_iter(rdb_txn *t, const char *source, int prefix,
                             int (*cb)(void *ctx, const char *source, uint64_t num), void *ctx,
                             rdb_err *err)
{
	size_t len = strlen(source);
	if (len > RDB_MAX_KEY)
		return rdb_err_set(err, RAGDB_EINVAL, "source is %zu bytes; the limit is %u", len,
		                   RDB_MAX_KEY - 9);
	/* Matches are collected first so the callback may delete documents. */
	rdb_buf acc = { 0 };
	ragdb_status st;
	char pre[RDB_MAX_KEY + 2];
	memcpy(pre, source, len + 1);
	if (prefix && (len == 0 || source[len - 1] == '/')) {
		/* Already a directory prefix (or everything, for ""): keys that
		 * start with it, the exact source's included. */
		st = source_collect(t, pre, len, 0, &acc, err);
	} else {
		/* The exact source: keys that start with source + NUL. */
		st = source_collect(t, pre, len + 1, 1, &acc, err);
		/* A directory: source + "/", so "/a/b" never matches "/a/bc". */
		if (!st && prefix) {
			pre[len] = '/';
			st = source_collect(t, pre, len + 1, 0, &acc, err);
		}
	}
	if (st)
		goto out_free;
	for (size_t off = 0; off < acc.len;) {
		uint64_t num = rdb_ld64((const uint8_t *)acc.data + off);
		const char *src = acc.data + off + 8;
		off += 8 + strlen(src) + 1;
		if (cb(ctx, src, num))
			break;
	}
out_free:
	rdb_buf_free(&acc);
	return st;
}

/* ------------------------------------------------------------------ */
/* writes */

ragdb_status rdb_doc_delete(rdb_txn *t, uint64_t num, rdb_err *err)
{
	rdb_store *s = t->s;
	if (!t->write)
		return rdb_err_set(err, RAGDB_EINVAL, "rdb_doc_delete needs a write transaction");
	rdb_doc d;
	ragdb_status st = rdb_doc_get(t, num, &d, err);
	if (st)
		return st;
	/* Copy what we need: later writes may move the pages d points into. */
	size_t id_len = strlen(d.id), src_len = strlen(d.source);
	uint64_t first = d.first_chunk, size = d.size;
	uint32_t n = d.n_chunks;
	char *keys = malloc(id_len + 1 + src_len + 9);
	rdb_slot_ref *refs = malloc(((size_t)n + 1) * sizeof *refs);
	if (!keys || !refs) {
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory deleting document %llu",
		                 (unsigned long long)num);
		goto out_free;
	}
	memcpy(keys, d.id, id_len + 1);
	char *skey = keys + id_len + 1;
	memcpy(skey, d.source, src_len + 1);
	rdb_put_be64((uint8_t *)skey + src_len + 1, num);

	int rc;
	for (uint32_t i = 0; i < n; i++) {
		uint8_t kb[8];
		be64_key(kb, first + i);
		MDB_val k = { 8, kb }, v;
		if ((rc = mdb_get(t->txn, s->chunks, &k, &v))) {
			st = rc == MDB_NOTFOUND
			     ? rdb_corrupt(s, err, "document %llu's chunk %llu is missing",
			                   (unsigned long long)num, (unsigned long long)(first + i))
			     : rdb_mdb_fail(s, rc, err, "reading a chunk");
			goto out_free;
		}
		rdb_chunk_raw r;
		if ((st = rdb_chunk_decode(s, first + i, &v, &r, err)))
			goto out_free;
		refs[i] = (rdb_slot_ref){ r.block, r.slot, first + i };
		if ((rc = mdb_del(t->txn, s->chunks, &k, NULL))) {
			st = rdb_mdb_fail(s, rc, err, "deleting a chunk");
			goto out_free;
		}
	}
	if ((st = rdb_slots_kill(t, refs, n, err)) || (st = rdb_ft_delete_chunks(t, first, n, err)))
		goto out_free;
	uint8_t nb[8];
	be64_key(nb, num);
	MDB_val dk = { 8, nb }, ik = { id_len, keys }, sk = { src_len + 9, skey };
	if ((rc = mdb_del(t->txn, s->docs, &dk, NULL)) || (rc = mdb_del(t->txn, s->ids, &ik, NULL)) ||
	    (rc = mdb_del(t->txn, s->sources, &sk, NULL))) {
		st = rc == MDB_NOTFOUND
		     ? rdb_corrupt(s, err, "document %llu (\"%s\") lacks its ids or sources entry",
		                   (unsigned long long)num, keys)
		     : rdb_mdb_fail(s, rc, err, "deleting a document");
		goto out_free;
	}
	t->c.documents--;
	t->c.chunks -= n;
	t->c.text_bytes -= size;
	t->c_dirty = 1;
out_free:
	free(refs);
	free(keys);
	return st;
}

static ragdb_status check_vectors(const rdb_store *s, const float *v, size_t n, rdb_err *err)
{
	size_t dim = s->m.dim;
	for (size_t i = 0; i < n; i++) {
		double ss = 0;
		for (size_t j = 0; j < dim; j++) {
			float x = v[i * dim + j];
			if (!isfinite(x))
				return rdb_err_set(err, RAGDB_EINVAL, "vector %zu has a non-finite value at "
				                   "%zu; the embedder misbehaved", i, j);
			ss += (double)x * x;
		}
		if (ss != 0 && fabs(ss - 1.0) > 2e-3)
			return rdb_err_set(err, RAGDB_EINVAL, "vector %zu has norm %.6f; vectors must "
			                   "be L2-normalised (norm 1) or zero", i, sqrt(ss));
	}
	return RAGDB_OK;
}

size_t rdb_text_pack_room(size_t len)
{
	/* 90% of the text: zstd fails fast when it cannot save 10%. */
	return len >= ZSTD_MIN_TEXT ? len - len / 10 : 0;
}

int rdb_text_pack(void **cctx, const char *text, size_t len, void *dst, size_t *out_len)
{
	size_t room = rdb_text_pack_room(len);
	if (room == 0)
		return RDB_PACK_RAW;
	if (!*cctx && !(*cctx = ZSTD_createCCtx()))
		return -1;
	size_t z = ZSTD_compressCCtx(*cctx, dst, room, text, len, ZSTD_LEVEL);
	if (ZSTD_isError(z) || z > room)
		return RDB_PACK_RAW;
	*out_len = z;
	return RDB_PACK_ZSTD;
}

void rdb_text_pack_end(void *cctx) { ZSTD_freeCCtx(cctx); }

/* Encode chunk @p i into t->scratch, packing its text (rdb_text_pack) into
 * t->zbuf unless the caller did. */
static ragdb_status chunk_encode(rdb_txn *t, const rdb_chunk_in *c, uint64_t doc, uint32_t ordinal,
                                 uint32_t block, uint32_t slot, MDB_val *out, rdb_err *err)
{
	rdb_store *s = t->s;
	ragdb_status st;
	const char *heading = c->heading ? c->heading : "";
	size_t hlen = strlen(heading);
	if (c->text_len > RDB_MAX_TEXT || hlen > RDB_MAX_TEXT)
		return rdb_err_set(err, RAGDB_EINVAL, "chunk %u is %zu bytes (heading %zu); the limit "
		                   "is %u MiB", ordinal, c->text_len, hlen, RDB_MAX_TEXT >> 20);
	const void *stored = c->text;
	size_t stored_len = c->text_len + 1;
	int pack = c->pack;
	if (pack != RDB_PACK_NONE && pack != RDB_PACK_RAW && pack != RDB_PACK_ZSTD)
		return rdb_err_set(err, RAGDB_EINVAL, "chunk %u: unknown packing %d", ordinal, pack);
	if (pack == RDB_PACK_ZSTD) {
		if (!c->packed || c->packed_len == 0 || c->packed_len > c->text_len)
			return rdb_err_set(err, RAGDB_EINVAL, "chunk %u: packed text of %zu bytes for "
			                   "%zu bytes of text", ordinal, c->packed_len, c->text_len);
		stored = c->packed;
		stored_len = c->packed_len;
	} else if (pack == RDB_PACK_NONE) {
		if ((st = rdb_buf_reserve(&t->zbuf, rdb_text_pack_room(c->text_len) + 1, err)))
			return st;
		size_t z = 0;
		pack = rdb_text_pack(&s->cctx, c->text, c->text_len, t->zbuf.data, &z);
		if (pack < 0)
			return rdb_err_set(err, RAGDB_ENOMEM, "out of memory creating a zstd context");
		if (pack == RDB_PACK_ZSTD) {
			stored = t->zbuf.data;
			stored_len = z;
		}
	}
	uint32_t flags = pack == RDB_PACK_ZSTD ? RDB_CHUNK_ZSTD : 0;
	size_t size = RDB_CHUNK_HDR + hlen + 1 + stored_len;
	if ((st = rdb_buf_reserve(&t->scratch, size, err)))
		return st;
	uint8_t *p = (uint8_t *)t->scratch.data;
	rdb_st32(p, flags);
	rdb_st32(p + 4, ordinal);
	rdb_st64(p + 8, doc);
	rdb_st64(p + 16, c->start);
	rdb_st64(p + 24, c->end);
	rdb_st32(p + 32, block);
	rdb_st32(p + 36, slot);
	rdb_st32(p + 40, (uint32_t)hlen);
	rdb_st32(p + 44, (uint32_t)c->text_len);
	rdb_st32(p + 48, (uint32_t)stored_len);
	memcpy(p + RDB_CHUNK_HDR, heading, hlen + 1);
	uint8_t *tp = p + RDB_CHUNK_HDR + hlen + 1;
	if (flags & RDB_CHUNK_ZSTD) {
		memcpy(tp, stored, stored_len);
	} else {
		if (c->text_len)
			memcpy(tp, c->text, c->text_len);
		tp[c->text_len] = 0;
	}
	out->mv_size = size;
	out->mv_data = p;
	return RAGDB_OK;
}

ragdb_status rdb_doc_put(rdb_txn *t, rdb_doc *doc, const rdb_chunk_in *chunks, size_t n_chunks,
                         const float *vectors, rdb_err *err)
{
	rdb_store *s = t->s;
	ragdb_status st;
	int rc;
	if (!t->write)
		return rdb_err_set(err, RAGDB_EINVAL, "rdb_doc_put needs a write transaction");
	const char *str[4] = { doc->id ? doc->id : "", doc->source ? doc->source : "",
	                       doc->title ? doc->title : "", doc->meta_json ? doc->meta_json : "" };
	size_t id_len = strlen(str[0]), src_len = strlen(str[1]);
	if (id_len == 0 || id_len > RDB_MAX_KEY)
		return rdb_err_set(err, RAGDB_EINVAL, "document id is %zu bytes; it must be 1..%u",
		                   id_len, RDB_MAX_KEY);
	if (src_len > RDB_MAX_KEY - 9)
		return rdb_err_set(err, RAGDB_EINVAL, "source of \"%s\" is %zu bytes; the limit is %u",
		                   str[0], src_len, RDB_MAX_KEY - 9);
	if (n_chunks > UINT32_MAX || (n_chunks && !vectors) || (n_chunks && !chunks))
		return rdb_err_set(err, RAGDB_EINVAL, "document \"%s\": %zu chunks need chunk and "
		                   "vector arrays", str[0], n_chunks);
	for (size_t i = 0; i < n_chunks; i++)
		if (chunks[i].text_len && !chunks[i].text)
			return rdb_err_set(err, RAGDB_EINVAL, "document \"%s\": chunk %zu has no text",
			                   str[0], i);
	if ((st = check_vectors(s, vectors, n_chunks, err)))
		return st;

	rdb_doc d = *doc;
	d.num = t->c.next_doc;
	d.first_chunk = t->c.next_chunk;
	d.n_chunks = (uint32_t)n_chunks;
	/* Encode the document and its keys now: the caller's strings may point
	 * into pages that deleting the old version frees. */
	size_t rec_len = doc_encoded_size(str);
	uint8_t *rec = malloc(rec_len + id_len + src_len + 9 + 8);
	if (!rec)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory writing document \"%s\"", str[0]);
	doc_encode(rec, &d, str);
	char *idk = (char *)rec + rec_len;
	memcpy(idk, str[0], id_len);
	uint8_t *srck = (uint8_t *)idk + id_len;
	memcpy(srck, str[1], src_len + 1);
	rdb_put_be64(srck + src_len + 1, d.num);
	uint8_t *numv = srck + src_len + 9;
	rdb_put_be64(numv, d.num);

	uint64_t old;
	rc = id_lookup(t, str[0], &old);
	if (rc == 0) {
		if ((st = rdb_doc_delete(t, old, err)))
			goto out_free;
	} else if (rc != MDB_NOTFOUND) {
		st = rdb_mdb_fail(s, rc, err, "looking up a document id");
		goto out_free;
	}

	for (size_t i = 0; i < n_chunks; i++) {
		uint64_t cid = d.first_chunk + i;
		uint32_t block, slot;
		if ((st = rdb_tail_append(t, cid, vectors + i * s->m.dim, &block, &slot, err)))
			goto out_free;
		MDB_val v;
		if ((st = chunk_encode(t, &chunks[i], d.num, (uint32_t)i, block, slot, &v, err)))
			goto out_free;
		uint8_t kb[8];
		be64_key(kb, cid);
		MDB_val k = { 8, kb };
		/* Chunk ids only grow, so every put is an append. */
		if ((rc = mdb_put(t->txn, s->chunks, &k, &v, MDB_APPEND))) {
			st = rc == MDB_KEYEXIST
			     ? rdb_corrupt(s, err, "chunk id %llu is not above the stored ones; the "
			                   "next_chunk counter is behind", (unsigned long long)cid)
			     : rdb_mdb_fail(s, rc, err, "writing a chunk");
			goto out_free;
		}
		if ((st = rdb_ft_put_chunk(t, cid, &chunks[i], err)))
			goto out_free;
	}
	uint8_t nb[8];
	be64_key(nb, d.num);
	MDB_val dk = { 8, nb }, dv = { rec_len, rec };
	MDB_val ik = { id_len, idk }, iv = { 8, numv };
	MDB_val sk = { src_len + 9, srck }, sv = { 0, "" };
	if ((rc = mdb_put(t->txn, s->docs, &dk, &dv, MDB_APPEND)) ||
	    (rc = mdb_put(t->txn, s->ids, &ik, &iv, MDB_NOOVERWRITE)) ||
	    (rc = mdb_put(t->txn, s->sources, &sk, &sv, MDB_NOOVERWRITE))) {
		st = rc == MDB_KEYEXIST
		     ? rdb_corrupt(s, err, "document number %llu or id \"%s\" is already taken",
		                   (unsigned long long)d.num, str[0])
		     : rdb_mdb_fail(s, rc, err, "writing a document");
		goto out_free;
	}
	t->c.next_doc++;
	t->c.next_chunk += n_chunks;
	t->c.documents++;
	t->c.chunks += n_chunks;
	t->c.vectors_live += n_chunks;
	t->c.text_bytes += d.size;
	t->c_dirty = 1;
	doc->num = d.num;
	doc->first_chunk = d.first_chunk;
	doc->n_chunks = d.n_chunks;
	st = RAGDB_OK;
out_free:
	free(rec);
	return st;
}
