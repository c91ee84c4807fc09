/*
 * tests/fuzz/fuzz_util.h — checks the fuzz targets share: the chunker's
 * output invariants (ingest.h) and a converted document's (readers.h).
 * A violated invariant aborts, which libFuzzer reports as a crash.
 */
#ifndef RDB_FUZZ_UTIL_H
#define RDB_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/providers/text.h"
#include "ingest/ingest.h"
#include "ingest/readers.h"

#define FZ_ASSERT(c)                                                                   \
	do {                                                                               \
		if (!(c)) {                                                                    \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c); \
			abort();                                                                   \
		}                                                                              \
	} while (0)

static inline int fz_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Spans in bounds, trimmed, strictly advancing, covering every non-space
 * byte, never splitting a UTF-8 sequence of valid text; headings are
 * strings. */
static inline void fz_check_spans(const char *text, size_t len, const rdb_span *s, size_t n,
                                  int valid_utf8)
{
	size_t covered = 0; /* every non-space byte before this is covered */
	for (size_t i = 0; i < n; i++) {
		FZ_ASSERT(s[i].start < s[i].end && s[i].end <= len);
		FZ_ASSERT(!fz_space((unsigned char)text[s[i].start]));
		FZ_ASSERT(!fz_space((unsigned char)text[s[i].end - 1]));
		if (i > 0) {
			FZ_ASSERT(s[i].start > s[i - 1].start);
			FZ_ASSERT(s[i].end > s[i - 1].end);
		}
		for (size_t k = covered; k < s[i].start; k++)
			FZ_ASSERT(fz_space((unsigned char)text[k]));
		if (s[i].end > covered)
			covered = s[i].end;
		if (valid_utf8) {
			FZ_ASSERT(((unsigned char)text[s[i].start] & 0xC0) != 0x80);
			FZ_ASSERT(s[i].end == len || ((unsigned char)text[s[i].end] & 0xC0) != 0x80);
		}
		if (s[i].heading)
			FZ_ASSERT(strlen(s[i].heading) < 6 * 205 + 1);
	}
	for (size_t k = covered; k < len; k++)
		FZ_ASSERT(fz_space((unsigned char)text[k]));
}

/* Chunk @p text as @p fmt with @p o and check the spans. */
static inline void fz_chunk_check(const char *text, size_t len, ragdb_format fmt, uint32_t tokens,
                                  uint32_t overlap, int valid_utf8)
{
	rdb_chunk_opts o = { tokens, overlap };
	rdb_span *s = NULL;
	size_t n = 0;
	rdb_err e;
	ragdb_status st = rdb_chunk_text(text, len, fmt, &o, &s, &n, &e);
	FZ_ASSERT(st == RAGDB_OK || st == RAGDB_ENOMEM);
	if (st == RAGDB_OK)
		fz_check_spans(text, len, s, n, valid_utf8);
	rdb_spans_free(s, n);
}

/* Convert @p data as @p fmt: success or a clean refusal; the text is valid
 * UTF-8 without NULs and chunks within the invariants. */
static inline void fz_convert_check(ragdb_format fmt, const uint8_t *data, size_t size)
{
	rdb_converted c;
	rdb_err e = { 0 };
	ragdb_status st = rdb_convert(fmt, (const char *)data, size, &c, &e);
	FZ_ASSERT(st == RAGDB_OK || st == RAGDB_EBADINPUT || st == RAGDB_ENOMEM);
	if (st != RAGDB_OK) {
		FZ_ASSERT(e.msg[0] != 0);
		return;
	}
	FZ_ASSERT(c.text && strlen(c.text) == c.len);
	char *fixed = NULL;
	size_t fl = 0;
	FZ_ASSERT(rdb_utf8_repair(c.text, c.len, &fixed, &fl) == 0);
	if (c.title) {
		FZ_ASSERT(*c.title);
		FZ_ASSERT(rdb_utf8_repair(c.title, strlen(c.title), &fixed, &fl) == 0);
	}
	fz_chunk_check(c.text, c.len, c.fmt, 32, 8, 1);
	rdb_converted_free(&c);
}

#endif
