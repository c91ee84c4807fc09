/*
 * engine/providers/bm25_tokenize.h — the full-text tokenizer behind the BM25
 * index: words from the shared word iterator (NFKC + case folding), minus
 * stopwords (English only), Snowball-stemmed in the knowledge base's language;
 * and the term bag that turns a chunk into distinct terms with per-field
 * frequencies (what index/ stores as postings).
 *
 * Ingest and search must tokenize identically, so both go through
 * rdb_tokenize(); the language is recorded in the knowledge base's meta.
 */
#ifndef RDB_BM25_TOKENIZE_H
#define RDB_BM25_TOKENIZE_H

#include <stddef.h>
#include <stdint.h>

#include "index/err.h"
#include "index/store.h"

/* A tokenizer. Not thread-safe (a Snowball stemmer keeps state): one per
 * thread or per call. */
typedef struct rdb_tokenizer rdb_tokenizer;

/* Whether @p language names a Snowball stemmer ("english", "german", ...,
 * or "porter"), or is "none" (no stemming, no stopwords). */
int rdb_language_supported(const char *language);
/* The supported languages as one comma-separated static string. */
const char *rdb_language_list(void);

/* EINVAL (naming the languages) for an unknown language, ENOMEM. */
ragdb_status rdb_tokenizer_create(const char *language, rdb_tokenizer **out, rdb_err *err);
void rdb_tokenizer_free(rdb_tokenizer *t); /* accepts NULL */

/* Call @p cb with each term of @p text in order (NUL-ended, 1..RDB_MAX_TERM
 * bytes; valid during the call). Stopwords are dropped (English), words
 * longer than RDB_MAX_TERM bytes are dropped. Stops when cb returns non-zero. */
void rdb_tokenize(rdb_tokenizer *t, const char *text, size_t len,
                  int (*cb)(void *ctx, const char *term, size_t len), void *ctx);

/* A chunk's distinct terms with their field frequencies. Reusable: reset
 * between chunks. The terms array and its strings belong to the bag. */
typedef struct rdb_termbag {
	rdb_term_tf *terms;
	size_t n, cap;
	uint32_t len_body, len_title;
	/* private: open-addressing index into terms, and the string arena */
	uint32_t *slots;
	size_t n_slots;
	char *arena;
	size_t arena_len, arena_cap;
	int oom;
} rdb_termbag;

void rdb_termbag_reset(rdb_termbag *b);
void rdb_termbag_free(rdb_termbag *b);
/* Tokenize @p text into field @p title (0 body, 1 title) of the bag.
 * ENOMEM if memory ran out. */
ragdb_status rdb_termbag_add(rdb_termbag *b, rdb_tokenizer *t, const char *text, size_t len,
                             int title, rdb_err *err);
/* Copy the bag's terms into one malloc'd block (array + strings) that the
 * caller frees with free(); *n receives the count. NULL on ENOMEM (and *n
 * untouched) unless the bag is empty (then NULL and *n = 0). */
rdb_term_tf *rdb_termbag_dup(const rdb_termbag *b, size_t *n);

#endif
