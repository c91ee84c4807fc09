/*
 * index/qblocks.c — quantized vector blocks: a second, compact copy of the
 * vectors that the scan reads first (bf16, int8 with a per-vector scale, or
 * sign bits), beside the f32 blocks that stay the truth and rescore.
 *
 * Layout: named db "qvectors", key = the f32 block's number (u32 BE),
 * value = u32 magic "RDBQ", u32 count, u32 dim, u32 kind, then (int8 only)
 * f32 scales[count], zero padding to a multiple of 64 bytes from the value
 * start, then count encoded rows (engine/kernels/quant.h encodings). There
 * are no ids: a quantized row's id and tombstone are the f32 block's at the
 * same slot, so deletes touch the f32 block only.
 *
 * Invariants (rdb_qblocks_check verifies them):
 *   Q1. meta "quantize" (absent = f32) names the kind. For f32 there are no
 *       quantized blocks; otherwise every f32 block has a quantized block of
 *       the same number and count, and there are no others.
 *   Q2. Each quantized row is the encoding of the f32 row at its slot.
 *   Q3. Under f32, quantized blocks may exist only with meta "qstaged": a
 *       conversion from f32 writes them over several txns (the scan ignores
 *       them, since meta says f32) and its last txn sets meta "quantize"
 *       and removes the marker; Q1-Q2 then hold because no other writer
 *       came between (the caller checks txn ids). What a crash leaves is
 *       dropped by the next quantize, compact or full rebuild.
 * Every write of an f32 block with appended rows (the pending tail's flush,
 * compact, a rewrite) writes its quantized block in the same txn. The kind
 * is read from meta in each txn, so a process that opened the store before
 * another converted it still writes what the meta says.
 *
 * The encoders repeat engine/kernels/quant.c's (the index links without
 * the kernels); test_kernels_quant_store checks they agree byte for byte.
 */
#include "index/ivf.h"
#include "index/store_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define RDB_QBLOCK_MAGIC 0x51424452u /* "RDBQ" */

static const char *const g_qnames[] = { "f32", "bf16", "int8", "binary" };

const char *rdb_qkind_name(uint32_t kind)
{
	return kind < 4 ? g_qnames[kind] : NULL;
}

int rdb_qkind_parse(const char *name, uint32_t *out)
{
	for (uint32_t i = 0; name && i < 4; i++)
		if (strcmp(name, g_qnames[i]) == 0) {
			*out = i;
			return 0;
		}
	return -1;
}

static size_t qrow_bytes(uint32_t kind, size_t dim)
{
	return kind == 1 ? dim * 2 : kind == 2 ? dim : kind == 3 ? (dim + 63) / 64 * 8 : dim * 4;
}

static size_t qcodes_off(uint32_t kind, uint32_t count)
{
	size_t h = RDB_BLOCK_HDR + (kind == 2 ? (size_t)count * 4 : 0);
	return (h + 63) & ~(size_t)63;
}

size_t rdb_qblock_size(uint32_t kind, uint32_t count, uint32_t dim)
{
	return qcodes_off(kind, count) + (size_t)count * qrow_bytes(kind, dim);
}

static uint16_t to_bf16(float x)
{
	uint32_t u;
	memcpy(&u, &x, sizeof u);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 0x40u);
	u += 0x7fffu + ((u >> 16) & 1u);
	return (uint16_t)(u >> 16);
}

/* Encode count rows into a value laid out as above (p: rdb_qblock_size bytes). */
static void qencode(uint32_t kind, const float *vecs, uint32_t count, uint32_t dim, uint8_t *p)
{
	size_t off = qcodes_off(kind, count), rb = qrow_bytes(kind, dim);
	memset(p, 0, off);
	rdb_st32(p, RDB_QBLOCK_MAGIC);
	rdb_st32(p + 4, count);
	rdb_st32(p + 8, dim);
	rdb_st32(p + 12, kind);
	for (uint32_t i = 0; i < count; i++) {
		const float *v = vecs + (size_t)i * dim;
		uint8_t *c = p + off + (size_t)i * rb;
		if (kind == 1) {
			for (uint32_t j = 0; j < dim; j++) {
				uint16_t b = to_bf16(v[j]);
				memcpy(c + (size_t)j * 2, &b, 2);
			}
		} else if (kind == 2) {
			float m = 0, scale = 0;
			for (uint32_t j = 0; j < dim; j++)
				if (fabsf(v[j]) > m)
					m = fabsf(v[j]);
			if (!(m > 0) || !isfinite(m)) {
				memset(c, 0, dim);
			} else {
				const float inv = 127.0f / m;
				for (uint32_t j = 0; j < dim; j++) {
					float q = nearbyintf(v[j] * inv);
					if (!(q == q))
						q = 0;
					c[j] = (uint8_t)(int8_t)(q > 127.0f ? 127 : q < -127.0f ? -127 : (int)q);
				}
				scale = m / 127.0f;
			}
			memcpy(p + RDB_BLOCK_HDR + (size_t)i * 4, &scale, 4);
		} else {
			memset(c, 0, rb);
			for (uint32_t j = 0; j < dim; j++)
				if (v[j] > 0)
					c[j >> 3] |= (uint8_t)(1u << (j & 7));
		}
	}
}

void rdb_qencode_block(uint32_t kind, const float *vecs, uint32_t count, uint32_t dim, void *out)
{
	qencode(kind, vecs, count, dim, out);
}

uint32_t rdb_txn_quant(rdb_txn *t)
{
	if (!t->quant_known) {
		MDB_val k = { 8, (void *)"quantize" }, v;
		t->quant = 0;
		if (mdb_get(t->txn, t->s->meta, &k, &v) == 0 && v.mv_size == 8)
			t->quant = (uint32_t)rdb_ld64(v.mv_data);
		t->quant_known = 1;
	}
	return t->quant;
}

/* The qvectors dbi; created in a write txn when @p create. 0 ok, else MDB rc
 * (MDB_NOTFOUND: none yet). */
static int qdbi(rdb_txn *t, int create, MDB_dbi *out)
{
	rdb_store *s = t->s;
	if (s->have_q) {
		*out = s->qvectors;
		return 0;
	}
	/* A knowledge base made before quantization: the db appears with the
	 * first conversion. The handle is not cached, since the txn that
	 * creates it may abort (and be retried after growing the map). */
	return mdb_dbi_open(t->txn, "qvectors", create && t->write ? MDB_CREATE : 0, out);
}

/* Q3's marker: meta "qstaged" = the kind being staged (u64 LE). */
#define STAGED_KEY "qstaged"

static int staged_kind(rdb_txn *t, uint32_t *kind)
{
	MDB_val k = { sizeof STAGED_KEY - 1, (void *)STAGED_KEY }, v;
	int rc = mdb_get(t->txn, t->s->meta, &k, &v);
	if (rc == 0)
		*kind = v.mv_size == 8 ? (uint32_t)rdb_ld64(v.mv_data) : 0;
	return rc;
}

static int staged_del(rdb_txn *t)
{
	MDB_val k = { sizeof STAGED_KEY - 1, (void *)STAGED_KEY };
	int rc = mdb_del(t->txn, t->s->meta, &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static ragdb_status qblock_put_kind(rdb_txn *t, uint32_t kind, uint32_t block_no,
                                    const float *vecs, uint32_t count, rdb_err *err)
{
	rdb_store *s = t->s;
	MDB_dbi dbi;
	int rc = qdbi(t, 1, &dbi);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "opening the quantized vector blocks");
	uint8_t kb[4];
	rdb_put_be32(kb, block_no);
	MDB_val k = { 4, kb }, v = { rdb_qblock_size(kind, count, s->m.dim), NULL };
	if ((rc = mdb_put(t->txn, dbi, &k, &v, MDB_RESERVE)))
		return rdb_mdb_fail(s, rc, err, "writing a quantized vector block");
	qencode(kind, vecs, count, s->m.dim, v.mv_data);
	return RAGDB_OK;
}

ragdb_status rdb_qblock_put(rdb_txn *t, uint32_t block_no, const float *vecs, uint32_t count,
                            rdb_err *err)
{
	uint32_t kind = rdb_txn_quant(t);
	if (kind == 0)
		return RAGDB_OK;
	if (kind > 3)
		return rdb_corrupt(t->s, err, "meta \"quantize\" = %u is not a known kind", kind);
	return qblock_put_kind(t, kind, block_no, vecs, count, err);
}

ragdb_status rdb_qblock_del(rdb_txn *t, uint32_t block_no, rdb_err *err)
{
	rdb_store *s = t->s;
	if (rdb_txn_quant(t) == 0)
		return RAGDB_OK;
	MDB_dbi dbi;
	int rc = qdbi(t, 0, &dbi);
	uint8_t kb[4];
	rdb_put_be32(kb, block_no);
	MDB_val k = { 4, kb };
	if (rc == 0)
		rc = mdb_del(t->txn, dbi, &k, NULL);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "deleting a quantized vector block");
	return RAGDB_OK;
}

ragdb_status rdb_qblocks_rebuild(rdb_txn *t, rdb_err *err)
{
	rdb_store *s = t->s;
	uint32_t kind = rdb_txn_quant(t), dim = s->m.dim;
	ragdb_status st = RAGDB_OK;
	MDB_dbi dbi;
	int rc = qdbi(t, kind != 0, &dbi);
	if (rc == MDB_NOTFOUND && kind == 0)
		return RAGDB_OK;
	if (rc)
		return rdb_mdb_fail(s, rc, err, "opening the quantized vector blocks");
	if ((rc = mdb_drop(t->txn, dbi, 0)) || (rc = staged_del(t)))
		return rdb_mdb_fail(s, rc, err, "emptying the quantized vector blocks");
	if (kind == 0)
		return RAGDB_OK;
	if ((st = rdb_tail_flush(t, err)))
		return st;
	float *buf = malloc((size_t)s->m.block_cap * dim * 4);
	if (!buf)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory quantizing a vector block");
	MDB_cursor *cur;
	if ((rc = mdb_cursor_open(t->txn, t->vec, &cur))) {
		st = rdb_mdb_fail(s, rc, err, "opening a cursor on the vector blocks");
		goto out_free;
	}
	MDB_val k, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 4) {
			st = rdb_corrupt(s, err, "a vector block key is %zu bytes, expected 4", k.mv_size);
			goto out_close;
		}
		uint32_t no = rdb_get_be32(k.mv_data), count, live;
		if ((st = rdb_block_parse(s, no, &v, &count, &live, err)))
			goto out_close;
		/* Copy: a small value is only 2-byte aligned in its leaf page. */
		memcpy(buf, (const uint8_t *)v.mv_data + rdb_block_vecs_off(count),
		       (size_t)count * dim * 4);
		if ((st = rdb_qblock_put(t, no, buf, count, err)))
			goto out_close;
	}
	if (rc != MDB_NOTFOUND)
		st = rdb_mdb_fail(s, rc, err, "reading the vector blocks");
out_close:
	mdb_cursor_close(cur);
out_free:
	free(buf);
	return st;
}

ragdb_status rdb_store_set_quant_blocks(rdb_txn *t, uint32_t kind, rdb_err *err)
{
	rdb_store *s = t->s;
	if (!t->write)
		return rdb_err_set(err, RAGDB_EINVAL, "changing the quantization needs a write txn");
	if (kind > 3)
		return rdb_err_set(err, RAGDB_EINVAL, "unknown quantization %u; use f32, bf16, int8 "
		                   "or binary", kind);
	uint8_t b[8];
	rdb_st64(b, kind);
	MDB_val k = { 8, (void *)"quantize" }, v = { 8, b };
	int rc = mdb_put(t->txn, s->meta, &k, &v, 0);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "writing meta \"quantize\"");
	t->quant = kind;
	t->quant_known = 1;
	return rdb_qblocks_rebuild(t, err);
}

ragdb_status rdb_store_set_quant(rdb_txn *t, uint32_t kind, rdb_err *err)
{
	ragdb_status st = rdb_store_set_quant_blocks(t, kind, err);
	/* The IVF lists hold codes of the same kind (index/ivf.h): re-encoded
	 * in this txn, never left in the old encoding. */
	int converted;
	return st ? st : rdb_ivf_requant(t, kind, &converted, err);
}

/* --- staged conversion from f32 (Q3) --- */

ragdb_status rdb_qblocks_stage_begin(rdb_txn *t, uint32_t kind, rdb_err *err)
{
	rdb_store *s = t->s;
	if (rdb_txn_quant(t) != 0 || kind == 0 || kind > 3)
		return rdb_err_set(err, RAGDB_EINVAL, "staged quantized blocks are for f32 to another "
		                   "kind only");
	MDB_dbi dbi;
	int rc = qdbi(t, 1, &dbi);
	if (rc == 0)
		rc = mdb_drop(t->txn, dbi, 0); /* what an unfinished conversion left */
	uint8_t b[8];
	rdb_st64(b, kind);
	MDB_val k = { sizeof STAGED_KEY - 1, (void *)STAGED_KEY }, v = { 8, b };
	if (rc == 0)
		rc = mdb_put(t->txn, s->meta, &k, &v, 0);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "starting a staged quantization");
	return RAGDB_OK;
}

ragdb_status rdb_qblocks_stage(rdb_txn *t, uint32_t kind, uint32_t *next_no, size_t budget,
                               size_t *bytes, int *done, rdb_err *err)
{
	rdb_store *s = t->s;
	uint32_t dim = s->m.dim;
	*done = 0;
	float *buf = malloc((size_t)s->m.block_cap * dim * 4);
	if (!buf)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory quantizing a vector block");
	MDB_cursor *cur;
	int rc = mdb_cursor_open(t->txn, t->vec, &cur);
	if (rc) {
		free(buf);
		return rdb_mdb_fail(s, rc, err, "opening a cursor on the vector blocks");
	}
	ragdb_status st = RAGDB_OK;
	uint8_t kb[4];
	rdb_put_be32(kb, *next_no);
	MDB_val k = { 4, kb }, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (*bytes >= budget)
			break;
		if (k.mv_size != 4) {
			st = rdb_corrupt(s, err, "a vector block key is %zu bytes, expected 4", k.mv_size);
			break;
		}
		uint32_t no = rdb_get_be32(k.mv_data), count, live;
		if ((st = rdb_block_parse(s, no, &v, &count, &live, err)))
			break;
		/* Copy: a small value is only 2-byte aligned in its leaf page. */
		memcpy(buf, (const uint8_t *)v.mv_data + rdb_block_vecs_off(count),
		       (size_t)count * dim * 4);
		if ((st = qblock_put_kind(t, kind, no, buf, count, err)))
			break;
		*bytes += rdb_qblock_size(kind, count, dim);
		*next_no = no + 1;
	}
	if (!st && rc == MDB_NOTFOUND)
		*done = 1;
	else if (!st && rc)
		st = rdb_mdb_fail(s, rc, err, "reading the vector blocks");
	mdb_cursor_close(cur);
	free(buf);
	return st;
}

ragdb_status rdb_qblocks_stage_finish(rdb_txn *t, uint32_t kind, rdb_err *err)
{
	rdb_store *s = t->s;
	uint32_t staged = 0;
	int rc = staged_kind(t, &staged);
	if (rc == MDB_NOTFOUND || (rc == 0 && staged != kind) || rdb_txn_quant(t) != 0)
		return rdb_err_set(err, RAGDB_EBUSY, "the staged quantized blocks were removed or "
		                   "replaced meanwhile; run `ragdb quantize` again");
	uint8_t b[8];
	rdb_st64(b, kind);
	MDB_val k = { 8, (void *)"quantize" }, v = { 8, b };
	if (rc || (rc = staged_del(t)) || (rc = mdb_put(t->txn, s->meta, &k, &v, 0)))
		return rdb_mdb_fail(s, rc, err, "switching to the staged quantized blocks");
	t->quant = kind;
	t->quant_known = 1;
	return RAGDB_OK;
}

ragdb_status rdb_qblocks_usage(rdb_txn *t, uint32_t *staged, uint64_t *bytes, rdb_err *err)
{
	MDB_dbi dbi;
	MDB_stat ms;
	*staged = 0;
	*bytes = 0;
	int rc = staged_kind(t, staged);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	if (rc == 0 && (rc = qdbi(t, 0, &dbi)) == 0 && (rc = mdb_stat(t->txn, dbi, &ms)) == 0)
		*bytes = (uint64_t)(ms.ms_branch_pages + ms.ms_leaf_pages + ms.ms_overflow_pages) *
		         ms.ms_psize;
	if (rc && rc != MDB_NOTFOUND)
		return rdb_mdb_fail(t->s, rc, err, "reading the quantized blocks' size");
	return RAGDB_OK;
}

ragdb_status rdb_qblocks_unstage(rdb_txn *t, uint64_t *bytes, rdb_err *err)
{
	rdb_store *s = t->s;
	uint32_t staged;
	int rc = staged_kind(t, &staged);
	if (rc == MDB_NOTFOUND)
		return RAGDB_OK;
	MDB_dbi dbi;
	MDB_stat ms;
	if (rc == 0 && rdb_txn_quant(t) == 0 && (rc = qdbi(t, 0, &dbi)) == 0) {
		if (bytes && (rc = mdb_stat(t->txn, dbi, &ms)) == 0)
			*bytes += (uint64_t)(ms.ms_branch_pages + ms.ms_leaf_pages + ms.ms_overflow_pages) *
			          ms.ms_psize;
		if (rc == 0)
			rc = mdb_drop(t->txn, dbi, 0);
	}
	if (rc == MDB_NOTFOUND)
		rc = 0;
	if (rc == 0)
		rc = staged_del(t);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "removing the blocks of an unfinished quantization");
	return RAGDB_OK;
}

ragdb_status rdb_qblocks_get(rdb_txn *t, const rdb_block_view *views, size_t n, uint32_t *kind,
                             rdb_qview **out, rdb_err *err)
{
	rdb_store *s = t->s;
	uint32_t kd = rdb_txn_quant(t);
	ragdb_status st;
	if (kd == 0) {
		*kind = 0;
		*out = NULL;
		return RAGDB_OK;
	}
	if (kd > 3)
		return rdb_corrupt(s, err, "meta \"quantize\" = %u is not a known kind", kd);
	if (t->write && (st = rdb_tail_flush(t, err)))
		return st;
	MDB_dbi dbi;
	int rc = qdbi(t, 0, &dbi);
	if (rc)
		return rc == MDB_NOTFOUND
		       ? rdb_corrupt(s, err, "meta says %s but there are no quantized blocks; run "
		                     "`ragdb quantize %s` to rebuild them", g_qnames[kd], g_qnames[kd])
		       : rdb_mdb_fail(s, rc, err, "opening the quantized vector blocks");
	int hit = rdb_viewcache_qblocks(t, kd, n, out);
	if (hit > 0) {
		*kind = kd;
		return RAGDB_OK;
	}
	if (hit < 0)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory listing quantized blocks");
	int copied = 0;
	rdb_qview *qv = calloc(n ? n : 1, sizeof *qv);
	if (!qv)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory listing quantized blocks");
	for (size_t i = 0; i < n; i++) {
		uint8_t kb[4];
		rdb_put_be32(kb, views[i].block_no);
		MDB_val k = { 4, kb }, v;
		if ((rc = mdb_get(t->txn, dbi, &k, &v))) {
			st = rc == MDB_NOTFOUND
			     ? rdb_corrupt(s, err, "vector block %u has no quantized block; run `ragdb "
			                   "quantize %s` to rebuild them", views[i].block_no, g_qnames[kd])
			     : rdb_mdb_fail(s, rc, err, "reading a quantized vector block");
			goto out_free;
		}
		const uint8_t *p = v.mv_data;
		if (v.mv_size < RDB_BLOCK_HDR || rdb_ld32(p) != RDB_QBLOCK_MAGIC ||
		    rdb_ld32(p + 4) != views[i].count || rdb_ld32(p + 8) != s->m.dim ||
		    rdb_ld32(p + 12) != kd ||
		    v.mv_size != rdb_qblock_size(kd, views[i].count, s->m.dim)) {
			st = rdb_corrupt(s, err, "quantized block %u does not match its vector block "
			                 "(%u %s rows of %u); run `ragdb quantize %s`", views[i].block_no,
			                 views[i].count, g_qnames[kd], s->m.dim, g_qnames[kd]);
			goto out_free;
		}
		if ((uintptr_t)p % 8 != 0) {
			void *c = aligned_alloc(64, (v.mv_size + 63) & ~(size_t)63);
			if (!c) {
				st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory copying a block");
				goto out_free;
			}
			memcpy(c, p, v.mv_size);
			if ((st = rdb_txn_keep(t, c, err))) {
				free(c);
				goto out_free;
			}
			p = c;
			copied = 1;
		}
		qv[i].codes = p + qcodes_off(kd, views[i].count);
		qv[i].scales = kd == 2 ? (const float *)(const void *)(p + RDB_BLOCK_HDR) : NULL;
	}
	if (!copied)
		rdb_viewcache_put_qblocks(t, kd, qv, n);
	*kind = kd;
	*out = qv;
	return RAGDB_OK;
out_free:
	free(qv);
	return st;
}

ragdb_status rdb_qblocks_check(rdb_txn *t, void (*report)(void *ctx, const char *msg), void *rctx,
                               rdb_err *err)
{
	rdb_store *s = t->s;
	uint32_t kind = rdb_txn_quant(t), dim = s->m.dim;
	char msg[256];
	MDB_dbi dbi;
	MDB_stat ms;
	int rc = qdbi(t, 0, &dbi);
	if (rc == MDB_NOTFOUND) {
		if (kind != 0) {
			snprintf(msg, sizeof msg, "meta says quantize %s but there are no quantized "
			         "blocks", rdb_qkind_name(kind) ? rdb_qkind_name(kind) : "?");
			report(rctx, msg);
		}
		return RAGDB_OK;
	}
	if (rc)
		return rdb_mdb_fail(s, rc, err, "opening the quantized vector blocks");
	if (kind > 3) {
		snprintf(msg, sizeof msg, "meta \"quantize\" = %u is not a known kind", kind);
		report(rctx, msg);
		return RAGDB_OK;
	}
	if ((rc = mdb_stat(t->txn, dbi, &ms)))
		return rdb_mdb_fail(s, rc, err, "counting quantized blocks");
	uint32_t staged;
	if (kind == 0) {
		/* Q3: a conversion from f32 under way, or one a crash stopped. */
		if (ms.ms_entries && staged_kind(t, &staged) != 0) {
			snprintf(msg, sizeof msg, "%zu quantized blocks left in a f32 knowledge base",
			         (size_t)ms.ms_entries);
			report(rctx, msg);
		}
		return RAGDB_OK;
	}
	rdb_block_view *views = NULL;
	size_t n = 0;
	ragdb_status st = rdb_blocks_get(t, &views, &n, err);
	if (st)
		return st;
	if (ms.ms_entries != n) {
		snprintf(msg, sizeof msg, "%zu quantized blocks for %zu vector blocks",
		         (size_t)ms.ms_entries, n);
		report(rctx, msg);
	}
	uint8_t *enc = malloc(rdb_qblock_size(kind, s->m.block_cap, dim));
	float *buf = malloc((size_t)s->m.block_cap * dim * 4);
	if (!enc || !buf) {
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory checking quantized blocks");
		goto out_free;
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t kb[4];
		rdb_put_be32(kb, views[i].block_no);
		MDB_val k = { 4, kb }, v;
		if ((rc = mdb_get(t->txn, dbi, &k, &v))) {
			if (rc != MDB_NOTFOUND) {
				st = rdb_mdb_fail(s, rc, err, "reading a quantized vector block");
				goto out_free;
			}
			snprintf(msg, sizeof msg, "vector block %u has no quantized block",
			         views[i].block_no);
			report(rctx, msg);
			continue;
		}
		uint32_t count = views[i].count;
		size_t want = rdb_qblock_size(kind, count, dim);
		memcpy(buf, views[i].vecs, (size_t)count * dim * 4);
		qencode(kind, buf, count, dim, enc);
		if (v.mv_size != want || memcmp(v.mv_data, enc, want) != 0) {
			snprintf(msg, sizeof msg, "quantized block %u is not the %s encoding of vector "
			         "block %u (%u rows)", views[i].block_no, rdb_qkind_name(kind),
			         views[i].block_no, count);
			report(rctx, msg);
		}
	}
	st = RAGDB_OK;
out_free:
	free(enc);
	free(buf);
	free(views);
	return st;
}

ragdb_status rdb_chunk_slot(rdb_txn *t, uint64_t chunk_id, uint32_t *block, uint32_t *slot,
                            rdb_err *err)
{
	rdb_store *s = t->s;
	uint8_t kb[8];
	rdb_put_be64(kb, chunk_id);
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
	*block = r.block;
	*slot = r.slot;
	return RAGDB_OK;
}
