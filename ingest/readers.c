/*
 * ingest/readers.c — content sniffing and the dispatch from a format to
 * its reader.
 */
#include "ingest/readers.h"

#include <stdlib.h>
#include <string.h>

#include "engine/providers/text.h"

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

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
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
