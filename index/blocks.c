/*
 * index/blocks.c — vector blocks: appending through the pending tail of a
 * write txn, tombstoning slots, and handing blocks to the scan.
 *
 * A block value is: u32 magic, u32 count, u32 dim, u32 live (little-endian),
 * then u64 ids[count], then zero padding up to the next multiple of 64 bytes
 * from the value start, then f32 vecs[count*dim]. Its size is a function of
 * count, so tombstoning rewrites it with the same size (LMDB overwrites a
 * dirty overflow page in place) while appending changes its size — which is
 * why appends go through the tail buffer and reach LMDB once per block per txn.
 *
 * Block numbers come from the next_block counter and only grow, except that
 * rdb_store_compact renumbers from 0. Appends go to the last block (highest
 * number) while it has room.
 *
 * With quantization on, every flush of a block also writes its quantized
 * block (qblocks.c); tombstones live in the f32 block's ids only.
 */
#include "index/store_int.h"

#include <stdlib.h>

ragdb_status rdb_block_numbers(rdb_txn *t, uint32_t **nos, size_t *n, rdb_err *err)
{
	return rdb_block_numbers_in(t, t->vec, nos, n, err);
}

ragdb_status rdb_block_numbers_in(rdb_txn *t, MDB_dbi dbi, uint32_t **nos, size_t *n,
                                  rdb_err *err)
{
	rdb_store *s = t->s;
	MDB_stat ms;
	int rc;
	if ((rc = mdb_stat(t->txn, dbi, &ms)))
		return rdb_mdb_fail(s, rc, err, "counting vector blocks");
	size_t nb = 0, cap = ms.ms_entries ? ms.ms_entries : 1;
	uint32_t *a = malloc(cap * sizeof *a);
	if (!a)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory listing %zu vector blocks", cap);
	MDB_cursor *cur;
	if ((rc = mdb_cursor_open(t->txn, dbi, &cur))) {
		free(a);
		return rdb_mdb_fail(s, rc, err, "listing vector blocks");
	}
	MDB_val k, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && nb < cap;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 4) {
			rc = MDB_CORRUPTED;
			break;
		}
		a[nb++] = rdb_get_be32(k.mv_data);
	}
	mdb_cursor_close(cur);
	if (rc && rc != MDB_NOTFOUND) {
		free(a);
		return rdb_mdb_fail(s, rc, err, "listing vector blocks");
	}
	*nos = a;
	*n = nb;
	return RAGDB_OK;
}

ragdb_status rdb_block_parse(const rdb_store *s, uint32_t block_no, const MDB_val *v,
                             uint32_t *count, uint32_t *live, rdb_err *err)
{
	const uint8_t *p = v->mv_data;
	if (v->mv_size < RDB_BLOCK_HDR)
		return rdb_corrupt(s, err, "vector block %u is %zu bytes, shorter than its header",
		                   block_no, v->mv_size);
	uint32_t magic = rdb_ld32(p), n = rdb_ld32(p + 4), dim = rdb_ld32(p + 8), lv = rdb_ld32(p + 12);
	if (magic != RDB_BLOCK_MAGIC)
		return rdb_corrupt(s, err, "vector block %u has magic 0x%08x, expected 0x%08x",
		                   block_no, magic, RDB_BLOCK_MAGIC);
	if (dim != s->m.dim)
		return rdb_corrupt(s, err, "vector block %u has dimension %u, the knowledge base %u",
		                   block_no, dim, s->m.dim);
	if (n > s->m.block_cap || lv > n)
		return rdb_corrupt(s, err, "vector block %u holds %u vectors (%u live); capacity is %u",
		                   block_no, n, lv, s->m.block_cap);
	if (v->mv_size != rdb_block_size(n, dim))
		return rdb_corrupt(s, err, "vector block %u is %zu bytes; %u vectors of %u need %zu",
		                   block_no, v->mv_size, n, dim, rdb_block_size(n, dim));
	*count = n;
	*live = lv;
	return RAGDB_OK;
}

void rdb_tail_free(rdb_tail *tl)
{
	free(tl->ids);
	free(tl->vecs);
	memset(tl, 0, sizeof *tl);
}

static ragdb_status tail_alloc(rdb_txn *t, rdb_err *err)
{
	rdb_tail *tl = &t->tail;
	if (tl->ids)
		return RAGDB_OK;
	size_t cap = t->s->m.block_cap, dim = t->s->m.dim;
	tl->ids = malloc(cap * sizeof *tl->ids);
	tl->vecs = malloc(cap * dim * sizeof *tl->vecs);
	if (!tl->ids || !tl->vecs) {
		rdb_tail_free(tl);
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory for a vector block (%zu x %zu)",
		                   cap, dim);
	}
	return RAGDB_OK;
}

/* Load the last block into the tail if it has room, else start a new one. */
static ragdb_status tail_load(rdb_txn *t, rdb_err *err)
{
	rdb_store *s = t->s;
	rdb_tail *tl = &t->tail;
	ragdb_status st = tail_alloc(t, err);
	if (st)
		return st;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(t->txn, t->vec, &cur);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "opening a cursor on the vector blocks");
	MDB_val k, v;
	rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	if (rc && rc != MDB_NOTFOUND) {
		st = rdb_mdb_fail(s, rc, err, "reading the last vector block");
		goto out_close;
	}
	if (rc == 0) {
		if (k.mv_size != 4) {
			st = rdb_corrupt(s, err, "a vector block key is %zu bytes, expected 4", k.mv_size);
			goto out_close;
		}
		uint32_t no = rdb_get_be32(k.mv_data), n, live;
		if ((st = rdb_block_parse(s, no, &v, &n, &live, err)))
			goto out_close;
		if (n < s->m.block_cap) {
			const uint8_t *p = v.mv_data;
			memcpy(tl->ids, p + RDB_BLOCK_HDR, (size_t)n * 8);
			memcpy(tl->vecs, p + rdb_block_vecs_off(n), (size_t)n * s->m.dim * 4);
			tl->block_no = no;
			tl->count = n;
			tl->live = live;
			tl->in_db = 1;
			tl->dirty = 0;
			tl->active = 1;
			goto out_close;
		}
	}
	if (t->c.next_block > UINT32_MAX) {
		st = rdb_err_set(err, RAGDB_EMAPFULL, "%s has used all 2^32 vector block numbers; "
		                 "run `ragdb compact`", s->dir);
		goto out_close;
	}
	tl->block_no = (uint32_t)t->c.next_block++;
	t->c_dirty = 1;
	tl->count = tl->live = 0;
	tl->in_db = 0;
	tl->dirty = 1;
	tl->active = 1;
out_close:
	mdb_cursor_close(cur);
	return st;
}

ragdb_status rdb_tail_flush(rdb_txn *t, rdb_err *err)
{
	rdb_store *s = t->s;
	rdb_tail *tl = &t->tail;
	if (!tl->active)
		return RAGDB_OK;
	if (tl->dirty) {
		uint8_t kb[4];
		rdb_put_be32(kb, tl->block_no);
		MDB_val k = { 4, kb }, v = { rdb_block_size(tl->count, s->m.dim), NULL };
		int rc = mdb_put(t->txn, t->vec, &k, &v, MDB_RESERVE);
		if (rc)
			return rdb_mdb_fail(s, rc, err, "writing a vector block");
		uint8_t *p = v.mv_data;
		rdb_st32(p, RDB_BLOCK_MAGIC);
		rdb_st32(p + 4, tl->count);
		rdb_st32(p + 8, s->m.dim);
		rdb_st32(p + 12, tl->live);
		memcpy(p + RDB_BLOCK_HDR, tl->ids, (size_t)tl->count * 8);
		size_t off = rdb_block_vecs_off(tl->count);
		memset(p + RDB_BLOCK_HDR + (size_t)tl->count * 8, 0,
		       off - RDB_BLOCK_HDR - (size_t)tl->count * 8);
		memcpy(p + off, tl->vecs, (size_t)tl->count * s->m.dim * 4);
		/* Its quantized copy in the same txn (qblocks.c, Q1-Q2). */
		ragdb_status st = rdb_qblock_put(t, tl->block_no, tl->vecs, tl->count, err);
		if (st)
			return st;
	}
	tl->active = tl->dirty = tl->in_db = 0;
	tl->count = tl->live = 0;
	return RAGDB_OK;
}

ragdb_status rdb_tail_append(rdb_txn *t, uint64_t id, const float *vec, uint32_t *block,
                             uint32_t *slot, rdb_err *err)
{
	rdb_tail *tl = &t->tail;
	ragdb_status st;
	if ((st = rdb_ivf_on_append(t, id, vec, err)))
		return st;
	if (!tl->active && (st = tail_load(t, err)))
		return st;
	uint32_t i = tl->count++;
	tl->ids[i] = id;
	memcpy(tl->vecs + (size_t)i * t->s->m.dim, vec, (size_t)t->s->m.dim * 4);
	tl->live++;
	tl->dirty = 1;
	*block = tl->block_no;
	*slot = i;
	if (tl->count == t->s->m.block_cap)
		return rdb_tail_flush(t, err);
	return RAGDB_OK;
}

static int ref_cmp(const void *a, const void *b)
{
	const rdb_slot_ref *x = a, *y = b;
	if (x->block != y->block)
		return x->block < y->block ? -1 : 1;
	return x->slot < y->slot ? -1 : x->slot > y->slot;
}

ragdb_status rdb_slots_kill(rdb_txn *t, rdb_slot_ref *refs, size_t n, rdb_err *err)
{
	rdb_store *s = t->s;
	rdb_tail *tl = &t->tail;
	ragdb_status st;
	if (n > 1)
		qsort(refs, n, sizeof *refs, ref_cmp);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && refs[j].block == refs[i].block)
			j++;
		uint32_t bno = refs[i].block;
		if (tl->active && tl->block_no == bno) {
			for (size_t r = i; r < j; r++) {
				if (refs[r].slot >= tl->count || tl->ids[refs[r].slot] != refs[r].id)
					return rdb_corrupt(s, err, "chunk %llu names block %u slot %u, which "
					                   "does not hold it", (unsigned long long)refs[r].id,
					                   bno, refs[r].slot);
				if ((st = rdb_ivf_on_kill(t, refs[r].id, tl->vecs + (size_t)refs[r].slot *
				                          s->m.dim, err)))
					return st;
				tl->ids[refs[r].slot] = 0;
				tl->live--;
			}
			tl->dirty = 1;
		} else {
			uint8_t kb[4];
			rdb_put_be32(kb, bno);
			MDB_val k = { 4, kb }, v;
			int rc = mdb_get(t->txn, t->vec, &k, &v);
			if (rc == MDB_NOTFOUND)
				return rdb_corrupt(s, err, "chunk %llu names vector block %u, which does "
				                   "not exist", (unsigned long long)refs[i].id, bno);
			if (rc)
				return rdb_mdb_fail(s, rc, err, "reading a vector block");
			uint32_t count, live;
			if ((st = rdb_block_parse(s, bno, &v, &count, &live, err)))
				return st;
			/* Copy, patch, put back at the same size: LMDB rewrites it in place
			 * when the pages are already dirty in this txn. */
			if ((st = rdb_buf_reserve(&t->scratch, v.mv_size, err)))
				return st;
			uint8_t *p = (uint8_t *)t->scratch.data;
			memcpy(p, v.mv_data, v.mv_size);
			for (size_t r = i; r < j; r++) {
				uint32_t sl = refs[r].slot;
				if (sl >= count || rdb_ld64(p + RDB_BLOCK_HDR + (size_t)sl * 8) != refs[r].id)
					return rdb_corrupt(s, err, "chunk %llu names block %u slot %u, which "
					                   "does not hold it", (unsigned long long)refs[r].id,
					                   bno, sl);
				rdb_st64(p + RDB_BLOCK_HDR + (size_t)sl * 8, 0);
				live--;
				const float *vec = (const float *)(const void *)(p + rdb_block_vecs_off(count) +
				                                                 (size_t)sl * s->m.dim * 4);
				if ((st = rdb_ivf_on_kill(t, refs[r].id, vec, err)))
					return st;
			}
			rdb_st32(p + 12, live);
			MDB_val nv = { v.mv_size, p };
			if ((rc = mdb_put(t->txn, t->vec, &k, &nv, 0)))
				return rdb_mdb_fail(s, rc, err, "rewriting a vector block");
		}
		i = j;
	}
	t->c.vectors_live -= n;
	t->c.vectors_dead += n;
	t->c_dirty = 1;
	return RAGDB_OK;
}

ragdb_status rdb_txn_keep(rdb_txn *t, void *p, rdb_err *err)
{
	ragdb_status st = RAGDB_OK;
	pthread_mutex_lock(&t->lock);
	if (t->n_copies == t->cap_copies) {
		size_t cap = t->cap_copies ? t->cap_copies * 2 : 16;
		void **c = realloc(t->copies, cap * sizeof *c);
		if (!c) {
			st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory");
			goto out_unlock;
		}
		t->copies = c;
		t->cap_copies = cap;
	}
	t->copies[t->n_copies++] = p;
out_unlock:
	pthread_mutex_unlock(&t->lock);
	return st;
}

ragdb_status rdb_blocks_get(rdb_txn *t, rdb_block_view **out, size_t *n, rdb_err *err)
{
	rdb_store *s = t->s;
	ragdb_status st;
	/* In a write txn the pending tail goes to LMDB first, so every view
	 * points into the map. Such views are valid until the next write. */
	if (t->write && (st = rdb_tail_flush(t, err)))
		return st;
	int hit = rdb_viewcache_blocks(t, out, n);
	if (hit > 0)
		return RAGDB_OK;
	if (hit < 0)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory listing vector blocks");
	int copied = 0;
	MDB_stat ms;
	int rc = mdb_stat(t->txn, t->vec, &ms);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "counting vector blocks");
	size_t cap = ms.ms_entries ? ms.ms_entries : 1, len = 0;
	rdb_block_view *views = malloc(cap * sizeof *views);
	if (!views)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory listing %zu vector blocks", cap);
	MDB_cursor *cur;
	if ((rc = mdb_cursor_open(t->txn, t->vec, &cur))) {
		st = rdb_mdb_fail(s, rc, err, "opening a cursor on the vector blocks");
		goto out_free_views;
	}
	MDB_val k, v;
	st = RAGDB_OK;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 4) {
			st = rdb_corrupt(s, err, "a vector block key is %zu bytes, expected 4", k.mv_size);
			goto out_close;
		}
		uint32_t no = rdb_get_be32(k.mv_data), count = 0, live = 0;
		if ((st = rdb_block_parse(s, no, &v, &count, &live, err)))
			goto out_close;
		if (len == cap) { /* ms_entries was exact; defensive only */
			rdb_block_view *nv = realloc(views, cap * 2 * sizeof *views);
			if (!nv) {
				st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory listing vector blocks");
				goto out_close;
			}
			views = nv;
			cap *= 2;
		}
		const uint8_t *p = v.mv_data;
		if ((uintptr_t)p % 8 != 0) {
			/* A small value in a leaf page: copy it to aligned memory. */
			void *c = aligned_alloc(64, (v.mv_size + 63) & ~(size_t)63);
			if (!c) {
				st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory copying a vector block");
				goto out_close;
			}
			memcpy(c, p, v.mv_size);
			if ((st = rdb_txn_keep(t, c, err))) {
				free(c);
				goto out_close;
			}
			p = c;
			copied = 1;
		}
		views[len].block_no = no;
		views[len].count = count;
		views[len].ids = (const uint64_t *)(const void *)(p + RDB_BLOCK_HDR);
		views[len].vecs = (const float *)(const void *)(p + rdb_block_vecs_off(count));
		len++;
	}
	if (rc != MDB_NOTFOUND) {
		st = rdb_mdb_fail(s, rc, err, "reading the vector blocks");
		goto out_close;
	}
	mdb_cursor_close(cur);
	if (!copied)
		rdb_viewcache_put_blocks(t, views, len);
	*out = views;
	*n = len;
	return RAGDB_OK;
out_close:
	mdb_cursor_close(cur);
out_free_views:
	free(views);
	return st;
}

ragdb_status rdb_vectors_append(rdb_txn *t, const uint64_t *ids, const float *vecs, size_t n,
                                rdb_err *err)
{
	if (!t->write)
		return rdb_err_set(err, RAGDB_EINVAL, "rdb_vectors_append needs a write transaction");
	for (size_t i = 0; i < n; i++)
		if (ids[i] == 0)
			return rdb_err_set(err, RAGDB_EINVAL, "vector %zu has id 0, which marks a "
			                   "tombstone; ids must be non-zero", i);
	for (size_t i = 0; i < n; i++) {
		uint32_t b, sl;
		ragdb_status st = rdb_tail_append(t, ids[i], vecs + i * t->s->m.dim, &b, &sl, err);
		if (st)
			return st;
	}
	t->c.vectors_live += n;
	t->c_dirty = 1;
	return RAGDB_OK;
}
