/*
 * ingest/read_epub.c — EPUB to Markdown-like text: META-INF/container.xml
 * names the package (OPF) document; its manifest maps ids to files and its
 * spine gives the reading order; each spine document (XHTML) goes through
 * the HTML reader, one after another. The title is the package's dc:title,
 * else the first chapter's.
 *
 * Three passes over the archive (container, package, chapters), all within
 * one inflate budget; spine entries that are missing or not (X)HTML are
 * skipped. Hrefs are resolved against the package's directory
 * ("../" segments, "./", %-escapes, #fragments).
 */
#include "ingest/readers.h"

#include <stdlib.h>
#include <string.h>

#include "ingest/xmlutil.h"

#define MAX_SPINE 20000

typedef struct item {
	char *id, *href, *type;
} item;

typedef struct package {
	item *items;
	size_t n_items, cap_items;
	char **spine;          /* idrefs, in order */
	size_t n_spine, cap_spine;
	char *title;
} package;

static void package_free(package *p)
{
	for (size_t i = 0; i < p->n_items; i++) {
		free(p->items[i].id);
		free(p->items[i].href);
		free(p->items[i].type);
	}
	free(p->items);
	for (size_t i = 0; i < p->n_spine; i++)
		free(p->spine[i]);
	free(p->spine);
	free(p->title);
}

static int is(const char *a, const char *b)
{
	return a && strcmp(a, b) == 0;
}

/* The full-path of the first rootfile in container.xml. */
static ragdb_status container_rootfile(const char *data, size_t len, char **out, rdb_err *err)
{
	rdb_xml_err xe = {0};
	xmlTextReaderPtr r = rdb_xml_open(data, len, &xe);
	if (!r)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory reading container.xml");
	char *path = NULL;
	int rc;
	while (!path && (rc = xmlTextReaderRead(r)) == 1) {
		if (xmlTextReaderNodeType(r) == XML_READER_TYPE_ELEMENT &&
		    is((const char *)xmlTextReaderConstLocalName(r), "rootfile"))
			path = rdb_xml_attr(r, "full-path");
	}
	xmlFreeTextReader(r);
	if (!path && rc < 0)
		return rdb_xml_failed(&xe, "META-INF/container.xml", err);
	if (!path || !*path) {
		free(path);
		return rdb_err_set(err, RAGDB_EBADINPUT,
		                   "META-INF/container.xml names no rootfile; not an EPUB book");
	}
	*out = path;
	return RAGDB_OK;
}

static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 16;
	void *p = realloc(*arr, ncap * size);
	if (!p)
		return -1;
	*arr = p;
	*cap = ncap;
	return 0;
}

static ragdb_status opf_parse(const char *data, size_t len, package *p, rdb_err *err)
{
	rdb_xml_err xe = {0};
	xmlTextReaderPtr r = rdb_xml_open(data, len, &xe);
	if (!r)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory reading the package document");
	ragdb_status st = RAGDB_OK;
	int rc;
	while ((rc = xmlTextReaderRead(r)) == 1) {
		if (xmlTextReaderNodeType(r) != XML_READER_TYPE_ELEMENT)
			continue;
		const char *ln = (const char *)xmlTextReaderConstLocalName(r);
		if (is(ln, "title") && !p->title) {
			p->title = rdb_xml_text(r);
		} else if (is(ln, "item")) {
			if (p->n_items >= MAX_SPINE * 4)
				continue;
			if (grow((void **)&p->items, &p->cap_items, p->n_items, sizeof *p->items)) {
				st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory reading the package document");
				break;
			}
			item it = { rdb_xml_attr(r, "id"), rdb_xml_attr(r, "href"), rdb_xml_attr(r, "media-type") };
			if (!it.id || !it.href) {
				free(it.id);
				free(it.href);
				free(it.type);
				continue;
			}
			p->items[p->n_items++] = it;
		} else if (is(ln, "itemref")) {
			char *linear = rdb_xml_attr(r, "linear");
			int skip = linear && strcmp(linear, "no") == 0;
			free(linear);
			char *idref = skip ? NULL : rdb_xml_attr(r, "idref");
			if (!idref)
				continue;
			if (p->n_spine >= MAX_SPINE ||
			    grow((void **)&p->spine, &p->cap_spine, p->n_spine, sizeof *p->spine)) {
				free(idref);
				if (p->n_spine >= MAX_SPINE)
					continue;
				st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory reading the package document");
				break;
			}
			p->spine[p->n_spine++] = idref;
		}
	}
	xmlFreeTextReader(r);
	if (st == RAGDB_OK && rc < 0)
		st = rdb_xml_failed(&xe, "the package document", err);
	return st;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* @p href relative to directory @p dir ("" or ending in '/'), normalised;
 * NULL if it leaves the archive root or memory runs out. */
static char *resolve(const char *dir, const char *href)
{
	size_t dl = strlen(dir), hl = strcspn(href, "#?");
	char *joined = malloc(dl + hl + 1);
	if (!joined)
		return NULL;
	memcpy(joined, dir, dl);
	/* %-unescape the href */
	size_t o = dl;
	for (size_t i = 0; i < hl; i++) {
		int a, b;
		if (href[i] == '%' && i + 2 < hl && (a = hexval(href[i + 1])) >= 0 &&
		    (b = hexval(href[i + 2])) >= 0 && (a || b)) {
			joined[o++] = (char)(a * 16 + b);
			i += 2;
		} else {
			joined[o++] = href[i];
		}
	}
	joined[o] = 0;
	if (href[0] == '/') { /* absolute within the archive */
		memmove(joined, joined + dl + 1, o - dl);
		o -= dl + 1;
	}
	/* normalise segments in place */
	char *out = malloc(o + 1);
	if (!out) {
		free(joined);
		return NULL;
	}
	size_t w = 0, i = 0;
	while (i < o) {
		size_t j = i;
		while (j < o && joined[j] != '/')
			j++;
		size_t sl = j - i;
		if (sl == 0 || (sl == 1 && joined[i] == '.')) {
			/* skip */
		} else if (sl == 2 && joined[i] == '.' && joined[i + 1] == '.') {
			if (w == 0) {
				free(joined);
				free(out);
				return NULL;
			}
			w--;
			while (w > 0 && out[w - 1] != '/')
				w--;
		} else {
			memcpy(out + w, joined + i, sl);
			w += sl;
			if (j < o)
				out[w++] = '/';
		}
		i = j + 1;
	}
	while (w > 0 && out[w - 1] == '/')
		w--;
	out[w] = 0;
	free(joined);
	return out;
}

typedef struct chapters {
	char **paths;          /* spine order; NULL = skipped (or a repeat) */
	size_t n;
	rdb_zip_entry *got;    /* by spine index */
	size_t *order;         /* indices of non-NULL paths, sorted by path */
	size_t n_order;
} chapters;

static int cmp_path(const void *a, const void *b, void *ctx)
{
	const chapters *c = ctx;
	return strcmp(c->paths[*(const size_t *)a], c->paths[*(const size_t *)b]);
}

/* The spine index holding @p name, or SIZE_MAX. */
static size_t ch_find(const chapters *c, const char *name)
{
	size_t lo = 0, hi = c->n_order;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = strcmp(c->paths[c->order[mid]], name);
		if (d == 0)
			return c->order[mid];
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return SIZE_MAX;
}

/* Sort the paths for lookup; a chapter listed twice is read once. */
static void ch_index(chapters *c)
{
	c->n_order = 0;
	for (size_t i = 0; i < c->n; i++)
		if (c->paths[i])
			c->order[c->n_order++] = i;
	qsort_r(c->order, c->n_order, sizeof *c->order, cmp_path, c);
	size_t w = 0;
	for (size_t i = 0; i < c->n_order; i++) {
		if (w > 0 && strcmp(c->paths[c->order[w - 1]], c->paths[c->order[i]]) == 0) {
			free(c->paths[c->order[i]]);
			c->paths[c->order[i]] = NULL;
			continue;
		}
		c->order[w++] = c->order[i];
	}
	c->n_order = w;
}

static int ch_want(void *ctx, const char *name)
{
	chapters *c = ctx;
	size_t i = ch_find(c, name);
	return i != SIZE_MAX && !c->got[i].data;
}

static int ch_got(void *ctx, rdb_zip_entry *e)
{
	chapters *c = ctx;
	size_t i = ch_find(c, e->name);
	if (i != SIZE_MAX && !c->got[i].data) {
		c->got[i] = *e;
		return 0;
	}
	free(e->name);
	free(e->data);
	return 0;
}

static int cmp_item(const void *a, const void *b)
{
	return strcmp(((const item *)a)->id, ((const item *)b)->id);
}

static int html_type(const char *type, const char *path)
{
	if (type)
		return strstr(type, "html") != NULL;
	const char *dot = strrchr(path, '.');
	return dot && (strcmp(dot, ".xhtml") == 0 || strcmp(dot, ".html") == 0 ||
	               strcmp(dot, ".htm") == 0);
}

ragdb_status rdb_epub_convert(const char *data, size_t len, rdb_converted *out, rdb_err *err)
{
	rdb_zip z;
	rdb_zip_init(&z, data, len);
	char *container = NULL, *rootfile = NULL, *opf = NULL, *dir = NULL;
	size_t clen = 0, olen = 0;
	package p = {0};
	chapters c = {0};
	rdb_tbuf b;
	rdb_tbuf_init(&b, RDB_READER_MAX_TEXT);
	char *title = NULL;
	ragdb_status st = rdb_zip_get(&z, "META-INF/container.xml", &container, &clen, err);
	if (st == RAGDB_ENOTFOUND)
		st = rdb_err_set(err, RAGDB_EBADINPUT,
		                 "no META-INF/container.xml in the archive; not an EPUB book");
	if (st == RAGDB_OK)
		st = container_rootfile(container, clen, &rootfile, err);
	if (st == RAGDB_OK) {
		st = rdb_zip_get(&z, rootfile, &opf, &olen, err);
		if (st == RAGDB_ENOTFOUND)
			st = rdb_err_set(err, RAGDB_EBADINPUT,
			                 "the package document %.300s named by container.xml is missing",
			                 rootfile);
	}
	if (st == RAGDB_OK)
		st = opf_parse(opf, olen, &p, err);
	if (st != RAGDB_OK)
		goto out;
	const char *slash = strrchr(rootfile, '/');
	dir = strndup(rootfile, slash ? (size_t)(slash - rootfile) + 1 : 0);
	c.paths = calloc(p.n_spine + 1, sizeof *c.paths);
	c.got = calloc(p.n_spine + 1, sizeof *c.got);
	c.order = calloc(p.n_spine + 1, sizeof *c.order);
	if (!dir || !c.paths || !c.got || !c.order) {
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory reading the EPUB book");
		goto out;
	}
	c.n = p.n_spine;
	if (p.n_items > 0)
		qsort(p.items, p.n_items, sizeof *p.items, cmp_item);
	for (size_t i = 0; i < p.n_spine; i++) {
		item key = { p.spine[i], NULL, NULL };
		const item *it = p.n_items ? bsearch(&key, p.items, p.n_items, sizeof *p.items, cmp_item)
		                           : NULL;
		if (it && html_type(it->type, it->href))
			c.paths[i] = resolve(dir, it->href);
	}
	ch_index(&c);
	st = rdb_zip_read(&z, ch_want, ch_got, &c, err);
	for (size_t i = 0; i < c.n && st == RAGDB_OK; i++) {
		if (!c.got[i].data)
			continue;
		char **tp = p.title || title ? NULL : &title;
		st = rdb_html_append(c.got[i].data, c.got[i].len, &b, tp, err);
		if (st != RAGDB_OK)
			rdb_err_prefix(err, "%.300s", c.got[i].name);
		if (st == RAGDB_OK)
			st = rdb_tbuf_status(&b, "the EPUB book", err);
	}
	if (st != RAGDB_OK)
		goto out;
	*out = (rdb_converted){ b.p, b.n, p.title ? p.title : title, RAGDB_FORMAT_MARKDOWN };
	if (p.title)
		p.title = NULL;
	else
		title = NULL;
	b.p = NULL;
out:
	for (size_t i = 0; i < c.n; i++) {
		free(c.paths[i]);
		free(c.got[i].name);
		free(c.got[i].data);
	}
	free(c.paths);
	free(c.got);
	free(c.order);
	free(title);
	free(dir);
	free(container);
	free(rootfile);
	free(opf);
	package_free(&p);
	rdb_tbuf_free(&b);
	return st;
}
