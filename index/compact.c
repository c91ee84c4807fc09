/*
 * index/compact.c — compaction of the vector blocks: live vectors packed
 * into blocks numbered from 0, tombstones dropped, in steps of a bounded
 * number of bytes, each step one write transaction that leaves a valid
 * store (so a reader, a crash or an interrupt between steps sees a knowledge
 * base that is simply less compacted).
 *
 * Why steps: LMDB keeps a txn's new pages in memory until it commits, and a
 * block is one overflow value, never spilled. Compacting 1,019,160 x 768 in
 * one txn held 4.7 GB private (benchmarks/bench_txn_memory.sh).
 *
 * A step re-reads where it stands from the store (nothing is carried from
 * the step before, so another process's writes in between are simply part
 * of the input): the prefix of blocks already in place (block i numbered i,
 * full and without tombstones; the last block may be partial) is skipped,
 * and input blocks from there on are streamed into output blocks numbered
 * from the first block out of place. Streaming is safe in place: output
 * block j is written only once j+1 full blocks' worth of live vectors have
 * been read, so at least j+1 input blocks (numbered >= their position) are
 * consumed, and each input block is copied out before its slots are
 * processed. When the step has written its budget it stops after a whole
 * input block: the partly filled output block is written at its number as
 * a short block (the next step reads it back first), consumed input blocks
 * above the last output are deleted, and the blocks not yet read keep their
 * numbers. Each moved vector's chunk record gets its new (block, slot), and
 * each written block its quantized block (qblocks.c Q1), in the same txn.
 */
#include "index/store_int.h"
#include "index/vstage.h"

#include <stdlib.h>

typedef struct packer {
	rdb_txn *t;
	uint32_t no;     /* next output block number */
	uint32_t count;
	uint64_t *ids;
	float *vecs;
	size_t bytes;    /* block bytes written in this step */
} packer;

static ragdb_status pack_flush(packer *pk, rdb_err *err)
{
	rdb_store *s = pk->t->s;
	if (pk->count == 0)
		return RAGDB_OK;
	uint8_t kb[4];
	rdb_put_be32(kb, pk->no);
	MDB_val k = { 4, kb }, v = { rdb_block_size(pk->count, s->m.dim), NULL };
	int rc = mdb_put(pk->t->txn, pk->t->vec, &k, &v, MDB_RESERVE);
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
	pk->bytes += v.mv_size;
	ragdb_status st = rdb_qblock_put(pk->t, pk->no, pk->vecs, pk->count, err);
	pk->no++;
	pk->count = 0;
	return st;
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

static ragdb_status block_get(rdb_txn *t, uint32_t no, MDB_val *v, uint32_t *count,
                              uint32_t *live, rdb_err *err)
{
	rdb_store *s = t->s;
	uint8_t kb[4];
	rdb_put_be32(kb, no);
	MDB_val k = { 4, kb };
	int rc = mdb_get(t->txn, t->vec, &k, v);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "reading a vector block");
	return rdb_block_parse(s, no, v, count, live, err);
}

static ragdb_status block_del(rdb_txn *t, uint32_t no, rdb_err *err)
{
	rdb_store *s = t->s;
	uint8_t kb[4];
	rdb_put_be32(kb, no);
	MDB_val k = { 4, kb };
	int rc = mdb_del(t->txn, t->vec, &k, NULL);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "deleting an emptied vector block");
	return rdb_qblock_del(t, no, err);
}

/* The first position whose block is out of place (n when none is). */
static ragdb_status first_out_of_place(rdb_txn *t, const uint32_t *nos, size_t n, size_t *out,
                                       rdb_err *err)
{
	uint32_t cap = t->s->m.block_cap;
	for (size_t i = 0; i < n; i++) {
		MDB_val v;
		uint32_t count, live;
		ragdb_status st = block_get(t, nos[i], &v, &count, &live, err);
		if (st)
			return st;
		if (nos[i] != i || live != count || (count != cap && i + 1 < n)) {
			*out = i;
			return RAGDB_OK;
		}
	}
	*out = n;
	return RAGDB_OK;
}

ragdb_status rdb_store_compact_step(rdb_txn *t, size_t budget, rdb_compact_step *out,
                                    rdb_err *err)
{
	rdb_store *s = t->s;
	uint32_t dim = s->m.dim, cap = s->m.block_cap;
	ragdb_status st;
	memset(out, 0, sizeof *out);
	/* What an IVF build, a quantize or a re-embed that never finished left
	 * (a crash; a re-embed running in another process then stops). */
	if ((st = rdb_ivf_clear_unused(t, &out->freed, err)) ||
	    (st = rdb_qblocks_unstage(t, &out->freed, err)) ||
	    (st = rdb_vstage_abandon(t, 0, &out->freed, err)))
		return st;
	/* The block numbers first: the step rewrites the database it walks. */
	size_t nb = 0, start = 0;
	uint32_t *nos = NULL;
	if ((st = rdb_block_numbers(t, &nos, &nb, err)))
		return st;
	if ((st = first_out_of_place(t, nos, nb, &start, err)) || start == nb) {
		out->done = 1;
		free(nos);
		return st;
	}
	uint8_t *in = malloc(rdb_block_size(cap, dim));
	packer pk = { .t = t, .no = (uint32_t)start };
	pk.ids = malloc((size_t)cap * 8);
	pk.vecs = malloc((size_t)cap * dim * 4);
	if (!in || !pk.ids || !pk.vecs) {
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory compacting %s", s->dir);
		goto out_free;
	}

	uint64_t dropped = 0;
	size_t b = start;
	while (b < nb) {
		MDB_val bv;
		uint32_t count, live;
		if ((st = block_get(t, nos[b], &bv, &count, &live, err)))
			goto out_free;
		memcpy(in, bv.mv_data, bv.mv_size);
		const uint8_t *vecs = in + rdb_block_vecs_off(count);
		for (uint32_t i = 0; i < count; i++) {
			uint64_t id = rdb_ld64(in + RDB_BLOCK_HDR + (size_t)i * 8);
			if (id == 0) {
				dropped++;
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
		b++;
		/* Two blocks at least: the first may be the short block the step
		 * before left, and a step must get further than that. */
		if (pk.bytes >= budget && b - start >= 2)
			break;
	}
	if ((st = pack_flush(&pk, err)))
		goto out_free;
	/* Consumed blocks above the last output block held only moved vectors. */
	for (size_t i = start; i < b; i++)
		if (nos[i] >= pk.no && (st = block_del(t, nos[i], err)))
			goto out_free;
	if (dropped > t->c.vectors_dead) {
		st = rdb_corrupt(s, err, "meta counts %llu dead vectors; the blocks hold %llu or more",
		                 (unsigned long long)t->c.vectors_dead, (unsigned long long)dropped);
		goto out_free;
	}
	t->c.vectors_dead -= dropped;
	if (b == nb) {
		if (t->c.vectors_dead != 0) {
			st = rdb_corrupt(s, err, "meta counts %llu dead vectors the blocks do not hold",
			                 (unsigned long long)t->c.vectors_dead);
			goto out_free;
		}
		t->c.next_block = pk.no;
		out->done = 1;
	}
	t->c_dirty = 1;
	out->freed += dropped * ((uint64_t)dim * 4 + 8);
	out->blocks_left = (uint32_t)(nb - b);
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
		rdb_compact_step step;
		st = rdb_store_compact_step(t, SIZE_MAX, &step, err);
		/* The IVF lists drop their tombstones too (they name chunk ids,
		 * not slots, so nothing else in them changes). */
		if (!st)
			st = rdb_ivf_compact(t, err);
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
			*freed_bytes = step.freed;
		return st;
	}
}
