/*
 * ingest/jsonl.c — JSONL (and JSON array) records: one document per JSON
 * object, with configurable id/text/title fields; every other top-level
 * field becomes the document's metadata.
 *
 * Accepted shapes: one object per line (CRLF endings, a UTF-8 BOM and blank
 * lines are fine); a file whose first non-blank byte is '[' — one array of
 * objects, split element by element so only one record is parsed at a time;
 * and, as a courtesy for ".json" files, a file that starts with a
 * pretty-printed object spanning lines (one or more such objects in a row).
 *
 * Memory: records are handed to the callback one at a time; what grows with
 * the file is only the set of ids seen (to report duplicates).
 */
#include "ingest/ingest.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* A record (line or array element) larger than this is refused: cJSON
 * needs several times the text in memory, and no sane record is this big. */
#define RDB_JSONL_MAX_RECORD ((size_t)256 << 20)

/* Ids seen so far: open addressing on XXH3, linear probing, load <= 1/2. */
typedef struct id_slot {
	uint64_t h;
	char *id;     /* NULL: empty slot */
	size_t line;
} id_slot;

typedef struct id_set {
	id_slot *t;
	size_t cap, n;
} id_set;

/* Insert @p id: 0 if new, else the line it was first seen on; (size_t)-1
 * when memory runs out. */
static size_t ids_add(id_set *s, const char *id, size_t line)
{
	if ((s->n + 1) * 2 > s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 1024;
		if (ncap > SIZE_MAX / sizeof(id_slot))
			return (size_t)-1;
		id_slot *nt = calloc(ncap, sizeof *nt);
		if (!nt)
			return (size_t)-1;
		for (size_t i = 0; i < s->cap; i++) {
			if (!s->t[i].id)
				continue;
			size_t k = (size_t)s->t[i].h & (ncap - 1);
			while (nt[k].id)
				k = (k + 1) & (ncap - 1);
			nt[k] = s->t[i];
		}
		free(s->t);
		s->t = nt;
		s->cap = ncap;
	}
	size_t len = strlen(id);
	uint64_t h = XXH3_64bits(id, len);
	size_t k = (size_t)h & (s->cap - 1);
	while (s->t[k].id) {
		if (s->t[k].h == h && strcmp(s->t[k].id, id) == 0)
			return s->t[k].line;
		k = (k + 1) & (s->cap - 1);
	}
	char *copy = malloc(len + 1);
	if (!copy)
		return (size_t)-1;
	memcpy(copy, id, len + 1);
	s->t[k] = (id_slot){ h, copy, line };
	s->n++;
	return 0;
}

static void ids_free(id_set *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->t[i].id);
	free(s->t);
}

typedef struct jctx {
	const char *id_field, *text_field, *title_field;
	int id_default; /* id_field not given: try "id" then "_id" */
	int skip_bad;
	int (*on_record)(void *ctx, const rdb_record *r);
	void (*on_bad)(void *ctx, size_t line, const char *msg);
	void *ctx;
	rdb_err *err;
	id_set ids;
} jctx;

/* A bad record: reported to on_bad (and RAGDB_OK) under skip_bad, else
 * RAGDB_EBADINPUT with "line N: ...". */
static ragdb_status bad(jctx *j, size_t line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static ragdb_status bad(jctx *j, size_t line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (j->skip_bad) {
		if (j->on_bad)
			j->on_bad(j->ctx, line, msg);
		return RAGDB_OK;
	}
	return rdb_err_set(j->err, RAGDB_EBADINPUT, "line %zu: %s", line, msg);
}

static const char *type_name(const cJSON *v)
{
	if (cJSON_IsString(v))
		return "a string";
	if (cJSON_IsNumber(v))
		return "a number";
	if (cJSON_IsBool(v))
		return "a boolean";
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsArray(v))
		return "an array";
	if (cJSON_IsObject(v))
		return "an object";
	return "something else";
}

/* Turn a parsed object into a record and hand it over. Takes @p root. */
static ragdb_status emit(jctx *j, cJSON *root, size_t line)
{
	ragdb_status st = RAGDB_OK;
	char *meta_txt = NULL;
	cJSON *meta = NULL;

	if (!cJSON_IsObject(root)) {
		st = bad(j, line, "expected a JSON object, found %s", type_name(root));
		goto out_free_root;
	}
	cJSON *idv = cJSON_GetObjectItemCaseSensitive(root, j->id_field);
	if (!idv && j->id_default)
		idv = cJSON_GetObjectItemCaseSensitive(root, "_id");
	if (!idv) {
		st = j->id_default
		     ? bad(j, line, "no \"id\" or \"_id\" field (use --id-field to name it)")
		     : bad(j, line, "no \"%s\" field (use --id-field to name it)", j->id_field);
		goto out_free_root;
	}
	char numid[64];
	const char *id;
	if (cJSON_IsString(idv)) {
		id = idv->valuestring;
	} else if (cJSON_IsNumber(idv)) {
		double d = idv->valuedouble;
		if (d >= -9.2e18 && d <= 9.2e18 && (double)(long long)d == d)
			snprintf(numid, sizeof numid, "%lld", (long long)d);
		else
			snprintf(numid, sizeof numid, "%.17g", d);
		id = numid;
	} else {
		st = bad(j, line, "\"%s\" must be a string or a number, found %s", idv->string,
		         type_name(idv));
		goto out_free_root;
	}
	if (!*id) {
		st = bad(j, line, "\"%s\" is empty; every record needs an id", idv->string);
		goto out_free_root;
	}
	cJSON *textv = cJSON_GetObjectItemCaseSensitive(root, j->text_field);
	if (!textv) {
		st = bad(j, line, "no \"%s\" field (use --text-field to name it)", j->text_field);
		goto out_free_root;
	}
	if (!cJSON_IsString(textv)) {
		st = bad(j, line, "\"%s\" must be a string, found %s", j->text_field, type_name(textv));
		goto out_free_root;
	}
	cJSON *titlev = cJSON_GetObjectItemCaseSensitive(root, j->title_field);

	size_t first = ids_add(&j->ids, id, line);
	if (first == (size_t)-1) {
		st = rdb_err_set(j->err, RAGDB_ENOMEM, "line %zu: out of memory tracking ids", line);
		goto out_free_root;
	}
	if (first) {
		st = bad(j, line, "duplicate id \"%.200s\" (first seen on line %zu)", id, first);
		goto out_free_root;
	}

	/* Everything else moves into the metadata object. */
	for (cJSON *it = root->child, *next; it; it = next) {
		next = it->next;
		if (it == idv || it == textv || it == titlev || !it->string)
			continue;
		if (!meta && !(meta = cJSON_CreateObject())) {
			st = rdb_err_set(j->err, RAGDB_ENOMEM, "line %zu: out of memory", line);
			goto out_free_root;
		}
		cJSON_DetachItemViaPointer(root, it);
		if (!cJSON_AddItemToObject(meta, it->string, it)) {
			cJSON_Delete(it);
			st = rdb_err_set(j->err, RAGDB_ENOMEM, "line %zu: out of memory", line);
			goto out_free_meta;
		}
	}
	if (meta && !(meta_txt = cJSON_PrintUnformatted(meta))) {
		st = rdb_err_set(j->err, RAGDB_ENOMEM, "line %zu: out of memory", line);
		goto out_free_meta;
	}

	rdb_record r = {
		.id = id,
		.text = textv->valuestring,
		.text_len = strlen(textv->valuestring),
		.title = cJSON_IsString(titlev) ? titlev->valuestring : NULL,
		.meta_json = meta_txt,
		.line = line,
	};
	if (j->on_record(j->ctx, &r) != 0)
		st = rdb_err_set(j->err, RAGDB_EINTR, "stopped at line %zu", line);

	cJSON_free(meta_txt);
out_free_meta:
	cJSON_Delete(meta);
out_free_root:
	cJSON_Delete(root);
	return st;
}

static int ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* Parse one JSON text of @p n bytes that must hold exactly one value. NULL
 * if it does not. */
static cJSON *parse_exact(const char *p, size_t n)
{
	const char *end = NULL;
	cJSON *v = cJSON_ParseWithLengthOpts(p, n, &end, 0);
	if (!v)
		return NULL;
	for (const char *q = end; q < p + n; q++) {
		if (!ws(*q)) {
			cJSON_Delete(v);
			return NULL;
		}
	}
	return v;
}

static size_t count_nl(const char *p, const char *e)
{
	size_t n = 0;
	while ((p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
		n++;
		p++;
	}
	return n;
}

/* The JSON-array form: split the array into its elements by scanning
 * brackets and strings, and parse one element at a time. */
static ragdb_status each_in_array(jctx *j, const char *data, size_t len, size_t pos, size_t line)
{
	ragdb_status st = RAGDB_OK;
	pos++; /* '[' */
	for (;;) {
		while (pos < len && ws(data[pos]))
			line += data[pos++] == '\n';
		if (pos < len && data[pos] == ']')
			break;
		if (pos >= len)
			return rdb_err_set(j->err, RAGDB_EBADINPUT,
			                   "line %zu: the JSON array is not closed (expected ']')", line);
		size_t start = pos, start_line = line;
		int depth = 0, in_str = 0;
		for (; pos < len; pos++) {
			char c = data[pos];
			if (c == '\n')
				line++;
			if (in_str) {
				if (c == '\\')
					pos++;
				else if (c == '"')
					in_str = 0;
			} else if (c == '"') {
				in_str = 1;
			} else if (c == '{' || c == '[') {
				depth++;
			} else if (c == '}' || c == ']') {
				if (depth == 0)
					break;
				depth--;
			} else if (c == ',' && depth == 0) {
				break;
			}
		}
		if (pos > len)
			pos = len;
		size_t n = pos - start;
		if (n > RDB_JSONL_MAX_RECORD) {
			st = bad(j, start_line, "array element of %zu bytes is over the %zu MiB limit",
			         n, RDB_JSONL_MAX_RECORD >> 20);
		} else {
			cJSON *v = parse_exact(data + start, n);
			st = v ? emit(j, v, start_line)
			       : bad(j, start_line, "array element is not valid JSON (expected an object)");
		}
		if (st != RAGDB_OK)
			return st;
		if (pos >= len)
			return rdb_err_set(j->err, RAGDB_EBADINPUT,
			                   "line %zu: the JSON array is not closed (expected ']')", line);
		if (data[pos] == ']' || data[pos] == '}') {
			if (data[pos] == '}')
				return rdb_err_set(j->err, RAGDB_EBADINPUT,
				                   "line %zu: unbalanced '}' in the JSON array", line);
			break;
		}
		pos++; /* ',' */
	}
	pos++; /* ']' */
	while (pos < len && ws(data[pos]))
		line += data[pos++] == '\n';
	if (pos < len)
		return rdb_err_set(j->err, RAGDB_EBADINPUT,
		                   "line %zu: text after the end of the JSON array", line);
	return RAGDB_OK;
}

/* Objects that span lines (pretty-printed), one after another. */
static ragdb_status each_multiline(jctx *j, const char *data, size_t len, size_t pos, size_t line)
{
	while (pos < len) {
		while (pos < len && ws(data[pos]))
			line += data[pos++] == '\n';
		if (pos >= len)
			break;
		const char *end = NULL;
		cJSON *v = cJSON_ParseWithLengthOpts(data + pos, len - pos, &end, 0);
		if (!v) /* no way to resynchronise inside a multi-line object */
			return rdb_err_set(j->err, RAGDB_EBADINPUT,
			                   "line %zu: not valid JSON (expected an object)", line);
		size_t vline = line;
		line += count_nl(data + pos, end);
		pos = (size_t)(end - data);
		ragdb_status st = emit(j, v, vline);
		if (st != RAGDB_OK)
			return st;
	}
	return RAGDB_OK;
}

ragdb_status rdb_jsonl_each(const char *data, size_t len, const rdb_jsonl_fields *f, int skip_bad,
                            int (*on_record)(void *ctx, const rdb_record *r),
                            void (*on_bad)(void *ctx, size_t line, const char *msg), void *ctx,
                            rdb_err *err)
{
	jctx j = {
		.id_field = (f && f->id_field) ? f->id_field : "id",
		.text_field = (f && f->text_field) ? f->text_field : "text",
		.title_field = (f && f->title_field) ? f->title_field : "title",
		.id_default = !(f && f->id_field),
		.skip_bad = skip_bad,
		.on_record = on_record,
		.on_bad = on_bad,
		.ctx = ctx,
		.err = err,
	};
	ragdb_status st = RAGDB_OK;
	size_t pos = 0, line = 1;
	if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
		pos = 3;

	size_t first = pos, first_line = 1;
	while (first < len && ws(data[first]))
		first_line += data[first++] == '\n';
	if (first < len && data[first] == '[') {
		st = each_in_array(&j, data, len, first, first_line);
		goto out;
	}

	int seen_record = 0;
	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - data) : len;
		size_t a = pos, b = end;
		while (a < b && ws(data[a]))
			a++;
		while (b > a && ws(data[b - 1]))
			b--;
		if (a < b) {
			if (b - a > RDB_JSONL_MAX_RECORD) {
				st = bad(&j, line, "line of %zu bytes is over the %zu MiB limit for one record",
				         b - a, RDB_JSONL_MAX_RECORD >> 20);
			} else {
				cJSON *v = parse_exact(data + a, b - a);
				if (!v && !seen_record && data[a] == '{') {
					/* maybe a pretty-printed object: try from here on */
					const char *vend = NULL;
					cJSON *w = cJSON_ParseWithLengthOpts(data + a, len - a, &vend, 0);
					int spans = w && vend > data + b;
					cJSON_Delete(w);
					if (spans) {
						st = each_multiline(&j, data, len, a, line);
						goto out;
					}
				}
				st = v ? emit(&j, v, line)
				       : bad(&j, line, "not valid JSON (expected an object per line)");
			}
			seen_record = 1;
			if (st != RAGDB_OK)
				goto out;
		}
		line++;
		pos = end + 1;
	}
out:
	ids_free(&j.ids);
	return st;
}
