/*
 * index/postings.h — the full-text (BM25) index of the store, as readers see
 * it: collection statistics and the postings of a term. Writes happen inside
 * rdb_doc_put / rdb_doc_delete (store.h), from the terms in rdb_chunk_in.
 *
 * Two fields per chunk: the body (its text) and the title field (the
 * document title and the chunk's heading path), each with its own term
 * frequency and length, so a BM25F score can weight them separately.
 */
#ifndef RDB_POSTINGS_H
#define RDB_POSTINGS_H

#include <stddef.h>
#include <stdint.h>

#include "index/store.h"

/* Exact statistics of a snapshot: chunks indexed (= stored chunks) and the
 * summed field lengths (in terms). */
typedef struct rdb_ft_stats {
	uint64_t chunks;
	uint64_t len_body, len_title;
} rdb_ft_stats;
ragdb_status rdb_ft_stats_get(rdb_txn *t, rdb_ft_stats *out, rdb_err *err);

/* One posting: a chunk holding the term, with its field frequencies and
 * the chunk's field lengths. */
typedef struct rdb_posting {
	uint64_t chunk;
	uint32_t tf_body, tf_title;
	uint32_t len_body, len_title;
} rdb_posting;

/* The postings of @p term (a tokenizer output) in chunk-id order. *df = the
 * number of chunks holding it (0: none, *out = NULL). *out is malloc'd
 * (free it). Read transactions only. */
ragdb_status rdb_postings_get(rdb_txn *t, const char *term, uint64_t *df, rdb_posting **out,
                              size_t *n, rdb_err *err);

/* Free the full-text buffers the store keeps between write transactions
 * (an ingest calls it when done, so a long-running process does not hold
 * them after its last batch). */
void rdb_ft_spare_drop(rdb_store *s);

/* The id of @p term: ENOTFOUND when no chunk ever held it. */
ragdb_status rdb_term_id(rdb_txn *t, const char *term, uint32_t *id, rdb_err *err);

/* As rdb_postings_get, by term id. */
ragdb_status rdb_postings_get_id(rdb_txn *t, uint32_t id, uint64_t *df, rdb_posting **out,
                                 size_t *n, rdb_err *err);

/* A forward-only cursor over the postings of one term, decoding one
 * segment at a time: a search that skips ahead (rdb_pcur_seek) reads only
 * the segments it lands in, and nothing is copied beyond one segment.
 * at(pc) is the current posting, NULL past the last. Read txns only; the
 * cursor lives no longer than its transaction. */
typedef struct rdb_pcur {
	struct MDB_cursor *c;
	rdb_txn *t;
	uint32_t term;
	uint64_t key;       /* the current segment's key chunk */
	rdb_posting *v;     /* the current segment, decoded */
	size_t n, cap, i;
} rdb_pcur;

/* Open on term @p id, at its first posting; *df = the term's df (0: the
 * cursor is at the end). Close it even when this fails. */
ragdb_status rdb_pcur_open(rdb_txn *t, uint32_t id, rdb_pcur *pc, uint64_t *df, rdb_err *err);
/* Step to the next posting. */
ragdb_status rdb_pcur_next(rdb_pcur *pc, rdb_err *err);
/* Move to the first posting of chunk >= @p chunk (never backwards). */
ragdb_status rdb_pcur_seek(rdb_pcur *pc, uint64_t chunk, rdb_err *err);
void rdb_pcur_close(rdb_pcur *pc);
static inline const rdb_posting *rdb_pcur_at(const rdb_pcur *pc)
{
	return pc->i < pc->n ? &pc->v[pc->i] : NULL;
}

/* A term of a chunk, as its forward record holds it. */
typedef struct rdb_chunk_term {
	uint32_t term;
	uint32_t tf_body, tf_title;
} rdb_chunk_term;

/* Chunk @p chunk's terms (increasing ids; *out malloc'd, free it) and field
 * lengths. ENOTFOUND for no such chunk. Read transactions only. */
ragdb_status rdb_chunk_terms_get(rdb_txn *t, uint64_t chunk, rdb_chunk_term **out, size_t *n,
                                 uint32_t *len_body, uint32_t *len_title, rdb_err *err);

/* The df of term @p id (0 when no chunk holds it). */
ragdb_status rdb_term_df(rdb_txn *t, uint32_t id, uint64_t *df, rdb_err *err);

/* The knowledge base's full-text language (meta "language"). */
const char *rdb_store_language(const rdb_store *s);

#endif
