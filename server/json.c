/*
 * server/json.c — JSON in and out for the routes: request bodies parsed with
 * a depth cap and checked to be UTF-8 without raw control characters (one
 * linear scan before cJSON sees the text, so a deeply nested body costs no
 * recursion), unknown fields refused, typed field readers that answer 400
 * with what was expected, and the JSON shapes of hits, sources and documents (the same
 * fields as `ragdb search --json`, `query --json` and `list --json`).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/internal.h"

size_t srv_utf8_valid_prefix(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		unsigned c = p[i];
		size_t len;
		uint32_t cp, min;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1f; min = 0x80; }
		else if (c >= 0xe0 && c <= 0xef) { len = 3; cp = c & 0x0f; min = 0x800; }
		else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07; min = 0x10000; }
		else return i;
		if (n - i < len)
			return i;
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return i;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		/* Overlong forms, UTF-16 surrogates and code points past U+10FFFF. */
		if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return i;
		i += len;
	}
	return n;
}

/* What json_scan found wrong. */
typedef enum json_flaw {
	JSON_FINE = 0, JSON_TOO_DEEP, JSON_BAD_UTF8, JSON_CONTROL, JSON_NUL, JSON_LEADING_ZERO,
} json_flaw;

/* One linear pass over the JSON text @p s for what cJSON lets through or
 * would pay for dearly: nesting deeper than @p limit (checked before the
 * recursive parser sees it), bytes that are not UTF-8 (RFC 8259: JSON text
 * is UTF-8), raw control characters inside strings, NUL bytes (which would
 * cut C strings short), numbers with leading zeros. *off is where. */
/* Whether a value may begin after @p c (0: the start of the text). */
static int starts_value(char c)
{
	return c == 0 || c == ':' || c == ',' || c == '[';
}

static json_flaw json_scan(const char *s, size_t n, int limit, size_t *off)
{
	int depth = 0, in_str = 0;
	char prev = 0;  /* the last byte outside strings that is not whitespace */
	char prev2 = 0; /* the one before it */
	size_t ok = srv_utf8_valid_prefix(s, n);

	if (ok < n) {
		*off = ok;
		return JSON_BAD_UTF8;
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		*off = i;
		if (c == '\0')
			return JSON_NUL;
		if (in_str) {
			if ((unsigned char)c < 0x20)
				return JSON_CONTROL;
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			continue;
		if (c == '"') {
			in_str = 1;
		} else if (c == '[' || c == '{') {
			if (++depth > limit)
				return JSON_TOO_DEEP;
		} else if (c == ']' || c == '}') {
			depth--;
		} else if (c == '0' && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9' &&
		           (starts_value(prev) || (prev == '-' && starts_value(prev2)))) {
			/* Only a number's first digit: an exponent may start with
			 * zeros ("8.3e-05" is what Python's json.dumps writes). */
			return JSON_LEADING_ZERO;
		}
		prev2 = prev;
		prev = c;
	}
	return JSON_FINE;
}

cJSON *srv_parse_body(const srv_req *rq, srv_resp *rs)
{
	cJSON *j;
	const char *end = NULL;
	size_t k = 0, off = 0;

	while (k < rq->body_len && (rq->body[k] == ' ' || rq->body[k] == '\n' ||
	                            rq->body[k] == '\r' || rq->body[k] == '\t'))
		k++;
	if (k == rq->body_len) {
		srv_error(rs, 400, "invalid_request_error", "the request body is empty; send a JSON "
		          "object (see /openapi.json)");
		return NULL;
	}
	switch (json_scan(rq->body, rq->body_len, rq->cfg->max_json_depth, &off)) {
	case JSON_FINE: break;
	case JSON_TOO_DEEP:
		srv_error(rs, 400, "invalid_request_error", "the JSON body is nested deeper than %d "
		          "levels (max_json_depth)", rq->cfg->max_json_depth);
		return NULL;
	case JSON_BAD_UTF8:
		srv_error(rs, 400, "invalid_request_error", "the request body is not valid UTF-8 (at "
		          "byte %zu); JSON text must be UTF-8", off);
		return NULL;
	case JSON_CONTROL:
	case JSON_NUL:
		srv_error(rs, 400, "invalid_request_error", "the request body is not valid JSON: a "
		          "raw control character or NUL at byte %zu (escape it as \\u00XX inside a "
		          "string)", off);
		return NULL;
	case JSON_LEADING_ZERO:
		srv_error(rs, 400, "invalid_request_error", "the request body is not valid JSON: a "
		          "number with a leading zero at byte %zu", off);
		return NULL;
	}
	/* The _Opts form reports where parsing stopped for this call;
	 * cJSON_GetErrorPtr() is one global shared by every thread. With the
	 * terminating NUL in the length, "require null terminated" refuses
	 * anything after the value ('{"a":1}}'). */
	j = cJSON_ParseWithLengthOpts(rq->body, rq->body_len + 1, &end, 1);
	if (!j) {
		size_t at = end && end >= rq->body && end <= rq->body + rq->body_len
		            ? (size_t)(end - rq->body) : 0;
		srv_error(rs, 400, "invalid_request_error", "the request body is not valid JSON (error "
		          "near byte %zu)", at);
		return NULL;
	}
	return j;
}

int srv_check_fields(const cJSON *o, const char *const *known, const char *what, srv_resp *rs)
{
	const cJSON *e;
	char list[512];
	size_t n = 0;

	cJSON_ArrayForEach(e, o) {
		int found = 0;
		for (size_t i = 0; known[i] && !found; i++)
			found = e->string && strcmp(e->string, known[i]) == 0;
		if (found)
			continue;
		list[0] = '\0';
		for (size_t i = 0; known[i]; i++)
			n += (size_t)snprintf(list + n, n < sizeof list ? sizeof list - n : 0, "%s%s",
			                      i ? ", " : "", known[i]);
		srv_error(rs, 400, "invalid_request_error", "unknown field \"%.100s\" in %s; the "
		          "fields are: %s", e->string ? e->string : "", what, list);
		return -1;
	}
	return 0;
}

int srv_get_string(const cJSON *o, const char *name, const char **out, srv_resp *rs)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v) || !v->valuestring) {
		srv_error(rs, 400, "invalid_request_error", "\"%s\" must be a string", name);
		return -1;
	}
	*out = v->valuestring;
	return 1;
}

int srv_get_bool(const cJSON *o, const char *name, int *out, srv_resp *rs)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsBool(v)) {
		srv_error(rs, 400, "invalid_request_error", "\"%s\" must be true or false", name);
		return -1;
	}
	*out = cJSON_IsTrue(v);
	return 1;
}

int srv_get_number(const cJSON *o, const char *name, double min, double max, double *out,
                   srv_resp *rs)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < min ||
	    v->valuedouble > max) {
		srv_error(rs, 400, "invalid_request_error", "\"%s\" must be a number from %g to %g",
		          name, min, max);
		return -1;
	}
	*out = v->valuedouble;
	return 1;
}

int srv_get_u32(const cJSON *o, const char *name, uint32_t min, uint32_t max, uint32_t *out,
                srv_resp *rs)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble != floor(v->valuedouble) ||
	    v->valuedouble < min || v->valuedouble > max) {
		srv_error(rs, 400, "invalid_request_error", "\"%s\" must be a whole number from %u to %u",
		          name, (unsigned)min, (unsigned)max);
		return -1;
	}
	*out = (uint32_t)v->valuedouble;
	return 1;
}

double srv_round6(double x)
{
	return round(x * 1e6) / 1e6;
}

cJSON *srv_hit_json(const ragdb_hit *h)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "rank", h->rank);
	cJSON_AddNumberToObject(o, "score", srv_round6(h->score));
	cJSON_AddStringToObject(o, "id", h->id ? h->id : "");
	cJSON_AddStringToObject(o, "source", h->source ? h->source : "");
	cJSON_AddNumberToObject(o, "chunk", h->chunk);
	cJSON_AddNumberToObject(o, "start", (double)h->start);
	cJSON_AddNumberToObject(o, "end", (double)h->end);
	cJSON_AddStringToObject(o, "text", h->text ? h->text : "");
	cJSON_AddStringToObject(o, "title", h->title ? h->title : "");
	cJSON_AddStringToObject(o, "heading", h->heading ? h->heading : "");
	return o;
}

cJSON *srv_source_json(const ragdb_source *s)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "n", s->n);
	cJSON_AddStringToObject(o, "id", s->id ? s->id : "");
	cJSON_AddStringToObject(o, "source", s->source ? s->source : "");
	cJSON_AddStringToObject(o, "title", s->title ? s->title : "");
	cJSON_AddStringToObject(o, "heading", s->heading ? s->heading : "");
	cJSON_AddNumberToObject(o, "start", (double)s->start);
	cJSON_AddNumberToObject(o, "end", (double)s->end);
	cJSON_AddNumberToObject(o, "score", srv_round6(s->score));
	cJSON_AddStringToObject(o, "text", s->text ? s->text : "");
	return o;
}

cJSON *srv_sources_json(const ragdb_answer *a)
{
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; arr && i < a->n_sources; i++) {
		cJSON *o = srv_source_json(&a->sources[i]);
		if (!o || !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			cJSON_Delete(arr);
			return NULL;
		}
	}
	return arr;
}

cJSON *srv_doc_json(const ragdb_doc_info *d, int with_text)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *meta = d->metadata_json ? cJSON_Parse(d->metadata_json) : NULL;

	if (!o) {
		cJSON_Delete(meta);
		return NULL;
	}
	cJSON_AddStringToObject(o, "id", d->id ? d->id : "");
	cJSON_AddStringToObject(o, "source", d->source ? d->source : "");
	cJSON_AddStringToObject(o, "title", d->title ? d->title : "");
	cJSON_AddNumberToObject(o, "chunks", d->n_chunks);
	cJSON_AddNumberToObject(o, "size", (double)d->size);
	cJSON_AddStringToObject(o, "hash", d->hash);
	cJSON_AddNumberToObject(o, "mtime", (double)d->mtime);
	cJSON_AddNumberToObject(o, "ingested", (double)d->ingested);
	if (!meta)
		meta = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "metadata", meta);
	if (with_text)
		cJSON_AddStringToObject(o, "text", d->text ? d->text : "");
	return o;
}

uint64_t srv_token_estimate(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n ? (n + 3) / 4 : 0;
}
