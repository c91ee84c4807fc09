/*
 * index/store_int.h — what the index/ files share and nobody else sees:
 * the store and txn structures, the MDB error translation, byte-order
 * helpers, record codecs and the pending tail block of a write txn.
 *
 * The pending tail: a write txn keeps the last, partly filled vector block
 * in a txn-owned buffer while it appends to it and writes it to LMDB once
 * (when it is full, at commit, or when something needs to read the blocks
 * through LMDB). Rewriting a ~1 MiB value for every small document would
 * otherwise dominate ingest time.
 */
#ifndef RDB_STORE_INT_H
#define RDB_STORE_INT_H

#include <lmdb.h>
#include <pthread.h>
#include <string.h>

#include "index/store.h"
#include "index/viewcache.h"

/* Block value layout (docs/ARCHITECTURE.md, "On disk"). */
#define RDB_BLOCK_MAGIC 0x56424452u /* "RDBV" read as little-endian bytes */
#define RDB_BLOCK_HDR 16u
#define RDB_MAX_TEXT (64u << 20)    /* cap on one chunk's text */
#define RDB_MAX_KEY 511u            /* LMDB's default key size limit */

/* Counters kept in meta; a write txn holds them here and writes them at commit. */
typedef struct rdb_counters {
	uint64_t next_doc, next_chunk, documents, chunks;
	uint64_t vectors_live, vectors_dead, text_bytes, next_block;
	uint64_t next_term, ft_len_body, ft_len_title; /* full-text index (postings.c) */
} rdb_counters;
#define RDB_N_COUNTERS 11

/* A write txn's full-text state: term-id cache and pending postings. */
typedef struct rdb_ft_txn rdb_ft_txn;
/* A write txn's IVF state: the header, centroids, pending list appends. */
typedef struct rdb_ivf_txn rdb_ivf_txn;

struct rdb_store {
	MDB_env *env;
	MDB_dbi meta, docs, ids, sources, chunks;
	/* The vector blocks live in "vectors" or "vectors.1", the one meta
	 * "vectors_db" names (vstage.c: a re-embed writes the other and
	 * switches). vectors1 is valid once have_v1 is set; dbi_lock
	 * serialises opening it, since LMDB wants one mdb_dbi_open at a time. */
	MDB_dbi vectors, vectors1;
	int have_v1;
	uint64_t vgen;    /* meta "vectors_db" when s->m was read, or this handle's
	                     last switch */
	pthread_mutex_t dbi_lock;
	MDB_dbi terms, postings, chunkterms; /* full-text index (postings.c) */
	MDB_dbi conv;     /* conversations (conv.c); valid once conv_open is set */
	int conv_open;
	MDB_dbi qvectors; /* quantized blocks (qblocks.c), valid when have_q */
	int have_q;
	MDB_dbi ivf, ivflists; /* IVF index (ivf.c), valid once ivf_open is set */
	int ivf_open;
	rdb_meta m;
	unsigned flags;
	char *dir;
	void *cctx; /* ZSTD_CCtx, used only by the (single) write txn */
	/* The last write txn's full-text buffers, for the next one (postings.c,
	 * rdb_ft_txn_release); taken and put back by atomic exchange. */
	rdb_ft_txn *ft_spare;
	/* LMDB allows mdb_env_set_mapsize only while this process has no
	 * transaction open: every txn holds this lock shared for its life, and
	 * growing the map (or adopting another process's size) takes it
	 * exclusively. Reader-preferring (glibc's default), so a thread that
	 * holds two transactions cannot deadlock against a waiting grower. */
	pthread_rwlock_t maplock;
	rdb_viewcache vcache; /* the last read snapshot's block listings (viewcache.c) */
};

typedef struct rdb_tail {
	int active;      /* a tail block is loaded */
	int in_db;       /* the block already exists in LMDB (was loaded from it) */
	int dirty;       /* differs from what LMDB holds */
	uint32_t block_no;
	uint32_t count, live;
	uint64_t *ids;   /* block_cap */
	float *vecs;     /* block_cap * dim */
} rdb_tail;

struct rdb_txn {
	rdb_store *s;
	MDB_txn *txn;
	int maplocked;   /* holds s->maplock shared */
	int write;
	rdb_counters c;  /* write txns only */
	int c_dirty;
	rdb_tail tail;
	rdb_ft_txn *ft;  /* NULL until the txn writes full-text terms */
	rdb_ivf_txn *ivf; /* NULL until the txn touches vectors with an IVF index */
	uint32_t quant;  /* meta "quantize" as this txn sees it (qblocks.c) */
	MDB_dbi vec;     /* the live vector blocks as this txn sees them (vstage.c) */
	uint64_t vgen;   /* meta "vectors_db": switches so far (vstage.c) */
	uint32_t vsel;   /* vgen & 1: 0 "vectors", 1 "vectors.1" */
	int vswitched;   /* this txn switched: the store adopts vgen at commit */
	int v1_opened;   /* this txn opened "vectors.1" (handle v1): the store keeps it
	                    once the txn commits */
	MDB_dbi v1;
	int quant_known;
	rdb_buf scratch; /* record encoding, block copies */
	rdb_buf zbuf;    /* compression output */
	/* Aligned copies of small blocks handed out by rdb_blocks_get (LMDB keeps
	 * values that fit in a leaf page only 2-byte aligned). Several scan
	 * threads may call it on one read txn, hence the lock. */
	pthread_mutex_t lock;
	void **copies;
	size_t n_copies, cap_copies;
};

/* --- errors --- */
ragdb_status rdb_mdb_status(int rc);
/* Translate @p rc into err with "@p what in DIR: mdb_strerror" plus a hint. */
ragdb_status rdb_mdb_fail(const rdb_store *s, int rc, rdb_err *err, const char *what);
ragdb_status rdb_corrupt(const rdb_store *s, rdb_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* --- byte order: keys are big-endian (LMDB sorts them bytewise), record
 * fields little-endian (the native order of every target we build for). */
static inline void rdb_put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; }
}
static inline uint64_t rdb_get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++) v = v << 8 | p[i];
	return v;
}
static inline void rdb_put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; }
}
static inline uint32_t rdb_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint32_t rdb_ld32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t rdb_ld64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline void rdb_st32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void rdb_st64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* --- which database holds the live vector blocks (vstage.c) --- */
/* Set t->vec / t->vsel from meta "vectors_db" (rdb_txn_begin). *v1_needed
 * = 1 when the txn may need "vectors.1" and this process has no handle of
 * it: the caller ends the txn, calls rdb_vectors1_open and begins again. */
ragdb_status rdb_txn_vectors_select(rdb_txn *t, int *v1_needed, rdb_err *err);
/* Open "vectors.1" in a txn of its own and keep the handle. */
ragdb_status rdb_vectors1_open(rdb_store *s, rdb_err *err);
/* After a write txn that opened "vectors.1" committed: keep its handle. */
void rdb_vectors1_adopt(rdb_txn *t);

/* --- meta and counters (store.c) --- */
ragdb_status rdb_counters_read(rdb_txn *t, rdb_counters *c, rdb_err *err);

/* --- blocks (blocks.c) --- */
static inline size_t rdb_block_vecs_off(uint32_t count)
{
	return ((size_t)RDB_BLOCK_HDR + (size_t)count * 8 + 63) & ~(size_t)63;
}
static inline size_t rdb_block_size(uint32_t count, uint32_t dim)
{
	return rdb_block_vecs_off(count) + (size_t)count * dim * 4;
}
/* Validate a block value's header; on success fill count/live. */
/* The numbers of every vector block, ascending, into a malloc'd array (*nos,
 * *n; free it). For the passes that rewrite the blocks (compact, tune,
 * reembed): they list first because the loop rewrites the database it
 * walks. */
ragdb_status rdb_block_numbers(rdb_txn *t, uint32_t **nos, size_t *n, rdb_err *err);
/* The same for the blocks of database @p dbi (vstage.c: the staged ones). */
ragdb_status rdb_block_numbers_in(rdb_txn *t, MDB_dbi dbi, uint32_t **nos, size_t *n,
                                  rdb_err *err);
ragdb_status rdb_block_parse(const rdb_store *s, uint32_t block_no, const MDB_val *v,
                             uint32_t *count, uint32_t *live, rdb_err *err);
/* Append one vector with chunk id @p id; reports where it went. */
ragdb_status rdb_tail_append(rdb_txn *t, uint64_t id, const float *vec, uint32_t *block,
                             uint32_t *slot, rdb_err *err);
/* Write the pending tail to LMDB and drop it (the next append reloads it). */
ragdb_status rdb_tail_flush(rdb_txn *t, rdb_err *err);
void rdb_tail_free(rdb_tail *tl);
/* A slot to tombstone: the chunk id it must hold. */
typedef struct rdb_slot_ref {
	uint32_t block, slot;
	uint64_t id;
} rdb_slot_ref;
/* Set the ids of @p n slots to 0 (sorts @p refs). ECORRUPT if a slot does not
 * hold the expected id. Updates vectors_live/dead. */
ragdb_status rdb_slots_kill(rdb_txn *t, rdb_slot_ref *refs, size_t n, rdb_err *err);

/* Keep @p p (malloc'd) until the txn ends. */
ragdb_status rdb_txn_keep(rdb_txn *t, void *p, rdb_err *err);

/* --- quantized blocks (qblocks.c) --- */
/* The quantization kind meta names in this txn (0 = f32). */
uint32_t rdb_txn_quant(rdb_txn *t);
/* Write the quantized block of f32 block @p block_no (count rows of vecs,
 * 4-byte aligned); nothing for f32. */
ragdb_status rdb_qblock_put(rdb_txn *t, uint32_t block_no, const float *vecs, uint32_t count,
                            rdb_err *err);
/* The kind meta "qstaged" names (0 none) and the bytes of the pages of the
 * quantized blocks (for stats). */
ragdb_status rdb_qblocks_usage(rdb_txn *t, uint32_t *staged, uint64_t *bytes, rdb_err *err);
/* Delete the quantized block of f32 block @p block_no; nothing for f32. */
ragdb_status rdb_qblock_del(rdb_txn *t, uint32_t block_no, rdb_err *err);
/* Re-encode every quantized block from the f32 blocks (drop them for f32). */
ragdb_status rdb_qblocks_rebuild(rdb_txn *t, rdb_err *err);
/* Verify Q1-Q2 (qblocks.c), reporting each violation. */
ragdb_status rdb_qblocks_check(rdb_txn *t, void (*report)(void *ctx, const char *msg), void *rctx,
                               rdb_err *err);

/* --- IVF index (ivf.c; invariants in ivf.h) --- */
/* A vector appended to the blocks goes to its nearest list (pending). */
ragdb_status rdb_ivf_on_append(rdb_txn *t, uint64_t id, const float *vec, rdb_err *err);
/* A tombstoned vector (@p vec: a copy of it) is tombstoned in its list. */
ragdb_status rdb_ivf_on_kill(rdb_txn *t, uint64_t id, const float *vec, rdb_err *err);
/* Write the pending appends and the header (before commit and reads). */
ragdb_status rdb_ivf_flush(rdb_txn *t, rdb_err *err);
/* Rewrite the lists without tombstones (compact), all of them. */
ragdb_status rdb_ivf_compact(rdb_txn *t, rdb_err *err);
/* Remove the list segments no index uses (what an unfinished build left,
 * ivf.h), adding their bytes to *bytes (compact). A build of another
 * process still running then stops with EBUSY at its next txn. */
ragdb_status rdb_ivf_clear_unused(rdb_txn *t, uint64_t *bytes, rdb_err *err);
void rdb_ivf_txn_free(rdb_ivf_txn *x);

/* --- records (records.c) --- */
#define RDB_DOC_HDR 52u
#define RDB_CHUNK_HDR 52u
#define RDB_CHUNK_ZSTD 0x1u
#define RDB_CHUNK_OFF_BLOCK 32u /* byte offset of block (then slot) in a chunk record */
ragdb_status rdb_doc_decode(const rdb_store *s, uint64_t num, const MDB_val *v, rdb_doc *out,
                            rdb_err *err);
/* Decode a chunk record without touching its text (compressed or not). */
typedef struct rdb_chunk_raw {
	uint32_t flags, ordinal;
	uint64_t doc, start, end;
	uint32_t block, slot;
	const char *heading;
	uint32_t text_len;
	const uint8_t *stored;
	uint32_t stored_len;
} rdb_chunk_raw;
ragdb_status rdb_chunk_decode(const rdb_store *s, uint64_t id, const MDB_val *v,
                              rdb_chunk_raw *out, rdb_err *err);

/* --- full-text index (postings.c) --- */
/* Write chunk @p chunk's forward record and queue its postings. */
ragdb_status rdb_ft_put_chunk(rdb_txn *t, uint64_t chunk, const rdb_chunk_in *c, rdb_err *err);
/* Remove the full-text entries of chunks first..first+n-1. */
ragdb_status rdb_ft_delete_chunks(rdb_txn *t, uint64_t first, uint32_t n, rdb_err *err);
/* Write the pending postings to LMDB (before commit and before reads). */
ragdb_status rdb_ft_flush(rdb_txn *t, rdb_err *err);
void rdb_ft_txn_free(rdb_ft_txn *f);
/* At a write txn's end: keep @p f's buffers in the store for the next write
 * txn (its term-id cache emptied: ids of an aborted txn are void). */
void rdb_ft_txn_release(rdb_store *s, rdb_ft_txn *f);
/* Verify invariants F1-F3 (postings.c), reporting each violation. */
ragdb_status rdb_ft_check(rdb_txn *t, const rdb_counters *cnt,
                          void (*report)(void *ctx, const char *msg), void *rctx, rdb_err *err);

#endif
