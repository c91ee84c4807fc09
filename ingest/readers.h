/*
 * ingest/readers.h — readers that turn rich formats into text the chunker
 * understands: HTML, PDF, DOCX, ODT and EPUB become Markdown-like text
 * (headings as "#" lines, so chunks carry heading paths; tables as "|" rows);
 * CSV becomes one record per row, like JSONL.
 *
 * Every reader treats its input as hostile: the text it produces, the bytes
 * it decompresses and the nesting it follows are capped (RDB_READER_*), and a
 * corrupt or over-limit input is a RAGDB_EBADINPUT error whose message says
 * what was wrong (the caller prefixes the file name). Readers are
 * re-entrant: no global state, so worker threads may convert concurrently.
 */
#ifndef RDB_READERS_H
#define RDB_READERS_H

#include <stddef.h>
#include <stdint.h>

#include "index/err.h"
#include "ingest/ingest.h"

/* Limits. A document bigger than these is refused, not truncated silently. */
#define RDB_READER_MAX_TEXT ((size_t)256 << 20)   /* text produced by one reader */
#define RDB_READER_MAX_UNZIP ((size_t)512 << 20)  /* bytes inflated from one archive */
#define RDB_READER_MAX_ENTRIES 100000             /* archive entries looked at */
#define RDB_READER_MAX_HTML ((size_t)64 << 20)    /* HTML given to the parser */
#define RDB_READER_MAX_DEPTH 1024                 /* HTML element nesting */
#define RDB_READER_MAX_PDF_MEM ((size_t)1 << 30)  /* PDF parser's heap */
#define RDB_READER_MAX_PAGES 100000               /* PDF pages read */

/* A growing text buffer with a cap; once over the cap (or out of memory) it
 * stops growing and remembers why, so writers need not check every call. */
typedef struct rdb_tbuf {
	char *p;
	size_t n, cap, max;
	int over;    /* 1 = the cap was reached, -1 = out of memory */
} rdb_tbuf;

void rdb_tbuf_init(rdb_tbuf *b, size_t max);
void rdb_tbuf_add(rdb_tbuf *b, const char *s, size_t n);
void rdb_tbuf_adds(rdb_tbuf *b, const char *s);
void rdb_tbuf_addc(rdb_tbuf *b, char c);
void rdb_tbuf_free(rdb_tbuf *b);
/* End the current line when text is pending; with @p blank, also leave one
 * blank line (a paragraph break). Never adds breaks at the very start. */
void rdb_tbuf_break(rdb_tbuf *b, int blank);
/* Append inline text: runs of whitespace become one space, leading space is
 * dropped at a line start; a line about to start with Markdown syntax (#, |,
 * ```, ~~~, ---, ===, >) gets a backslash first, so document text never
 * turns into a heading, table or fence the document did not have. */
void rdb_tbuf_inline(rdb_tbuf *b, const char *s, size_t n);
/* The status for a buffer that hit its cap or ran out of memory (what). */
ragdb_status rdb_tbuf_status(const rdb_tbuf *b, const char *what, rdb_err *err);

/* A converted document. */
typedef struct rdb_converted {
	char *text;        /* valid UTF-8, NUL-ended, malloc'd */
	size_t len;
	char *title;       /* malloc'd, or NULL */
	ragdb_format fmt;  /* how to chunk text: MARKDOWN, or PDF (Markdown whose
	                      headings are pages, each starting a chunk) */
} rdb_converted;

void rdb_converted_free(rdb_converted *c);

/* Whether documents of @p fmt go through rdb_convert (HTML, PDF, DOCX, ODT,
 * EPUB). */
int rdb_format_converts(ragdb_format fmt);

/* A better guess than the name for a file whose name said TEXT or nothing:
 * "%PDF-" is PDF, a document starting with <!DOCTYPE html or <html is HTML,
 * a zip whose first entry is "mimetype" naming EPUB or ODT is that. Other
 * formats are returned as they are. */
ragdb_format rdb_format_sniff(ragdb_format by_name, const char *data, size_t len);

/* Convert @p data (the file's bytes) of format @p fmt. The result's text is
 * valid UTF-8 (anything invalid replaced). An input with no text gives an
 * empty text (the pipeline reports it skipped). */
ragdb_status rdb_convert(ragdb_format fmt, const char *data, size_t len, rdb_converted *out,
                         rdb_err *err);

/* The readers rdb_convert dispatches to (same contract). */
ragdb_status rdb_html_convert(const char *data, size_t len, rdb_converted *out, rdb_err *err);
ragdb_status rdb_pdf_convert(const char *data, size_t len, rdb_converted *out, rdb_err *err);
ragdb_status rdb_docx_convert(const char *data, size_t len, rdb_converted *out, rdb_err *err);
ragdb_status rdb_odt_convert(const char *data, size_t len, rdb_converted *out, rdb_err *err);
ragdb_status rdb_epub_convert(const char *data, size_t len, rdb_converted *out, rdb_err *err);

/* HTML into an existing buffer (EPUB chapters); *title receives the
 * document's <title> (or first h1) when title is non-NULL and *title is
 * still NULL. */
ragdb_status rdb_html_append(const char *data, size_t len, rdb_tbuf *b, char **title, rdb_err *err);

/* Zip archives (read_zip.c). Entries are read into memory, within a shared
 * budget of inflated bytes that a zip bomb exhausts quickly. */
typedef struct rdb_zip_entry {
	char *name;
	char *data;        /* NUL-ended */
	size_t len;
} rdb_zip_entry;

typedef struct rdb_zip {
	const char *data;
	size_t len;
	size_t budget;     /* inflated bytes still allowed */
} rdb_zip;

void rdb_zip_init(rdb_zip *z, const char *data, size_t len);
/* Read the entries for which @p want(ctx, name) is non-zero, in archive
 * order; each is handed to @p got (which takes ownership of e->data and
 * e->name; it returns non-zero to stop). ENOTFOUND is never returned:
 * entries not present are simply not handed over. */
ragdb_status rdb_zip_read(rdb_zip *z, int (*want)(void *ctx, const char *name),
                          int (*got)(void *ctx, rdb_zip_entry *e), void *ctx, rdb_err *err);
/* One entry by exact name; ENOTFOUND "no NAME in the archive" if absent. */
ragdb_status rdb_zip_get(rdb_zip *z, const char *name, char **data, size_t *len, rdb_err *err);

/* CSV (read_csv.c) --------------------------------------------------------- */

typedef struct rdb_csv_fields {
	const char *id_field;    /* NULL: "id" when there is such a column, else the row number */
	const char *text_field;  /* NULL: "text" when there is one, else every column as "name: value" lines */
	const char *title_field; /* NULL: "title" when there is one */
	const char *id_prefix;   /* ids from row numbers are "PREFIX:N" (NULL: "N") */
} rdb_csv_fields;

/* Parse CSV/TSV (RFC 4180: quoted fields with "" escapes may span lines;
 * CRLF or LF; a UTF-8 BOM is skipped). The delimiter (',', '\t', ';' or '|')
 * is the one most frequent in the header line outside quotes. The header row
 * names the fields; each later row is a record: id, text and title from
 * their columns, every other column in meta_json (values that are JSON
 * numbers as numbers, empty cells left out). Records are reported as by
 * rdb_jsonl_each (line = the line the row starts on), with the same
 * skip_bad / on_bad contract; a row with more fields than the header, an
 * unterminated quote or a duplicate id is bad; a short row is padded with
 * empty cells. A header naming a text/id/title field that is absent is
 * RAGDB_EBADINPUT listing the columns. */
ragdb_status rdb_csv_each(const char *data, size_t len, const rdb_csv_fields *f, int skip_bad,
                          int (*on_record)(void *ctx, const rdb_record *r),
                          void (*on_bad)(void *ctx, size_t line, const char *msg), void *ctx,
                          rdb_err *err);

/* JSONL (rdb_jsonl_each) or CSV (rdb_csv_each, with @p id_prefix for
 * row-number ids) records, as @p fmt says. */
ragdb_status rdb_records_each(ragdb_format fmt, const char *data, size_t len,
                              const rdb_jsonl_fields *f, const char *id_prefix, int skip_bad,
                              int (*on_record)(void *ctx, const rdb_record *r),
                              void (*on_bad)(void *ctx, size_t line, const char *msg), void *ctx,
                              rdb_err *err);

#endif
