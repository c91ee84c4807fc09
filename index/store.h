/*
 * index/store.h — the LMDB store: environment, named databases, record
 * codecs, vector blocks. The only module that includes lmdb.h.
 *
 * Layout (docs/ARCHITECTURE.md has the byte-level encodings):
 *   meta     string key -> value: schema version, embedder identity, dim,
 *            block capacity, chunking defaults, id counters.
 *   docs     doc number (u64 BE) -> document record.
 *   ids      document id string -> doc number.
 *   sources  source string + '\0' + doc number -> "" (one source may hold
 *            many documents: a JSONL file); prefix scans find a directory.
 *   chunks   chunk id (u64 BE) -> chunk record (text zstd-compressed when
 *            that is smaller). A document's chunks have consecutive ids.
 *   vectors  block number (u32 BE) -> block: header, chunk ids, vectors.
 *            Many vectors per value so a scan reads long runs of the map.
 *            A deleted vector's slot keeps its place with chunk id 0 (a
 *            tombstone) until rdb_store_compact().
 *   terms, postings, chunkterms: the full-text (BM25) index, see
 *            index/postings.h and postings.c.
 *
 * Invariants (rdb_store_check verifies each):
 *   1. A document, its chunks and its vectors are written in one write
 *      transaction: visible all together or not at all.
 *   2. Every live chunk has exactly one live vector slot whose chunk id is
 *      the chunk's, in the block and slot its record names; every live slot
 *      names a live chunk. ids and sources agree with docs.
 *   3. Counters in meta (documents, chunks, live and dead vectors) equal what
 *      is stored.
 *   4. The full-text index agrees with the chunks and its statistics are
 *      exact (postings.c, F1-F3).
 *
 * Concurrency: one writer (LMDB serialises write transactions across
 * processes), any number of readers, each on its own snapshot.
 */
#ifndef RDB_STORE_H
#define RDB_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "index/err.h"

#define RDB_SCHEMA_VERSION 2
/* The schema while "vectors.1" holds the live vector blocks (vstage.c): a
 * build that knows only "vectors" refuses such a knowledge base instead of
 * reading the emptied one. */
#define RDB_SCHEMA_VECTORS1 3

typedef struct rdb_store rdb_store;
typedef struct rdb_txn rdb_txn;

/* Identity and settings of a knowledge base, fixed at creation. */
typedef struct rdb_meta {
	uint32_t schema;
	char embedder[64];     /* "local" */
	char model[64];        /* embedder's model name, e.g. "hash-v1" */
	uint32_t dim;
	uint32_t block_cap;    /* vectors per block */
	uint32_t chunk_tokens;
	uint32_t chunk_overlap;
	int64_t created;       /* seconds since the epoch */
	char language[32];     /* full-text language (Snowball name or "none");
	                          "" at create = "english" */
	uint32_t quant;        /* quantized blocks: 0 f32 (none), 1 bf16, 2 int8,
	                          3 binary (meta "quantize"; may change later by
	                          rdb_store_set_quant, so a txn reads it afresh) */
} rdb_meta;

#define RDB_STORE_CREATE 0x1  /* create: fails RAGDB_EEXIST if one is there */
#define RDB_STORE_RDONLY 0x2

/* Open (or create, with @p create_meta) the store in @p dir. The map starts at
 * RAGDB_MAP_SIZE bytes if that environment variable is set (tests use it to
 * force MDB_MAP_FULL), else a large default; rdb_store_grow() doubles it.
 * On failure *out is untouched and @p err says why (no store there: ENOTFOUND
 * with "run ragdb init"; other schema: ESCHEMA naming both versions). */
ragdb_status rdb_store_open(const char *dir, unsigned flags, const rdb_meta *create_meta,
                            rdb_store **out, rdb_err *err);
void rdb_store_close(rdb_store *s);          /* accepts NULL */
const rdb_meta *rdb_store_meta(const rdb_store *s);
const char *rdb_store_dir(const rdb_store *s);

/* Double the map size (after RAGDB_EMAPFULL: abort the txn, grow, retry).
 * Only when no transaction of this process is open. */
ragdb_status rdb_store_grow(rdb_store *s, rdb_err *err);

/* Transactions. A read txn may be used from several threads at once (the
 * environment is opened MDB_NOTLS) but not concurrently with its own end.
 * Commit failure aborts the txn. MDB_MAP_FULL -> RAGDB_EMAPFULL, ENOSPC ->
 * RAGDB_ENOSPC; the txn must then be aborted. */
ragdb_status rdb_txn_begin(rdb_store *s, int write, rdb_txn **out, rdb_err *err);
ragdb_status rdb_txn_commit(rdb_txn *t, rdb_err *err);
void rdb_txn_abort(rdb_txn *t);              /* accepts NULL */
rdb_store *rdb_txn_store(rdb_txn *t);
/* The committed state a read txn sees (LMDB's txn id; two read txns with
 * the same id see the same data); 0 for a write txn. */
uint64_t rdb_txn_snapshot(rdb_txn *t);
/* A write txn's id: the committed state's id + 1, the id it commits as when
 * it changes anything. Two write txns of a sequence with consecutive ids
 * had no other writer (of any process) between them. */
uint64_t rdb_txn_write_id(rdb_txn *t);

/* A stored document. In rdb_doc_get*(), strings point into the map (or into
 * txn-owned scratch) and are valid until the txn ends; strings are NUL-ended.
 * In a write txn, pointers into the map (here, in rdb_chunk and
 * rdb_block_view) are valid only until the next write in that txn. */
typedef struct rdb_doc {
	uint64_t num;          /* internal doc number (assigned by rdb_doc_put) */
	const char *id;
	const char *source;
	const char *title;     /* "" if none */
	const char *meta_json; /* "" if none */
	uint8_t hash[16];      /* XXH3-128 of the text */
	uint64_t size;         /* bytes of text */
	int64_t mtime;
	int64_t ingested;
	uint64_t first_chunk;  /* chunks are first_chunk .. first_chunk+n_chunks-1 */
	uint32_t n_chunks;
} rdb_doc;

/* One distinct full-text term of a chunk with its frequency in each field:
 * the body (the chunk text) and the title field (document title + heading
 * path). term is NUL-ended, 1..RDB_MAX_TERM bytes. */
#define RDB_MAX_TERM 64
typedef struct rdb_term_tf {
	const char *term;
	uint32_t tf_body, tf_title;
} rdb_term_tf;

/* A chunk to write. */
typedef struct rdb_chunk_in {
	uint64_t start, end;   /* byte range in the document text */
	const char *heading;   /* heading path or NULL */
	const char *text;
	size_t text_len;
	/* Its full-text terms (computed by the caller, e.g. the ingest workers,
	 * so the writer only stores them): distinct terms in any order, and the
	 * number of terms (with repeats) in each field. NULL/0: no terms. */
	const rdb_term_tf *terms;
	size_t n_terms;
	uint32_t len_body, len_title;
	/* The text as stored, if the caller packed it ahead with rdb_text_pack
	 * (the ingest workers do, so that compression runs in parallel and not
	 * on the single writer): RDB_PACK_NONE, the writer packs it;
	 * RDB_PACK_RAW, stored as is; RDB_PACK_ZSTD, packed[0..packed_len) is
	 * the zstd frame of text. */
	int pack;
	const void *packed;
	size_t packed_len;
} rdb_chunk_in;

enum { RDB_PACK_NONE = 0, RDB_PACK_RAW, RDB_PACK_ZSTD };

/* Pack @p len bytes of chunk text the way the store keeps it: one zstd
 * frame when the text is long enough and shrinks by at least 10%, else raw.
 * @p dst has room for rdb_text_pack_room(len) bytes; *cctx is the caller's
 * compression context (created on first use; free with rdb_text_pack_end),
 * so each thread packs with its own. Returns RDB_PACK_ZSTD with the frame's
 * size in *out_len, RDB_PACK_RAW, or -1 when out of memory. */
size_t rdb_text_pack_room(size_t len);
int rdb_text_pack(void **cctx, const char *text, size_t len, void *dst, size_t *out_len);
void rdb_text_pack_end(void *cctx);

/* A stored chunk, as read back. text is NUL-ended; it points into the map
 * when stored raw, else into @p scratch given to rdb_chunk_get. */
typedef struct rdb_chunk {
	uint64_t id;
	uint64_t doc;
	uint32_t ordinal;
	uint64_t start, end;
	const char *heading;   /* "" if none */
	const char *text;
	size_t text_len;
	uint32_t block, slot;  /* where its vector lives */
} rdb_chunk;

/* A growable byte buffer with a cap (the owner frees data). */
typedef struct rdb_buf {
	char *data;
	size_t len, cap;
} rdb_buf;
void rdb_buf_free(rdb_buf *b);
/* Grow @p b so it holds at least @p need bytes (len unchanged). RAGDB_ENOMEM
 * if allocation fails, RAGDB_EINVAL past 192 MiB (no record is that big). */
ragdb_status rdb_buf_reserve(rdb_buf *b, size_t need, rdb_err *err);

ragdb_status rdb_doc_get(rdb_txn *t, uint64_t num, rdb_doc *out, rdb_err *err);
ragdb_status rdb_doc_get_by_id(rdb_txn *t, const char *id, rdb_doc *out, rdb_err *err);

/* Write a document with its chunks and their vectors (n_chunks x dim floats,
 * already L2-normalised: norm 1 within 0.1%, or all zero; else EINVAL) in
 * transaction @p t. If a document with the same id exists it is deleted
 * first (replace). doc->num, first_chunk and n_chunks are assigned; other
 * fields are taken from @p doc. Limits: id 1..511 bytes, source <= 502 bytes,
 * chunk text <= 64 MiB (EINVAL). On any failure the txn must be aborted. */
ragdb_status rdb_doc_put(rdb_txn *t, rdb_doc *doc, const rdb_chunk_in *chunks, size_t n_chunks,
                         const float *vectors, rdb_err *err);

/* Delete a document with its chunks; its vector slots become tombstones.
 * ENOTFOUND if there is no such document; on other failures abort the txn. */
ragdb_status rdb_doc_delete(rdb_txn *t, uint64_t num, rdb_err *err);

/* Visit documents in id order (cb returns non-zero to stop). */
ragdb_status rdb_doc_iter(rdb_txn *t, int (*cb)(void *ctx, const rdb_doc *d), void *ctx,
                          rdb_err *err);

/* Visit the doc numbers whose source equals @p source, or starts with
 * @p source followed by '/' (a directory), when @p prefix is set. */
ragdb_status rdb_source_iter(rdb_txn *t, const char *source, int prefix,
                             int (*cb)(void *ctx, const char *source, uint64_t num), void *ctx,
                             rdb_err *err);

ragdb_status rdb_chunk_get(rdb_txn *t, uint64_t chunk_id, rdb_chunk *out, rdb_buf *scratch,
                           rdb_err *err);

/* A block of vectors as the scan sees it: pointers into the map, valid until
 * the txn ends. ids[i] == 0 marks a tombstone. vecs is count x dim floats,
 * 4-byte aligned (not necessarily 64). */
typedef struct rdb_block_view {
	uint32_t block_no;
	uint32_t count;
	const uint64_t *ids;
	const float *vecs;
} rdb_block_view;

/* All blocks, in block order. *out is malloc'd (free it); the pointers in it
 * are valid until the txn ends. */
ragdb_status rdb_blocks_get(rdb_txn *t, rdb_block_view **out, size_t *n, rdb_err *err);

/* Append vectors without documents or chunks (benchmarks, imports): ids are
 * the caller's (non-zero). Same block layout as rdb_doc_put. */
ragdb_status rdb_vectors_append(rdb_txn *t, const uint64_t *ids, const float *vecs, size_t n,
                                rdb_err *err);

typedef struct rdb_store_stats {
	uint64_t documents, chunks, vectors_live, vectors_dead, blocks;
	uint64_t text_bytes, file_bytes, map_bytes;
	uint32_t quant;         /* meta "quantize" (0 f32) */
	uint32_t staged_quant;  /* a conversion's kind under way or left (Q3), 0 none */
	uint64_t quant_bytes;   /* pages of the quantized blocks (the staged ones, if any) */
	uint64_t vstaged_bytes; /* pages of re-embedded blocks staged or left (vstage.h V2) */
	uint64_t schema;        /* meta "schema" as this txn sees it (64 bits: no padding) */
} rdb_store_stats;
ragdb_status rdb_store_stats_get(rdb_txn *t, rdb_store_stats *out, rdb_err *err);

/* Verify the invariants above, calling @p cb once per violation. */
ragdb_status rdb_store_check(rdb_txn *t, void (*cb)(void *ctx, const char *problem), void *ctx,
                             uint64_t *n_problems, rdb_err *err);

/* One step of compacting the blocks (compact.c): live vectors packed from
 * the first block out of place, chunk records and quantized blocks moved
 * with them, until about @p budget bytes of blocks are written; the store
 * is valid after it. It also removes what an unfinished IVF build left. */
typedef struct rdb_compact_step {
	uint64_t freed;       /* bytes of tombstoned vectors and unfinished lists dropped */
	uint32_t blocks_left; /* blocks the step did not reach */
	int done;             /* every block is in place */
} rdb_compact_step;
ragdb_status rdb_store_compact_step(rdb_txn *t, size_t budget, rdb_compact_step *out,
                                    rdb_err *err);
/* The IVF lists' part of a compaction: lists from *next_list on rewritten
 * in place without their tombstones until about @p budget bytes are
 * written (at least one list); *done when none is left. */
ragdb_status rdb_ivf_compact_step(rdb_txn *t, size_t budget, uint32_t *next_list, int *done,
                                  rdb_err *err);
/* All of it, and the IVF lists' tombstones, in one write transaction. LMDB
 * reuses the freed pages; the data file does not shrink while other
 * processes may have it mapped, so no file is swapped under them. */
ragdb_status rdb_store_compact(rdb_store *s, uint64_t *freed_bytes, rdb_err *err);

/* --- quantized blocks (qblocks.c; invariants Q1-Q2 there) --- */

/* "f32" "bf16" "int8" "binary" for kinds 0..3 (NULL otherwise), and back
 * (0 ok, -1 unknown). The values equal engine/kernels/quant.h's rdb_quant. */
const char *rdb_qkind_name(uint32_t kind);
int rdb_qkind_parse(const char *name, uint32_t *out);
/* Bytes of a quantized block value of count rows. */
size_t rdb_qblock_size(uint32_t kind, uint32_t count, uint32_t dim);
/* Encode count rows into a block value (rdb_qblock_size bytes); for tests. */
void rdb_qencode_block(uint32_t kind, const float *vecs, uint32_t count, uint32_t dim, void *out);

/* One quantized block beside views[i]: codes (64-byte aligned offset in an
 * 8-aligned value) and, for int8, scales; ids are views[i].ids. */
typedef struct rdb_qview {
	const void *codes;
	const float *scales;
} rdb_qview;
/* A conversion from f32 to @p kind over several txns (qblocks.c Q3):
 * stage_begin drops leftovers and sets the marker; stage writes the
 * quantized blocks of f32 blocks numbered from *next_no on while *bytes <
 * @p budget (adding to *bytes; *done after the last); stage_finish sets
 * meta "quantize" (EBUSY if the marker is gone or another's); unstage
 * drops what a conversion left under f32 (adding its bytes to *bytes when
 * not NULL) and the marker. */
ragdb_status rdb_qblocks_stage_begin(rdb_txn *t, uint32_t kind, rdb_err *err);
ragdb_status rdb_qblocks_stage(rdb_txn *t, uint32_t kind, uint32_t *next_no, size_t budget,
                               size_t *bytes, int *done, rdb_err *err);
ragdb_status rdb_qblocks_stage_finish(rdb_txn *t, uint32_t kind, rdb_err *err);
ragdb_status rdb_qblocks_unstage(rdb_txn *t, uint64_t *bytes, rdb_err *err);
/* The quantized blocks parallel to @p views (from rdb_blocks_get in the same
 * txn). *kind = 0 and *out = NULL when the knowledge base is f32; else *out
 * is malloc'd (free it), its pointers valid until the txn ends. ECORRUPT
 * when a block is missing or does not match. */
ragdb_status rdb_qblocks_get(rdb_txn *t, const rdb_block_view *views, size_t n, uint32_t *kind,
                             rdb_qview **out, rdb_err *err);
/* Set meta "quantize" to @p kind and rebuild every quantized block from the
 * f32 ones, in write txn @p t (one txn: a crash leaves the old state), and
 * re-encode the IVF lists in it too (rdb_ivf_requant). After the commit,
 * rdb_store_meta's quant is stale until reopened. */
ragdb_status rdb_store_set_quant(rdb_txn *t, uint32_t kind, rdb_err *err);
/* The same without the IVF lists: for a caller that converted them into
 * the other half of the keys over earlier txns and switches the header in
 * this one (engine/ivf_api.c, rdb_ivf_quantize). */
ragdb_status rdb_store_set_quant_blocks(rdb_txn *t, uint32_t kind, rdb_err *err);
/* The kind meta names as @p t sees it (0 = f32). */
uint32_t rdb_txn_quant(rdb_txn *t);
/* Where chunk @p chunk_id's vector lives, without decoding its text (the
 * exact rescoring of quantized candidates). ENOTFOUND if no such chunk. */
ragdb_status rdb_chunk_slot(rdb_txn *t, uint64_t chunk_id, uint32_t *block, uint32_t *slot,
                            rdb_err *err);

/* --- the tuned embedder (tune.c; invariants T1-T2 there) --- */

/* The tuned embedder's parameters (meta "tune"), pointing into the map until
 * the txn ends (or its next write). RAGDB_ENOTFOUND when not tuned. */
ragdb_status rdb_tune_get(rdb_txn *t, const void **blob, size_t *len, rdb_err *err);
/* Set meta "model" to @p model and meta "tune" to @p blob (len 0: remove it),
 * in write txn @p t. After the commit, call rdb_store_set_model. */
ragdb_status rdb_tune_set(rdb_txn *t, const char *model, const void *blob, size_t len,
                          rdb_err *err);
/* The store's cached model, after a commit that changed it (the caller
 * excludes other users of rdb_store_meta meanwhile). */
void rdb_store_set_model(rdb_store *s, const char *model);
/* RAGDB_EEMBEDDER when the stored model is not the one this store opened
 * with (another process tuned it). Called when a write txn begins. */
ragdb_status rdb_tune_model_check(rdb_txn *t, rdb_err *err);
/* For a search: RAGDB_EEMBEDDER when the vectors @p t sees were embedded by
 * another embedder than the one this store opened with (`ragdb reembed` in
 * another process; a new tune of the same model is accepted: its vectors
 * are of the same kind). One comparison of a counter unless they were
 * switched since. */
ragdb_status rdb_txn_embedder_current(rdb_txn *t, rdb_err *err);
/* Fill one block's vectors: @p ids[i] != 0 are live chunks whose vector
 * (row i of @p vecs, count x dim) must be overwritten, L2-normalised. */
typedef ragdb_status (*rdb_rewrite_fn)(void *ctx, const uint64_t *ids, uint32_t count,
                                       float *vecs, rdb_err *err);
/* Verify T1, reporting a violation through @p problem. */
ragdb_status rdb_tune_check(rdb_txn *t, void (*problem)(void *ctx, const char *msg), void *ctx,
                            rdb_err *err);

#endif
