/* tests/unit/test_ingest_readers.c — the rich-format readers (HTML, PDF,
 * DOCX, ODT, EPUB, CSV) on real files: the committed fixtures in
 * tests/fixtures/readers (made by make.py there) and documents built here,
 * including hostile ones (deep nesting, a zip bomb, corrupt files). */
#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"
#include "ingest/readers.h"
#include "testutil.h"

static char *fixture(const char *name, size_t *len)
{
	const char *dir = getenv("RAGDB_TEST_DATA");
	char path[1024];
	snprintf(path, sizeof path, "%s/readers/%s", dir ? dir : "tests/fixtures", name);
	char *data = NULL;
	rdb_err e;
	ck_assert_msg(rdb_read_file(path, &data, len, &e) == RAGDB_OK, "%s", e.msg);
	return data;
}

static rdb_converted convert_ok(ragdb_format fmt, const char *data, size_t len)
{
	rdb_converted c;
	rdb_err e = {0};
	ragdb_status st = rdb_convert(fmt, data, len, &c, &e);
	ck_assert_msg(st == RAGDB_OK, "convert failed: %s", e.msg);
	ck_assert_uint_eq(strlen(c.text), c.len);
	ck_assert_int_eq(c.fmt, fmt == RAGDB_FORMAT_PDF ? RAGDB_FORMAT_PDF : RAGDB_FORMAT_MARKDOWN);
	return c;
}

/* @p a appears in @p s before @p b. */
static void ck_order(const char *s, const char *a, const char *b)
{
	const char *pa = strstr(s, a), *pb = strstr(s, b);
	ck_assert_msg(pa && pb && pa < pb, "expected \"%s\" before \"%s\" in:\n%s", a, b, s);
}

/* HTML: title from <title> with entities decoded; scripts, styles,
 * templates, hidden elements dropped; headings as "#" lines; tables as
 * Markdown rows with '|' escaped; <pre> fenced; text that looks like
 * Markdown escaped; block elements separate paragraphs. */
START_TEST(test_html)
{
	const char *html =
		"<!DOCTYPE html><html><head><title>Caf&eacute; &amp; Bar</title>"
		"<style>p{color:red}</style><script>var s = '<h1>no</h1>';</script></head><body>"
		"<template><p>TEMPLATE</p></template><div hidden>HIDDEN</div>"
		"<h1>Menu</h1><p>Fresh <b>bread</b>&nbsp;daily.</p><div>Open late</div>"
		"<h2>Prices</h2><table><tr><th>Item</th><th>Cost</th></tr>"
		"<tr><td>Tea|Milk</td><td>2 &euro;</td></tr></table>"
		"<pre>x = 1\n```\ny = 2</pre><p># hashtag</p><ul><li>one</li><li>two</li></ul>"
		"<noscript>NOSCRIPT</noscript></body></html>";
	rdb_converted c = convert_ok(RAGDB_FORMAT_HTML, html, strlen(html));
	ck_assert_str_eq(c.title, "Caf\xc3\xa9 & Bar");
	ck_assert_ptr_null(strstr(c.text, "TEMPLATE"));
	ck_assert_ptr_null(strstr(c.text, "HIDDEN"));
	ck_assert_ptr_null(strstr(c.text, "color"));
	ck_assert_ptr_null(strstr(c.text, "var s"));
	ck_assert_ptr_null(strstr(c.text, "NOSCRIPT"));
	ck_assert_ptr_nonnull(strstr(c.text, "# Menu\n\nFresh bread\xc2\xa0" "daily.\n\nOpen late\n\n## Prices\n"));
	ck_assert_ptr_nonnull(strstr(c.text, "| Item | Cost |\n| --- | --- |\n| Tea\\|Milk | 2 \xe2\x82\xac |\n"));
	ck_assert_ptr_nonnull(strstr(c.text, "```\nx = 1\n\\```\ny = 2\n```\n"));
	ck_assert_ptr_nonnull(strstr(c.text, "\\# hashtag"));
	ck_assert_ptr_nonnull(strstr(c.text, "- one\n- two"));
	/* chunked as Markdown, the table's chunk carries the heading path */
	rdb_chunk_opts o = { 24, 0 };
	rdb_span *sp = NULL;
	size_t n = 0;
	rdb_err e;
	ck_assert_int_eq(rdb_chunk_text(c.text, c.len, c.fmt, &o, &sp, &n, &e), RAGDB_OK);
	ck_assert_uint_ge(n, 1);
	int found = 0;
	for (size_t i = 0; i < n; i++)
		if (sp[i].heading && strcmp(sp[i].heading, "Menu > Prices") == 0)
			found = 1;
	ck_assert(found);
	rdb_spans_free(sp, n);
	rdb_converted_free(&c);

	/* no <title>: the first h1; no markup at all: the text */
	const char *h2 = "<p>intro</p><h1>First &lt;one&gt;</h1><h1>Second</h1>";
	c = convert_ok(RAGDB_FORMAT_HTML, h2, strlen(h2));
	ck_assert_str_eq(c.title, "First <one>");
	rdb_converted_free(&c);
	c = convert_ok(RAGDB_FORMAT_HTML, "just text", 9);
	ck_assert_ptr_null(c.title);
	ck_assert_str_eq(c.text, "just text\n\n");
	rdb_converted_free(&c);
}
END_TEST

/* HTML nested deeper than the limit is refused quickly with a clear
 * message (gumbo would take minutes); unclosed <p>/<li> do not count. */
START_TEST(test_html_deep)
{
	size_t n = 5000;
	char *buf = malloc(n * 5 + 1);
	for (size_t i = 0; i < n; i++)
		memcpy(buf + i * 5, "<div>", 5);
	buf[n * 5] = 0;
	rdb_converted c;
	rdb_err e = {0};
	ck_assert_int_eq(rdb_convert(RAGDB_FORMAT_HTML, buf, n * 5, &c, &e), RAGDB_EBADINPUT);
	ck_assert_ptr_nonnull(strstr(e.msg, "nested more than 1024"));
	for (size_t i = 0; i < n; i++)
		memcpy(buf + i * 5, i % 2 ? "<li>x" : "<p>yy", 5);
	c = convert_ok(RAGDB_FORMAT_HTML, buf, n * 5);
	ck_assert_ptr_nonnull(strstr(c.text, "yy"));
	rdb_converted_free(&c);
	free(buf);
}
END_TEST

/* PDF: each page under "# Page N", the Info title; a chunk's heading path
 * names its page. Not a PDF, or a cut-off one: EBADINPUT, no crash. */
START_TEST(test_pdf)
{
	size_t len;
	char *data = fixture("sample.pdf", &len);
	rdb_converted c = convert_ok(RAGDB_FORMAT_PDF, data, len);
	ck_assert_str_eq(c.title, "Energy Notes");
	ck_order(c.text, "# Page 1\n\nPage one talks about solar panels.", "# Page 2\n\nPage two explains wind turbines.");
	rdb_chunk_opts o = { 64, 0 };
	rdb_span *sp = NULL;
	size_t n = 0;
	rdb_err e;
	ck_assert_int_eq(rdb_chunk_text(c.text, c.len, c.fmt, &o, &sp, &n, &e), RAGDB_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(sp[1].heading, "Page 2");
	ck_assert_ptr_nonnull(memmem(c.text + sp[1].start, sp[1].end - sp[1].start, "wind", 4));
	rdb_spans_free(sp, n);
	rdb_converted_free(&c);

	rdb_err_clear(&e);
	ck_assert_int_eq(rdb_convert(RAGDB_FORMAT_PDF, "%PDF-1.4 garbage", 16, &c, &e), RAGDB_EBADINPUT);
	ck_assert_ptr_nonnull(strstr(e.msg, "PDF"));
	for (size_t cut = 16; cut < len; cut += len / 7) {
		rdb_err_clear(&e);
		ragdb_status st = rdb_convert(RAGDB_FORMAT_PDF, data, cut, &c, &e);
		ck_assert_msg(st == RAGDB_OK || st == RAGDB_EBADINPUT, "cut %zu: %d %s", cut, st, e.msg);
		if (st == RAGDB_OK)
			rdb_converted_free(&c);
	}
	free(data);
}
END_TEST

/* DOCX: Title and heading styles (a localised style id resolved through
 * styles.xml) become headings; deleted text is left out; tabs are spaces;
 * tables are rows; the title is the document property. */
START_TEST(test_docx)
{
	size_t len;
	char *data = fixture("sample.docx", &len);
	rdb_converted c = convert_ok(RAGDB_FORMAT_DOCX, data, len);
	ck_assert_str_eq(c.title, "Turbines 2024");
	ck_order(c.text, "# Quarterly Report\n", "# Overview\n\nThe turbine output rose by 12% in the third quarter.\n\n## Details\n\n");
	ck_assert_ptr_nonnull(strstr(c.text, "Maintenance of the gearbox was done in July."));
	ck_assert_ptr_null(strstr(c.text, "DELETED"));
	ck_assert_ptr_nonnull(strstr(c.text, "| Site | MWh |\n| --- | --- |\n| North\\|East | 410 |\n"));
	ck_assert_ptr_nonnull(strstr(c.text, "\\# not a heading"));
	rdb_converted_free(&c);
	free(data);
}
END_TEST

/* ODT: text:h levels, spans, spaces, tables; notes left out; meta title. */
START_TEST(test_odt)
{
	size_t len;
	char *data = fixture("sample.odt", &len);
	rdb_converted c = convert_ok(RAGDB_FORMAT_ODT, data, len);
	ck_assert_str_eq(c.title, "Owls");
	ck_assert_ptr_nonnull(strstr(c.text, "# Field Guide\n\nOwls hunt at night.\n\n## Habitat\n\nThey nest in old trees.\n"));
	ck_assert_ptr_null(strstr(c.text, "footnote"));
	ck_assert_ptr_nonnull(strstr(c.text, "| Barn owl | 95 cm |"));
	rdb_converted_free(&c);
	free(data);
}
END_TEST

/* EPUB: chapters in spine order (not archive order), hrefs with %-escapes
 * and spaces resolved, non-HTML spine items skipped, the book's title. */
START_TEST(test_epub)
{
	size_t len;
	char *data = fixture("sample.epub", &len);
	rdb_converted c = convert_ok(RAGDB_FORMAT_EPUB, data, len);
	ck_assert_str_eq(c.title, "The Lighthouse");
	ck_order(c.text, "# Chapter One\n\nA storm came over the bay.", "# Chapter Two\n\nThe keeper lit the lamp at dusk.");
	ck_assert_ptr_null(strstr(c.text, "margin"));
	rdb_converted_free(&c);
	free(data);
}
END_TEST

/* Write a zip in memory with one entry of @p size bytes of 'a' named
 * @p name (the compressor makes it ~1000x smaller). */
static char *make_zip(const char *name, size_t size, size_t *out_len)
{
	size_t cap = size / 500 + (1 << 20);
	char *buf = malloc(cap);
	size_t used = 0;
	struct archive *a = archive_write_new();
	archive_write_set_format_zip(a);
	archive_write_set_options(a, "zip:compression=deflate");
	ck_assert_int_eq(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)size);
	ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
	char *block = malloc(1 << 20);
	memset(block, 'a', 1 << 20);
	for (size_t done = 0; done < size;) {
		size_t k = size - done < (1u << 20) ? size - done : (1u << 20);
		ck_assert_int_eq(archive_write_data(a, block, k), (la_ssize_t)k);
		done += k;
	}
	free(block);
	archive_entry_free(e);
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	*out_len = used;
	return buf;
}

/* A zip bomb (a DOCX whose document.xml inflates past the budget) is
 * refused as such; a zip missing its part, or not a zip, names what is
 * wrong. */
START_TEST(test_zip_bomb_and_corrupt)
{
	size_t len;
	char *bomb = make_zip("word/document.xml", RDB_READER_MAX_UNZIP + (1 << 20), &len);
	ck_assert_uint_lt(len, RDB_READER_MAX_UNZIP / 100);
	rdb_converted c;
	rdb_err e = {0};
	ck_assert_int_eq(rdb_convert(RAGDB_FORMAT_DOCX, bomb, len, &c, &e), RAGDB_EBADINPUT);
	ck_assert_ptr_nonnull(strstr(e.msg, "zip bomb"));
	free(bomb);

	char *other = make_zip("readme.txt", 100, &len);
	rdb_err_clear(&e);
	ck_assert_int_eq(rdb_convert(RAGDB_FORMAT_DOCX, other, len, &c, &e), RAGDB_EBADINPUT);
	ck_assert_ptr_nonnull(strstr(e.msg, "word/document.xml"));
	rdb_err_clear(&e);
	ck_assert_int_eq(rdb_convert(RAGDB_FORMAT_ODT, other, len, &c, &e), RAGDB_EBADINPUT);
	ck_assert_ptr_nonnull(strstr(e.msg, "content.xml"));
	rdb_err_clear(&e);
	ck_assert_int_eq(rdb_convert(RAGDB_FORMAT_EPUB, other, len, &c, &e), RAGDB_EBADINPUT);
	ck_assert_ptr_nonnull(strstr(e.msg, "container.xml"));
	free(other);
	rdb_err_clear(&e);
	ck_assert_int_eq(rdb_convert(RAGDB_FORMAT_DOCX, "hello", 5, &c, &e), RAGDB_EBADINPUT);
	ck_assert_ptr_nonnull(strstr(e.msg, "zip"));

	/* a DOCX whose XML is broken names the part and the line */
	size_t dl;
	char *docx = fixture("sample.docx", &dl);
	for (size_t cut = 30; cut < dl; cut += 97) {
		rdb_err_clear(&e);
		ragdb_status st = rdb_convert(RAGDB_FORMAT_DOCX, docx, cut, &c, &e);
		ck_assert_msg(st == RAGDB_OK || st == RAGDB_EBADINPUT, "cut %zu: %d %s", cut, st, e.msg);
		if (st == RAGDB_OK)
			rdb_converted_free(&c);
	}
	free(docx);
}
END_TEST

typedef struct col {
	char out[8192];
	char bad[2048];
	int n, nbad;
} col;

static int on_rec(void *ctx, const rdb_record *r)
{
	col *c = ctx;
	ck_assert_uint_eq(strlen(r->text), r->text_len);
	snprintf(c->out + strlen(c->out), sizeof c->out - strlen(c->out), "%zu|%s|%s|%s|%s\n", r->line,
	         r->id, r->title ? r->title : "-", r->text, r->meta_json ? r->meta_json : "-");
	c->n++;
	return 0;
}

static void on_bad(void *ctx, size_t line, const char *msg)
{
	col *c = ctx;
	snprintf(c->bad + strlen(c->bad), sizeof c->bad - strlen(c->bad), "%zu: %s\n", line, msg);
	c->nbad++;
}

static ragdb_status csv(const char *data, const rdb_csv_fields *f, int skip, col *c, rdb_err *e)
{
	memset(c, 0, sizeof *c);
	rdb_err_clear(e);
	return rdb_csv_each(data, strlen(data), f, skip, on_rec, on_bad, c, e);
}

/* CSV: header names fields; quoted fields with commas, "" and newlines;
 * CRLF and a BOM; id/title/text columns; the others are metadata with
 * numbers as numbers (leading zeros stay strings), empty cells left out. */
START_TEST(test_csv)
{
	col c;
	rdb_err e;
	const char *d = "\xEF\xBB\xBFid,title,text,year,zip,note\r\n"
	                "a1,First,\"Hello, \"\"world\"\"\",2020,007,\r\n"
	                "\r\n"
	                "a2,,\"two\nlines\",-1.5e3,x,ok\r\n";
	ck_assert_int_eq(csv(d, NULL, 0, &c, &e), RAGDB_OK);
	ck_assert_str_eq(c.out, "2|a1|First|Hello, \"world\"|{\"year\":2020,\"zip\":\"007\"}\n"
	                        "4|a2|-|two\nlines|{\"year\":-1.5e3,\"zip\":\"x\",\"note\":\"ok\"}\n");
	/* TSV by the header; no id column: PREFIX:row; no text column: all columns */
	ck_assert_int_eq(csv("name\tdesc\nls\tlist files\ncp\tcopy, files\n",
	                     &(rdb_csv_fields){ .id_prefix = "tools.tsv" }, 0, &c, &e), RAGDB_OK);
	ck_assert_str_eq(c.out, "2|tools.tsv:1|-|name: ls\ndesc: list files|{\"name\":\"ls\",\"desc\":\"list files\"}\n"
	                        "3|tools.tsv:2|-|name: cp\ndesc: copy, files|{\"name\":\"cp\",\"desc\":\"copy, files\"}\n");
	/* named fields */
	ck_assert_int_eq(csv("k;body;h\n1;b1;t1\n", &(rdb_csv_fields){ "k", "body", "h", NULL }, 0, &c, &e),
	                 RAGDB_OK);
	ck_assert_str_eq(c.out, "2|1|t1|b1|-\n");
	/* a named field that is missing lists the columns */
	ck_assert_int_eq(csv("a,b\n1,2\n", &(rdb_csv_fields){ .text_field = "body" }, 0, &c, &e), RAGDB_EBADINPUT);
	ck_assert_ptr_nonnull(strstr(e.msg, "no column named \"body\""));
	ck_assert_ptr_nonnull(strstr(e.msg, "a, b"));
	/* an empty file has no records */
	ck_assert_int_eq(csv("", NULL, 0, &c, &e), RAGDB_OK);
	ck_assert_int_eq(c.n, 0);
}
END_TEST

/* Bad CSV rows: too many fields, duplicate or empty id, unterminated quote;
 * without skip the first stops with "line N"; with skip each is reported
 * and the good rows still come. A short row is padded. */
START_TEST(test_csv_bad)
{
	col c;
	rdb_err e;
	const char *d = "id,text\n"
	                "1,ok\n"
	                "2,too,many\n"
	                "1,dup\n"
	                ",empty id\n"
	                "3\n"
	                "4,\"never closed\n";
	ck_assert_int_eq(csv(d, NULL, 0, &c, &e), RAGDB_EBADINPUT);
	ck_assert_str_eq(e.msg, "line 3: the row has 3 fields, the header 2");
	ck_assert_int_eq(csv(d, NULL, 1, &c, &e), RAGDB_OK);
	ck_assert_str_eq(c.out, "2|1|-|ok|-\n6|3|-||-\n");
	ck_assert_int_eq(c.nbad, 4);
	ck_assert_ptr_nonnull(strstr(c.bad, "3: the row has 3 fields"));
	ck_assert_ptr_nonnull(strstr(c.bad, "4: duplicate id \"1\" (first seen on line 2)"));
	ck_assert_ptr_nonnull(strstr(c.bad, "5: empty id"));
	ck_assert_ptr_nonnull(strstr(c.bad, "7: unterminated quoted field"));
}
END_TEST

/* Formats by extension and by content. */
START_TEST(test_formats)
{
	ck_assert_int_eq(rdb_format_from_path("a/b.HTML"), RAGDB_FORMAT_HTML);
	ck_assert_int_eq(rdb_format_from_path("x.htm"), RAGDB_FORMAT_HTML);
	ck_assert_int_eq(rdb_format_from_path("x.xhtml"), RAGDB_FORMAT_HTML);
	ck_assert_int_eq(rdb_format_from_path("x.pdf"), RAGDB_FORMAT_PDF);
	ck_assert_int_eq(rdb_format_from_path("x.docx"), RAGDB_FORMAT_DOCX);
	ck_assert_int_eq(rdb_format_from_path("x.odt"), RAGDB_FORMAT_ODT);
	ck_assert_int_eq(rdb_format_from_path("x.epub"), RAGDB_FORMAT_EPUB);
	ck_assert_int_eq(rdb_format_from_path("x.csv"), RAGDB_FORMAT_CSV);
	ck_assert_int_eq(rdb_format_from_path("x.tsv"), RAGDB_FORMAT_CSV);
	ck_assert_int_eq(rdb_format_sniff(RAGDB_FORMAT_TEXT, "%PDF-1.7\n", 9), RAGDB_FORMAT_PDF);
	ck_assert_int_eq(rdb_format_sniff(RAGDB_FORMAT_TEXT, "\n  <!DOCTYPE HTML><p>", 20), RAGDB_FORMAT_HTML);
	ck_assert_int_eq(rdb_format_sniff(RAGDB_FORMAT_TEXT, "<html>", 6), RAGDB_FORMAT_HTML);
	ck_assert_int_eq(rdb_format_sniff(RAGDB_FORMAT_TEXT, "plain <html>", 12), RAGDB_FORMAT_TEXT);
	ck_assert_int_eq(rdb_format_sniff(RAGDB_FORMAT_MARKDOWN, "%PDF-1.7\n", 9), RAGDB_FORMAT_MARKDOWN);
	size_t len;
	char *d = fixture("sample.epub", &len);
	ck_assert_int_eq(rdb_format_sniff(RAGDB_FORMAT_TEXT, d, len), RAGDB_FORMAT_EPUB);
	free(d);
	d = fixture("sample.odt", &len);
	ck_assert_int_eq(rdb_format_sniff(RAGDB_FORMAT_TEXT, d, len), RAGDB_FORMAT_ODT);
	free(d);
	rdb_converted c;
	rdb_err e;
	ck_assert_int_eq(rdb_convert(RAGDB_FORMAT_TEXT, "x", 1, &c, &e), RAGDB_EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ingest_readers");
	TCase *tc = tcase_create("readers");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_html);
	tcase_add_test(tc, test_html_deep);
	tcase_add_test(tc, test_pdf);
	tcase_add_test(tc, test_docx);
	tcase_add_test(tc, test_odt);
	tcase_add_test(tc, test_epub);
	tcase_add_test(tc, test_zip_bomb_and_corrupt);
	tcase_add_test(tc, test_csv);
	tcase_add_test(tc, test_csv_bad);
	tcase_add_test(tc, test_formats);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
