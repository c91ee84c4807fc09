/*
 * ingest/read_office.c — DOCX and ODT to Markdown-like text: the archive is
 * unpacked with read_zip.c (bounded), its XML streamed with libxml2's
 * reader (no DTD loading, no network, no entity substitution; libxml2's
 * default depth and text-node limits hold, since XML_PARSE_HUGE is not
 * set).
 *
 * DOCX: word/document.xml paragraphs (w:p) with their runs' text (w:t);
 * a paragraph whose style (w:pStyle, resolved through word/styles.xml: a
 * style named "heading N" or "Title", or with an outline level) or own
 * outline level makes it a heading becomes a "#" line; tables (w:tbl)
 * become "|" rows. The title is docProps/core.xml's dc:title, else the
 * first Title paragraph, else the first level-1 heading.
 * ODT: content.xml text:h (text:outline-level) and text:p, table rows;
 * notes, annotations and tracked deletions are left out. The title is
 * meta.xml's dc:title, else the first level-1 heading.
 */
#include "ingest/readers.h"

#include "ingest/xmlutil.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TITLE_MAX 1000
#define PARA_MAX ((size_t)16 << 20)
#define MAX_STYLES 1000 /* heading styles kept; real documents have a few dozen */

static pthread_once_t g_xml_once = PTHREAD_ONCE_INIT;
static void xml_init(void)
{
	xmlInitParser();
}

/* --- XML reading -------------------------------------------------------- */


static void on_rdb_xml_error(void *arg, xmlErrorPtr e)
{
	rdb_xml_err *x = arg;
	if (x->set || !e)
		return;
	x->set = 1;
	snprintf(x->msg, sizeof x->msg, "line %d: %s", e->line, e->message ? e->message : "error");
	size_t n = strlen(x->msg);
	while (n > 0 && (x->msg[n - 1] == '\n' || x->msg[n - 1] == ' '))
		x->msg[--n] = 0;
}

xmlTextReaderPtr rdb_xml_open(const char *data, size_t len, rdb_xml_err *xe)
{
	pthread_once(&g_xml_once, xml_init);
	if (len > INT32_MAX)
		return NULL;
	xmlTextReaderPtr r = xmlReaderForMemory(data, (int)len, NULL, NULL,
	                                        XML_PARSE_NONET | XML_PARSE_NOERROR |
	                                        XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
	if (r)
		xmlTextReaderSetStructuredErrorHandler(r, on_rdb_xml_error, xe);
	return r;
}

ragdb_status rdb_xml_failed(const rdb_xml_err *xe, const char *part, rdb_err *err)
{
	return rdb_err_set(err, RAGDB_EBADINPUT, "corrupt XML in %s: %s", part,
	                   xe->set ? xe->msg : "unreadable");
}

/* The value of the current element's attribute with local name @p local
 * (any namespace), malloc'd; NULL if absent. */
char *rdb_xml_attr(xmlTextReaderPtr r, const char *local)
{
	char *v = NULL;
	if (xmlTextReaderMoveToFirstAttribute(r) != 1)
		return NULL;
	do {
		const char *ln = (const char *)xmlTextReaderConstLocalName(r);
		if (ln && strcmp(ln, local) == 0) {
			const char *val = (const char *)xmlTextReaderConstValue(r);
			v = strdup(val ? val : "");
			break;
		}
	} while (xmlTextReaderMoveToNextAttribute(r) == 1);
	xmlTextReaderMoveToElement(r);
	return v;
}

static int is(const char *a, const char *b)
{
	return a && strcmp(a, b) == 0;
}

/* The text content of the element under the reader (dc:title), capped. */
char *rdb_xml_text(xmlTextReaderPtr r)
{
	rdb_tbuf t;
	rdb_tbuf_init(&t, TITLE_MAX);
	if (xmlTextReaderIsEmptyElement(r))
		return NULL;
	int depth = xmlTextReaderDepth(r);
	while (xmlTextReaderRead(r) == 1) {
		int type = xmlTextReaderNodeType(r);
		if (type == XML_READER_TYPE_END_ELEMENT && xmlTextReaderDepth(r) == depth)
			break;
		if (type == XML_READER_TYPE_TEXT || type == XML_READER_TYPE_SIGNIFICANT_WHITESPACE ||
		    type == XML_READER_TYPE_CDATA) {
			const char *v = (const char *)xmlTextReaderConstValue(r);
			if (v)
				rdb_tbuf_inline(&t, v, strlen(v));
		}
	}
	while (t.n > 0 && t.p[t.n - 1] == ' ')
		t.p[--t.n] = 0;
	if (t.n == 0 || t.over < 0) {
		rdb_tbuf_free(&t);
		return NULL;
	}
	return t.p;
}

/* dc:title of a metadata part (docProps/core.xml, meta.xml); NULL if none. */
static char *meta_title(const char *data, size_t len)
{
	rdb_xml_err xe = {0};
	xmlTextReaderPtr r = rdb_xml_open(data, len, &xe);
	char *title = NULL;
	if (!r)
		return NULL;
	while (!title && xmlTextReaderRead(r) == 1) {
		if (xmlTextReaderNodeType(r) == XML_READER_TYPE_ELEMENT &&
		    is((const char *)xmlTextReaderConstLocalName(r), "title"))
			title = rdb_xml_text(r);
	}
	xmlFreeTextReader(r);
	return title;
}

/* --- the text being built ------------------------------------------------ */

typedef struct doc_out {
	rdb_tbuf *b;
	rdb_tbuf para;       /* the paragraph being read */
	int pdepth;          /* paragraph nesting (ODT frames, notes) */
	int level;           /* heading level of the paragraph, -1 = Title style */
	int table;           /* table nesting */
	int cell;            /* inside a cell of the outermost table */
	int cells, rows;     /* of the current outermost row / table */
	size_t row_mark;
	int cell_has_text;
	char *title_para;    /* first Title paragraph */
	char *first_h1;      /* first level-1 heading */
} doc_out;

static void para_start(doc_out *d)
{
	if (d->pdepth++ == 0) {
		d->para.n = 0;
		if (d->para.p)
			d->para.p[0] = 0;
		d->para.over = 0;
		d->level = 0;
	}
}

static void cell_text(rdb_tbuf *b, const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		const char *bar = memchr(s + i, '|', n - i);
		size_t j = bar ? (size_t)(bar - s) : n;
		rdb_tbuf_inline(b, s + i, j - i);
		if (bar) {
			rdb_tbuf_add(b, "\\|", 2);
			j++;
		}
		i = j;
	}
}

static char *trimmed_copy(const char *s, size_t n)
{
	while (n > 0 && (*s == ' ' || *s == '\n')) {
		s++;
		n--;
	}
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n'))
		n--;
	if (n > TITLE_MAX) {
		n = TITLE_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	return n ? strndup(s, n) : NULL;
}

static void para_end(doc_out *d)
{
	if (d->pdepth == 0 || --d->pdepth > 0)
		return;
	const char *s = d->para.p ? d->para.p : "";
	size_t n = d->para.n;
	size_t a = 0;
	while (a < n && (s[a] == ' ' || s[a] == '\n'))
		a++;
	if (a == n)
		return;
	if (d->cell) {
		if (d->cell_has_text)
			rdb_tbuf_addc(d->b, ' ');
		cell_text(d->b, s + a, n - a);
		d->cell_has_text = 1;
		return;
	}
	if (d->table > 0) { /* text of a table outside any cell: its own line */
		rdb_tbuf_break(d->b, 0);
		rdb_tbuf_inline(d->b, s + a, n - a);
		rdb_tbuf_break(d->b, 0);
		return;
	}
	int lvl = d->level < 0 ? 1 : d->level > 6 ? 6 : d->level;
	if (d->level < 0 && !d->title_para)
		d->title_para = trimmed_copy(s + a, n - a);
	if (d->level == 1 && !d->first_h1)
		d->first_h1 = trimmed_copy(s + a, n - a);
	rdb_tbuf_break(d->b, 1);
	if (lvl > 0) {
		static const char hashes[] = "###### ";
		rdb_tbuf_add(d->b, hashes + 6 - lvl, (size_t)lvl + 1);
	}
	rdb_tbuf_inline(d->b, s + a, n - a);
	rdb_tbuf_break(d->b, 1);
}

static void para_text(doc_out *d, const char *s)
{
	if (d->pdepth == 0) /* text outside paragraphs (rare): its own paragraph */
		return;
	rdb_tbuf_inline(&d->para, s, strlen(s));
}

static void table_start(doc_out *d)
{
	if (d->table++ == 0 && !d->cell) {
		rdb_tbuf_break(d->b, 1);
		d->rows = 0;
	}
}

static void table_end(doc_out *d)
{
	if (d->table > 0 && --d->table == 0)
		rdb_tbuf_break(d->b, 1);
}

static void row_start(doc_out *d)
{
	if (d->table != 1 || d->cell)
		return;
	rdb_tbuf_break(d->b, 0);
	d->row_mark = d->b->n;
	d->cells = 0;
	rdb_tbuf_addc(d->b, '|');
}

static void row_end(doc_out *d)
{
	if (d->table != 1 || d->cell)
		return;
	if (d->cells == 0) {
		if (!d->b->over) {
			d->b->n = d->row_mark;
			if (d->b->p)
				d->b->p[d->b->n] = 0;
		}
		return;
	}
	rdb_tbuf_addc(d->b, '\n');
	if (d->rows++ == 0) {
		rdb_tbuf_addc(d->b, '|');
		for (int i = 0; i < d->cells && i < 1000; i++)
			rdb_tbuf_add(d->b, " --- |", 6);
		rdb_tbuf_addc(d->b, '\n');
	}
}

static void cell_start(doc_out *d)
{
	if (d->table != 1 || d->cell)
		return;
	rdb_tbuf_addc(d->b, ' ');
	d->cell = 1;
	d->cell_has_text = 0;
}

static void cell_end(doc_out *d)
{
	if (d->table != 1 || !d->cell)
		return;
	rdb_tbuf_add(d->b, " |", 2);
	d->cell = 0;
	d->cells++;
}

static void doc_out_free(doc_out *d)
{
	rdb_tbuf_free(&d->para);
	free(d->title_para);
	free(d->first_h1);
}

static ragdb_status finish(doc_out *d, char *meta_t, const char *what, rdb_converted *out,
                           rdb_err *err)
{
	ragdb_status st = rdb_tbuf_status(d->b, what, err);
	if (st == RAGDB_OK && d->para.over < 0)
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory converting %s", what);
	if (st != RAGDB_OK) {
		free(meta_t);
		return st;
	}
	char *title = meta_t ? meta_t : d->title_para ? d->title_para : d->first_h1;
	if (title == d->title_para)
		d->title_para = NULL;
	if (title == d->first_h1)
		d->first_h1 = NULL;
	*out = (rdb_converted){ d->b->p, d->b->n, title, RAGDB_FORMAT_MARKDOWN };
	d->b->p = NULL;
	return RAGDB_OK;
}

/* --- DOCX ---------------------------------------------------------------- */

typedef struct style {
	char *id;
	int level; /* -1 = Title */
} style;

typedef struct styles {
	style *s;
	size_t n, cap;
} styles;

static void styles_free(styles *ss)
{
	for (size_t i = 0; i < ss->n; i++)
		free(ss->s[i].id);
	free(ss->s);
}

/* "heading 3" -> 3, "Title" -> -1, else 0 */
static int level_from_name(const char *name)
{
	if (!name)
		return 0;
	if (strcasecmp(name, "title") == 0)
		return -1;
	if (strncasecmp(name, "heading", 7) == 0) {
		const char *p = name + 7;
		while (*p == ' ')
			p++;
		if (*p >= '1' && *p <= '9' && p[1] == 0)
			return *p - '0';
	}
	return 0;
}

static int level_from_outline(const char *v)
{
	if (!v || !(*v >= '0' && *v <= '8') || v[1])
		return 0;
	return *v - '0' + 1;
}

static void styles_parse(styles *ss, const char *data, size_t len)
{
	rdb_xml_err xe = {0};
	xmlTextReaderPtr r = rdb_xml_open(data, len, &xe);
	if (!r)
		return;
	char *id = NULL;
	int level = 0, depth = -1;
	while (xmlTextReaderRead(r) == 1) {
		int type = xmlTextReaderNodeType(r);
		const char *ln = (const char *)xmlTextReaderConstLocalName(r);
		if (type == XML_READER_TYPE_ELEMENT && is(ln, "style")) {
			free(id);
			id = rdb_xml_attr(r, "styleId");
			level = 0;
			depth = xmlTextReaderDepth(r);
			if (xmlTextReaderIsEmptyElement(r))
				depth = -1;
		} else if (type == XML_READER_TYPE_ELEMENT && depth >= 0 && is(ln, "name")) {
			char *v = rdb_xml_attr(r, "val");
			int l = level_from_name(v);
			if (l)
				level = l;
			free(v);
		} else if (type == XML_READER_TYPE_ELEMENT && depth >= 0 && is(ln, "outlineLvl")) {
			char *v = rdb_xml_attr(r, "val");
			if (!level)
				level = level_from_outline(v);
			free(v);
		} else if (type == XML_READER_TYPE_END_ELEMENT && is(ln, "style") &&
		           xmlTextReaderDepth(r) == depth) {
			depth = -1;
			if (id && level && ss->n < MAX_STYLES) {
				if (ss->n == ss->cap) {
					size_t cap = ss->cap ? ss->cap * 2 : 32;
					style *s = realloc(ss->s, cap * sizeof *s);
					if (!s)
						break;
					ss->s = s;
					ss->cap = cap;
				}
				ss->s[ss->n++] = (style){ id, level };
				id = NULL;
			}
		}
	}
	free(id);
	xmlFreeTextReader(r);
}

static int style_level(const styles *ss, const char *id)
{
	if (!id)
		return 0;
	for (size_t i = 0; i < ss->n; i++)
		if (strcmp(ss->s[i].id, id) == 0)
			return ss->s[i].level;
	/* no styles part: the built-in ids */
	if (strcasecmp(id, "Title") == 0)
		return -1;
	if (strncasecmp(id, "Heading", 7) == 0 && id[7] >= '1' && id[7] <= '9' && !id[8])
		return id[7] - '0';
	return 0;
}

static ragdb_status docx_body(doc_out *d, const styles *ss, const char *data, size_t len,
                              rdb_err *err)
{
	rdb_xml_err xe = {0};
	xmlTextReaderPtr r = rdb_xml_open(data, len, &xe);
	if (!r)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory reading word/document.xml");
	int in_t = 0;
	int rc = xmlTextReaderRead(r);
	while (rc == 1) {
		int type = xmlTextReaderNodeType(r);
		const char *ln = (const char *)xmlTextReaderConstLocalName(r);
		if (type == XML_READER_TYPE_ELEMENT) {
			int empty = xmlTextReaderIsEmptyElement(r);
			if (is(ln, "p")) {
				para_start(d);
				if (empty)
					para_end(d);
			} else if (is(ln, "pStyle") && d->pdepth == 1) {
				char *v = rdb_xml_attr(r, "val");
				int l = style_level(ss, v);
				if (l)
					d->level = l;
				free(v);
			} else if (is(ln, "outlineLvl") && d->pdepth == 1 && !d->level) {
				char *v = rdb_xml_attr(r, "val");
				d->level = level_from_outline(v);
				free(v);
			} else if (is(ln, "t")) {
				in_t = !empty;
			} else if (is(ln, "tab") || is(ln, "br") || is(ln, "cr")) {
				para_text(d, " ");
			} else if (is(ln, "tbl")) {
				table_start(d);
				if (empty)
					table_end(d);
			} else if (is(ln, "tr") && !empty) {
				row_start(d);
			} else if (is(ln, "tc") && !empty) {
				cell_start(d);
			} else if (is(ln, "del") || is(ln, "instrText") || is(ln, "delText")) {
				/* deleted text, field codes: past the subtree, then look
				 * at the node that follows it */
				rc = xmlTextReaderNext(r);
				continue;
			}
		} else if (type == XML_READER_TYPE_END_ELEMENT) {
			if (is(ln, "p"))
				para_end(d);
			else if (is(ln, "t"))
				in_t = 0;
			else if (is(ln, "tc"))
				cell_end(d);
			else if (is(ln, "tr"))
				row_end(d);
			else if (is(ln, "tbl"))
				table_end(d);
		} else if ((type == XML_READER_TYPE_TEXT || type == XML_READER_TYPE_SIGNIFICANT_WHITESPACE ||
		            type == XML_READER_TYPE_CDATA) && in_t) {
			const char *v = (const char *)xmlTextReaderConstValue(r);
			if (v)
				para_text(d, v);
		}
		if (d->b->over)
			break;
		rc = xmlTextReaderRead(r);
	}
	xmlFreeTextReader(r);
	if (rc < 0)
		return rdb_xml_failed(&xe, "word/document.xml", err);
	return RAGDB_OK;
}

struct docx_parts {
	char *doc, *styles, *core;
	size_t doc_len, styles_len, core_len;
};

static int docx_want(void *ctx, const char *name)
{
	(void)ctx;
	return strcmp(name, "word/document.xml") == 0 || strcmp(name, "word/styles.xml") == 0 ||
	       strcmp(name, "docProps/core.xml") == 0;
}

static int docx_got(void *ctx, rdb_zip_entry *e)
{
	struct docx_parts *p = ctx;
	char **slot = strcmp(e->name, "word/document.xml") == 0 ? &p->doc
	              : strcmp(e->name, "word/styles.xml") == 0 ? &p->styles : &p->core;
	size_t *len = slot == &p->doc ? &p->doc_len : slot == &p->styles ? &p->styles_len : &p->core_len;
	free(*slot); /* a duplicate entry name: the last wins */
	*slot = e->data;
	*len = e->len;
	free(e->name);
	return 0;
}

ragdb_status rdb_docx_convert(const char *data, size_t len, rdb_converted *out, rdb_err *err)
{
	rdb_zip z;
	rdb_zip_init(&z, data, len);
	struct docx_parts p = {0};
	styles ss = {0};
	rdb_tbuf b;
	rdb_tbuf_init(&b, RDB_READER_MAX_TEXT);
	doc_out d = { .b = &b };
	rdb_tbuf_init(&d.para, PARA_MAX);
	char *title = NULL;
	ragdb_status st = rdb_zip_read(&z, docx_want, docx_got, &p, err);
	if (st == RAGDB_OK && !p.doc)
		st = rdb_err_set(err, RAGDB_EBADINPUT,
		                 "no word/document.xml in the archive; not a DOCX document");
	if (st != RAGDB_OK)
		goto out;
	if (p.styles)
		styles_parse(&ss, p.styles, p.styles_len);
	if (p.core)
		title = meta_title(p.core, p.core_len);
	st = docx_body(&d, &ss, p.doc, p.doc_len, err);
	if (st == RAGDB_OK) {
		st = finish(&d, title, "the DOCX document", out, err);
		title = NULL;
	}
out:
	free(title);
	free(p.doc);
	free(p.styles);
	free(p.core);
	styles_free(&ss);
	doc_out_free(&d);
	rdb_tbuf_free(&b);
	return st;
}

/* --- ODT ----------------------------------------------------------------- */

static ragdb_status odt_body(doc_out *d, const char *data, size_t len, rdb_err *err)
{
	rdb_xml_err xe = {0};
	xmlTextReaderPtr r = rdb_xml_open(data, len, &xe);
	if (!r)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory reading content.xml");
	int in_body = 0;
	int rc = xmlTextReaderRead(r);
	while (rc == 1) {
		int type = xmlTextReaderNodeType(r);
		const char *ln = (const char *)xmlTextReaderConstLocalName(r);
		if (type == XML_READER_TYPE_ELEMENT) {
			int empty = xmlTextReaderIsEmptyElement(r);
			if (is(ln, "body")) {
				in_body = 1;
			} else if (!in_body) {
				/* styles, fonts, scripts: nothing to read */
			} else if (is(ln, "p") || is(ln, "h")) {
				para_start(d);
				if (is(ln, "h") && d->pdepth == 1) {
					char *v = rdb_xml_attr(r, "outline-level");
					int l = v ? atoi(v) : 1;
					d->level = l < 1 ? 1 : l > 6 ? 6 : l;
					free(v);
				}
				if (empty)
					para_end(d);
			} else if (is(ln, "s") || is(ln, "tab") || is(ln, "line-break")) {
				para_text(d, " ");
			} else if (is(ln, "table")) {
				table_start(d);
				if (empty)
					table_end(d);
			} else if (is(ln, "table-row") && !empty) {
				row_start(d);
			} else if (is(ln, "table-cell") && !empty) {
				cell_start(d);
			} else if (is(ln, "note") || is(ln, "annotation") || is(ln, "tracked-changes") ||
			           is(ln, "sequence-decls")) {
				rc = xmlTextReaderNext(r);
				continue;
			}
		} else if (type == XML_READER_TYPE_END_ELEMENT) {
			if (is(ln, "p") || is(ln, "h"))
				para_end(d);
			else if (is(ln, "table-cell"))
				cell_end(d);
			else if (is(ln, "table-row"))
				row_end(d);
			else if (is(ln, "table"))
				table_end(d);
			else if (is(ln, "body"))
				in_body = 0;
		} else if (in_body && (type == XML_READER_TYPE_TEXT || type == XML_READER_TYPE_CDATA ||
		                       type == XML_READER_TYPE_SIGNIFICANT_WHITESPACE)) {
			const char *v = (const char *)xmlTextReaderConstValue(r);
			if (v)
				para_text(d, v);
		}
		if (d->b->over)
			break;
		rc = xmlTextReaderRead(r);
	}
	xmlFreeTextReader(r);
	if (rc < 0)
		return rdb_xml_failed(&xe, "content.xml", err);
	return RAGDB_OK;
}

struct odt_parts {
	char *content, *meta;
	size_t content_len, meta_len;
};

static int odt_want(void *ctx, const char *name)
{
	(void)ctx;
	return strcmp(name, "content.xml") == 0 || strcmp(name, "meta.xml") == 0;
}

static int odt_got(void *ctx, rdb_zip_entry *e)
{
	struct odt_parts *p = ctx;
	int content = strcmp(e->name, "content.xml") == 0;
	char **slot = content ? &p->content : &p->meta;
	free(*slot);
	*slot = e->data;
	*(content ? &p->content_len : &p->meta_len) = e->len;
	free(e->name);
	return 0;
}

ragdb_status rdb_odt_convert(const char *data, size_t len, rdb_converted *out, rdb_err *err)
{
	rdb_zip z;
	rdb_zip_init(&z, data, len);
	struct odt_parts p = {0};
	rdb_tbuf b;
	rdb_tbuf_init(&b, RDB_READER_MAX_TEXT);
	doc_out d = { .b = &b };
	rdb_tbuf_init(&d.para, PARA_MAX);
	char *title = NULL;
	ragdb_status st = rdb_zip_read(&z, odt_want, odt_got, &p, err);
	if (st == RAGDB_OK && !p.content)
		st = rdb_err_set(err, RAGDB_EBADINPUT, "no content.xml in the archive; not an ODT document");
	if (st != RAGDB_OK)
		goto out;
	if (p.meta)
		title = meta_title(p.meta, p.meta_len);
	st = odt_body(&d, p.content, p.content_len, err);
	if (st == RAGDB_OK) {
		st = finish(&d, title, "the ODT document", out, err);
		title = NULL;
	}
out:
	free(title);
	free(p.content);
	free(p.meta);
	doc_out_free(&d);
	rdb_tbuf_free(&b);
	return st;
}

