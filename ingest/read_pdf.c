/*
 * ingest/read_pdf.c — PDF to text, page by page, with MuPDF.
 *
 * Each page becomes a section headed "# Page N" (N from 1), so every
 * chunk's heading path names the page it comes from (a heading starts a new
 * chunk, so no chunk spans two pages once a page holds text) and a citation
 * can point at it. Within a page, MuPDF's text blocks become paragraphs;
 * lines of a block are joined with spaces and hyphens at line ends removed.
 * The title is the document's Info Title.
 *
 * Hostile input: MuPDF's heap is capped (RDB_READER_MAX_PDF_MEM) by an
 * allocator that counts every live byte, so a document that decompresses
 * into gigabytes fails cleanly; at most RDB_READER_MAX_PAGES pages are read;
 * a page that fails to load is skipped (its number kept, with a note), while
 * a document that cannot be opened at all is an error. MuPDF's own warnings
 * are silenced. One fz_context per call: calls on different threads share
 * nothing.
 */
#include "ingest/readers.h"

#include <mupdf/fitz.h>
#include <mupdf/pdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STORE_MAX ((size_t)64 << 20)

/* --- a counting allocator --------------------------------------------------- */

typedef struct pdf_heap {
	size_t live, max;
	int refused;     /* an allocation went over the cap */
} pdf_heap;

/* 16 bytes in front of every block hold its size, keeping the alignment
 * malloc gives. */
#define HDR 16

static void *h_malloc(void *user, size_t size)
{
	pdf_heap *h = user;
	if (size > h->max - h->live || size > SIZE_MAX - HDR) {
		h->refused = 1;
		return NULL;
	}
	unsigned char *p = malloc(size + HDR);
	if (!p)
		return NULL;
	memcpy(p, &size, sizeof size);
	h->live += size;
	return p + HDR;
}

static void h_free(void *user, void *ptr)
{
	pdf_heap *h = user;
	if (!ptr)
		return;
	unsigned char *p = (unsigned char *)ptr - HDR;
	size_t size;
	memcpy(&size, p, sizeof size);
	h->live -= size;
	free(p);
}

static void *h_realloc(void *user, void *ptr, size_t size)
{
	pdf_heap *h = user;
	if (!ptr)
		return h_malloc(user, size);
	if (size == 0) {
		h_free(user, ptr);
		return NULL;
	}
	unsigned char *p = (unsigned char *)ptr - HDR;
	size_t old;
	memcpy(&old, p, sizeof old);
	if (size > old && (size - old > h->max - h->live || size > SIZE_MAX - HDR)) {
		h->refused = 1;
		return NULL;
	}
	unsigned char *q = realloc(p, size + HDR);
	if (!q)
		return NULL;
	memcpy(q, &size, sizeof size);
	h->live = h->live - old + size;
	return q + HDR;
}

static void quiet(void *user, const char *message)
{
	(void)user;
	(void)message;
}

/* --- text ------------------------------------------------------------------- */

static void add_rune(rdb_tbuf *line, int c)
{
	if (c < 0x20 && c != '\t')
		c = ' ';
	if (c == 0x7F || (c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF)
		return;
	char u[8];
	int n = fz_runetochar(u, c);
	rdb_tbuf_add(line, u, (size_t)n);
}

/* One page's blocks as paragraphs of @p out. */
static void page_text(fz_stext_page *tp, rdb_tbuf *out, rdb_tbuf *para)
{
	for (fz_stext_block *b = tp->first_block; b; b = b->next) {
		if (b->type != FZ_STEXT_BLOCK_TEXT)
			continue;
		para->n = 0;
		para->over = 0;
		for (fz_stext_line *l = b->u.t.first_line; l; l = l->next) {
			if (para->n > 0 && para->p[para->n - 1] != ' ')
				rdb_tbuf_addc(para, ' ');
			for (fz_stext_char *ch = l->first_char; ch; ch = ch->next)
				add_rune(para, ch->c);
		}
		if (para->n == 0)
			continue;
		rdb_tbuf_break(out, 1);
		rdb_tbuf_inline(out, para->p, para->n);
		rdb_tbuf_break(out, 1);
	}
}

/* Page @p i's text into @p b; non-zero if MuPDF failed on it. Its own
 * function, so that no local of the caller lives across the longjmp. */
static int read_page(fz_context *ctx, fz_document *doc, int i, const fz_stext_options *opts,
                     rdb_tbuf *b, rdb_tbuf *para)
{
	fz_page *volatile page = NULL;
	fz_stext_page *volatile tp = NULL;
	volatile int failed = 0;
	fz_try(ctx) {
		page = fz_load_page(ctx, doc, i);
		tp = fz_new_stext_page_from_page(ctx, page, opts);
		page_text(tp, b, para);
	}
	fz_always(ctx) {
		fz_drop_stext_page(ctx, tp);
		fz_drop_page(ctx, page);
	}
	fz_catch(ctx) {
		failed = 1;
	}
	return failed;
}

ragdb_status rdb_pdf_convert(const char *data, size_t len, rdb_converted *out, rdb_err *err)
{
	pdf_heap heap = { 0, RDB_READER_MAX_PDF_MEM, 0 };
	fz_alloc_context alloc = { &heap, h_malloc, h_realloc, h_free };
	fz_context *ctx = fz_new_context(&alloc, NULL, STORE_MAX);
	if (!ctx)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory starting the PDF reader");
	fz_set_error_callback(ctx, quiet, NULL);
	fz_set_warning_callback(ctx, quiet, NULL);

	ragdb_status st = RAGDB_OK;
	fz_stream *volatile stm = NULL;
	pdf_document *volatile pdf = NULL;
	char *volatile title = NULL;
	rdb_tbuf b, para;
	rdb_tbuf_init(&b, RDB_READER_MAX_TEXT);
	rdb_tbuf_init(&para, (size_t)16 << 20);
	volatile int pages = 0;

	fz_try(ctx) {
		stm = fz_open_memory(ctx, (const unsigned char *)data, len);
		pdf = pdf_open_document_with_stream(ctx, stm);
		fz_document *doc = (fz_document *)pdf;
		if (fz_needs_password(ctx, doc) && !fz_authenticate_password(ctx, doc, ""))
			fz_throw(ctx, FZ_ERROR_GENERIC, "the PDF is encrypted with a password");
		pages = fz_count_pages(ctx, doc);
		char buf[1024];
		int tl = fz_lookup_metadata(ctx, doc, FZ_META_INFO_TITLE, buf, sizeof buf);
		if (tl > 0 && buf[0])
			title = strdup(buf);
	}
	fz_catch(ctx) {
		st = heap.refused
			? rdb_err_set(err, RAGDB_EBADINPUT, "the PDF needs more than %zu MiB to open; refused",
			              RDB_READER_MAX_PDF_MEM >> 20)
			: rdb_err_set(err, RAGDB_EBADINPUT, "not a readable PDF: %s", fz_caught_message(ctx));
	}
	if (st != RAGDB_OK)
		goto out;
	if (pages > RDB_READER_MAX_PAGES)
		pages = RDB_READER_MAX_PAGES;

	fz_stext_options opts = { .flags = FZ_STEXT_DEHYPHENATE | FZ_STEXT_MEDIABOX_CLIP };
	for (int i = 0; i < pages && !b.over; i++) {
		char head[48];
		snprintf(head, sizeof head, "# Page %d\n\n", i + 1);
		size_t mark = b.n;
		rdb_tbuf_break(&b, 1);
		rdb_tbuf_adds(&b, head);
		size_t body = b.n;
		if (read_page(ctx, (fz_document *)pdf, i, &opts, &b, &para))
			rdb_tbuf_adds(&b, "(this page could not be read)\n\n");
		if (b.n == body && !b.over) { /* no text: no heading either */
			b.n = mark;
			if (b.p)
				b.p[b.n] = 0;
		}
	}
	if (heap.refused && b.n == 0)
		st = rdb_err_set(err, RAGDB_EBADINPUT, "the PDF's pages need more than %zu MiB; refused",
		                 RDB_READER_MAX_PDF_MEM >> 20);
	else
		st = rdb_tbuf_status(&b, "the PDF", err);
	if (st == RAGDB_OK && para.over < 0)
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory converting the PDF");
	if (st != RAGDB_OK)
		goto out;
	*out = (rdb_converted){ b.p, b.n, title, RAGDB_FORMAT_PDF };
	b.p = NULL;
	title = NULL;
out:
	fz_drop_document(ctx, (fz_document *)pdf);
	fz_drop_stream(ctx, stm);
	fz_drop_context(ctx);
	free(title);
	rdb_tbuf_free(&b);
	rdb_tbuf_free(&para);
	return st;
}
