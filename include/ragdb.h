/*
 * ragdb.h — the public API of ragdb, a retrieval-augmented generation engine
 * on an LMDB knowledge base.
 *
 * @section intro Introduction
 * A knowledge base is a directory holding one LMDB environment. Documents are
 * split into chunks; every chunk gets a vector from the knowledge base's
 * embedder (recorded in the database, so later calls need not name it).
 * Searches return the chunks closest to a query; ragdb_query() builds an
 * answer with numbered citations from them. With no model configured the
 * built-in `local` embedder and `extractive` answerer are used: no network,
 * no model files.
 *
 * @section errors Errors
 * Every action returns a ::ragdb_status. RAGDB_OK is 0; the other values are
 * fixed and only ever appended to. ragdb_strerror() gives a static string for
 * a status; ragdb_errmsg() gives the detailed message of the last failure on a
 * handle: what was expected and what was found, and what to do about it.
 * Out-parameters are written only on success.
 *
 * @section threads Threads and processes
 * A ::ragdb handle may be used from several threads at once for reads
 * (search, query, list, show, stats, check). Writes (ingest, delete, compact)
 * are serialised inside the library; LMDB allows one writer and any number
 * of readers, in this process and in others, and a reader sees one consistent
 * snapshot for the length of its call. ragdb_errmsg() is per handle and per
 * thread: each thread sharing a handle reads the message of its own last
 * failure.
 *
 * @section caveats Caveats
 * - A knowledge base written by another schema version is refused with
 *   RAGDB_ESCHEMA; nothing is rewritten silently.
 * - The embedder is fixed at ragdb_create() time; a later ingest or search
 *   that names another embedder fails with RAGDB_EEMBEDDER.
 * - Strings handed out in result structures belong to the result and live
 *   until its *_free() function is called.
 */
#ifndef RAGDB_H
#define RAGDB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with -fvisibility=hidden: only what this header
 * declares is exported from libragdb.so. */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

#define RAGDB_VERSION_MAJOR 0
#define RAGDB_VERSION_MINOR 1
#define RAGDB_VERSION_PATCH 0

/** Status codes. Values are fixed; new ones are only appended. */
typedef enum ragdb_status {
	RAGDB_OK = 0,          /**< success */
	RAGDB_EINVAL = 1,      /**< an argument was invalid */
	RAGDB_ENOTFOUND = 2,   /**< no such document, chunk or database */
	RAGDB_EIO = 3,         /**< reading or writing a file failed */
	RAGDB_ENOMEM = 4,      /**< out of memory */
	RAGDB_ESCHEMA = 5,     /**< the database has another schema version */
	RAGDB_EEMBEDDER = 6,   /**< embedder mismatch or embedder failure */
	RAGDB_EMAPFULL = 7,    /**< the LMDB map is full and could not grow */
	RAGDB_ECORRUPT = 8,    /**< a stored record failed to decode */
	RAGDB_EEXIST = 9,      /**< the thing to create already exists */
	RAGDB_EINTR = 10,      /**< interrupted (Ctrl-C); committed work stays */
	RAGDB_EBUSY = 11,      /**< the database is locked or in use */
	RAGDB_EUNSUPPORTED = 12, /**< a feature that is not built */
	RAGDB_EPERM = 13,      /**< permission denied */
	RAGDB_EBADINPUT = 14,  /**< malformed input (a bad JSONL record...) */
	RAGDB_ENOSPC = 15,     /**< the disk is full */
	RAGDB_EREADONLY = 16,  /**< write on a handle opened read-only */
} ragdb_status;

/** A static, human-readable string for @p status. Never NULL. */
const char *ragdb_strerror(ragdb_status status);

/** The library version as "MAJOR.MINOR.PATCH". */
const char *ragdb_version(void);

/** An open knowledge base. Opaque. */
typedef struct ragdb ragdb;

/* ------------------------------------------------------------------ */
/** @name Creating, opening and closing */

/** Options for ragdb_create(). Zero-initialise, then set what you need. */
typedef struct ragdb_create_options {
	const char *embedder;   /**< embedder name; NULL or "local" = built-in */
	uint32_t dim;           /**< vector dimension; 0 = the embedder's default */
	uint32_t chunk_tokens;  /**< default chunk size in tokens; 0 = built-in */
	uint32_t chunk_overlap; /**< default overlap in tokens; 0 = built-in,
	                             UINT32_MAX = no overlap */
	const char *language;   /**< full-text (BM25) stemming language, a Snowball
	                             name ("english", "german", ...) or "none";
	                             NULL = "english". Fixed at creation. */
	const char *config;     /**< provider configuration file (ragdb.json); NULL =
	                             $RAGDB_CONFIG, else DIR/ragdb.json if present */
	const char *endpoint;   /**< a remote embedder's endpoint (overrides the
	                             environment and the file); NULL = none */
	const char *quantize;   /**< quantized blocks scanned before an exact
	                             rescoring: "f32" (none), "bf16", "int8",
	                             "binary"; NULL = "f32". See ragdb_quantize(). */
} ragdb_create_options;

/** Flags for ragdb_open(). */
#define RAGDB_RDONLY 0x1 /**< open read-only: writes fail RAGDB_EREADONLY */

/**
 * Create a new knowledge base in directory @p dir (created if missing; it
 * must not already hold a knowledge base).
 *
 * @param[in] dir   the knowledge base directory.
 * @param[in] opts  options, or NULL for the defaults.
 * @param[out] db   receives a handle, also on failure unless memory ran out:
 *                  read ragdb_errmsg(*db), then ragdb_close() it.
 * @return RAGDB_OK, RAGDB_EEXIST (a knowledge base is there already),
 *         RAGDB_EINVAL (unknown embedder, bad dimension), RAGDB_EPERM,
 *         RAGDB_EIO, RAGDB_ENOMEM.
 */
ragdb_status ragdb_create(const char *dir, const ragdb_create_options *opts, ragdb **db);

/**
 * Open the knowledge base in @p dir.
 *
 * @param[in] flags 0 or RAGDB_RDONLY.
 * @param[out] db   as for ragdb_create().
 * @return RAGDB_OK, RAGDB_ENOTFOUND (no knowledge base there), RAGDB_ESCHEMA,
 *         RAGDB_EPERM, RAGDB_EIO, RAGDB_ENOMEM.
 */
ragdb_status ragdb_open(const char *dir, unsigned flags, ragdb **db);

/** Close @p db and free everything it owns. Accepts NULL. Must not be
 *  called while another thread uses the handle. */
void ragdb_close(ragdb *db);

/** The detailed message of the last failure on @p db in the calling thread
 *  ("" if none). Valid until the next call on @p db from the same thread.
 *  Accepts NULL. */
const char *ragdb_errmsg(const ragdb *db);

/** Ask long-running calls on @p db (ingest, batch search, index build,
 *  quantize, compact, reembed) to stop at the next safe point; they return
 *  RAGDB_EINTR and what was committed stays: an ingest keeps the batches it
 *  committed and a compact the steps it did; an index build, a quantize and
 *  a reembed leave the knowledge base as it was.
 *  Async-signal-safe: may be called from a signal handler. */
void ragdb_interrupt(ragdb *db);

/* ------------------------------------------------------------------ */
/** @name Ingesting */

/** Input formats. */
typedef enum ragdb_format {
	RAGDB_FORMAT_AUTO = 0,     /**< by file extension and content */
	RAGDB_FORMAT_TEXT = 1,
	RAGDB_FORMAT_MARKDOWN = 2,
	RAGDB_FORMAT_CODE = 3,     /**< source code: split at blank lines */
	RAGDB_FORMAT_JSONL = 4,    /**< one JSON object per line; JSON arrays too */
	RAGDB_FORMAT_HTML = 5,     /**< HTML5: scripts/styles dropped, headings kept */
	RAGDB_FORMAT_PDF = 6,      /**< text per page; heading "Page N" on each */
	RAGDB_FORMAT_DOCX = 7,     /**< Word: paragraphs, heading styles, tables */
	RAGDB_FORMAT_ODT = 8,      /**< OpenDocument text: paragraphs, headings, tables */
	RAGDB_FORMAT_EPUB = 9,     /**< the chapters in spine (reading) order */
	RAGDB_FORMAT_CSV = 10,     /**< CSV/TSV: a document per row (header row
	                                names the fields; text_field, id_field,
	                                title_field pick columns, the others are
	                                metadata); as a ragdb_document: plain text */
} ragdb_format;

/** One document given as text (ragdb_ingest_text()). */
typedef struct ragdb_document {
	const char *id;        /**< unique id (required) */
	const char *text;      /**< UTF-8 text; invalid bytes are replaced */
	size_t text_len;       /**< bytes of @p text; (size_t)-1 = strlen */
	const char *title;     /**< NULL for none */
	const char *source;    /**< where it came from; NULL = the id */
	const char *metadata_json; /**< a JSON object, or NULL */
	ragdb_format format;   /**< how to chunk it; AUTO = plain text */
} ragdb_document;

/** What happened to one document or file during an ingest. */
typedef enum ragdb_ingest_action {
	RAGDB_ADDED = 0,
	RAGDB_REPLACED = 1,
	RAGDB_UNCHANGED = 2,
	RAGDB_REMOVED = 3,     /**< removed by sync: its file is gone */
	RAGDB_SKIPPED = 4,     /**< not stored; the reason says why */
	RAGDB_FAILED = 5,      /**< an error; nothing of it was stored */
} ragdb_ingest_action;

struct ragdb_ingest_summary;

/** Options for ragdb_ingest_paths() and ragdb_ingest_text(). Zero = defaults. */
typedef struct ragdb_ingest_options {
	const char *const *globs;    /**< include only files matching one (fnmatch, on
	                                  the path relative to its root, ** allowed) */
	size_t n_globs;
	const char *const *excludes; /**< skip files or directories matching one */
	size_t n_excludes;
	ragdb_format format;         /**< force a format; AUTO = by extension */
	const char *id_field;        /**< JSONL: id field (default "id", then "_id");
	                                  CSV: id column (default "id" if there is one,
	                                  else "FILE:ROW") */
	const char *text_field;      /**< JSONL: text field (default "text"); CSV: text
	                                  column (default "text" if there is one, else
	                                  every column as "name: value" lines) */
	const char *title_field;     /**< JSONL, CSV: title field (default "title") */
	uint32_t chunk_tokens;       /**< 0 = the knowledge base's default */
	uint32_t chunk_overlap;      /**< 0 = default; UINT32_MAX = none */
	int sync;                    /**< remove documents of the walked roots whose
	                                  files are gone */
	int skip_bad_records;        /**< JSONL: report a malformed line and go on
	                                  (default: stop at it, nothing of that file stored) */
	int threads;                 /**< chunk+embed threads; 0 = number of cores */
	const char *const *meta;     /**< "key=value" metadata set on every document of
	                                  this ingest (string values; a key replaces the
	                                  record's own field of that name) */
	size_t n_meta;

	/** Called once for each document or file with what happened to it; may
	 *  be NULL. @p reason says why for SKIPPED and FAILED; for ADDED and
	 *  REPLACED it is NULL, or a warning (invalid UTF-8 replaced, text
	 *  truncated for the embedder). Called from the calling thread. */
	void (*on_item)(void *ctx, ragdb_ingest_action action, const char *id,
	                const char *source, const char *reason);
	/** Called after each commit with running totals; may be NULL. */
	void (*on_progress)(void *ctx, const struct ragdb_ingest_summary *so_far);
	void *ctx;
} ragdb_ingest_options;

/** Totals of one ingest. */
typedef struct ragdb_ingest_summary {
	uint64_t files_seen;      /**< files (or records) considered */
	uint64_t files_total;     /**< files found by the walk (for progress) */
	uint64_t bytes_total;     /**< bytes of those files (for progress) */
	uint64_t added, replaced, unchanged, removed, skipped, failed;
	uint64_t chunks;          /**< chunks written */
	uint64_t embeddings;      /**< texts sent to the embedder */
	uint64_t bytes;           /**< bytes of text read */
	uint64_t warnings;        /**< invalid UTF-8 replaced, etc. */
	double seconds;
	double seconds_read;      /**< reading, chunking, tokenizing and compressing (summed over threads) */
	double seconds_embed;     /**< embedding (summed over threads) */
	double seconds_write;     /**< LMDB writes and commits */
} ragdb_ingest_summary;

/**
 * Ingest files and directories. Directories are walked (hidden entries and
 * `.git` skipped, binary files skipped with a reason). Each file becomes a
 * document whose id is its path relative to the root it was found under (for
 * a file named directly, its name) and whose source is its absolute path;
 * JSONL files give one document per record. Unchanged documents (same id,
 * same content hash) are skipped without embedding; changed ones are
 * replaced atomically. Documents are committed in batches; each document is
 * visible with all its chunks and vectors, or not at all.
 *
 * @param[out] summary totals; written also when the call fails part-way.
 * @return RAGDB_OK when every path was processed (individual documents may
 *         still have been skipped or failed: see the summary), RAGDB_ENOTFOUND
 *         for a path that does not exist, RAGDB_EBADINPUT for a malformed
 *         JSONL record without skip_bad_records, RAGDB_EINTR, RAGDB_EMAPFULL,
 *         RAGDB_ENOSPC, RAGDB_EIO. What was committed before a failure stays.
 */
ragdb_status ragdb_ingest_paths(ragdb *db, const char *const *paths, size_t n_paths,
                                const ragdb_ingest_options *opts,
                                ragdb_ingest_summary *summary);

/**
 * Ingest documents given as text, in one write transaction (all or none).
 * An unchanged document (same id and content) is left as it is.
 * @param[out] summary may be NULL.
 * @return RAGDB_OK, RAGDB_EINVAL (missing id or text, bad metadata JSON,
 *         duplicate id in @p docs), RAGDB_EMAPFULL, RAGDB_ENOSPC, RAGDB_EIO.
 */
ragdb_status ragdb_ingest_text(ragdb *db, const ragdb_document *docs, size_t n_docs,
                               const ragdb_ingest_options *opts,
                               ragdb_ingest_summary *summary);

/* ------------------------------------------------------------------ */
/** @name Deleting */

/** Delete the document @p id with its chunks and vectors.
 *  @return RAGDB_OK, RAGDB_ENOTFOUND, RAGDB_EIO. */
ragdb_status ragdb_delete(ragdb *db, const char *id);

/** Delete every document whose source is @p path, or lies under the
 *  directory @p path. @p path is made absolute first.
 *  @param[out] n_deleted may be NULL.
 *  @return RAGDB_OK (also when nothing matched: *n_deleted = 0), RAGDB_EIO. */
ragdb_status ragdb_delete_source(ragdb *db, const char *path, uint64_t *n_deleted);

/* ------------------------------------------------------------------ */
/** @name Searching */

/** One search hit. Strings belong to the ragdb_results. */
typedef struct ragdb_hit {
	uint32_t rank;        /**< 1-based */
	float score;          /**< by mode: cosine (-1..1), BM25, or fused score */
	const char *id;       /**< the document's id */
	const char *source;   /**< the document's source */
	const char *title;    /**< the document's title, or "" */
	const char *heading;  /**< the chunk's heading path ("A > B"), or "" */
	uint32_t chunk;       /**< the chunk's ordinal within its document */
	uint64_t start, end;  /**< the chunk's byte range in the document text */
	const char *text;     /**< the chunk's text (text_len bytes, NUL-ended) */
	size_t text_len;
	uint64_t chunk_id;    /**< internal chunk id (stable until compact) */
} ragdb_hit;

/** The results of one query. */
typedef struct ragdb_results {
	const char *query;    /**< the query text, or the query id in a batch */
	double took_ms;
	size_t n;
	ragdb_hit *hits;
} ragdb_results;

/** How a search ranks chunks. */
typedef enum ragdb_search_mode {
	RAGDB_MODE_DEFAULT = 0, /**< hybrid */
	RAGDB_MODE_VECTOR = 1,  /**< exact cosine over the embeddings; score = cosine */
	RAGDB_MODE_BM25 = 2,    /**< full-text BM25F (body + title/heading field);
	                             score = BM25 score; chunks with no query term
	                             are not returned */
	RAGDB_MODE_HYBRID = 3,  /**< the vector and BM25 (with query expansion)
	                             lists fused: each divided by its top score,
	                             0.3 x cosine + 0.7 x BM25; score = the fused
	                             score */
} ragdb_search_mode;

/** Options for searches. Zero = defaults. */
typedef struct ragdb_search_options {
	uint32_t k;           /**< results wanted; 0 = 10 */
	int threads;          /**< scan threads; 0 = number of cores */
	ragdb_search_mode mode;
	const char *const *filters; /**< filter expressions, all must hold, applied
	                                 during the scan (docs/search.md):
	                                 "source:GLOB", "id:GLOB", "KEY OP VALUE" on
	                                 metadata with OP = != < <= > >= */
	size_t n_filters;
	float mmr_lambda;     /**< 0 = off; else MMR diversification with this
	                           λ in (0,1] (1 = relevance only) */
	float bm25_k1;        /**< BM25 term-frequency saturation; 0 = 1.2 */
	float bm25_b;         /**< BM25 body length normalisation in [0,1];
	                           0 = 0.75 (use a tiny value for "none") */
	int expand;           /**< BM25 pseudo-relevance feedback (RM3): 0 = the
	                           mode's default (on in hybrid, off in bm25),
	                           1 = on, -1 = off */
	uint32_t oversample;  /**< quantized knowledge bases: candidates per
	                           result rescored exactly from the f32 vectors;
	                           0 = the quantization's default (bf16 2, int8 4,
	                           binary 64), at most 1000 */
	uint32_t nprobe;      /**< IVF index (ragdb_index_build): lists scanned;
	                           0 = the index's default, and the index is used
	                           only from RAGDB_IVF_MIN_VECTORS vectors on
	                           (exact below); N > 0 = always use it with N
	                           lists (RAGDB_EINVAL without an index) */
	int exact;            /**< non-zero: ignore the IVF index (exact scan) */
} ragdb_search_options;

/**
 * The @p k chunks most similar to @p query (exact cosine top-k), best first;
 * fewer when the knowledge base holds fewer chunks. Ties are broken by chunk
 * id, so results are deterministic.
 * @param[out] out receives results to free with ragdb_results_free().
 * @return RAGDB_OK, RAGDB_EINVAL (empty query), RAGDB_EEMBEDDER, RAGDB_ENOMEM.
 */
ragdb_status ragdb_search(ragdb *db, const char *query, const ragdb_search_options *opts,
                          ragdb_results **out);

/**
 * Search many queries at once (one pass over the vectors, a matrix product
 * per block). @p query_ids may be NULL; otherwise results[i].query is
 * query_ids[i].
 * @param[out] out receives an array of @p n results; free with
 *             ragdb_results_free_array(out, n).
 */
ragdb_status ragdb_search_batch(ragdb *db, const char *const *queries,
                                const char *const *query_ids, size_t n,
                                const ragdb_search_options *opts, ragdb_results **out);

/** Free results. Accepts NULL. */
void ragdb_results_free(ragdb_results *r);
void ragdb_results_free_array(ragdb_results *r, size_t n);

/* ------------------------------------------------------------------ */
/** @name Asking */

/** One numbered source of an answer. */
typedef struct ragdb_source {
	uint32_t n;           /**< the number used in [n] markers */
	const char *id, *source, *title, *heading;
	uint64_t start, end;  /**< byte range in the document (merged chunks) */
	const char *text;     /**< the passage given as context */
	float score;
} ragdb_source;

/** An answer with its sources. */
typedef struct ragdb_answer {
	const char *answer;   /**< text with [n] citation markers */
	const char *model;    /**< "extractive" for the built-in answerer */
	int extractive;       /**< 1 when no language model wrote it */
	size_t n_sources;
	ragdb_source *sources;
	uint32_t context_tokens; /**< approximate tokens of context used */
	double took_ms;
	uint64_t input_tokens;   /**< as the model reported them (0: extractive) */
	uint64_t output_tokens;
	double cost;             /**< from the configured prices, in their currency */
	int cached;              /**< 1: the language model's answer came from the
	                              answer cache (no call made; tokens and cost 0) */
	const char *search_query; /**< what retrieval searched for: the question,
	                               or a follow-up rewritten standalone from
	                               the conversation (docs/conversations.md) */
	uint32_t tool_calls;      /**< agentic: tool calls the model made */
} ragdb_answer;

typedef struct ragdb_query_options {
	uint32_t k;              /**< chunks to retrieve; 0 = 5 */
	uint32_t context_tokens; /**< token budget for the context; 0 = 2000 */
	uint32_t max_sentences;  /**< extractive: sentences in the answer; 0 = 3 */
	ragdb_search_mode mode;  /**< as in ragdb_search_options */
	const char *const *filters;
	size_t n_filters;
	const char *model;       /**< NULL = the configuration's default_model, else
	                              the built-in answerer; "extractive" = the
	                              built-in answerer; "provider:model" or a
	                              configured name = that language model (answers
	                              stream through on_delta when it is set) */
	/** Called with each piece of the answer as it is produced (the whole
	 *  extractive answer arrives in one piece); may be NULL. The full answer
	 *  is in the returned ragdb_answer as well. */
	void (*on_delta)(void *ctx, const char *text, size_t len);
	void *ctx;
	const char *conversation_id; /**< ask within this stored conversation
	                                  (created when new): its earlier turns
	                                  are the history, and the question and
	                                  answer are appended to it (needs a
	                                  writable handle); NULL = none */
	float mmr_lambda;        /**< as in ragdb_search_options */
	/** Earlier turns of a conversation the caller keeps itself (stateless
	 *  clients such as the OpenAI chat API send the whole conversation each
	 *  time), oldest first, not including @p question (after the stored
	 *  turns of conversation_id, when both are given). A language model sees
	 *  them before the question, trimmed to its context window; retrieval
	 *  searches the question rewritten as a standalone query when it is a
	 *  follow-up; the extractive answerer quotes the sources. */
	const struct ragdb_message *history;
	size_t n_history;
	/** Non-zero: ask the language model even when the answer cache holds
	 *  this exact request, and do not store the answer. */
	int no_cache;
	/** Non-zero: agentic answering (docs/providers.md, "Agentic answers").
	 *  The language model gets the first retrieval's sources as usual and
	 *  a tool, search_knowledge_base (arguments: query, optional k), which
	 *  it may call to search again (the same mode, filters and mmr as the
	 *  question) before it answers; the passages a search finds that it
	 *  was not given yet get the next source numbers, so every [n] stays
	 *  valid, and the answer's sources list all of them in number order.
	 *  Tokens and cost sum every call. Needs a language model: with none
	 *  (or "extractive") ragdb_query fails with RAGDB_EINVAL. The answer
	 *  cache and the fallback chain are not used. */
	int agentic;
	/** agentic: tool calls allowed (malformed ones count too); after
	 *  them the model is told to answer without tools. 0 = 4; at most 16. */
	uint32_t max_tool_calls;
	/** agentic: called with each search the model asks for, before it
	 *  runs (with @p ctx above); may be NULL. */
	void (*on_tool_call)(void *ctx, const char *query);
} ragdb_query_options;

/** One turn of a conversation (ragdb_query_options.history). */
typedef struct ragdb_message {
	const char *role;     /**< "system", "user" or "assistant" */
	const char *content;  /**< UTF-8 text */
} ragdb_message;

/**
 * Answer @p question from the knowledge base: retrieve, merge neighbouring
 * chunks of a document, fit the token budget, number the sources, answer.
 * @param[out] out free with ragdb_answer_free().
 * @return as ragdb_search(). An empty knowledge base gives an answer that
 *         says nothing was found, with no sources.
 */
ragdb_status ragdb_query(ragdb *db, const char *question, const ragdb_query_options *opts,
                         ragdb_answer **out);
void ragdb_answer_free(ragdb_answer *a);

/**
 * Embed @p n texts with the knowledge base's embedder (the vectors that
 * searches compare), for callers that serve embeddings. @p out receives
 * n x dim floats (dim from ragdb_get_stats), each row L2-normalised.
 * @param query non-zero to embed as queries, zero as documents.
 * @return RAGDB_OK, RAGDB_EINVAL, RAGDB_EEMBEDDER, RAGDB_ENOMEM.
 */
ragdb_status ragdb_embed(ragdb *db, const char *const *texts, size_t n, int query, float *out);

/* ------------------------------------------------------------------ */
/** @name Listing and inspecting */

/** A stored document. Strings belong to the ragdb_doc_info. */
typedef struct ragdb_doc_info {
	const char *id, *source, *title;
	const char *metadata_json;  /**< "{}" when none */
	char hash[33];              /**< content hash, hex */
	uint64_t size;              /**< bytes of text */
	int64_t mtime;              /**< file mtime (s), 0 for text */
	int64_t ingested;           /**< when it was stored (s since epoch) */
	uint32_t n_chunks;
	const char *text;           /**< ragdb_show() only: the full text, rebuilt
	                                 from its chunks; NULL in listings */
} ragdb_doc_info;

/** Call @p cb for every document in id order; stop early when it returns
 *  non-zero. Strings are valid only during the callback. */
ragdb_status ragdb_list(ragdb *db, int (*cb)(void *ctx, const ragdb_doc_info *doc), void *ctx);

/** One document with its text. @return RAGDB_OK, RAGDB_ENOTFOUND. */
ragdb_status ragdb_show(ragdb *db, const char *id, ragdb_doc_info **out);
void ragdb_doc_info_free(ragdb_doc_info *d);

/** Knowledge base statistics. */
typedef struct ragdb_stats {
	uint32_t schema_version;
	char embedder[64];        /**< e.g. "local" */
	char embedder_model[64];  /**< e.g. "hash-v1" */
	uint32_t dim;
	uint32_t chunk_tokens, chunk_overlap;
	uint64_t documents, chunks;
	uint64_t vectors_live, vectors_dead;  /**< dead = tombstones until compact */
	uint64_t blocks;
	uint64_t text_bytes;      /**< bytes of document text */
	uint64_t file_bytes;      /**< size of the data file */
	uint64_t map_bytes;       /**< current map size */
	char kernel[32];          /**< the dot-product kernel in use */
	char quantize[8];         /**< "f32", "bf16", "int8" or "binary" (ragdb_quantize) */
	uint64_t quantize_bytes;  /**< bytes of the quantized blocks (0 for f32) */
	char unfinished_quantize[8]; /**< a conversion from f32 that a crash or another
	                                  process stopped ("" none): its blocks are
	                                  unused; ragdb_compact() frees them */
	uint64_t unfinished_bytes;   /**< their bytes */
	uint64_t unfinished_reembed_bytes; /**< vectors a re-embed or tune staged and
	                                        has not switched to yet (one running in
	                                        another process, or stopped by a crash);
	                                        ragdb_compact() frees them */
} ragdb_stats;
/** Fill @p out. @return RAGDB_OK, RAGDB_EEMBEDDER (another process
 *  re-embedded the vectors since this handle opened: open it again), or an
 *  LMDB failure. */
ragdb_status ragdb_get_stats(ragdb *db, ragdb_stats *out);

/** Verify every invariant of the store. Each violation is passed to @p cb
 *  (may be NULL) as a message. @param[out] n_problems.
 *  @return RAGDB_OK when the check ran (even if it found problems). */
ragdb_status ragdb_check(ragdb *db, void (*cb)(void *ctx, const char *problem), void *ctx,
                         uint64_t *n_problems);

/** Rewrite the vector blocks without tombstones and the IVF lists without
 *  theirs, and remove what an IVF build, a quantize or a re-embed that never
 *  finished left (a crash; one running in another process then stops with
 *  RAGDB_EBUSY).
 *  The blocks are rewritten in steps of about 256 MiB (RAGDB_TXN_BYTES), one
 *  write transaction each, every one leaving a valid, partly compacted
 *  knowledge base: memory stays bounded, and an interrupt (RAGDB_EINTR) or a
 *  crash keeps the steps done; calling again finishes. The IVF lists
 *  follow, a few per transaction. The pages freed are reused by later
 *  writes (the data file keeps its size, since other processes may have it
 *  mapped). Readers may run meanwhile.
 *  @param[out] freed_bytes bytes of tombstoned vectors and of what unfinished
 *  builds, quantizes and re-embeds left; may be NULL.
 *  @return RAGDB_OK, RAGDB_EINTR (ragdb_interrupt), RAGDB_EREADONLY,
 *          RAGDB_EMAPFULL, RAGDB_ENOMEM. */
ragdb_status ragdb_compact(ragdb *db, uint64_t *freed_bytes);

/* ------------------------------------------------------------------ */
/** @name Tuning the local embedder (added in wave 2) */

/** Options for ragdb_tune(). Zero = defaults. */
typedef struct ragdb_tune_options {
	int reset;            /**< undo a tune: back to the plain local embedder */
} ragdb_tune_options;

/** What a tune did. */
typedef struct ragdb_tune_summary {
	char model_before[64]; /**< the embedder model before, e.g. "hash-v1" */
	char model[64];        /**< after, e.g. "hash-v1+tuned-0123456789abcdef" */
	uint64_t chunks;       /**< chunks the weights were computed from */
	uint64_t vectors;      /**< vectors re-embedded */
	uint64_t features;     /**< word features weighted */
	double seconds;
} ragdb_tune_summary;

/**
 * Fit the local embedder to this knowledge base: weight each word by how
 * rare it is among the stored chunks (inverse document frequency), then
 * re-embed every chunk (as ragdb_reembed does: over write transactions of
 * about 256 MiB, switched to in the last; an interrupt, an error or a crash
 * leaves the knowledge base as it was before, or fully tuned; a quantized
 * one searches its f32 vectors until its blocks are converted again, right
 * after the switch). The tuned embedder is
 * recorded in the knowledge base (its model becomes "hash-v1+tuned-HASH"),
 * so later searches and ingests, in this handle and in any process that
 * opens the knowledge base afterwards, embed with it. Tune again after large
 * ingests to refresh the weights. Another process that had the knowledge
 * base open must open it again: its writes fail with RAGDB_EEMBEDDER.
 * @param opts     NULL for the defaults.
 * @param[out] summary may be NULL.
 * @return RAGDB_OK, RAGDB_EUNSUPPORTED (not the local embedder), RAGDB_EINTR,
 *         RAGDB_EBUSY (compact or a re-embed removed the staged vectors: run it
 *         again), RAGDB_EREADONLY, RAGDB_EMAPFULL, RAGDB_ENOSPC, RAGDB_EIO,
 *         RAGDB_ENOMEM.
 */
ragdb_status ragdb_tune(ragdb *db, const ragdb_tune_options *opts, ragdb_tune_summary *summary);

/* ------------------------------------------------------------------ */
/** @name Providers and configuration (added in wave 2)
 *
 * Remote embedders ("openai:text-embedding-3-small", "ollama:nomic-embed-text",
 * "huggingface:BAAI/bge-small-en-v1.5", "gemini:gemini-embedding-001") and
 * language models for ragdb_query() ("anthropic:claude-sonnet-4-5",
 * "openai:gpt-4o-mini", "ollama:llama3.2", "gemini:gemini-2.0-flash", or a
 * name from the configuration) take their endpoints and keys from, in this
 * order: a command-line flag (ragdb_set_endpoint), the provider's own
 * environment variables (OPENAI_BASE_URL, OPENAI_API_KEY, ANTHROPIC_BASE_URL,
 * ANTHROPIC_API_KEY, OLLAMA_HOST, GEMINI_API_KEY, HF_TOKEN), the
 * configuration file (ragdb.json, see docs/providers.md), built-in defaults.
 * A handle reads the configuration when it is opened or created: the file
 * named by $RAGDB_CONFIG, else ragdb.json in the knowledge base directory;
 * $RAGDB_EMBED_ENDPOINT sets the embedder endpoint. API keys are read from
 * the environment when a request is made, and never copied into messages.
 * Neither function may run while another thread uses the handle. */

/** Read provider settings from the file @p path (NULL = the default
 *  places again) and re-open a remote embedder with them.
 *  @return RAGDB_OK, RAGDB_ENOTFOUND (no such file), RAGDB_EINVAL (malformed
 *  file; the message names the file and the field), RAGDB_ENOMEM. */
ragdb_status ragdb_set_config(ragdb *db, const char *path);

/** Send a remote embedder's requests to @p url (e.g. a text-embeddings-
 *  inference server, "http://localhost:8080"); NULL = back to the
 *  environment and configuration. @return RAGDB_OK, RAGDB_EINVAL. */
ragdb_status ragdb_set_endpoint(ragdb *db, const char *url);

/* ------------------------------------------------------------------ */
/** @name Model metrics (added in wave 3)
 *
 * Counters of this process for every embedder and language model it has
 * called (keyed "provider:model"): requests, errors by kind, latency
 * percentiles, tokens and cost from the providers' usage fields, requests
 * per minute, and LLM answer-cache hits. Kept in memory only: a server
 * reports everything since it started; a one-shot command its own calls.
 * Safe to call from any thread at any time. */

/** Kinds of failed model calls. */
typedef enum ragdb_model_error {
	RAGDB_MERR_TIMEOUT = 0,   /**< no complete answer in time */
	RAGDB_MERR_HTTP_4XX,      /**< refused (400, 401, 403, 404, 422...) */
	RAGDB_MERR_HTTP_5XX,      /**< server errors (500, 502, 503, 504, 529) */
	RAGDB_MERR_RATE_LIMITED,  /**< 429 after the retries */
	RAGDB_MERR_NETWORK,       /**< refused, reset, unresolvable */
	RAGDB_MERR_MALFORMED,     /**< not the JSON the protocol describes */
	RAGDB_MERR_STREAM_CUT,    /**< a stream that ended before its end marker */
	RAGDB_MERR_OTHER,
	RAGDB_MERR_COUNT
} ragdb_model_error;

/** "timeout", "http_4xx", "http_5xx", "rate_limited", "network",
 *  "malformed", "stream_cut", "other". */
const char *ragdb_model_error_name(ragdb_model_error e);

/** One model's counters. */
typedef struct ragdb_model_metrics {
	char model[128];          /**< "provider:model" */
	char kind[8];             /**< "llm" or "embed" */
	uint64_t requests;        /**< HTTP requests (an embedding batch is one) */
	uint64_t errors;          /**< failed calls */
	uint64_t errors_by_kind[RAGDB_MERR_COUNT];
	uint64_t calls;           /**< calls timed (the latency sample) */
	double latency_p50_ms, latency_p95_ms, latency_p99_ms; /**< of the last 1024 calls */
	double latency_sum_ms;
	uint64_t input_tokens, output_tokens; /**< as the provider reported them */
	double cost;              /**< from the configured prices */
	double requests_per_minute; /**< requests in the last 60 seconds */
	uint64_t cache_hits, cache_misses; /**< LLM answer cache (ragdb.json "cache") */
} ragdb_model_metrics;

/** A snapshot of every model's counters, sorted by model name.
 *  @param[out] out free with ragdb_model_metrics_free() (NULL when n is 0)
 *  @return RAGDB_OK, RAGDB_ENOMEM. */
ragdb_status ragdb_model_metrics_get(ragdb_model_metrics **out, size_t *n);
void ragdb_model_metrics_free(ragdb_model_metrics *m);

/** The same counters in the Prometheus text exposition format (HELP and
 *  TYPE lines; metric names in docs/api.md), plus the LLM cache's size.
 *  @return a NUL-ended string to free(), its length in @p len (may be
 *  NULL); NULL when out of memory. */
char *ragdb_model_metrics_prometheus(size_t *len);

/** Check that language model @p model (NULL = the configured default_model)
 *  answers: one answer of one token, past the answer cache.
 *  @return RAGDB_OK; RAGDB_ENOTFOUND when @p model is NULL and no default
 *  is configured (nothing to check); else the model's failure
 *  (RAGDB_EPERM, RAGDB_EIO...; ragdb_errmsg() names the model). */
ragdb_status ragdb_check_model(ragdb *db, const char *model);

/** Check an embedding model (added in wave 4): embed one short text past
 *  every cache. @p model: "provider:model" or a configured name; NULL = the
 *  knowledge base's own embedder (the built-in one needs no network).
 *  @param[out] dim the dimension of the vector it returned (may be NULL)
 *  @return RAGDB_OK; else the model's failure (RAGDB_EPERM, RAGDB_EIO,
 *  RAGDB_EEMBEDDER...; ragdb_errmsg() names the model and quotes the
 *  provider). Whether @p dim matches the knowledge base is the caller's
 *  to judge (ragdb_get_stats). */
ragdb_status ragdb_check_embedder(ragdb *db, const char *model, uint32_t *dim);

/* ------------------------------------------------------------------ */
/** @name Backup and restore (added in wave 3) */

/**
 * Copy the knowledge base into @p dir (a new or empty directory) while
 * readers and a writer go on: LMDB's compacting copy of one consistent
 * snapshot (free pages are left out, so the copy may be smaller). The copy
 * is written next to @p dir and renamed into place: @p dir ends up holding
 * the whole copy or is left as it was. The copy is a knowledge base: open it,
 * or put it back with ragdb_restore().
 * @param[out] bytes size of the copy; may be NULL.
 * @return RAGDB_OK, RAGDB_EEXIST (@p dir not empty), RAGDB_ENOSPC, RAGDB_EIO,
 *         RAGDB_EPERM, RAGDB_EINVAL.
 */
ragdb_status ragdb_backup(ragdb *db, const char *dir, uint64_t *bytes);

#define RAGDB_RESTORE_FORCE 0x1 /**< replace a knowledge base already in the target */

/**
 * Put the backup opened as @p backup (ragdb_open(BACKUP_DIR, RAGDB_RDONLY))
 * in place at @p dir: absent or empty, or holding a knowledge base when
 * @p flags has RAGDB_RESTORE_FORCE. The backup is checked (ragdb_check()),
 * copied next to @p dir, the copy checked again, then swapped in with one
 * rename: @p dir holds the old knowledge base or the restored one, never a
 * mix. Refused with RAGDB_EBUSY while another process has @p dir open.
 * Failures are reported on @p backup's handle.
 * @return RAGDB_OK, RAGDB_EEXIST, RAGDB_EBUSY, RAGDB_ECORRUPT (the backup or
 *         the copy fails the check), RAGDB_ENOSPC, RAGDB_EIO, RAGDB_EINVAL.
 */
ragdb_status ragdb_restore(ragdb *backup, const char *dir, unsigned flags);

/**
 * The safe repairs of what ragdb_check() reports, in one write transaction:
 * meta counters that disagree with the stored records (documents, chunks,
 * vectors_live, vectors_dead, text_bytes; next_doc, next_chunk, next_block
 * when not above the largest in use) are set to what the records hold. No
 * other violation is repaired: there is no safe way to invent a missing
 * chunk, vector or record; restore a backup instead. Each repair is passed
 * to @p cb (may be NULL) as a message. Run ragdb_check() after it.
 * @param[out] n_repaired may be NULL.
 * @return RAGDB_OK, RAGDB_EREADONLY, RAGDB_EIO, RAGDB_ENOSPC, RAGDB_ENOMEM.
 */
ragdb_status ragdb_repair(ragdb *db, void (*cb)(void *ctx, const char *repaired), void *ctx,
                          uint64_t *n_repaired);

/* ------------------------------------------------------------------ */
/** @name Conversations (added in wave 3)
 *
 * Stored in the knowledge base (ragdb_query with conversation_id appends to
 * them); docs/conversations.md. */

/** One stored turn. Strings belong to the ragdb_conversation. */
typedef struct ragdb_turn {
	const char *role;         /**< "user" or "assistant" */
	const char *text;
	const char *model;        /**< assistant: the model that answered; "" for a user turn */
	const char *search_query; /**< user: what retrieval searched for; "" otherwise */
	const char *sources_json; /**< assistant: JSON array of its sources
	                               [{"n","id","source","title"}]; "" otherwise */
	int64_t time_ms;          /**< when stored, ms since the epoch */
	uint64_t input_tokens, output_tokens;
} ragdb_turn;

/** A conversation's summary. Strings are valid only during a listing
 *  callback, or belong to the ragdb_conversation. */
typedef struct ragdb_conversation_info {
	const char *id;
	const char *title;        /**< the first question, cut to 200 bytes */
	int64_t created_ms, updated_ms;
	uint32_t n_turns;
} ragdb_conversation_info;

typedef struct ragdb_conversation {
	ragdb_conversation_info info;
	size_t n_turns;
	ragdb_turn *turns;        /**< oldest first */
} ragdb_conversation;

/** Call @p cb for every stored conversation in id order; stop early when
 *  it returns non-zero. */
ragdb_status ragdb_conversation_list(ragdb *db,
                                     int (*cb)(void *ctx, const ragdb_conversation_info *c),
                                     void *ctx);
/** One conversation with its turns. @return RAGDB_OK, RAGDB_ENOTFOUND. */
ragdb_status ragdb_conversation_get(ragdb *db, const char *id, ragdb_conversation **out);
void ragdb_conversation_free(ragdb_conversation *c);
/** Delete a conversation. @return RAGDB_OK, RAGDB_ENOTFOUND, RAGDB_EREADONLY. */
ragdb_status ragdb_conversation_delete(ragdb *db, const char *id);

/** A language model named in the configuration ("models" in ragdb.json),
 *  as ragdb_configured_models() reports it. Strings are valid only during
 *  the callback. Routing rules and fallback chains: docs/conversations.md. */
typedef struct ragdb_model_info {
	const char *name;          /**< the configured name */
	const char *provider;      /**< "openai", "anthropic", ... */
	const char *model;         /**< the provider's model id */
	const char *endpoint;      /**< base URL as resolved (flag > env > file) */
	uint32_t context_window;   /**< 0 = unknown */
	double price_input, price_output; /**< per 1M tokens; 0 = unknown */
	int is_default;            /**< it is default_model */
	const char *fallback;      /**< its fallback chain, comma-separated; "" = none */
	/* added in wave 4 (issue #3) */
	const char *const *endpoints; /**< every endpoint requests are balanced
	                                   over ("endpoints" in ragdb.json); just
	                                   endpoint when there is one */
	size_t n_endpoints;
	const char *balance;       /**< "round_robin", "least_latency" or
	                                "least_load" with several endpoints; "" */
	int embedder;              /**< 1: an embedding model ("kind": "embedding",
	                                a huggingface model, embedding options, or
	                                the knowledge base's embedder) */
} ragdb_model_info;

/** Call @p cb for every configured model in the file's order.
 *  @return RAGDB_OK (also with no configuration), RAGDB_EINVAL when a
 *  model's entry does not resolve (the message names it). */
ragdb_status ragdb_configured_models(ragdb *db,
                                     int (*cb)(void *ctx, const ragdb_model_info *m), void *ctx);

/* ------------------------------------------------------------------ */
/** @name Own vectors and quantized blocks (added in wave 3) */

/** A record that brings its own vector (ragdb_add_vectors()). */
typedef struct ragdb_vector_record {
	const char *id;        /**< document id, 1..511 bytes (required) */
	const char *text;      /**< stored as the document's single chunk (not
	                            split; full-text indexed); NULL = "" */
	const char *title;     /**< NULL = none */
	const char *source;    /**< NULL = "vectors" */
	const char *meta_json; /**< a JSON object, or NULL */
	const float *vector;   /**< dim floats; stored L2-normalised */
} ragdb_vector_record;

/**
 * Store @p n records with the vectors they bring, in one write transaction
 * (all or none). Each becomes a document of one chunk; a document with the
 * same id is replaced. For knowledge bases made with the "external" embedder
 * (vectors only), or any other whose dimension matches.
 * @return RAGDB_OK; RAGDB_EINVAL when @p dim is not the knowledge base's
 *         (naming both), a vector is all zeros or not finite, or an id is
 *         missing (the message names the record); RAGDB_EREADONLY.
 */
ragdb_status ragdb_add_vectors(ragdb *db, const ragdb_vector_record *recs, size_t n, uint32_t dim);

/**
 * Search with @p n query vectors (n x dim floats, normalised here) in one
 * snapshot: vector mode only (the default mode means vector here; bm25 and
 * hybrid are RAGDB_EINVAL), with k, filters, MMR and oversample as in
 * ragdb_search(). results[i].query is the row number "i".
 * @param[out] out an array of @p n results; free with
 *             ragdb_results_free_array(out, n).
 * @return RAGDB_OK, RAGDB_EINVAL (dimension mismatch, zero or non-finite
 *         vector), RAGDB_ENOMEM.
 */
ragdb_status ragdb_search_vectors(ragdb *db, const float *vecs, size_t n, uint32_t dim,
                                  const ragdb_search_options *opts, ragdb_results **out);

/**
 * How this handle's exact and quantized scans were shared since it opened:
 * searches that arrive while another's scan runs wait for it and then go
 * together in one pass over the vectors, each with exactly the results it
 * would get alone (RAGDB_SHARED_SCANS=0 in the environment when the handle
 * opens turns this off). @param[out] passes scans run (may be NULL);
 * @param[out] shared searches answered by a pass they shared with others
 * (may be NULL). @return RAGDB_OK, or RAGDB_EINVAL on a failed handle.
 */
ragdb_status ragdb_scan_stats(ragdb *db, uint64_t *passes, uint64_t *shared);

/**
 * Change the knowledge base's quantization to @p mode ("f32", "bf16", "int8"
 * or "binary"): re-encode every vector into the quantized blocks (or drop
 * them for f32), and an IVF index's lists with them. From f32 the blocks
 * (and from any mode the lists) are written over write transactions of
 * about 256 MiB (RAGDB_TXN_BYTES) beside what searches use, and the last
 * switches to them; between two quantized modes it converts to f32 and then
 * to @p mode that way (searches scan the f32 vectors in between). An
 * interrupt, an error or a crash leaves the old mode, or f32 between the
 * two conversions (the message then says to quantize again). Searches then scan the quantized blocks and rescore the best
 * candidates exactly from the f32 vectors, which are always kept.
 * @return RAGDB_OK, RAGDB_EINVAL (unknown mode), RAGDB_EREADONLY, RAGDB_EINTR
 *         (ragdb_interrupt), RAGDB_EBUSY (another process wrote between two
 *         of its transactions: quantize again), RAGDB_EMAPFULL, RAGDB_ENOMEM.
 */
ragdb_status ragdb_quantize(ragdb *db, const char *mode);

/** The knowledge base's quantization: "f32", "bf16", "int8" or "binary"
 *  (static string; "f32" on a NULL or failed handle). */
const char *ragdb_quantization(ragdb *db);

/* IVF index (added in wave 4; docs/search.md, "IVF index"). */

/** Below this many indexed vectors a search with nprobe 0 scans exactly:
 *  the exact scan is then a few milliseconds and has full recall. */
#define RAGDB_IVF_MIN_VECTORS 50000

/** Options for ragdb_index_build(). Zero = defaults. */
typedef struct ragdb_index_options {
	uint32_t nlist;        /**< lists (k-means centroids), 1..vectors (required) */
	float recall_target;   /**< the default nprobe is the smallest reaching
	                            recall@10 >= this on held-out stored vectors;
	                            in (0,1]; 0 = 0.95 */
	uint32_t sample;       /**< training sample; 0 = max(nlist x 64, 50000),
	                            at most the vectors stored */
	uint32_t iters;        /**< k-means iterations; 0 = 10 */
	int threads;           /**< 0 = number of cores */
	/** Called on the calling thread as the build goes (may be NULL), each
	 *  stage from done 0 or more up to done == total: "k-means" (done =
	 *  iterations), "assign" (vectors), "tune" (0 of 1 while the default
	 *  nprobe is measured, then 1 of 1; a quantized index measures again
	 *  after "write"), "write" (lists). */
	void (*on_progress)(void *ctx, const char *stage, uint64_t done, uint64_t total);
	void *ctx;
} ragdb_index_options;

/** What an index holds (ragdb_index_stats(), ragdb_index_build()). */
typedef struct ragdb_index_stats {
	uint32_t nlist;        /**< lists */
	uint32_t nprobe;       /**< default lists probed */
	uint64_t vectors;      /**< live entries in the lists */
	uint64_t built;        /**< vectors assigned by the build */
	uint64_t added;        /**< appended since the build (drift) */
	uint64_t dead;         /**< tombstoned entries (deleted since the build) */
	uint64_t list_min, list_median, list_max; /**< live entries per list */
	double imbalance;      /**< largest list / mean list */
	uint64_t bytes;        /**< bytes of lists, centroids and header */
	uint32_t sample, iters;
	float recall_target;   /**< the target the default nprobe was tuned to */
	float recall;          /**< recall@10 at the default nprobe on the held-out sample */
	double build_seconds;
	int64_t created;       /**< seconds since the epoch */
	uint64_t unfinished_bytes; /**< list bytes a build or quantize that did not
	                            finish left (a crash; or one running now in
	                            another process); ragdb_compact() frees them */
} ragdb_index_stats;

/**
 * Build (or rebuild) the IVF index: spherical k-means on a sample, every
 * vector assigned to its nearest centroid, lists stored contiguously, the
 * default nprobe tuned on held-out stored vectors. The lists are written
 * over several write transactions (about 256 MiB each) beside the current
 * index, which the last one replaces: searches use the old index until
 * then, and an interrupt, an error or a crash leaves it as it was. The
 * handle's other writers wait for the build. Vectors added later go to
 * their nearest list; deleted ones are tombstoned; ragdb_tune() drops the
 * index.
 * @param[out] out may be NULL.
 * @return RAGDB_OK, RAGDB_EINVAL (nlist 0 or above the vectors stored, no
 *         vectors, recall target outside (0,1]), RAGDB_EREADONLY,
 *         RAGDB_EBUSY (another process wrote to the knowledge base between
 *         two of the build's transactions: build again), RAGDB_EINTR
 *         (ragdb_interrupt), RAGDB_EMAPFULL, RAGDB_ENOMEM.
 */
ragdb_status ragdb_index_build(ragdb *db, const ragdb_index_options *opts,
                               ragdb_index_stats *out);
/** The index's statistics. @return RAGDB_OK, RAGDB_ENOTFOUND (no index). */
ragdb_status ragdb_index_stats_get(ragdb *db, ragdb_index_stats *out);
/** Remove the index. @return RAGDB_OK (also when there was none), RAGDB_EREADONLY. */
ragdb_status ragdb_index_drop(ragdb *db);

/* ------------------------------------------------------------------ */
/** @name Re-embedding (added in wave 4) */

/** Options for ragdb_reembed(). Zero = defaults. */
typedef struct ragdb_reembed_options {
	uint32_t dim;          /**< 0 = the embedder's default (a remote one is asked once) */
	const char *endpoint;  /**< the new embedder's endpoint, or NULL (its usual sources) */
	/** Called after each block of vectors with the vectors done so far and
	 *  the total; may be NULL. */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *ctx;
} ragdb_reembed_options;

/** What a re-embed did. */
typedef struct ragdb_reembed_summary {
	char embedder_before[160]; /**< "provider:model" before */
	char embedder[160];        /**< after */
	uint32_t dim_before, dim;
	uint64_t vectors;          /**< vectors re-embedded */
	int index_dropped;         /**< an IVF index was dropped (rebuild it) */
	double seconds;
	uint64_t cache_needed;     /**< nonzero: a remote embedder's calls ran inside the
	                                write transactions (holding the writer lock)
	                                because its vectors did not fit in half the disk
	                                cache; a cap of this many bytes would have let
	                                them run before it */
} ragdb_reembed_summary;

/**
 * Re-embed every chunk with embedder @p spec ("local", "provider:model" or a
 * name from the configuration; the dimension may change). The new vectors
 * are written over write transactions of about 256 MiB beside the old ones,
 * which answer searches until the last transaction switches to them and
 * records the new embedder; blocks another process changed meanwhile are
 * embedded again in that one. An interrupt, an error or a crash leaves the
 * old state (a crash leaves the staged vectors, which ragdb_get_stats()
 * reports and ragdb_compact() frees). Texts the persistent cache holds for
 * that embedder cost no call, so switching back to an earlier model is
 * free. An IVF index, built from the old vectors, is dropped in the switch
 * (summary.index_dropped); quantized blocks are converted again right after
 * it (searches use the f32 vectors meanwhile). Other processes that had the
 * knowledge base open must open it again: their writes and searches fail
 * with RAGDB_EEMBEDDER until they do.
 * @return RAGDB_OK, RAGDB_EINVAL (unknown embedder, "external"),
 *         RAGDB_EEMBEDDER (a provider failed; nothing changed),
 *         RAGDB_EBUSY (compact or another re-embed removed the staged vectors:
 *         run it again), RAGDB_EREADONLY, RAGDB_EINTR, RAGDB_EMAPFULL, RAGDB_ENOMEM.
 */
ragdb_status ragdb_reembed(ragdb *db, const char *spec, const ragdb_reembed_options *opts,
                           ragdb_reembed_summary *summary);

/** The persistent cache of embedding vectors and answers (docs/providers.md,
 *  "Caches"); enabled = 0 when it is off or could not be opened. */
typedef struct ragdb_cache_info {
	int enabled;
	char dir[1024];         /**< its directory */
	uint64_t entries;       /**< vectors and answers stored */
	uint64_t bytes;         /**< bytes charged against the cap */
	uint64_t max_bytes;     /**< the cap */
	uint64_t hits, misses;  /**< vector lookups by this process */
} ragdb_cache_info;
/** Fill @p out. @return RAGDB_OK, RAGDB_EINVAL (failed handle). */
ragdb_status ragdb_cache_stats(ragdb *db, ragdb_cache_info *out);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif /* RAGDB_H */
