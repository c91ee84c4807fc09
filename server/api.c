/*
 * server/api.c — ragdb's own JSON API: POST /v1/search, POST /v1/query
 * (JSON, or server-sent events when "stream" is true), and the documents:
 * POST /v1/documents (JSON, a batch, or multipart file uploads),
 * GET /v1/documents, GET and DELETE /v1/documents/{id}.
 *
 * Documents come in as data only: the API never reads a path it is given
 * (ids and sources are names, not files), so a request cannot make the
 * server read anything outside the knowledge base.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "server/internal.h"

#define SRV_DEFAULT_SEARCH_K 10
#define SRV_MAX_FILTERS 32
#define SRV_MAX_ID_BYTES 1024
#define SRV_LIST_DEFAULT 100
#define SRV_LIST_MAX 1000

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---------------------------------------------------------------- shared */

/* "mode": "default" | "vector" | "bm25" | "hybrid". */
static int get_mode(const cJSON *o, ragdb_search_mode *out, srv_resp *rs)
{
	const char *m = NULL;
	int r = srv_get_string(o, "mode", &m, rs);

	if (r <= 0)
		return r;
	if (strcmp(m, "default") == 0) *out = RAGDB_MODE_DEFAULT;
	else if (strcmp(m, "vector") == 0) *out = RAGDB_MODE_VECTOR;
	else if (strcmp(m, "bm25") == 0) *out = RAGDB_MODE_BM25;
	else if (strcmp(m, "hybrid") == 0) *out = RAGDB_MODE_HYBRID;
	else {
		srv_error(rs, 400, "invalid_request_error", "\"mode\" must be one of default, vector, "
		          "bm25, hybrid; found \"%.60s\"", m);
		return -1;
	}
	return 1;
}

/* "filter": "EXPR" or ["EXPR", ...] into @p out (pointers into @p o). */
static int get_filters(const cJSON *o, const char **out, size_t *n, srv_resp *rs)
{
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, "filter"), *e;

	*n = 0;
	if (!f)
		f = cJSON_GetObjectItemCaseSensitive(o, "filters");
	if (!f || cJSON_IsNull(f))
		return 0;
	if (cJSON_IsString(f)) {
		out[(*n)++] = f->valuestring;
		return 1;
	}
	if (!cJSON_IsArray(f))
		goto bad;
	cJSON_ArrayForEach(e, f) {
		if (!cJSON_IsString(e))
			goto bad;
		if (*n >= SRV_MAX_FILTERS) {
			srv_error(rs, 400, "invalid_request_error", "at most %d filters", SRV_MAX_FILTERS);
			return -1;
		}
		out[(*n)++] = e->valuestring;
	}
	return 1;
bad:
	srv_error(rs, 400, "invalid_request_error", "\"filter\" must be a filter expression or an "
	          "array of them (all must hold)");
	return -1;
}

/* A request's "model": a configured model, "extractive" or a provider:model
 * name is passed to the library; any other string (clients that insist on
 * sending a model name) gets the default answerer. */
const char *srv_pick_model(const rdb_srv_config *cfg, const char *m)
{
	static const char *const providers[] = { "openai:", "anthropic:", "ollama:", "gemini:" };

	if (!m || !*m)
		return NULL;
	if (rdb_srv_config_has_model(cfg, m))
		return m;
	for (size_t i = 0; i < sizeof providers / sizeof providers[0]; i++)
		if (strncmp(m, providers[i], strlen(providers[i])) == 0 && m[strlen(providers[i])])
			return m;
	return NULL;
}

/* ---------------------------------------------------------------- search */

static const char *const search_fields[] = { "query", "vector", "k", "mode", "filter", "filters",
                                              "mmr", NULL };

/* Most numbers a "vector" may hold: above any embedding's dimension. */
#define SRV_MAX_VECTOR_DIM 65536

/* The request's "vector" (the query embedding, for knowledge bases whose
 * vectors the caller brings) into a malloc'd array: 1 with *out and *dim
 * set, 0 when absent, -1 with a 400 in @p rs. */
static int get_vector(const cJSON *body, float **out, uint32_t *dim, srv_resp *rs)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "vector"), *e;
	int n;
	size_t i = 0;

	if (!v || cJSON_IsNull(v))
		return 0;
	n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 0;
	if (n < 1 || n > SRV_MAX_VECTOR_DIM) {
		srv_error(rs, 400, "invalid_request_error", "\"vector\" must be an array of 1 to %d "
		          "numbers (the query embedding)", SRV_MAX_VECTOR_DIM);
		return -1;
	}
	if (!(*out = malloc((size_t)n * sizeof **out))) {
		srv_error(rs, 500, "server_error", "out of memory");
		return -1;
	}
	cJSON_ArrayForEach(e, v) {
		float f = cJSON_IsNumber(e) ? (float)e->valuedouble : 0.0f;
		if (!cJSON_IsNumber(e) || !isfinite(f)) {
			srv_error(rs, 400, "invalid_request_error", "\"vector\"[%zu] is not a finite "
			          "number; send the query embedding as an array of numbers", i);
			free(*out);
			*out = NULL;
			return -1;
		}
		(*out)[i++] = f;
	}
	*dim = (uint32_t)n;
	return 1;
}

void srv_h_search(srv_req *rq, srv_resp *rs)
{
	cJSON *body = srv_parse_body(rq, rs), *j, *arr;
	const char *query = NULL, *filters[SRV_MAX_FILTERS];
	ragdb_search_options so;
	ragdb_results *res = NULL;
	ragdb_status st;
	double mmr = 0;
	uint32_t k = SRV_DEFAULT_SEARCH_K, dim = 0;
	float *vec = NULL;
	int has_vec = 0;

	if (!body)
		return;
	memset(&so, 0, sizeof so);
	if (!cJSON_IsObject(body)) {
		srv_error(rs, 400, "invalid_request_error", "expected a JSON object like "
		          "{\"query\": \"...\", \"k\": 10}");
		goto out_free;
	}
	if (srv_check_fields(body, search_fields, "a search request", rs) ||
	    srv_get_string(body, "query", &query, rs) < 0 ||
	    (has_vec = get_vector(body, &vec, &dim, rs)) < 0)
		goto out_free;
	if (has_vec && query) {
		srv_error(rs, 400, "invalid_request_error", "give either \"query\" (the words) or "
		          "\"vector\" (the query embedding), not both");
		goto out_free;
	}
	if (!has_vec && (!query || !*query)) {
		srv_error(rs, 400, "invalid_request_error", "\"query\" is missing or empty; send "
		          "{\"query\": \"what to look for\"} (or {\"vector\": [...]} with the "
		          "query embedding)");
		goto out_free;
	}
	if (srv_get_u32(body, "k", 1, rq->cfg->max_k, &k, rs) < 0 ||
	    get_mode(body, &so.mode, rs) < 0 || get_filters(body, filters, &so.n_filters, rs) < 0 ||
	    srv_get_number(body, "mmr", 0, 1, &mmr, rs) < 0)
		goto out_free;
	so.k = k;
	so.filters = so.n_filters ? filters : NULL;
	so.mmr_lambda = (float)mmr;
	so.threads = rq->cfg->search_threads;
	st = has_vec ? ragdb_search_vectors(rq->db, vec, 1, dim, &so, &res)
	             : ragdb_search(rq->db, query, &so, &res);
	if (st != RAGDB_OK) {
		srv_api_error(rs, rq->db, st);
		goto out_free;
	}
	j = cJSON_CreateObject();
	if (!has_vec)
		cJSON_AddStringToObject(j, "query", query);
	cJSON_AddNumberToObject(j, "took_ms", srv_round6(res->took_ms));
	arr = cJSON_AddArrayToObject(j, "results");
	for (size_t i = 0; arr && i < res->n; i++)
		cJSON_AddItemToArray(arr, srv_hit_json(&res->hits[i]));
	srv_json(rs, 200, j);
	ragdb_results_free_array(res, 1); /* one query's results, either way */
out_free:
	free(vec);
	cJSON_Delete(body);
}

/* ---------------------------------------------------------------- query */

/* What a query needs, copied out of the request (a stream outlives the
 * handler's parsed body). */
typedef struct query_job {
	rdb_srv *srv;
	ragdb *db;
	char *question;
	char *model;
	char *conversation_id;
	char *filters[SRV_MAX_FILTERS];
	size_t n_filters;
	ragdb_query_options qo;
	srv_stream *st;
	int client_gone;
} query_job;

static void query_job_free(void *p)
{
	query_job *q = p;

	if (!q)
		return;
	free(q->question);
	free(q->model);
	free(q->conversation_id);
	for (size_t i = 0; i < q->n_filters; i++)
		free(q->filters[i]);
	free(q);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static const char *const query_fields[] = {
	"question", "query", "k", "model", "stream", "conversation_id", "context_tokens",
	"max_sentences", "mode", "filter", "filters", "mmr", NULL
};

/* Parse a /v1/query body into a job; NULL with a 400 in @p rs. */
static query_job *query_job_parse(srv_req *rq, const cJSON *body, int *stream, srv_resp *rs)
{
	query_job *q = calloc(1, sizeof *q);
	const char *question = NULL, *model = NULL, *conv = NULL, *filters[SRV_MAX_FILTERS];
	size_t nf = 0;
	double mmr = 0;

	if (!q) {
		srv_error(rs, 500, "server_error", "out of memory");
		return NULL;
	}
	q->srv = rq->srv;
	q->db = rq->db;
	*stream = 0;
	if (srv_check_fields(body, query_fields, "a question", rs) ||
	    srv_get_string(body, "question", &question, rs) < 0)
		goto out_fail;
	if (!question && srv_get_string(body, "query", &question, rs) < 0)
		goto out_fail;
	if (!question || !*question) {
		srv_error(rs, 400, "invalid_request_error", "\"question\" is missing or empty; send "
		          "{\"question\": \"...\"}");
		goto out_fail;
	}
	if (srv_get_u32(body, "k", 1, rq->cfg->max_k, &q->qo.k, rs) < 0 ||
	    srv_get_u32(body, "context_tokens", 1, 1u << 24, &q->qo.context_tokens, rs) < 0 ||
	    srv_get_u32(body, "max_sentences", 1, 100, &q->qo.max_sentences, rs) < 0 ||
	    srv_get_string(body, "model", &model, rs) < 0 || srv_get_bool(body, "stream", stream, rs) < 0 ||
	    srv_get_string(body, "conversation_id", &conv, rs) < 0 ||
	    get_mode(body, &q->qo.mode, rs) < 0 || get_filters(body, filters, &nf, rs) < 0 ||
	    srv_get_number(body, "mmr", 0, 1, &mmr, rs) < 0)
		goto out_fail;
	q->qo.mmr_lambda = (float)mmr;
	model = srv_pick_model(rq->cfg, model);
	q->question = strdup(question);
	q->model = dup_or_null(model);
	q->conversation_id = dup_or_null(conv && *conv ? conv : NULL);
	if (!q->question || (model && !q->model) || (conv && *conv && !q->conversation_id))
		goto out_oom;
	for (size_t i = 0; i < nf; i++) {
		if (!(q->filters[i] = strdup(filters[i])))
			goto out_oom;
		q->n_filters++;
	}
	q->qo.model = q->model;
	q->qo.conversation_id = q->conversation_id;
	q->qo.filters = q->n_filters ? (const char *const *)q->filters : NULL;
	q->qo.n_filters = q->n_filters;
	return q;
out_oom:
	srv_error(rs, 500, "server_error", "out of memory");
out_fail:
	query_job_free(q);
	return NULL;
}

static cJSON *usage_json(const ragdb_answer *a)
{
	cJSON *u = cJSON_CreateObject();

	cJSON_AddNumberToObject(u, "input_tokens", (double)a->input_tokens);
	cJSON_AddNumberToObject(u, "output_tokens", (double)a->output_tokens);
	cJSON_AddNumberToObject(u, "context_tokens", a->context_tokens);
	cJSON_AddNumberToObject(u, "cost", a->cost);
	cJSON_AddBoolToObject(u, "cached", a->cached != 0);
	return u;
}

/* The answer's fields other than the text (the end of a stream carries them
 * too). */
static void add_answer_meta(cJSON *j, const ragdb_answer *a)
{
	cJSON_AddStringToObject(j, "model", a->model ? a->model : "");
	cJSON_AddBoolToObject(j, "extractive", a->extractive != 0);
	cJSON_AddItemToObject(j, "sources", srv_sources_json(a));
	cJSON_AddItemToObject(j, "usage", usage_json(a));
	cJSON_AddNumberToObject(j, "took_ms", srv_round6(a->took_ms));
}

/* A failed query as an error response; a configured model the library
 * cannot run gets a message that says so. */
static void query_error(srv_resp *rs, const query_job *q, ragdb_status st)
{
	if (st == RAGDB_EUNSUPPORTED && q->model && strcmp(q->model, "extractive") != 0) {
		srv_error(rs, 400, "model_unavailable", "model \"%s\" cannot answer on this server: %s. "
		          "Send no model (or any name that is not configured) for the default answerer",
		          q->model, ragdb_errmsg(q->db));
		return;
	}
	srv_api_error(rs, q->db, st);
}

static void on_query_delta(void *ctx, const char *text, size_t len)
{
	query_job *q = ctx;
	cJSON *j;

	if (q->client_gone)
		return;
	j = cJSON_CreateObject();
	{
		char *s = strndup(text, len);
		cJSON_AddStringToObject(j, "text", s ? s : "");
		free(s);
	}
	if (srv_stream_event(q->st, "delta", j))
		q->client_gone = 1;
}

static void query_stream_worker(srv_stream *st, void *ctx)
{
	query_job *q = ctx;
	ragdb_answer *a = NULL;
	ragdb_status s;
	cJSON *j;

	q->st = st;
	q->qo.on_delta = on_query_delta;
	q->qo.ctx = q;
	s = ragdb_query(q->db, q->question, &q->qo, &a);
	if (s != RAGDB_OK) {
		srv_resp tmp;
		memset(&tmp, 0, sizeof tmp);
		query_error(&tmp, q, s);
		j = cJSON_ParseWithLength(tmp.body ? tmp.body : "{}", tmp.body ? tmp.len : 2);
		free(tmp.body);
		srv_stream_event(st, "error", j);
		return;
	}
	j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "answer", a->answer ? a->answer : "");
	add_answer_meta(j, a);
	srv_stream_event(st, "sources", j);
	srv_stream_event(st, "done", cJSON_CreateObject());
	ragdb_answer_free(a);
}

void srv_h_query(srv_req *rq, srv_resp *rs)
{
	cJSON *body = srv_parse_body(rq, rs), *j;
	query_job *q;
	ragdb_answer *a = NULL;
	ragdb_status st;
	int stream = 0;

	if (!body)
		return;
	if (!cJSON_IsObject(body)) {
		srv_error(rs, 400, "invalid_request_error", "expected a JSON object like "
		          "{\"question\": \"...\"}");
		goto out_free;
	}
	q = query_job_parse(rq, body, &stream, rs);
	if (!q)
		goto out_free;
	if (stream) {
		srv_stream_start(rq, rs, query_stream_worker, q, query_job_free);
		goto out_free;
	}
	st = ragdb_query(rq->db, q->question, &q->qo, &a);
	if (st != RAGDB_OK) {
		query_error(rs, q, st);
		query_job_free(q);
		goto out_free;
	}
	j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "question", q->question);
	cJSON_AddStringToObject(j, "answer", a->answer ? a->answer : "");
	add_answer_meta(j, a);
	srv_json(rs, 200, j);
	ragdb_answer_free(a);
	query_job_free(q);
out_free:
	cJSON_Delete(body);
}

/* ---------------------------------------------------------------- documents */

/* What ragdb_ingest_text reported for each document. */
typedef struct ingest_log {
	cJSON *items;
} ingest_log;

static const char *action_name(ragdb_ingest_action a)
{
	switch (a) {
	case RAGDB_ADDED: return "added";
	case RAGDB_REPLACED: return "replaced";
	case RAGDB_UNCHANGED: return "unchanged";
	case RAGDB_REMOVED: return "removed";
	case RAGDB_SKIPPED: return "skipped";
	case RAGDB_FAILED: return "failed";
	}
	return "unknown";
}

static void on_ingest_item(void *ctx, ragdb_ingest_action action, const char *id,
                           const char *source, const char *reason)
{
	ingest_log *log = ctx;
	cJSON *o = cJSON_CreateObject();

	(void)source;
	cJSON_AddStringToObject(o, "id", id ? id : "");
	cJSON_AddStringToObject(o, "action", action_name(action));
	if (reason)
		cJSON_AddStringToObject(o, "reason", reason);
	if (!cJSON_AddItemToArray(log->items, o))
		cJSON_Delete(o);
}

/* A document id made from its text, for documents sent without one:
 * FNV-1a 64 in hex, so sending the same text again finds it unchanged. */
static void content_id(const char *text, size_t len, char *out, size_t cap)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)text[i];
		h *= 1099511628211ull;
	}
	snprintf(out, cap, "doc-%016llx", (unsigned long long)h);
}

static int parse_format(const char *s, ragdb_format *out)
{
	static const struct { const char *name; ragdb_format f; } fm[] = {
		{ "auto", RAGDB_FORMAT_AUTO }, { "text", RAGDB_FORMAT_TEXT },
		{ "markdown", RAGDB_FORMAT_MARKDOWN }, { "code", RAGDB_FORMAT_CODE },
		{ "html", RAGDB_FORMAT_HTML }, { "csv", RAGDB_FORMAT_CSV },
	};
	for (size_t i = 0; i < sizeof fm / sizeof fm[0]; i++)
		if (strcmp(s, fm[i].name) == 0) {
			*out = fm[i].f;
			return 0;
		}
	return -1;
}

/* The format of an uploaded file, by its name's extension. */
static ragdb_format format_of_name(const char *name)
{
	static const struct { const char *ext; ragdb_format f; } ex[] = {
		{ ".md", RAGDB_FORMAT_MARKDOWN }, { ".markdown", RAGDB_FORMAT_MARKDOWN },
		{ ".html", RAGDB_FORMAT_HTML }, { ".htm", RAGDB_FORMAT_HTML },
		{ ".pdf", RAGDB_FORMAT_PDF }, { ".docx", RAGDB_FORMAT_DOCX },
		{ ".odt", RAGDB_FORMAT_ODT }, { ".epub", RAGDB_FORMAT_EPUB },
		{ ".csv", RAGDB_FORMAT_CSV },
		{ ".c", RAGDB_FORMAT_CODE }, { ".h", RAGDB_FORMAT_CODE }, { ".py", RAGDB_FORMAT_CODE },
		{ ".js", RAGDB_FORMAT_CODE }, { ".ts", RAGDB_FORMAT_CODE }, { ".go", RAGDB_FORMAT_CODE },
		{ ".rs", RAGDB_FORMAT_CODE }, { ".java", RAGDB_FORMAT_CODE }, { ".sh", RAGDB_FORMAT_CODE },
	};
	const char *dot = strrchr(name, '.');

	if (dot)
		for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++)
			if (strcasecmp(dot, ex[i].ext) == 0)
				return ex[i].f;
	return RAGDB_FORMAT_TEXT;
}

/* Documents parsed from a request; strings point into the request or into
 * owned[] (generated ids, metadata text). */
typedef struct doc_batch {
	ragdb_document *docs;
	size_t n;
	char **owned;
	size_t n_owned;
} doc_batch;

static void batch_free(doc_batch *b)
{
	for (size_t i = 0; i < b->n_owned; i++)
		free(b->owned[i]);
	free(b->owned);
	free(b->docs);
}

static char *batch_own(doc_batch *b, char *s)
{
	if (s)
		b->owned[b->n_owned++] = s;
	return s;
}

static int batch_alloc(doc_batch *b, size_t n, srv_resp *rs)
{
	memset(b, 0, sizeof *b);
	b->docs = calloc(n ? n : 1, sizeof *b->docs);
	b->owned = calloc(2 * (n ? n : 1), sizeof *b->owned);
	if (!b->docs || !b->owned) {
		srv_error(rs, 500, "server_error", "out of memory");
		return -1;
	}
	return 0;
}

/* Ids are names of 1 to SRV_MAX_ID_BYTES bytes of UTF-8 without control
 * characters, whether they come in a body, a file name or a path. */
static int check_id(const char *id, srv_resp *rs)
{
	size_t n = strlen(id);

	if (!*id || n > SRV_MAX_ID_BYTES) {
		srv_error(rs, 400, "invalid_request_error", "a document id must be 1 to %d bytes",
		          SRV_MAX_ID_BYTES);
		return -1;
	}
	if (srv_utf8_valid_prefix(id, n) != n) {
		srv_error(rs, 400, "invalid_request_error", "a document id must be UTF-8 (percent-"
		          "encode its UTF-8 bytes in a path)");
		return -1;
	}
	for (const char *p = id; *p; p++)
		if ((unsigned char)*p < 0x20) {
			srv_error(rs, 400, "invalid_request_error", "a document id may not contain control "
			          "characters");
			return -1;
		}
	return 0;
}

static const char *const doc_fields[] = {
	"id", "text", "title", "source", "format", "metadata", NULL
};

/* One JSON document object into @p d. */
static int parse_doc(const cJSON *o, size_t idx, ragdb_document *d, doc_batch *b, srv_resp *rs)
{
	const char *id = NULL, *text = NULL, *title = NULL, *source = NULL, *fmt = NULL;
	const cJSON *meta;

	if (!cJSON_IsObject(o)) {
		srv_error(rs, 400, "invalid_request_error", "document %zu: expected an object like "
		          "{\"id\": \"...\", \"text\": \"...\"}", idx + 1);
		return -1;
	}
	if (srv_check_fields(o, doc_fields, "a document", rs) || srv_get_string(o, "id", &id, rs) < 0 || srv_get_string(o, "text", &text, rs) < 0 ||
	    srv_get_string(o, "title", &title, rs) < 0 || srv_get_string(o, "source", &source, rs) < 0 ||
	    srv_get_string(o, "format", &fmt, rs) < 0)
		return -1;
	if (!text || !*text) {
		srv_error(rs, 400, "invalid_request_error", "document %zu: \"text\" is missing or empty",
		          idx + 1);
		return -1;
	}
	d->text = text;
	d->text_len = strlen(text);
	if (!id) {
		char gen[32];
		content_id(text, d->text_len, gen, sizeof gen);
		id = batch_own(b, strdup(gen));
		if (!id) {
			srv_error(rs, 500, "server_error", "out of memory");
			return -1;
		}
	}
	if (check_id(id, rs))
		return -1;
	d->id = id;
	d->title = title;
	d->source = source;
	d->format = RAGDB_FORMAT_TEXT;
	if (fmt && parse_format(fmt, &d->format)) {
		srv_error(rs, 400, "invalid_request_error", "document %zu: \"format\" must be one of "
		          "text, markdown, code, html, csv", idx + 1);
		return -1;
	}
	meta = cJSON_GetObjectItemCaseSensitive(o, "metadata");
	if (meta && !cJSON_IsNull(meta)) {
		if (!cJSON_IsObject(meta)) {
			srv_error(rs, 400, "invalid_request_error", "document %zu: \"metadata\" must be a "
			          "JSON object", idx + 1);
			return -1;
		}
		d->metadata_json = batch_own(b, cJSON_PrintUnformatted(meta));
		if (!d->metadata_json) {
			srv_error(rs, 500, "server_error", "out of memory");
			return -1;
		}
	}
	return 0;
}

static int parse_json_docs(srv_req *rq, const cJSON *body, doc_batch *b, srv_resp *rs)
{
	const cJSON *arr = NULL, *e;
	size_t n, i = 0;

	static const char *const batch_fields[] = { "documents", NULL };

	if (cJSON_IsArray(body)) {
		arr = body;
	} else if (cJSON_IsObject(body) && cJSON_GetObjectItemCaseSensitive(body, "documents")) {
		if (srv_check_fields(body, batch_fields, "a batch ({\"documents\": [...]})", rs))
			return -1;
		arr = cJSON_GetObjectItemCaseSensitive(body, "documents");
	}
	if (!arr) {
		if (batch_alloc(b, 1, rs))
			return -1;
		b->n = 1;
		return parse_doc(body, 0, &b->docs[0], b, rs);
	}
	if (!cJSON_IsArray(arr)) {
		srv_error(rs, 400, "invalid_request_error", "\"documents\" must be an array");
		return -1;
	}
	n = (size_t)cJSON_GetArraySize(arr);
	if (n == 0 || n > rq->cfg->max_inputs) {
		srv_error(rs, 400, "invalid_request_error", "send 1 to %u documents in one request "
		          "(found %zu)", (unsigned)rq->cfg->max_inputs, n);
		return -1;
	}
	if (batch_alloc(b, n, rs))
		return -1;
	b->n = n;
	cJSON_ArrayForEach(e, arr) {
		if (parse_doc(e, i, &b->docs[i], b, rs))
			return -1;
		i++;
	}
	return 0;
}

/* The last path component of an uploaded file's name: ids are names. */
static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/'), *t = strrchr(p, '\\');

	if (t && (!s || t > s))
		s = t;
	return s ? s + 1 : p;
}

static int parse_upload(srv_req *rq, doc_batch *b, srv_resp *rs)
{
	const char *id = NULL, *title = NULL;
	size_t n_files = 0, k = 0;

	for (size_t i = 0; i < rq->n_parts; i++) {
		const srv_part *p = &rq->parts[i];
		if (p->filename)
			n_files++;
		else if (strcmp(p->name, "id") == 0)
			id = p->data;
		else if (strcmp(p->name, "title") == 0)
			title = p->data;
	}
	if (n_files == 0) {
		srv_error(rs, 400, "invalid_request_error", "the form has no file; send it as a "
		          "\"file\" field (curl -F file=@notes.md)");
		return -1;
	}
	if (id && n_files > 1) {
		srv_error(rs, 400, "invalid_request_error", "an \"id\" field names one document; "
		          "upload one file with it, or leave it out to use the file names");
		return -1;
	}
	if (batch_alloc(b, n_files, rs))
		return -1;
	for (size_t i = 0; i < rq->n_parts; i++) {
		const srv_part *p = &rq->parts[i];
		ragdb_document *d;
		if (!p->filename)
			continue;
		d = &b->docs[k++];
		b->n = k;
		d->format = format_of_name(p->filename);
		/* PDF and the zip-based formats are binary and have readers; any
		 * other binary file has none. */
		if (memchr(p->data, '\0', p->len) && d->format != RAGDB_FORMAT_PDF &&
		    d->format != RAGDB_FORMAT_DOCX && d->format != RAGDB_FORMAT_ODT &&
		    d->format != RAGDB_FORMAT_EPUB) {
			srv_error(rs, 415, "unsupported_media_type", "%.200s looks like a binary file; "
			          "upload text, Markdown, HTML, CSV, PDF, DOCX, ODT, EPUB or source code",
			          p->filename);
			return -1;
		}
		if (p->len == 0) {
			srv_error(rs, 400, "invalid_request_error", "%.200s is empty", p->filename);
			return -1;
		}
		d->id = id && *id ? id : base_name(p->filename);
		if (check_id(d->id, rs))
			return -1;
		d->text = p->data;
		d->text_len = p->len;
		d->title = title && *title ? title : NULL;
	}
	return 0;
}

static void post_documents(srv_req *rq, srv_resp *rs)
{
	cJSON *body = NULL, *j;
	doc_batch b;
	ingest_log log = { NULL };
	ragdb_ingest_options io;
	ragdb_ingest_summary sum;
	ragdb_status st;
	double t0 = now_ms();

	memset(&b, 0, sizeof b);
	if (rq->n_parts > 0 || (rq->content_type && strncasecmp(rq->content_type, "multipart/", 10) == 0)) {
		if (parse_upload(rq, &b, rs))
			goto out_free;
	} else {
		body = srv_parse_body(rq, rs);
		if (!body || parse_json_docs(rq, body, &b, rs))
			goto out_free;
	}
	log.items = cJSON_CreateArray();
	memset(&io, 0, sizeof io);
	memset(&sum, 0, sizeof sum);
	io.on_item = on_ingest_item;
	io.ctx = &log;
	st = ragdb_ingest_text(rq->db, b.docs, b.n, &io, &sum);
	srv_metrics_ingest(rq->srv, &sum);
	if (st != RAGDB_OK) {
		if (st == RAGDB_EUNSUPPORTED)
			srv_error(rs, 415, "unsupported_media_type", "%s", ragdb_errmsg(rq->db));
		else
			srv_api_error(rs, rq->db, st);
		goto out_free;
	}
	j = cJSON_CreateObject();
	cJSON_AddItemToObject(j, "documents", log.items);
	log.items = NULL;
	cJSON_AddNumberToObject(j, "added", (double)sum.added);
	cJSON_AddNumberToObject(j, "replaced", (double)sum.replaced);
	cJSON_AddNumberToObject(j, "unchanged", (double)sum.unchanged);
	cJSON_AddNumberToObject(j, "failed", (double)sum.failed);
	cJSON_AddNumberToObject(j, "chunks", (double)sum.chunks);
	cJSON_AddNumberToObject(j, "took_ms", srv_round6(now_ms() - t0));
	srv_json(rs, sum.added > 0 ? 201 : 200, j);
out_free:
	cJSON_Delete(log.items);
	batch_free(&b);
	cJSON_Delete(body);
}

/* One page of the document list. */
typedef struct list_page {
	const char *after;
	uint32_t limit;
	cJSON *arr;
	size_t n;
	char *last;
	int more;
} list_page;

static int on_list_doc(void *ctx, const ragdb_doc_info *d)
{
	list_page *p = ctx;

	if (p->after && strcmp(d->id, p->after) <= 0)
		return 0;
	if (p->n == p->limit) {
		p->more = 1;
		return 1;
	}
	cJSON_AddItemToArray(p->arr, srv_doc_json(d, 0));
	p->n++;
	free(p->last);
	p->last = strdup(d->id);
	return 0;
}

static void get_documents(srv_req *rq, srv_resp *rs)
{
	const char *lim = srv_req_arg(rq, "limit");
	list_page p;
	ragdb_stats s;
	ragdb_status st;
	cJSON *j;

	memset(&p, 0, sizeof p);
	p.limit = SRV_LIST_DEFAULT;
	p.after = srv_req_arg(rq, "after");
	if (lim) {
		char *end = NULL;
		long v = strtol(lim, &end, 10);
		if (!*lim || *end || v < 1 || v > SRV_LIST_MAX) {
			srv_error(rs, 400, "invalid_request_error", "limit must be a whole number from 1 "
			          "to %d", SRV_LIST_MAX);
			return;
		}
		p.limit = (uint32_t)v;
	}
	j = cJSON_CreateObject();
	p.arr = cJSON_AddArrayToObject(j, "documents");
	st = ragdb_list(rq->db, on_list_doc, &p);
	if (st != RAGDB_OK) {
		cJSON_Delete(j);
		free(p.last);
		srv_api_error(rs, rq->db, st);
		return;
	}
	if (p.more && p.last)
		cJSON_AddStringToObject(j, "next", p.last);
	else
		cJSON_AddNullToObject(j, "next");
	if (ragdb_get_stats(rq->db, &s) == RAGDB_OK)
		cJSON_AddNumberToObject(j, "total", (double)s.documents);
	free(p.last);
	srv_json(rs, 200, j);
}

void srv_h_documents(srv_req *rq, srv_resp *rs)
{
	if (rq->method == SRV_POST)
		post_documents(rq, rs);
	else
		get_documents(rq, rs);
}

void srv_h_document(srv_req *rq, srv_resp *rs)
{
	const char *id = rq->rest;
	ragdb_doc_info *d = NULL;
	ragdb_status st;
	cJSON *j;

	if (check_id(id, rs))
		return;
	if (rq->method == SRV_DELETE) {
		st = ragdb_delete(rq->db, id);
		if (st != RAGDB_OK) {
			if (st == RAGDB_ENOTFOUND)
				srv_error(rs, 404, "not_found", "no document with id \"%.300s\"", id);
			else
				srv_api_error(rs, rq->db, st);
			return;
		}
		j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "id", id);
		cJSON_AddBoolToObject(j, "deleted", 1);
		srv_json(rs, 200, j);
		return;
	}
	st = ragdb_show(rq->db, id, &d);
	if (st != RAGDB_OK) {
		if (st == RAGDB_ENOTFOUND)
			srv_error(rs, 404, "not_found", "no document with id \"%.300s\"", id);
		else
			srv_api_error(rs, rq->db, st);
		return;
	}
	srv_json(rs, 200, srv_doc_json(d, 1));
	ragdb_doc_info_free(d);
}
