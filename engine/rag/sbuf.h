/*
 * engine/rag/sbuf.h — the growing string that prompts and tool results are
 * built in, and the one way document text enters them (tags defused).
 *
 * A failed allocation sets `failed` and turns later appends into no-ops, so
 * builders append freely and check once at the end.
 */
#ifndef RDB_RAG_SBUF_H
#define RDB_RAG_SBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct rdb_sbuf {
	char *s;      /* NUL-ended once anything was appended; malloc'd */
	size_t len, cap;
	bool failed;
} rdb_sbuf;

void rdb_sbuf_put(rdb_sbuf *b, const char *s, size_t n);
void rdb_sbuf_puts(rdb_sbuf *b, const char *s);
void rdb_sbuf_printf(rdb_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append document or conversation text as data: every "<source",
 * "</source", "<turn", "</turn", "<summary", "</summary" (any case) has its
 * '<' written as "&lt;", so the text cannot close or open the blocks the
 * prompt delimits it with; with @p one_line, line breaks become spaces. */
void rdb_sbuf_data(rdb_sbuf *b, const char *s, size_t len, bool one_line);

#endif
