/*
 * index/compact.c — rdb_store_compact: rewrites the vector blocks without
 * tombstones, in one write transaction.
 *
 * Live vectors are packed in block order into blocks numbered from 0; each
 * moved vector's chunk record gets its new (block, slot). Streaming is safe
 * in place: output block j is written only once j+1 full blocks' worth of
 * live vectors have been read, so at least j+1 input blocks (numbered >= their
 * position) are consumed, and each input block is copied out before its
 * slots are processed. Input blocks numbered past the last output block are
 * deleted at the end. A full block without tombstones that would land at its
 * own number is left untouched.
 */
#include "index/store_int.h"

#include <stdlib.h>

typedef struct packer {
	rdb_txn *t;
	uint32_t no;     /* next output block number */
	uint32_t count;
	uint64_t *ids;
	float *vecs;
} packer;

static ragdb_status pack_flush(packer *pk, rdb_err *err)
{
	rdb_store *s = pk->t->s;
	if (pk->count == 0)
		return RAGDB_OK;
	uint8_t kb[4];
	rdb_put_be32(kb, pk->no);
	MDB_val k = { 4, kb }, v = { rdb_block_size(pk->count, s->m.dim), NULL };
	int rc = mdb_put(pk->t->txn, s->vectors, &k, &v, MDB_RESERVE);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "writing a compacted vector block");
	uint8_t *p = v.mv_data;
	memset(p, 0, rdb_block_vecs_off(pk->count));
	rdb_st32(p, RDB_BLOCK_MAGIC);
	rdb_st32(p + 4, pk->count);
	rdb_st32(p + 8, s->m.dim);
	rdb_st32(p + 12, pk->count);
	memcpy(p + RDB_BLOCK_HDR, pk->ids, (size_t)pk->count * 8);
	memcpy(p + rdb_block_vecs_off(pk->count), pk->vecs, (size_t)pk->count * s->m.dim * 4);
	pk->no++;
	pk->count = 0;
	return RAGDB_OK;
}

/* Point chunk @p id's record at its new place (absent chunks — vectors
 * appended without documents — are left alone). */
static ragdb_status chunk_move(rdb_txn *t, uint64_t id, uint32_t block, uint32_t slot,
                               rdb_err *err)
{
	rdb_store *s = t->s;
	uint8_t kb[8];
	rdb_put_be64(kb, id);
	MDB_val k = { 8, kb }, v;
	int rc = mdb_get(t->txn, s->chunks, &k, &v);
	if (rc == MDB_NOTFOUND)
		return RAGDB_OK;
	if (rc)
		return rdb_mdb_fail(s, rc, err, "reading a chunk to move");
	rdb_chunk_raw r;
	ragdb_status st = rdb_chunk_decode(s, id, &v, &r, err);
	if (st)
		return st;
	if (r.block == block && r.slot == slot)
		return RAGDB_OK;
	if ((st = rdb_buf_reserve(&t->scratch, v.mv_size, err)))
		return st;
	memcpy(t->scratch.data, v.mv_data, v.mv_size);
	rdb_st32((uint8_t *)t->scratch.data + RDB_CHUNK_OFF_BLOCK, block);
	rdb_st32((uint8_t *)t->scratch.data + RDB_CHUNK_OFF_BLOCK + 4, slot);
	MDB_val nv = { v.mv_size, t->scratch.data };
	if ((rc = mdb_put(t->txn, s->chunks, &k, &nv, 0)))
		return rdb_mdb_fail(s, rc, err, "updating a chunk's vector place");
	return RAGDB_OK;
}

static ragdb_status compact_txn(rdb_txn *t, uint64_t *freed, rdb_err *err)
{
	rdb_store *s = t->s;
	uint32_t dim = s->m.dim, cap = s->m.block_cap;
	ragdb_status st;
	int rc;
	uint64_t dead = t->c.vectors_dead, orphans = 0;
	/* What an IVF build that never finished left (a crash). */
	if ((st = rdb_ivf_clear_unused(t, &orphans, err)))
		return st;
	if (dead == 0) {
		*freed = orphans;
		return RAGDB_OK;
	}
	/* The block numbers first: the loop rewrites the database it walks. */
	size_t nb = 0;
	uint32_t *nos = NULL;
	if ((st = rdb_block_numbers(t, &nos, &nb, err)))
		return st;
	uint8_t *in = malloc(rdb_block_size(cap, dim));
	packer pk = { .t = t };
	pk.ids = malloc((size_t)cap * 8);
	pk.vecs = malloc((size_t)cap * dim * 4);
	if (!in || !pk.ids || !pk.vecs) {
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory compacting %s", s->dir);
		goto out_free;
	}

	uint64_t moved_dead = 0;
	for (size_t b = 0; b < nb; b++) {
		uint8_t kb[4];
		rdb_put_be32(kb, nos[b]);
		MDB_val bk = { 4, kb }, bv;
		if ((rc = mdb_get(t->txn, s->vectors, &bk, &bv))) {
			st = rdb_mdb_fail(s, rc, err, "reading a vector block");
			goto out_free;
		}
		uint32_t count, live;
		if ((st = rdb_block_parse(s, nos[b], &bv, &count, &live, err)))
			goto out_free;
		if (pk.count == 0 && nos[b] == pk.no && count == cap && live == cap) {
			pk.no++; /* already packed and in place */
			continue;
		}
		memcpy(in, bv.mv_data, bv.mv_size);
		const uint8_t *vecs = in + rdb_block_vecs_off(count);
		for (uint32_t i = 0; i < count; i++) {
			uint64_t id = rdb_ld64(in + RDB_BLOCK_HDR + (size_t)i * 8);
			if (id == 0) {
				moved_dead++;
				continue;
			}
			uint32_t slot = pk.count++;
			pk.ids[slot] = id;
			memcpy(pk.vecs + (size_t)slot * dim, vecs + (size_t)i * dim * 4, (size_t)dim * 4);
			if ((st = chunk_move(t, id, pk.no, slot, err)))
				goto out_free;
			if (pk.count == cap && (st = pack_flush(&pk, err)))
				goto out_free;
		}
	}
	if ((st = pack_flush(&pk, err)))
		goto out_free;
	for (size_t b = 0; b < nb; b++) {
		if (nos[b] < pk.no)
			continue; /* overwritten by an output block */
		uint8_t kb[4];
		rdb_put_be32(kb, nos[b]);
		MDB_val bk = { 4, kb };
		if ((rc = mdb_del(t->txn, s->vectors, &bk, NULL))) {
			st = rdb_mdb_fail(s, rc, err, "deleting an emptied vector block");
			goto out_free;
		}
	}
	if (moved_dead != dead) {
		st = rdb_corrupt(s, err, "meta counts %llu dead vectors; the blocks hold %llu",
		                 (unsigned long long)dead, (unsigned long long)moved_dead);
		goto out_free;
	}
	t->c.vectors_dead = 0;
	t->c.next_block = pk.no;
	t->c_dirty = 1;
	/* The quantized blocks follow the renumbered f32 ones (qblocks.c Q1). */
	if ((st = rdb_qblocks_rebuild(t, err)))
		goto out_free;
	/* The IVF lists drop their tombstones too (they name chunk ids, not
	 * slots, so nothing else in them changes). */
	if ((st = rdb_ivf_compact(t, err)))
		goto out_free;
	*freed = dead * ((uint64_t)dim * 4 + 8) + orphans;
	st = RAGDB_OK;
out_free:
	free(pk.ids);
	free(pk.vecs);
	free(in);
	free(nos);
	return st;
}

ragdb_status rdb_store_compact(rdb_store *s, uint64_t *freed_bytes, rdb_err *err)
{
	ragdb_status st;
	for (int tries = 0;; tries++) {
		rdb_txn *t;
		if ((st = rdb_txn_begin(s, 1, &t, err)))
			return st;
		uint64_t freed = 0;
		st = compact_txn(t, &freed, err);
		if (!st)
			st = rdb_txn_commit(t, err);
		else
			rdb_txn_abort(t);
		if (st == RAGDB_EMAPFULL && tries < 4) {
			/* The rewrite needs room for new pages before the old are freed. */
			if ((st = rdb_store_grow(s, err)))
				return st;
			continue;
		}
		if (!st && freed_bytes)
			*freed_bytes = freed;
		return st;
	}
}
