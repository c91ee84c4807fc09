/*
 * engine/providers/text.h — text primitives shared by the embedder, the
 * chunker (ingest/) and the extractive answerer (engine/rag/): UTF-8 repair,
 * word iteration with Unicode normalisation and case folding, and sentence
 * boundaries.
 */
#ifndef RDB_TEXT_H
#define RDB_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* text_utf8.c ------------------------------------------------------------ */

/* Replace every invalid UTF-8 sequence (and NUL bytes) in @p in with U+FFFD,
 * one per maximal ill-formed subpart (as browsers do); overlong forms,
 * surrogates, code points over U+10FFFF and truncated sequences are invalid.
 * Returns the number of replacements; when it is 0, *out is NULL (the input
 * is valid as it is), else *out is a malloc'd, NUL-ended repaired copy of
 * *out_len bytes. Returns (size_t)-1 when memory runs out. */
size_t rdb_utf8_repair(const char *in, size_t len, char **out, size_t *out_len);

/* Whether @p data looks binary: a NUL byte in its first 8 KiB, or more than
 * 30% of those bytes are control characters other than tab/CR/LF/FF. */
int rdb_looks_binary(const char *data, size_t len);

/* text_words.c ----------------------------------------------------------- */

/* A word: a maximal run of letters, digits, marks (and '_'), normalised
 * (NFKC), case-folded, written into the iterator's buffer. */
typedef struct rdb_words {
	const char *p, *end; /* the whole text (p does not move; the scan resumes at stop) */
	char buf[256];      /* the current word, NUL-ended; longer words truncated */
	size_t len;
	size_t start, stop; /* the word's byte range in the input */
} rdb_words;

void rdb_words_init(rdb_words *w, const char *text, size_t len);
/* Advance to the next word; 0 at the end. */
int rdb_words_next(rdb_words *w);

/* text_sentence.c -------------------------------------------------------- */

/* Approximate token count of a text as a language model's tokenizer would
 * see it: a run of letters/digits of n bytes counts ceil(n/4), each
 * punctuation mark one (a run of one mark ceil(n/4)), each character of 3+
 * UTF-8 bytes (CJK, emoji) one, whitespace nothing. Errs 20-40% high on
 * English prose. Additive over pieces split at whitespace. One pass, no
 * allocation. */
size_t rdb_token_estimate(const char *text, size_t len);

/* The end (exclusive byte offset, just after the mark and any closing
 * quotes/brackets) of the sentence that starts at @p from: after '.', '!',
 * '?', "..." or U+2026 followed by whitespace and an uppercase (or caseless)
 * letter, a digit or an opening quote/bracket — unless the dot ends a known
 * abbreviation (Dr., etc., e.g., Fig., Jan. ...), an initial ("J. Smith"),
 * dotted letters ("U.S.", "a.m."), or a list number opening a line ("1.");
 * dots with no space after ("3.14", "file.txt", "os.path") never end one.
 * CJK full stops end a sentence with no space after them. A blank line
 * always ends a sentence (the end is then the last non-space byte before
 * it). Returns @p len when no end is found before the text ends (or only
 * whitespace follows the last mark). Reads text[0..len) only: bytes before
 * @p from are looked at to recognise an abbreviation. */
size_t rdb_sentence_end(const char *text, size_t len, size_t from);

/* embed_text.c ----------------------------------------------------------- */

/* Bytes rdb_embed_text_build needs (with its NUL) for a chunk. */
size_t rdb_embed_text_size(const char *title, const char *heading, size_t text_len);
/* Write "title\nheading\ntext" (empty parts left out) and a NUL into @p out
 * (rdb_embed_text_size bytes); returns its length. */
size_t rdb_embed_text_build(char *out, const char *title, const char *heading, const char *text,
                            size_t text_len);

#endif
