/*
 * ingest/readers.c — what the rich-format readers share: the capped text
 * buffer they write Markdown-like text into, content sniffing, and the
 * dispatch from a format to its reader.
 */
#include "ingest/readers.h"

#include <stdlib.h>
#include <string.h>

#include "engine/providers/text.h"

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

void rdb_converted_free(rdb_converted *c)
{
	if (c) {
		free(c->text);
		free(c->title);
		memset(c, 0, sizeof *c);
	}
}

int rdb_format_converts(ragdb_format fmt)
{
	return fmt == RAGDB_FORMAT_HTML || fmt == RAGDB_FORMAT_PDF || fmt == RAGDB_FORMAT_DOCX ||
	       fmt == RAGDB_FORMAT_ODT || fmt == RAGDB_FORMAT_EPUB;
}

static int starts_ci(const char *p, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	if (n < l)
		return 0;
	for (size_t i = 0; i < l; i++) {
		char c = p[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != lit[i])
			return 0;
	}
	return 1;
}

ragdb_format rdb_format_sniff(ragdb_format by_name, const char *data, size_t len)
{
	if (by_name != RAGDB_FORMAT_TEXT && by_name != RAGDB_FORMAT_AUTO)
		return by_name;
	if (len >= 5 && memcmp(data, "%PDF-", 5) == 0)
		return RAGDB_FORMAT_PDF;
	/* a zip whose first entry is the stored "mimetype" file (EPUB, ODF) */
	if (len >= 38 + 20 && memcmp(data, "PK\3\4", 4) == 0 && memcmp(data + 30, "mimetype", 8) == 0) {
		const char *m = data + 38;
		size_t rest = len - 38;
		if (starts_ci(m, rest, "application/epub+zip"))
			return RAGDB_FORMAT_EPUB;
		if (starts_ci(m, rest, "application/vnd.oasis.opendocument.text"))
			return RAGDB_FORMAT_ODT;
	}
	size_t i = 0;
	if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
		i = 3;
	while (i < len && i < 4096 && is_space((unsigned char)data[i]))
		i++;
	if (starts_ci(data + i, len - i, "<!doctype html") || starts_ci(data + i, len - i, "<html"))
		return RAGDB_FORMAT_HTML;
	return by_name;
}

ragdb_status rdb_convert(ragdb_format fmt, const char *data, size_t len, rdb_converted *out,
                         rdb_err *err)
{
	rdb_converted c = {0};
	ragdb_status st;
	switch (fmt) {
	case RAGDB_FORMAT_HTML:
		st = rdb_html_convert(data, len, &c, err);
		break;
	case RAGDB_FORMAT_PDF:
		st = rdb_pdf_convert(data, len, &c, err);
		break;
	case RAGDB_FORMAT_DOCX:
		st = rdb_docx_convert(data, len, &c, err);
		break;
	case RAGDB_FORMAT_ODT:
		st = rdb_odt_convert(data, len, &c, err);
		break;
	case RAGDB_FORMAT_EPUB:
		st = rdb_epub_convert(data, len, &c, err);
		break;
	default:
		return rdb_err_set(err, RAGDB_EINVAL, "format %d is not converted", (int)fmt);
	}
	if (st != RAGDB_OK)
		return st;
	/* The parsers promise UTF-8; a corrupt input must not break that. */
	char *fixed = NULL;
	size_t fixed_len = 0;
	size_t bad = c.text ? rdb_utf8_repair(c.text, c.len, &fixed, &fixed_len) : 0;
	if (bad == (size_t)-1) {
		rdb_converted_free(&c);
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory converting a document");
	}
	if (bad > 0) {
		free(c.text);
		c.text = fixed;
		c.len = fixed_len;
	}
	if (!c.text) {
		c.text = calloc(1, 1);
		c.len = 0;
		if (!c.text) {
			rdb_converted_free(&c);
			return rdb_err_set(err, RAGDB_ENOMEM, "out of memory converting a document");
		}
	}
	if (c.title) {
		bad = rdb_utf8_repair(c.title, strlen(c.title), &fixed, &fixed_len);
		if (bad == (size_t)-1) {
			rdb_converted_free(&c);
			return rdb_err_set(err, RAGDB_ENOMEM, "out of memory converting a document");
		}
		if (bad > 0) {
			free(c.title);
			c.title = fixed;
		}
		if (!*c.title) {
			free(c.title);
			c.title = NULL;
		}
	}
	*out = c;
	return RAGDB_OK;
}

ragdb_status rdb_records_each(ragdb_format fmt, const char *data, size_t len,
                              const rdb_jsonl_fields *f, const char *id_prefix, int skip_bad,
                              int (*on_record)(void *ctx, const rdb_record *r),
                              void (*on_bad)(void *ctx, size_t line, const char *msg), void *ctx,
                              rdb_err *err)
{
	if (fmt == RAGDB_FORMAT_CSV) {
		rdb_csv_fields cf = { f->id_field, f->text_field, f->title_field, id_prefix };
		return rdb_csv_each(data, len, &cf, skip_bad, on_record, on_bad, ctx, err);
	}
	return rdb_jsonl_each(data, len, f, skip_bad, on_record, on_bad, ctx, err);
}
