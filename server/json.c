/*
 * server/json.c — JSON in and out for the routes: request bodies parsed with
 * a depth cap (checked before cJSON sees the text, so a deeply nested body
 * costs one linear scan), typed field readers that answer 400 with what was
 * expected, and the JSON shapes of hits, sources and documents (the same
 * fields as `ragdb search --json`, `query --json` and `list --json`).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "server/internal.h"

/* Nesting depth of the JSON text @p s (strings skipped); stops counting
 * past @p limit. */
static int json_depth(const char *s, size_t n, int limit)
{
	int depth = 0, max = 0, in_str = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
			continue;
		}
		if (c == '"') {
			in_str = 1;
		} else if (c == '[' || c == '{') {
			if (++depth > max)
				max = depth;
			if (max > limit)
				return max;
		} else if (c == ']' || c == '}') {
			depth--;
		}
	}
	return max;
}

cJSON *srv_parse_body(const srv_req *rq, srv_resp *rs)
{
	cJSON *j;
	const char *end = NULL;
	size_t k = 0;

	while (k < rq->body_len && (rq->body[k] == ' ' || rq->body[k] == '\n' ||
	                            rq->body[k] == '\r' || rq->body[k] == '\t'))
		k++;
	if (k == rq->body_len) {
		srv_error(rs, 400, "invalid_request_error", "the request body is empty; send a JSON "
		          "object (see /openapi.json)");
		return NULL;
	}
	if (json_depth(rq->body, rq->body_len, rq->cfg->max_json_depth) > rq->cfg->max_json_depth) {
		srv_error(rs, 400, "invalid_request_error", "the JSON body is nested deeper than %d "
		          "levels (max_json_depth)", rq->cfg->max_json_depth);
		return NULL;
	}
	/* The _Opts form reports where parsing stopped for this call;
	 * cJSON_GetErrorPtr() is one global shared by every thread. */
	j = cJSON_ParseWithLengthOpts(rq->body, rq->body_len, &end, 0);
	if (!j) {
		size_t off = end && end >= rq->body && end <= rq->body + rq->body_len
		             ? (size_t)(end - rq->body) : 0;
		srv_error(rs, 400, "invalid_request_error", "the request body is not valid JSON (error "
		          "near byte %zu)", off);
		return NULL;
	}
	return j;
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
