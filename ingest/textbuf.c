/*
 * ingest/textbuf.c — the capped text buffer the readers write Markdown-like
 * text into (readers.h: rdb_tbuf), with the inline-text rules that keep
 * document text from turning into Markdown structure.
 */
#include "ingest/readers.h"

#include <stdlib.h>
#include <string.h>

void rdb_tbuf_init(rdb_tbuf *b, size_t max)
{
	memset(b, 0, sizeof *b);
	b->max = max;
}

void rdb_tbuf_free(rdb_tbuf *b)
{
	if (b) {
		free(b->p);
		b->p = NULL;
		b->n = b->cap = 0;
	}
}

void rdb_tbuf_add(rdb_tbuf *b, const char *s, size_t n)
{
	if (b->over || n == 0)
		return;
	if (n > b->max || b->n > b->max - n) {
		b->over = 1;
		return;
	}
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->n + n + 1)
			cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->over = -1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
}

void rdb_tbuf_adds(rdb_tbuf *b, const char *s)
{
	rdb_tbuf_add(b, s, strlen(s));
}

void rdb_tbuf_addc(rdb_tbuf *b, char c)
{
	rdb_tbuf_add(b, &c, 1);
}

static int at_line_start(const rdb_tbuf *b)
{
	return b->n == 0 || b->p[b->n - 1] == '\n';
}

void rdb_tbuf_break(rdb_tbuf *b, int blank)
{
	if (b->n == 0)
		return;
	/* drop trailing spaces of the line being ended */
	while (b->n > 0 && b->p[b->n - 1] == ' ')
		b->p[--b->n] = 0;
	if (b->n == 0)
		return;
	if (b->p[b->n - 1] != '\n')
		rdb_tbuf_addc(b, '\n');
	if (blank && !(b->n >= 2 && b->p[b->n - 2] == '\n'))
		rdb_tbuf_addc(b, '\n');
}

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Whether text starting with @p s would be read as Markdown structure at a
 * line start. */
static int md_special(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	switch (s[0]) {
	case '#': case '|': case '>':
		return 1;
	case '`': case '~': case '-': case '=': case '*': case '_':
		return n >= 3 && s[1] == s[0] && s[2] == s[0];
	default:
		return 0;
	}
}

void rdb_tbuf_inline(rdb_tbuf *b, const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		if (is_space((unsigned char)s[i])) {
			while (i < n && is_space((unsigned char)s[i]))
				i++;
			if (!at_line_start(b) && b->p[b->n - 1] != ' ')
				rdb_tbuf_addc(b, ' ');
			continue;
		}
		size_t j = i;
		while (j < n && !is_space((unsigned char)s[j]))
			j++;
		if (at_line_start(b) && md_special(s + i, j - i))
			rdb_tbuf_addc(b, '\\');
		rdb_tbuf_add(b, s + i, j - i);
		i = j;
	}
}

ragdb_status rdb_tbuf_status(const rdb_tbuf *b, const char *what, rdb_err *err)
{
	if (b->over < 0)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory converting %s", what);
	if (b->over > 0)
		return rdb_err_set(err, RAGDB_EBADINPUT,
		                   "%s gives more than %zu MiB of text; refused (split the document)",
		                   what, b->max >> 20);
	return RAGDB_OK;
}
