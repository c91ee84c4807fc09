/*
 * ingest/read_html.c — HTML to Markdown-like text with an HTML5 parser
 * (gumbo): headings become "#" lines (so chunks carry heading paths), block
 * elements paragraph breaks, tables "|" rows with a separator after the
 * first, <pre> a fenced block; scripts, styles, templates, hidden elements
 * and embedded objects are dropped; entities are decoded by the parser.
 *
 * Hostile input: gumbo's tree building costs time proportional to the
 * depth of open elements for each element opened, so a file of nothing but
 * nested <div>s takes minutes. A cheap scan of the tags first refuses a
 * document nested deeper than RDB_READER_MAX_DEPTH (tags whose end tag is
 * optional, and void tags, are not counted). The walk over the tree is
 * iterative (heap stack), so depth never touches the C stack; the text
 * produced is capped by the buffer. gumbo 0.10 leaks a few strings on
 * some malformed input (a doctype token in the body, found by fuzzing), so
 * its allocations go through an arena that frees whatever it left behind.
 * gumbo also does not check its allocations (it writes through the NULL of
 * a failed one: test_engine_enomem_paths), so a failed allocation jumps
 * (longjmp) out of the parse, and the arena frees everything it made.
 */
#include "ingest/readers.h"

#include <gumbo.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TITLE_MAX 1000

/* --- nesting pre-scan ------------------------------------------------------ */

/* Tags that never nest: void elements, and those whose end tag may be left
 * out (the parser closes them itself). */
static const char *const k_flat_tags[] = {
	"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
	"source", "track", "wbr", "keygen", "p", "li", "dt", "dd", "option", "optgroup", "tr",
	"td", "th", "thead", "tbody", "tfoot", "colgroup", "rb", "rt", "rp", "rtc", "html",
	"head", "body", "basefont", "bgsound", "frame", "image", "menuitem",
};
/* Raw-text elements: their content is not markup. */
static const char *const k_raw_tags[] = { "script", "style", "textarea", "title", "xmp",
	                                      "iframe", "noembed", "noframes", "plaintext" };

static int tag_is(const char *name, size_t n, const char *const *list, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (strlen(list[i]) == n && strncasecmp(name, list[i], n) == 0)
			return 1;
	return 0;
}

static int name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == ':' || c == '_';
}

/* Approximate element depth; returns 0 if it stays within the limit, else
 * the byte offset (+1) where it went over. */
static size_t depth_scan(const char *s, size_t len)
{
	size_t depth = 0, i = 0;
	while (i < len) {
		const char *lt = memchr(s + i, '<', len - i);
		if (!lt)
			break;
		i = (size_t)(lt - s) + 1;
		if (i < len && s[i] == '!') { /* comment or doctype */
			if (i + 2 < len && s[i + 1] == '-' && s[i + 2] == '-') {
				const char *e = memmem(s + i, len - i, "-->", 3);
				i = e ? (size_t)(e - s) + 3 : len;
			}
			continue;
		}
		int end = i < len && s[i] == '/';
		if (end)
			i++;
		size_t a = i;
		while (i < len && name_char(s[i]))
			i++;
		if (i == a || !((s[a] >= 'a' && s[a] <= 'z') || (s[a] >= 'A' && s[a] <= 'Z')))
			continue;
		size_t nl = i - a;
		const char *gt = memchr(s + i, '>', len - i);
		size_t close = gt ? (size_t)(gt - s) : len;
		int self = close > i && s[close - 1] == '/';
		if (tag_is(s + a, nl, k_flat_tags, sizeof k_flat_tags / sizeof *k_flat_tags) || self)
			continue;
		if (end) {
			if (depth > 0)
				depth--;
			continue;
		}
		if (tag_is(s + a, nl, k_raw_tags, sizeof k_raw_tags / sizeof *k_raw_tags)) {
			/* skip to the matching end tag */
			size_t j = close;
			for (;;) {
				const char *e = j < len ? memmem(s + j, len - j, "</", 2) : NULL;
				if (!e) {
					j = len;
					break;
				}
				j = (size_t)(e - s) + 2;
				if (len - j >= nl && strncasecmp(s + j, s + a, nl) == 0)
					break;
			}
			i = j;
			continue;
		}
		if (++depth > RDB_READER_MAX_DEPTH)
			return a;
	}
	return 0;
}

/* --- gumbo's allocator: an arena that forgets nothing ------------------------ */

typedef struct arena_blk {
	struct arena_blk *prev, *next;
	max_align_t align[]; /* the caller's bytes */
} arena_blk;

typedef struct arena {
	arena_blk head; /* sentinel of a circular list */
	jmp_buf *oom;   /* where a failed allocation jumps to (during the parse) */
} arena;

static void *arena_alloc(void *ud, size_t size)
{
	arena *a = ud;
	if (size > SIZE_MAX - sizeof(arena_blk))
		return NULL;
	arena_blk *b = malloc(sizeof *b + size);
	if (!b && a->oom)
		longjmp(*a->oom, 1);
	if (!b)
		return NULL;
	b->next = a->head.next;
	b->prev = &a->head;
	a->head.next->prev = b;
	a->head.next = b;
	return b->align;
}

static void arena_free(void *ud, void *ptr)
{
	(void)ud;
	if (!ptr)
		return;
	arena_blk *b = (arena_blk *)((char *)ptr - offsetof(arena_blk, align));
	b->prev->next = b->next;
	b->next->prev = b->prev;
	free(b);
}

static void arena_init(arena *a)
{
	a->head.next = a->head.prev = &a->head;
	a->oom = NULL;
}

static void arena_release(arena *a)
{
	arena_blk *b = a->head.next;
	while (b != &a->head) {
		arena_blk *n = b->next;
		free(b);
		b = n;
	}
	arena_init(a);
}

/* --- the walk -------------------------------------------------------------- */

typedef struct frame {
	GumboNode *node;
	unsigned next;       /* next child to visit */
	size_t mark;         /* buffer position when entered (headings, rows) */
	int cells;           /* TR: cells so far */
} frame;

typedef struct walker {
	rdb_tbuf *b;
	char **title;        /* where the title goes (may be NULL) */
	int title_from_tag;  /* a <title> gave it: an h1 does not replace it */
	int pre;             /* inside <pre> */
	int heading;         /* inside h1..h6 */
	int cell;            /* inside td/th (nested tables flatten) */
	int table_rows;      /* rows of the current top table */
	frame *st;
	size_t n, cap;
} walker;

static int heading_level(GumboTag t)
{
	switch (t) {
	case GUMBO_TAG_H1: return 1;
	case GUMBO_TAG_H2: return 2;
	case GUMBO_TAG_H3: return 3;
	case GUMBO_TAG_H4: return 4;
	case GUMBO_TAG_H5: return 5;
	case GUMBO_TAG_H6: return 6;
	default: return 0;
	}
}

static int dropped(const GumboNode *n)
{
	if (n->type == GUMBO_NODE_TEMPLATE || n->type == GUMBO_NODE_COMMENT)
		return 1;
	if (n->type != GUMBO_NODE_ELEMENT)
		return 0;
	switch (n->v.element.tag) {
	case GUMBO_TAG_SCRIPT: case GUMBO_TAG_STYLE: case GUMBO_TAG_TEMPLATE:
	case GUMBO_TAG_NOSCRIPT: case GUMBO_TAG_IFRAME: case GUMBO_TAG_OBJECT:
	case GUMBO_TAG_EMBED: case GUMBO_TAG_CANVAS: case GUMBO_TAG_SVG: case GUMBO_TAG_MATH:
	case GUMBO_TAG_SELECT: case GUMBO_TAG_HEAD: case GUMBO_TAG_NOEMBED: case GUMBO_TAG_NOFRAMES:
	case GUMBO_TAG_AUDIO: case GUMBO_TAG_VIDEO: case GUMBO_TAG_MAP:
		return 1;
	default:
		break;
	}
	if (gumbo_get_attribute(&n->v.element.attributes, "hidden"))
		return 1;
	GumboAttribute *a = gumbo_get_attribute(&n->v.element.attributes, "aria-hidden");
	return a && strcasecmp(a->value, "true") == 0;
}

static int block_tag(GumboTag t)
{
	switch (t) {
	case GUMBO_TAG_P: case GUMBO_TAG_DIV: case GUMBO_TAG_SECTION: case GUMBO_TAG_ARTICLE:
	case GUMBO_TAG_MAIN: case GUMBO_TAG_HEADER: case GUMBO_TAG_FOOTER: case GUMBO_TAG_NAV:
	case GUMBO_TAG_ASIDE: case GUMBO_TAG_ADDRESS: case GUMBO_TAG_FIGURE:
	case GUMBO_TAG_FIGCAPTION: case GUMBO_TAG_FORM: case GUMBO_TAG_FIELDSET:
	case GUMBO_TAG_DETAILS: case GUMBO_TAG_SUMMARY: case GUMBO_TAG_BLOCKQUOTE:
	case GUMBO_TAG_DL: case GUMBO_TAG_CENTER: case GUMBO_TAG_HGROUP: case GUMBO_TAG_OL:
	case GUMBO_TAG_UL: case GUMBO_TAG_MENU: case GUMBO_TAG_DIR: case GUMBO_TAG_BODY:
	case GUMBO_TAG_HTML: case GUMBO_TAG_CAPTION: case GUMBO_TAG_LEGEND: case GUMBO_TAG_HR:
	case GUMBO_TAG_TABLE: case GUMBO_TAG_LISTING: case GUMBO_TAG_XMP:
		return 1;
	default:
		return 0;
	}
}

/* A paragraph break, or a space where breaks cannot be (headings, cells). */
static void brk(walker *w, int blank)
{
	if (w->pre)
		rdb_tbuf_addc(w->b, '\n');
	else if (w->heading || w->cell)
		rdb_tbuf_inline(w->b, " ", 1);
	else
		rdb_tbuf_break(w->b, blank);
}

/* Text inside a table cell: inline, with '|' escaped. */
static void cell_text(walker *w, const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		const char *bar = memchr(s + i, '|', n - i);
		size_t j = bar ? (size_t)(bar - s) : n;
		rdb_tbuf_inline(w->b, s + i, j - i);
		if (bar) {
			rdb_tbuf_add(w->b, "\\|", 2);
			j++;
		}
		i = j;
	}
}

/* Text in <pre>: kept as it is, except that a line that could close the
 * fence gets a backslash. */
static void pre_text(walker *w, const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		const char *nl = memchr(s + i, '\n', n - i);
		size_t j = nl ? (size_t)(nl - s) + 1 : n;
		if (w->b->n && w->b->p[w->b->n - 1] == '\n') {
			size_t k = i;
			while (k < j && s[k] == ' ')
				k++;
			if (j - k >= 3 && (s[k] == '`' || s[k] == '~') && s[k + 1] == s[k] && s[k + 2] == s[k])
				rdb_tbuf_addc(w->b, '\\');
		}
		rdb_tbuf_add(w->b, s + i, j - i);
		i = j;
	}
}

static void text_node(walker *w, const GumboNode *n)
{
	const char *s = n->v.text.text;
	size_t len = strlen(s);
	if (w->pre)
		pre_text(w, s, len);
	else if (w->cell)
		cell_text(w, s, len);
	else
		rdb_tbuf_inline(w->b, s, len);
}

/* The text of a subtree, whitespace collapsed, for <title>; capped. */
static char *subtree_text(const GumboNode *root)
{
	rdb_tbuf t;
	rdb_tbuf_init(&t, TITLE_MAX);
	const GumboVector *ch = &root->v.element.children;
	for (unsigned i = 0; i < ch->length; i++) {
		const GumboNode *c = ch->data[i];
		if (c->type == GUMBO_NODE_TEXT || c->type == GUMBO_NODE_CDATA ||
		    c->type == GUMBO_NODE_WHITESPACE)
			rdb_tbuf_inline(&t, c->v.text.text, strlen(c->v.text.text));
	}
	while (t.n > 0 && t.p[t.n - 1] == ' ')
		t.p[--t.n] = 0;
	if (t.n == 0 || t.over < 0) {
		rdb_tbuf_free(&t);
		return NULL;
	}
	return t.p;
}

static void set_title(walker *w, char *t, int from_tag)
{
	if (!w->title || !t || (*w->title && (w->title_from_tag || !from_tag))) {
		free(t);
		return;
	}
	free(*w->title);
	*w->title = t;
	w->title_from_tag = from_tag;
}

static void enter(walker *w, frame *f)
{
	GumboNode *n = f->node;
	f->mark = w->b->n;
	if (n->type != GUMBO_NODE_ELEMENT)
		return;
	GumboTag t = n->v.element.tag;
	int lvl = heading_level(t);
	if (lvl && !w->cell && !w->pre && !w->heading) {
		rdb_tbuf_break(w->b, 1);
		static const char hashes[] = "###### ";
		rdb_tbuf_add(w->b, hashes + 6 - lvl, (size_t)lvl + 1);
		f->mark = w->b->n;
		w->heading = lvl;
		return;
	}
	switch (t) {
	case GUMBO_TAG_BR:
		brk(w, 0);
		return;
	case GUMBO_TAG_LI:
		brk(w, 0);
		if (!w->pre && !w->heading && !w->cell)
			rdb_tbuf_add(w->b, "- ", 2);
		return;
	case GUMBO_TAG_DT: case GUMBO_TAG_DD:
		brk(w, 0);
		return;
	case GUMBO_TAG_PRE:
		if (w->pre || w->heading || w->cell) {
			brk(w, 0);
			return;
		}
		rdb_tbuf_break(w->b, 1);
		rdb_tbuf_add(w->b, "```\n", 4);
		f->mark = w->b->n;
		w->pre = 1;
		return;
	case GUMBO_TAG_TR:
		if (w->cell || w->pre || w->heading)
			return;
		rdb_tbuf_break(w->b, 0);
		f->mark = w->b->n;
		rdb_tbuf_addc(w->b, '|');
		return;
	case GUMBO_TAG_TD: case GUMBO_TAG_TH:
		if (w->cell || w->pre || w->heading) {
			rdb_tbuf_inline(w->b, " ", 1);
		} else {
			rdb_tbuf_addc(w->b, ' ');
			w->cell = 1;
		}
		return;
	case GUMBO_TAG_TABLE:
		if (w->cell || w->pre || w->heading)
			return;
		rdb_tbuf_break(w->b, 1);
		w->table_rows = 0;
		return;
	case GUMBO_TAG_IMG: {
		GumboAttribute *alt = gumbo_get_attribute(&n->v.element.attributes, "alt");
		if (alt && *alt->value) {
			if (w->cell)
				cell_text(w, alt->value, strlen(alt->value));
			else
				rdb_tbuf_inline(w->b, alt->value, strlen(alt->value));
		}
		return;
	}
	default:
		if (block_tag(t))
			brk(w, 1);
		else if (t == GUMBO_TAG_TD || t == GUMBO_TAG_TH)
			rdb_tbuf_inline(w->b, " ", 1);
		return;
	}
}

/* The frame of the innermost TR (for counting cells), or NULL. */
static frame *row_frame(walker *w)
{
	for (size_t i = w->n; i-- > 0;) {
		const GumboNode *n = w->st[i].node;
		if (n->type == GUMBO_NODE_ELEMENT && n->v.element.tag == GUMBO_TAG_TR)
			return &w->st[i];
		if (n->type == GUMBO_NODE_ELEMENT && n->v.element.tag == GUMBO_TAG_TABLE)
			return NULL;
	}
	return NULL;
}

static void leave(walker *w, frame *f)
{
	GumboNode *n = f->node;
	if (n->type != GUMBO_NODE_ELEMENT)
		return;
	GumboTag t = n->v.element.tag;
	int lvl = heading_level(t);
	if (lvl && w->heading == lvl && !w->cell && !w->pre) {
		/* heading text: drop trailing space; an empty heading is removed */
		while (w->b->n > f->mark && w->b->p[w->b->n - 1] == ' ')
			w->b->p[--w->b->n] = 0;
		if (!w->b->over && w->b->n == f->mark) {
			w->b->n = f->mark - (size_t)lvl - 1;
			w->b->p[w->b->n] = 0;
		} else if (!w->b->over && lvl == 1 && w->title && !*w->title) {
			size_t tl = w->b->n - f->mark;
			if (tl > TITLE_MAX)
				tl = TITLE_MAX;
			char *tt = strndup(w->b->p + f->mark, tl);
			set_title(w, tt, 0);
		}
		w->heading = 0;
		rdb_tbuf_break(w->b, 1);
		return;
	}
	switch (t) {
	case GUMBO_TAG_PRE:
		if (!w->pre)
			return;
		if (w->b->n > f->mark && w->b->p[w->b->n - 1] != '\n')
			rdb_tbuf_addc(w->b, '\n');
		/* the enter/leave of nested pre never set w->pre: this is ours */
		if (w->b->n == f->mark && !w->b->over) { /* empty: drop the fence */
			w->b->n = f->mark - 4;
			w->b->p[w->b->n] = 0;
		} else {
			rdb_tbuf_add(w->b, "```\n", 4);
		}
		w->pre = 0;
		rdb_tbuf_break(w->b, 1);
		return;
	case GUMBO_TAG_TD: case GUMBO_TAG_TH: {
		if (w->pre || w->heading)
			return;
		/* only the outermost cell ends a cell */
		int outer = 1;
		for (size_t i = 0; i + 1 < w->n; i++) {
			const GumboNode *a = w->st[i].node;
			if (a->type == GUMBO_NODE_ELEMENT &&
			    (a->v.element.tag == GUMBO_TAG_TD || a->v.element.tag == GUMBO_TAG_TH))
				outer = 0;
		}
		if (!outer)
			return;
		while (w->b->n > 0 && w->b->p[w->b->n - 1] == ' ')
			w->b->p[--w->b->n] = 0;
		rdb_tbuf_add(w->b, " |", 2);
		w->cell = 0;
		frame *r = row_frame(w);
		if (r)
			r->cells++;
		return;
	}
	case GUMBO_TAG_TR:
		if (w->cell || w->pre || w->heading)
			return;
		if (f->cells == 0 && !w->b->over) { /* no cells: no row */
			w->b->n = f->mark;
			w->b->p[w->b->n] = 0;
			return;
		}
		rdb_tbuf_addc(w->b, '\n');
		if (w->table_rows++ == 0) {
			rdb_tbuf_addc(w->b, '|');
			for (int i = 0; i < f->cells && i < 1000; i++)
				rdb_tbuf_add(w->b, " --- |", 6);
			rdb_tbuf_addc(w->b, '\n');
		}
		return;
	case GUMBO_TAG_TABLE:
		if (w->cell || w->pre || w->heading)
			return;
		rdb_tbuf_break(w->b, 1);
		w->table_rows = 0;
		return;
	case GUMBO_TAG_LI: case GUMBO_TAG_DT: case GUMBO_TAG_DD:
		brk(w, 0);
		return;
	default:
		if (block_tag(t))
			brk(w, 1);
		return;
	}
}

static int push(walker *w, GumboNode *n)
{
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		frame *s = realloc(w->st, cap * sizeof *s);
		if (!s)
			return -1;
		w->st = s;
		w->cap = cap;
	}
	w->st[w->n++] = (frame){ n, 0, 0, 0 };
	enter(w, &w->st[w->n - 1]);
	return 0;
}

static ragdb_status walk(walker *w, GumboNode *root, rdb_err *err)
{
	if (push(w, root))
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory converting HTML");
	while (w->n > 0 && !w->b->over) {
		frame *f = &w->st[w->n - 1];
		GumboNode *n = f->node;
		const GumboVector *ch = NULL;
		if (n->type == GUMBO_NODE_ELEMENT || n->type == GUMBO_NODE_TEMPLATE)
			ch = &n->v.element.children;
		else if (n->type == GUMBO_NODE_DOCUMENT)
			ch = &n->v.document.children;
		if (!ch || f->next >= ch->length) {
			leave(w, f);
			w->n--;
			continue;
		}
		GumboNode *c = ch->data[f->next++];
		if (c->type == GUMBO_NODE_ELEMENT && c->v.element.tag == GUMBO_TAG_TITLE) {
			set_title(w, subtree_text(c), 1);
			continue;
		}
		if (c->type == GUMBO_NODE_ELEMENT && c->v.element.tag == GUMBO_TAG_HEAD) {
			/* only the title is wanted from the head */
			const GumboVector *hc = &c->v.element.children;
			for (unsigned i = 0; i < hc->length; i++) {
				GumboNode *x = hc->data[i];
				if (x->type == GUMBO_NODE_ELEMENT && x->v.element.tag == GUMBO_TAG_TITLE)
					set_title(w, subtree_text(x), 1);
			}
			continue;
		}
		if (dropped(c))
			continue;
		if (c->type == GUMBO_NODE_TEXT || c->type == GUMBO_NODE_CDATA ||
		    c->type == GUMBO_NODE_WHITESPACE) {
			text_node(w, c);
			continue;
		}
		if (push(w, c))
			return rdb_err_set(err, RAGDB_ENOMEM, "out of memory converting HTML");
	}
	return RAGDB_OK;
}

ragdb_status rdb_html_append(const char *data, size_t len, rdb_tbuf *b, char **title, rdb_err *err)
{
	if (len > RDB_READER_MAX_HTML)
		return rdb_err_set(err, RAGDB_EBADINPUT,
		                   "HTML of %zu MiB is over the %zu MiB limit; split the document",
		                   len >> 20, RDB_READER_MAX_HTML >> 20);
	size_t at = depth_scan(data, len);
	if (at)
		return rdb_err_set(err, RAGDB_EBADINPUT,
		                   "HTML elements nested more than %d deep (at byte %zu); refused, "
		                   "since parsing such a document takes very long",
		                   RDB_READER_MAX_DEPTH, at);
	/* The arena's address is given to gumbo, so it lives in memory and is
	 * intact after a longjmp; nothing else is changed between setjmp and it. */
	arena ar;
	arena_init(&ar);
	GumboOptions opts = kGumboDefaultOptions;
	opts.max_errors = 0;
	opts.allocator = arena_alloc;
	opts.deallocator = arena_free;
	opts.userdata = &ar;
	jmp_buf oom;
	if (setjmp(oom)) {
		arena_release(&ar);
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory parsing HTML");
	}
	ar.oom = &oom;
	GumboOutput *out = gumbo_parse_with_options(&opts, data, len);
	ar.oom = NULL;
	if (!out) {
		arena_release(&ar);
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory parsing HTML");
	}
	walker w = { .b = b, .title = title };
	ragdb_status st = walk(&w, out->document, err);
	free(w.st);
	gumbo_destroy_output(&opts, out);
	arena_release(&ar);
	if (st == RAGDB_OK)
		rdb_tbuf_break(b, 1);
	return st;
}

ragdb_status rdb_html_convert(const char *data, size_t len, rdb_converted *out, rdb_err *err)
{
	rdb_tbuf b;
	rdb_tbuf_init(&b, RDB_READER_MAX_TEXT);
	char *title = NULL;
	ragdb_status st = rdb_html_append(data, len, &b, &title, err);
	if (st == RAGDB_OK)
		st = rdb_tbuf_status(&b, "the HTML", err);
	if (st != RAGDB_OK) {
		rdb_tbuf_free(&b);
		free(title);
		return st;
	}
	*out = (rdb_converted){ b.p, b.n, title, RAGDB_FORMAT_MARKDOWN };
	return RAGDB_OK;
}
