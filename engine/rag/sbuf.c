/*
 * engine/rag/sbuf.c — the growing string of prompts and tool results
 * (sbuf.h has the contract).
 */
#include "engine/rag/sbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void rdb_sbuf_put(rdb_sbuf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (n > SIZE_MAX / 2 - b->len) {
		b->failed = true;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 1024;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		char *ns = realloc(b->s, ncap);
		if (!ns) {
			b->failed = true;
			return;
		}
		b->s = ns;
		b->cap = ncap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = 0;
}

void rdb_sbuf_puts(rdb_sbuf *b, const char *s)
{
	rdb_sbuf_put(b, s, strlen(s));
}

void rdb_sbuf_printf(rdb_sbuf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if ((size_t)n < sizeof tmp) {
		rdb_sbuf_put(b, tmp, (size_t)n);
		return;
	}
	/* Longer than the stack buffer: format again into the heap. */
	char *big = malloc((size_t)n + 1);
	if (!big) {
		b->failed = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	rdb_sbuf_put(b, big, (size_t)n);
	free(big);
}

static bool tag_at(const char *s, size_t len, size_t i)
{
	static const char *const tags[] = {"<source", "</source", "<turn", "</turn", "<summary",
	                                   "</summary"};
	for (size_t k = 0; k < sizeof tags / sizeof tags[0]; k++) {
		size_t l = strlen(tags[k]);
		if (i + l <= len && strncasecmp(s + i, tags[k], l) == 0)
			return true;
	}
	return false;
}

void rdb_sbuf_data(rdb_sbuf *b, const char *s, size_t len, bool one_line)
{
	size_t from = 0;
	for (size_t i = 0; i < len; i++) {
		bool tag = s[i] == '<' && tag_at(s, len, i);
		bool nl = one_line && (s[i] == '\n' || s[i] == '\r');
		if (!tag && !nl)
			continue;
		rdb_sbuf_put(b, s + from, i - from);
		rdb_sbuf_puts(b, tag ? "&lt;" : " ");
		from = i + 1;
	}
	rdb_sbuf_put(b, s + from, len - from);
}
