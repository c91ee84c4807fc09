/*
 * ingest/ingest.h — the ingest module's internal interfaces: discovery
 * (walk.c), format detection and readers (reader.c, jsonl.c), the chunker
 * (chunker.c) and the pipeline (pipeline.c) that joins them to the embedder
 * and the store.
 */
#ifndef RDB_INGEST_H
#define RDB_INGEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "index/err.h"

/* walk.c ---------------------------------------------------------------- */

typedef struct rdb_walk_opts {
	const char *const *globs;    /* include patterns (none = all files) */
	size_t n_globs;
	const char *const *excludes; /* exclude patterns, on files and directories */
	size_t n_excludes;
} rdb_walk_opts;

/* A file found by the walk. */
typedef struct rdb_found {
	const char *path;     /* as opened (root joined with rel) */
	const char *abspath;  /* absolute, normalised (no "." or "..") */
	const char *rel;      /* relative to its root; the file name for a file root */
	const char *root;     /* the root argument, absolute */
	const struct stat *st;
} rdb_found;

/* Walk @p paths: files are reported as they are; directories are walked in
 * sorted order (strcmp; deterministic), skipping hidden entries (".x", so
 * ".git" and ".ragdb") and entries matching an exclude pattern. Excludes
 * prune directories ("x/" followed by "**" prunes x itself too) and drop
 * files; include globs filter the files found inside directories. A file
 * named as a root is reported even if hidden or not matching the include
 * globs (excludes still apply to its name).
 * Patterns: "*" and "?" stay within a path segment, "**" spans segments
 * (and "**" then '/' may match no directory at all, so "docs/" "**" "/x.md"
 * matches "docs/x.md"), [...] classes, '\' escapes; matched against the
 * path relative to the root, and a pattern without '/' also against the
 * base name. Symlinks are followed; a directory is walked once per call
 * (loops, overlapping roots). Unreadable directories, broken symlinks,
 * fifos, sockets and devices go to @p on_warn and are skipped. A root that
 * does not exist is RAGDB_ENOTFOUND "PATH: no such file or directory", an
 * unreadable root directory RAGDB_EPERM; all roots are checked before
 * anything is reported. The callback returns non-zero to stop the walk
 * (RAGDB_EINTR). rdb_found's strings are valid during the callback only. */
ragdb_status rdb_walk(const char *const *paths, size_t n_paths, const rdb_walk_opts *o,
                      int (*on_file)(void *ctx, const rdb_found *f),
                      void (*on_warn)(void *ctx, const char *path, const char *msg), void *ctx,
                      rdb_err *err);

/* Match one pattern against a relative path (the rules above). */
int rdb_glob_match(const char *pattern, const char *rel);

/* reader.c -------------------------------------------------------------- */

/* Format by extension: .md .markdown .mdx -> MARKDOWN; .jsonl .ndjson .json ->
 * JSONL; common source extensions (.c .h .py .js .ts .go .rs .java .sh ...)
 * -> CODE; .html .htm .xhtml -> HTML; .pdf -> PDF; .docx -> DOCX; .odt ->
 * ODT; .epub -> EPUB; .csv .tsv -> CSV; anything else -> TEXT (the pipeline
 * then sniffs the content: rdb_format_sniff in readers.h). */
ragdb_format rdb_format_from_path(const char *path);

/* Read a whole file (any size that fits in memory). *out is malloc'd and
 * NUL-ended. RAGDB_EIO/EPERM/ENOTFOUND with the path and strerror. */
ragdb_status rdb_read_file(const char *path, char **out, size_t *len, rdb_err *err);

/* Title of a Markdown document, trimmed: its first level-1 heading (ATX
 * "# x" or setext "x\n==="), else its first heading of any level; YAML front
 * matter and fenced code are skipped. NULL if none (or out of memory).
 * malloc'd. */
char *rdb_markdown_title(const char *text, size_t len);

/* Markdown line helpers (reader.c), shared by the title finder and the
 * chunker so both agree on what a heading or a fence is. A line is given
 * without its '\n' (a trailing '\r' is tolerated). Up to 3 spaces of
 * indentation are allowed, as in CommonMark. */

/* ATX heading ("## Text ##"): its level 1..6 and its text, trimmed and
 * without the closing #s; 0 if the line is not one. */
int rdb_md_atx(const char *line, size_t n, const char **txt, size_t *tlen);
/* Fence opener ("```lang", "~~~"): the fence character, *flen its run
 * length (>= 3); 0 if the line is not one. */
int rdb_md_fence_open(const char *line, size_t n, size_t *flen);
/* Whether the line closes a fence opened by @p ch repeated @p flen times. */
int rdb_md_fence_close(const char *line, size_t n, int ch, size_t flen);
/* Setext underline: 1 for "===", 2 for "---" (at least 3 marks, nothing
 * else but trailing spaces); 0 otherwise. */
int rdb_md_setext(const char *line, size_t n);
/* Whether the line is a table row (starts with '|'). */
int rdb_md_table_row(const char *line, size_t n);
/* Bytes of YAML front matter at the start of @p text ("---" line ... "---"
 * or "..." line, through the closing line's '\n'); 0 if none. */
size_t rdb_md_front_matter(const char *text, size_t len);

/* jsonl.c --------------------------------------------------------------- */

typedef struct rdb_record {
	const char *id;        /* NUL-ended */
	const char *text;
	size_t text_len;
	const char *title;     /* NULL if absent */
	const char *meta_json; /* the other top-level fields as a JSON object, or NULL */
	size_t line;           /* 1-based line number in the file */
} rdb_record;

typedef struct rdb_jsonl_fields {
	const char *id_field;    /* NULL: "id", then "_id" */
	const char *text_field;  /* NULL: "text" */
	const char *title_field; /* NULL: "title" */
} rdb_jsonl_fields;

/* Parse JSONL (one object per line; blank lines ignored; a file whose first
 * non-blank byte is '[' is read as one JSON array of objects). Ids that are
 * numbers are turned into their decimal text. For each good record call
 * @p on_record (non-zero return stops: RAGDB_EINTR). A bad line (not JSON,
 * not an object, missing id or text field, text not a string, an id seen
 * before in this file) is RAGDB_EBADINPUT with "line N: what was wrong"; with
 * @p skip_bad it goes to @p on_bad instead (msg without the "line N: "
 * prefix) and parsing continues. CRLF, a UTF-8 BOM and a file holding
 * pretty-printed objects (spanning lines) are accepted too. meta_json holds
 * every top-level field but the id, text and title fields (compact JSON).
 * Pointers in the record are valid during the callback only. One record is
 * parsed at a time; a line or array element over 256 MiB is refused. */
ragdb_status rdb_jsonl_each(const char *data, size_t len, const rdb_jsonl_fields *f, int skip_bad,
                            int (*on_record)(void *ctx, const rdb_record *r),
                            void (*on_bad)(void *ctx, size_t line, const char *msg), void *ctx,
                            rdb_err *err);

/* chunker.c ------------------------------------------------------------- */

typedef struct rdb_chunk_opts {
	uint32_t chunk_tokens;  /* target size (tokens as rdb_token_estimate counts) */
	uint32_t overlap;       /* tokens repeated from the previous chunk's end */
} rdb_chunk_opts;

typedef struct rdb_span {
	uint64_t start, end;    /* byte range in the text; text[start..end) */
	char *heading;          /* Markdown heading path "A > B > C", or NULL; malloc'd */
	char *text;             /* NULL: the chunk is text[start..end); else its text
	                           (malloc'd, text_len bytes, NUL-ended): the rows of
	                           a split Markdown table after its header rows */
	size_t text_len;
} rdb_span;

/* Split @p text into chunks of at most chunk_tokens tokens (as
 * rdb_token_estimate counts; a forced cut may exceed it by one), breaking at
 * the best boundary available: a Markdown heading, a blank line (paragraph),
 * a sentence end, a line end, a space; a word longer than a chunk is cut on
 * a UTF-8 character boundary. A chunk ends at the strongest boundary found
 * past half the target. Markdown: a heading starts a new chunk once the
 * current one holds an eighth of the target in body text; each chunk
 * carries the heading path "A > B > C" of the section where it starts (of
 * the last heading before its first body text, when it starts with
 * headings); a fenced code block or a table is not cut when it fits in one
 * chunk (a bigger one is cut at line ends, i.e. between rows); a chunk
 * that continues a table past its header (header row + delimiter row)
 * gets the header in front: span.text is header + '\n' + the range, and
 * the header's tokens count against the chunk size (when the header is at
 * most half of it). CODE: no sentence boundaries; a line break at a top-level
 * boundary (after a "}" line at column 0, before a "def "/"fn "/"func "/
 * "class "... line at column 0) is as strong as a heading.
 * Overlap (capped at half the chunk): the next chunk starts about @p overlap
 * tokens before the previous end, at a sentence, line or word start, always
 * after the previous chunk's start; none across a heading, into a block, or
 * after a forced cut. Spans are trimmed of whitespace, and together cover
 * every non-space byte; an empty or all-space text gives 0 chunks (*out
 * NULL). chunk_tokens 0 is RAGDB_EINVAL. O(n) time; memory O(chunks +
 * Markdown headings and blocks). PDF: the text read_pdf.c makes (Markdown
 * with a "# Page N" heading per page), chunked as Markdown except that
 * every heading starts a new chunk. *out is malloc'd; free with
 * rdb_spans_free. */
ragdb_status rdb_chunk_text(const char *text, size_t len, ragdb_format fmt, const rdb_chunk_opts *o,
                            rdb_span **out, size_t *n, rdb_err *err);
void rdb_spans_free(rdb_span *s, size_t n);

#endif
