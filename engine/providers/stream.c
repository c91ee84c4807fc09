/*
 * engine/providers/stream.c — incremental parsers for streamed responses:
 * lines (NDJSON: Ollama), and server-sent events on top of them (OpenAI,
 * Anthropic, Gemini).
 *
 * Bytes arrive in chunks cut anywhere — inside a UTF-8 sequence, between
 * \r and \n, inside "data:". The parsers keep what they have not finished
 * and never look ahead, so the result is the same for any split. Every
 * buffer is capped (RDB_STREAM_MAX_LINE): a server that never ends a line
 * cannot make us grow without bound.
 */
#include "engine/providers/http.h"

#include <stdlib.h>
#include <string.h>

void rdb_lines_init(rdb_lines *l, size_t max, int (*on_line)(void *, const char *, size_t),
                    void *ctx)
{
	memset(l, 0, sizeof *l);
	l->max = max ? max : RDB_STREAM_MAX_LINE;
	l->on_line = on_line;
	l->ctx = ctx;
}

void rdb_lines_free(rdb_lines *l)
{
	if (!l)
		return;
	free(l->buf);
	l->buf = NULL;
	l->len = l->cap = 0;
}

static int lines_put(rdb_lines *l, const char *p, size_t n)
{
	if (n > l->max - l->len)
		return -1;
	if (l->len + n + 1 > l->cap) {
		size_t nc = l->cap ? l->cap : 1024;
		while (nc < l->len + n + 1)
			nc *= 2;
		char *nb = realloc(l->buf, nc);
		if (!nb)
			return -1;
		l->buf = nb;
		l->cap = nc;
	}
	memcpy(l->buf + l->len, p, n);
	l->len += n;
	l->buf[l->len] = 0;
	return 0;
}

static int lines_emit(rdb_lines *l)
{
	int rc = 0;
	if (l->buf)
		l->buf[l->len] = 0;
	rc = l->on_line(l->ctx, l->buf ? l->buf : "", l->len);
	l->len = 0;
	return rc;
}

int rdb_lines_feed(rdb_lines *l, const char *p, size_t n)
{
	size_t i = 0;
	if (l->last_cr && n > 0) {
		l->last_cr = 0;
		if (p[0] == '\n')
			i = 1;
	}
	size_t from = i;
	for (; i < n; i++) {
		if (p[i] != '\n' && p[i] != '\r')
			continue;
		if (lines_put(l, p + from, i - from) != 0)
			return -1;
		int rc = lines_emit(l);
		if (rc)
			return rc;
		if (p[i] == '\r') {
			if (i + 1 < n) {
				if (p[i + 1] == '\n')
					i++;
			} else {
				l->last_cr = 1;
			}
		}
		from = i + 1;
	}
	if (from < n && lines_put(l, p + from, n - from) != 0)
		return -1;
	return 0;
}

int rdb_lines_finish(rdb_lines *l)
{
	if (l->len == 0)
		return 0;
	return lines_emit(l);
}

/* ------------------------------------------------------------ SSE */

static int sse_line(void *ctx, const char *line, size_t len)
{
	rdb_sse *s = ctx;
	if (len == 0) {
		/* Blank line: dispatch (an event with no data field is dropped). */
		int rc = 0;
		if (s->has_data) {
			if (s->dlen > 0 && s->data[s->dlen - 1] == '\n')
				s->data[--s->dlen] = 0;
			rc = s->on_event(s->ctx, s->event[0] ? s->event : "message", s->data ? s->data : "",
			                 s->dlen);
		}
		s->event[0] = 0;
		s->dlen = 0;
		s->has_data = 0;
		if (s->data)
			s->data[0] = 0;
		return rc;
	}
	if (line[0] == ':')
		return 0; /* comment (keep-alive) */
	const char *colon = memchr(line, ':', len);
	size_t flen = colon ? (size_t)(colon - line) : len;
	const char *v = colon ? colon + 1 : line + len;
	size_t vlen = colon ? len - flen - 1 : 0;
	if (vlen > 0 && *v == ' ') {
		v++;
		vlen--;
	}
	if (flen == 4 && memcmp(line, "data", 4) == 0) {
		if (vlen + 1 > s->max - s->dlen) {
			s->overflow = 1;
			return -1;
		}
		if (s->dlen + vlen + 2 > s->dcap) {
			size_t nc = s->dcap ? s->dcap : 1024;
			while (nc < s->dlen + vlen + 2)
				nc *= 2;
			char *nb = realloc(s->data, nc);
			if (!nb)
				return -1;
			s->data = nb;
			s->dcap = nc;
		}
		memcpy(s->data + s->dlen, v, vlen);
		s->dlen += vlen;
		s->data[s->dlen++] = '\n';
		s->data[s->dlen] = 0;
		s->has_data = 1;
	} else if (flen == 5 && memcmp(line, "event", 5) == 0) {
		size_t c = vlen < sizeof s->event - 1 ? vlen : sizeof s->event - 1;
		memcpy(s->event, v, c);
		s->event[c] = 0;
	}
	/* id:, retry: and unknown fields are ignored. */
	return 0;
}

void rdb_sse_init(rdb_sse *s, int (*on_event)(void *, const char *, const char *, size_t),
                  void *ctx)
{
	memset(s, 0, sizeof *s);
	rdb_lines_init(&s->lines, RDB_STREAM_MAX_LINE, sse_line, s);
	s->max = RDB_STREAM_MAX_LINE;
	s->on_event = on_event;
	s->ctx = ctx;
}

int rdb_sse_feed(rdb_sse *s, const char *p, size_t n)
{
	int rc = rdb_lines_feed(&s->lines, p, n);
	if (rc == -1 && !s->overflow && s->lines.len >= s->lines.max)
		s->overflow = 1;
	return rc;
}

void rdb_sse_free(rdb_sse *s)
{
	if (!s)
		return;
	rdb_lines_free(&s->lines);
	free(s->data);
	s->data = NULL;
}
