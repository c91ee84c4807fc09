/*
 * ingest/read_csv.c — CSV and TSV files as records: one document per row,
 * fields named by the header row (RFC 4180 quoting).
 *
 * One row is parsed at a time into a scratch buffer (unescaped fields, each
 * NUL-ended), so memory is bounded by the largest row (capped at
 * ROW_MAX) plus the set of ids seen. A quoted field may span lines; the
 * record's line is the line its row starts on.
 */
#include "ingest/readers.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ingest/strset.h"

#define ROW_MAX ((size_t)256 << 20)
#define MAX_COLUMNS 10000

typedef struct csv {
	const char *s;
	size_t len, pos, line;
	char delim;
	rdb_tbuf scratch;      /* the row's fields, unescaped, NUL-separated */
	size_t *offs;          /* field starts in scratch */
	size_t nf, cap;
} csv;

enum { ROW_OK = 0, ROW_EOF = 1, ROW_BAD = 2, ROW_NOMEM = 3 };

static int push_field(csv *c)
{
	if (c->nf == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		size_t *o = realloc(c->offs, cap * sizeof *o);
		if (!o)
			return -1;
		c->offs = o;
		c->cap = cap;
	}
	c->offs[c->nf++] = c->scratch.n;
	return 0;
}

/* Parse the next row. ROW_BAD sets *msg (static text). */
static int next_row(csv *c, size_t *row_line, const char **msg)
{
	c->scratch.n = 0;
	c->scratch.over = 0;
	c->nf = 0;
	/* skip blank lines */
	while (c->pos < c->len && (c->s[c->pos] == '\n' || c->s[c->pos] == '\r')) {
		if (c->s[c->pos] == '\n')
			c->line++;
		c->pos++;
	}
	if (c->pos >= c->len)
		return ROW_EOF;
	*row_line = c->line;
	for (;;) {
		if (c->nf >= MAX_COLUMNS) {
			*msg = "more than 10000 fields in a row";
			goto bad_line;
		}
		if (push_field(c))
			return ROW_NOMEM;
		if (c->pos < c->len && c->s[c->pos] == '"') {
			size_t open_line = c->line;
			c->pos++;
			for (;;) {
				if (c->pos >= c->len) {
					(void)open_line;
					*msg = "unterminated quoted field (a '\"' is never closed)";
					return ROW_BAD;
				}
				const char *q = memchr(c->s + c->pos, '"', c->len - c->pos);
				size_t e = q ? (size_t)(q - c->s) : c->len;
				for (size_t k = c->pos; k < e; k++)
					c->line += c->s[k] == '\n';
				rdb_tbuf_add(&c->scratch, c->s + c->pos, e - c->pos);
				c->pos = e;
				if (!q)
					continue;
				if (e + 1 < c->len && c->s[e + 1] == '"') { /* "" */
					rdb_tbuf_addc(&c->scratch, '"');
					c->pos = e + 2;
					continue;
				}
				c->pos = e + 1;
				break;
			}
		}
		/* unquoted part (or what follows a closing quote, kept leniently) */
		size_t a = c->pos;
		while (c->pos < c->len && c->s[c->pos] != c->delim && c->s[c->pos] != '\n')
			c->pos++;
		size_t b = c->pos;
		if (b > a && c->s[b - 1] == '\r' && (b == c->len || c->s[b] == '\n'))
			b--;
		rdb_tbuf_add(&c->scratch, c->s + a, b - a);
		rdb_tbuf_addc(&c->scratch, 0);
		if (c->scratch.over)
			break;
		if (c->pos < c->len && c->s[c->pos] == c->delim) {
			c->pos++;
			continue;
		}
		if (c->pos < c->len) { /* '\n' */
			c->pos++;
			c->line++;
		}
		break;
	}
	if (c->scratch.over < 0)
		return ROW_NOMEM;
	if (c->scratch.over) {
		*msg = "row longer than 256 MiB";
		goto bad_line;
	}
	return ROW_OK;

bad_line: /* resume at the next line */
	while (c->pos < c->len && c->s[c->pos] != '\n')
		c->pos++;
	if (c->pos < c->len) {
		c->pos++;
		c->line++;
	}
	return ROW_BAD;
}

static const char *field(const csv *c, size_t i)
{
	return i < c->nf ? c->scratch.p + c->offs[i] : "";
}

static char sniff_delim(const char *s, size_t len)
{
	static const char cands[] = { ',', '\t', ';', '|' };
	size_t counts[4] = { 0 };
	int inq = 0;
	for (size_t i = 0; i < len && (inq || s[i] != '\n'); i++) {
		if (s[i] == '"')
			inq = !inq;
		else if (!inq)
			for (int k = 0; k < 4; k++)
				counts[k] += s[i] == cands[k];
	}
	int best = 0;
	for (int k = 1; k < 4; k++)
		if (counts[k] > counts[best])
			best = k;
	return cands[best];
}

/* Whether @p s is a JSON number literal. */
static int json_number(const char *s)
{
	const char *p = s;
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return 0;
	if (*p == '.') {
		p++;
		if (!(*p >= '0' && *p <= '9'))
			return 0;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return 0;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return *p == 0 && p - s < 64;
}

typedef struct header {
	char **names;
	unsigned char *meta;      /* per column: 1 = goes into the metadata */
	size_t n;
	size_t id, text, title;   /* column indices, SIZE_MAX = none */
} header;

static void header_free(header *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->names[i]);
	free(h->names);
	free(h->meta);
}

static size_t column(const header *h, const char *name)
{
	for (size_t i = 0; i < h->n; i++)
		if (strcmp(h->names[i], name) == 0)
			return i;
	for (size_t i = 0; i < h->n; i++)
		if (strcasecmp(h->names[i], name) == 0)
			return i;
	return SIZE_MAX;
}

static ragdb_status missing(const header *h, const char *what, const char *name, const char *opt,
                            rdb_err *err)
{
	char cols[600];
	size_t o = 0;
	cols[0] = 0;
	for (size_t i = 0; i < h->n && o + 4 < sizeof cols; i++)
		o += (size_t)snprintf(cols + o, sizeof cols - o, "%s%s", i ? ", " : "", h->names[i]);
	if (o >= sizeof cols)
		memcpy(cols + sizeof cols - 4, "...", 4);
	return rdb_err_set(err, RAGDB_EBADINPUT,
	                   "line 1: no column named \"%.100s\" for the %s; the columns are: %s "
	                   "(name another with %s)", name, what, cols, opt);
}

static ragdb_status read_header(csv *c, const rdb_csv_fields *f, header *h, rdb_err *err)
{
	size_t line;
	const char *msg = NULL;
	int r = next_row(c, &line, &msg);
	if (r == ROW_NOMEM)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory reading the CSV header");
	if (r == ROW_BAD)
		return rdb_err_set(err, RAGDB_EBADINPUT, "line %zu: bad header row: %s", line, msg);
	if (r == ROW_EOF)
		return RAGDB_OK; /* no header, no rows */
	h->names = calloc(c->nf, sizeof *h->names);
	if (!h->names)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory reading the CSV header");
	for (size_t i = 0; i < c->nf; i++) {
		const char *name = field(c, i);
		while (*name == ' ')
			name++;
		h->names[i] = strdup(name);
		if (!h->names[i])
			return rdb_err_set(err, RAGDB_ENOMEM, "out of memory reading the CSV header");
		h->n++;
		size_t l = strlen(h->names[i]);
		while (l > 0 && h->names[i][l - 1] == ' ')
			h->names[i][--l] = 0;
	}
	h->id = column(h, f->id_field ? f->id_field : "id");
	h->text = column(h, f->text_field ? f->text_field : "text");
	h->title = column(h, f->title_field ? f->title_field : "title");
	if (f->id_field && h->id == SIZE_MAX)
		return missing(h, "id", f->id_field, "--id-field", err);
	if (f->text_field && h->text == SIZE_MAX)
		return missing(h, "text", f->text_field, "--text-field", err);
	if (f->title_field && h->title == SIZE_MAX)
		return missing(h, "title", f->title_field, "--title-field", err);
	/* metadata columns: named, not id/text/title, the first of a name */
	h->meta = calloc(h->n + 1, 1);
	rdb_strset seen = { 0 };
	ragdb_status st = h->meta ? RAGDB_OK
	                          : rdb_err_set(err, RAGDB_ENOMEM, "out of memory reading the CSV header");
	for (size_t i = 0; i < h->n && st == RAGDB_OK; i++) {
		if (i == h->id || i == h->text || i == h->title || !h->names[i][0])
			continue;
		int added = rdb_strset_add(&seen, h->names[i], NULL, NULL);
		if (added < 0)
			st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory reading the CSV header");
		h->meta[i] = added == 1;
	}
	rdb_strset_free(&seen);
	return st;
}

/* The other columns as a JSON object; NULL when there are none. */
static char *row_meta(const csv *c, const header *h, int *oom)
{
	cJSON *o = cJSON_CreateObject();
	if (!o) {
		*oom = 1;
		return NULL;
	}
	int n = 0;
	for (size_t i = 0; i < h->n && i < c->nf; i++) {
		if (!h->meta[i])
			continue;
		const char *v = field(c, i);
		if (!*v)
			continue;
		cJSON *item = json_number(v) ? cJSON_CreateRaw(v) : cJSON_CreateString(v);
		if (!item || !cJSON_AddItemToObject(o, h->names[i], item)) {
			cJSON_Delete(item);
			cJSON_Delete(o);
			*oom = 1;
			return NULL;
		}
		n++;
	}
	char *s = n ? cJSON_PrintUnformatted(o) : NULL;
	if (n && !s)
		*oom = 1;
	cJSON_Delete(o);
	return s;
}

/* Every column but the id as "name: value" lines. */
static void all_columns(const csv *c, const header *h, rdb_tbuf *t)
{
	t->n = 0;
	t->over = 0;
	for (size_t i = 0; i < h->n && i < c->nf; i++) {
		const char *v = field(c, i);
		if (i == h->id || !*v)
			continue;
		if (t->n)
			rdb_tbuf_addc(t, '\n');
		rdb_tbuf_adds(t, h->names[i]);
		rdb_tbuf_add(t, ": ", 2);
		rdb_tbuf_adds(t, v);
	}
	rdb_tbuf_addc(t, 0);
	if (t->n)
		t->n--;
}

ragdb_status rdb_csv_each(const char *data, size_t len, const rdb_csv_fields *f, int skip_bad,
                          int (*on_record)(void *ctx, const rdb_record *r),
                          void (*on_bad)(void *ctx, size_t line, const char *msg), void *ctx,
                          rdb_err *err)
{
	static const rdb_csv_fields none;
	if (!f)
		f = &none;
	csv c = { .s = data, .len = len, .line = 1 };
	if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
		c.pos = 3;
	c.delim = sniff_delim(data + c.pos, len - c.pos);
	rdb_tbuf_init(&c.scratch, ROW_MAX);
	rdb_tbuf text;
	rdb_tbuf_init(&text, ROW_MAX);
	header h = { NULL, NULL, 0, SIZE_MAX, SIZE_MAX, SIZE_MAX };
	rdb_strset ids = { 0 };
	char idbuf[64];
	char *idp = NULL;
	size_t row = 0;
	ragdb_status st = read_header(&c, f, &h, err);
	while (st == RAGDB_OK) {
		size_t line = c.line;
		const char *msg = NULL;
		int r = next_row(&c, &line, &msg);
		if (r == ROW_EOF)
			break;
		if (r == ROW_NOMEM) {
			st = rdb_err_set(err, RAGDB_ENOMEM, "line %zu: out of memory", line);
			break;
		}
		row++;
		char why[300];
		if (r == ROW_OK && c.nf > h.n) {
			snprintf(why, sizeof why, "the row has %zu fields, the header %zu", c.nf, h.n);
			msg = why;
			r = ROW_BAD;
		}
		const char *id = NULL;
		if (r == ROW_OK) {
			if (h.id != SIZE_MAX) {
				id = field(&c, h.id);
				if (!*id) {
					msg = "empty id";
					r = ROW_BAD;
				}
			} else {
				free(idp);
				idp = NULL;
				if (f->id_prefix) {
					size_t pl = strlen(f->id_prefix);
					idp = malloc(pl + 24);
					if (idp)
						snprintf(idp, pl + 24, "%s:%zu", f->id_prefix, row);
					id = idp;
				} else {
					snprintf(idbuf, sizeof idbuf, "%zu", row);
					id = idbuf;
				}
				if (!id) {
					st = rdb_err_set(err, RAGDB_ENOMEM, "line %zu: out of memory", line);
					break;
				}
			}
		}
		if (r == ROW_OK) {
			char lb[32];
			snprintf(lb, sizeof lb, "%zu", line);
			const char *first = NULL;
			int added = rdb_strset_add(&ids, id, lb, &first);
			if (added < 0) {
				st = rdb_err_set(err, RAGDB_ENOMEM, "line %zu: out of memory tracking ids", line);
				break;
			}
			if (added == 0) {
				snprintf(why, sizeof why, "duplicate id \"%.200s\" (first seen on line %s)", id,
				         first ? first : "?");
				msg = why;
				r = ROW_BAD;
			}
		}
		if (r == ROW_BAD) {
			if (!skip_bad) {
				st = rdb_err_set(err, RAGDB_EBADINPUT, "line %zu: %s", line, msg);
				break;
			}
			if (on_bad)
				on_bad(ctx, line, msg);
			if (c.pos >= c.len && strstr(msg, "unterminated"))
				break;
			continue;
		}
		rdb_record rec = { .id = id, .line = line };
		if (h.text != SIZE_MAX) {
			rec.text = field(&c, h.text);
			rec.text_len = strlen(rec.text);
		} else {
			all_columns(&c, &h, &text);
			if (text.over < 0) {
				st = rdb_err_set(err, RAGDB_ENOMEM, "line %zu: out of memory", line);
				break;
			}
			rec.text = text.p ? text.p : "";
			rec.text_len = text.n;
		}
		if (h.title != SIZE_MAX && *field(&c, h.title))
			rec.title = field(&c, h.title);
		int oom = 0;
		char *meta = row_meta(&c, &h, &oom);
		if (oom) {
			st = rdb_err_set(err, RAGDB_ENOMEM, "line %zu: out of memory", line);
			break;
		}
		rec.meta_json = meta;
		int stop = on_record(ctx, &rec);
		free(meta);
		if (stop)
			st = rdb_err_set(err, RAGDB_EINTR, "stopped at line %zu", line);
	}
	free(idp);
	rdb_strset_free(&ids);
	header_free(&h);
	rdb_tbuf_free(&c.scratch);
	rdb_tbuf_free(&text);
	free(c.offs);
	return st;
}
