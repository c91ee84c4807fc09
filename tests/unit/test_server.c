/*
 * tests/unit/test_server.c — `ragdb serve` over real HTTP: each test starts
 * the server in process on 127.0.0.1 with an ephemeral port, over a fresh
 * knowledge base, and drives it with libcurl. Every route, every error status
 * the server gives (400 401 403 404 405 413 415 429 500 503), API keys,
 * CORS, streaming, uploads, the web page and writes during searches.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <lmdb.h>

#include "ragdb.h"
#include "server/server.h"
#include "testutil.h"

static const ragdb_document DOCS[] = {
	{.id = "keys", .title = "Rotating the signing keys", .text_len = (size_t)-1,
	 .text = "To rotate the API signing keys, generate a new key pair with keytool, publish the "
	         "public key, wait one hour for caches to expire, then retire the old key. "
	         "Never delete the old key before every service has reloaded."},
	{.id = "ops/backup notes.md", .title = "Backups", .text_len = (size_t)-1,
	 .text = "Nightly backups are written to the object store at 02:00 UTC. To restore a "
	         "database from backup, stop the writer, download the snapshot and replay the log."},
	{.id = "lunch", .title = "Cafeteria", .text_len = (size_t)-1,
	 .text = "The cafeteria serves soup on Mondays and pasta on Fridays. Vegetarian dishes "
	         "are available every day."},
};
#define NDOCS (sizeof DOCS / sizeof DOCS[0])

/* ---------------------------------------------------------------- fixture */

typedef struct server_fx {
	char *dir;
	char kb[4096];
	ragdb *db;
	rdb_srv *srv;
	char base[64];
} server_fx;

static server_fx fx;

/* A knowledge base with DOCS in fx.kb (the handle closed). */
static void make_kb(void)
{
	ragdb *db = NULL;
	ragdb_ingest_summary s;

	fx.dir = tu_tmpdir("server");
	snprintf(fx.kb, sizeof fx.kb, "%s/kb", fx.dir);
	ck_assert_int_eq(ragdb_create(fx.kb, NULL, &db), RAGDB_OK);
	ck_assert_msg(ragdb_ingest_text(db, DOCS, NDOCS, NULL, &s) == RAGDB_OK, "%s", ragdb_errmsg(db));
	ck_assert_uint_eq(s.added, NDOCS);
	{
		ragdb_doc_info *d = NULL;
		ck_assert_msg(ragdb_show(db, "keys", &d) == RAGDB_OK, "%s", ragdb_errmsg(db));
		ragdb_doc_info_free(d);
	}
	ragdb_close(db);
}

/* Open fx.kb with @p flags and serve it with @p cfg (NULL = defaults). */
static void serve(const rdb_srv_config *cfg, unsigned flags)
{
	rdb_srv_config def;
	char err[1024];

	ck_assert_int_eq(ragdb_open(fx.kb, flags, &fx.db), RAGDB_OK);
	rdb_srv_config_init(&def);
	def.port = 0;
	def.rate_limit = 0;
	if (!cfg)
		cfg = &def;
	ck_assert_msg(rdb_srv_start(fx.db, cfg, &fx.srv, err, sizeof err) == 0, "start: %s", err);
	snprintf(fx.base, sizeof fx.base, "http://127.0.0.1:%u", (unsigned)rdb_srv_port(fx.srv));
	rdb_srv_config_free(&def);
}

/* The usual test setting: DOCS, default config. */
static void setup_default(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	memset(&fx, 0, sizeof fx);
	make_kb();
	serve(NULL, 0);
}

static void setup_bare(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	memset(&fx, 0, sizeof fx);
	make_kb();
}

static void teardown(void)
{
	rdb_srv_stop(fx.srv, 5);
	ragdb_close(fx.db);
	tu_rmrf(fx.dir);
	free(fx.dir);
	curl_global_cleanup();
}

/* ---------------------------------------------------------------- HTTP */

typedef struct http_res {
	long status;
	char *body;
	size_t len;
	char *hdrs;
	size_t hlen;
	cJSON *json;  /* body parsed, when it is JSON */
} http_res;

static size_t grow(char **buf, size_t *len, const char *data, size_t n)
{
	char *nb = realloc(*buf, *len + n + 1);
	ck_assert_ptr_nonnull(nb);
	memcpy(nb + *len, data, n);
	*len += n;
	nb[*len] = '\0';
	*buf = nb;
	return n;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ctx)
{
	http_res *r = ctx;
	return grow(&r->body, &r->len, p, sz * n);
}

static size_t on_header(char *p, size_t sz, size_t n, void *ctx)
{
	http_res *r = ctx;
	return grow(&r->hdrs, &r->hlen, p, sz * n);
}

static void res_free(http_res *r)
{
	free(r->body);
	free(r->hdrs);
	cJSON_Delete(r->json);
	memset(r, 0, sizeof *r);
}

/* The value of response header @p name (static buffer), or NULL. */
static const char *res_header(const http_res *r, const char *name)
{
	static char val[512];
	size_t n = strlen(name);
	const char *p = r->hdrs;

	while (p && *p) {
		const char *eol = strstr(p, "\r\n");
		if (!eol)
			break;
		if ((size_t)(eol - p) > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1;
			while (*v == ' ')
				v++;
			snprintf(val, sizeof val, "%.*s", (int)(eol - v), v);
			return val;
		}
		p = eol + 2;
	}
	return NULL;
}

/* One request. @p hdrs: NULL-ended list of extra "Name: value" headers. */
static void http_req(const char *method, const char *path, const char *ctype, const char *body,
                     const char *const *hdrs, http_res *r)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char url[4096], ct[256];

	memset(r, 0, sizeof *r);
	ck_assert_ptr_nonnull(c);
	snprintf(url, sizeof url, "%s%s", fx.base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	if (ctype) {
		snprintf(ct, sizeof ct, "Content-Type: %s", ctype);
		h = curl_slist_append(h, ct);
	} else if (body) {
		h = curl_slist_append(h, "Content-Type:"); /* none at all */
	}
	h = curl_slist_append(h, "Expect:");
	for (size_t i = 0; hdrs && hdrs[i]; i++)
		h = curl_slist_append(h, hdrs[i]);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	CURLcode rc = curl_easy_perform(c);
	ck_assert_msg(rc == CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (r->body)
		r->json = cJSON_Parse(r->body);
}

static void post_json(const char *path, const char *body, http_res *r)
{
	http_req("POST", path, "application/json", body, NULL, r);
}

/* An error response: status @p want and {"error": {"type", "message"}}. */
static void assert_error(const http_res *r, long want, const char *type)
{
	const cJSON *e, *t, *m;

	ck_assert_msg(r->status == want, "expected HTTP %ld, got %ld: %s", want, r->status,
	              r->body ? r->body : "");
	e = cJSON_GetObjectItemCaseSensitive(r->json, "error");
	t = cJSON_GetObjectItemCaseSensitive(e, "type");
	m = cJSON_GetObjectItemCaseSensitive(e, "message");
	ck_assert_msg(cJSON_IsString(t) && cJSON_IsString(m) && *m->valuestring,
	              "not a JSON error: %s", r->body ? r->body : "");
	if (type)
		ck_assert_str_eq(t->valuestring, type);
	ck_assert_str_eq(res_header(r, "Content-Type"), "application/json");
}

static const char *jstr(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	ck_assert_msg(cJSON_IsNumber(v), "no number %s", name);
	return v->valuedouble;
}

/* ---------------------------------------------------------------- tests */

/* /health, /ready, /openapi.json and /v1/models answer without a key and
 * say what a user needs: liveness, document counts, the API, the models. */
START_TEST(small_routes)
{
	http_res r;
	const cJSON *paths, *data;

	http_req("GET", "/health", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(jstr(r.json, "status"), "ok");
	res_free(&r);

	http_req("GET", "/ready", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(jstr(r.json, "status"), "ready");
	ck_assert_int_eq((int)jnum(r.json, "documents"), (int)NDOCS);
	res_free(&r);

	http_req("GET", "/openapi.json", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(jstr(r.json, "openapi"), "3.0.3");
	paths = cJSON_GetObjectItemCaseSensitive(r.json, "paths");
	ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(paths, "/v1/search"));
	ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(paths, "/v1/chat/completions"));
	ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(paths, "/v1/documents/{id}"));
	res_free(&r);

	http_req("GET", "/v1/models", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(jstr(r.json, "object"), "list");
	data = cJSON_GetObjectItemCaseSensitive(r.json, "data");
	ck_assert_int_ge(cJSON_GetArraySize(data), 2);
	ck_assert_str_eq(jstr(cJSON_GetArrayItem(data, 0), "id"), "extractive");
	res_free(&r);

	http_req("HEAD", "/health", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	res_free(&r);
}
END_TEST

/* The page and its assets are served from the binary with a strict CSP;
 * the page references only its own files. */
START_TEST(web_assets)
{
	http_res r;

	http_req("GET", "/", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(res_header(&r, "Content-Type"), "text/html"));
	ck_assert_ptr_nonnull(strstr(res_header(&r, "Content-Security-Policy"), "script-src 'self'"));
	ck_assert_ptr_nonnull(strstr(r.body, "/app.js"));
	ck_assert_ptr_null(strstr(r.body, "http://"));
	ck_assert_ptr_null(strstr(r.body, "https://"));
	res_free(&r);
	http_req("GET", "/app.js", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(res_header(&r, "Content-Type"), "javascript"));
	ck_assert_ptr_nonnull(strstr(r.body, "textContent"));
	ck_assert_ptr_null(strstr(r.body, "innerHTML"));
	res_free(&r);
	http_req("GET", "/style.css", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(res_header(&r, "Content-Type"), "text/css"));
	res_free(&r);
	http_req("GET", "/nope.js", NULL, NULL, NULL, &r);
	assert_error(&r, 404, "not_found");
	res_free(&r);
}
END_TEST

/* /v1/search returns ranked hits like `ragdb search --json`. */
START_TEST(search_ok)
{
	http_res r;
	const cJSON *res;
	cJSON *h;

	post_json("/v1/search", "{\"query\": \"restore a database from backup\", \"k\": 2}", &r);
	ck_assert_msg(r.status == 200, "%s", r.body);
	ck_assert_str_eq(jstr(r.json, "query"), "restore a database from backup");
	res = cJSON_GetObjectItemCaseSensitive(r.json, "results");
	ck_assert_int_eq(cJSON_GetArraySize(res), 2);
	h = cJSON_GetArrayItem(res, 0);
	ck_assert_str_eq(jstr(h, "id"), "ops/backup notes.md");
	ck_assert_int_eq((int)jnum(h, "rank"), 1);
	ck_assert_ptr_nonnull(strstr(jstr(h, "text"), "Nightly backups"));
	ck_assert_str_eq(res_header(&r, "Cache-Control"), "no-store");
	res_free(&r);
	/* Filters reach the search: only the documents they admit come back. */
	post_json("/v1/search", "{\"query\": \"keys backup soup\", \"k\": 10, \"filter\": "
	          "[\"id:ops/*\"]}", &r);
	ck_assert_msg(r.status == 200, "%s", r.body);
	res = cJSON_GetObjectItemCaseSensitive(r.json, "results");
	ck_assert_int_ge(cJSON_GetArraySize(res), 1);
	cJSON_ArrayForEach(h, res)
		ck_assert_str_eq(jstr(h, "id"), "ops/backup notes.md");
	res_free(&r);
	/* No Content-Type at all is taken as JSON (curl -d users). */
	http_req("POST", "/v1/search", NULL, "{\"query\": \"soup\"}", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	res_free(&r);
}
END_TEST

/* Bad search requests get 400 with a JSON error, never a crash: missing
 * or empty query, k out of range, wrong types, broken or too deep JSON,
 * an unknown mode. */
START_TEST(search_bad_requests)
{
	static const char *const bodies[] = {
		"{}", "{\"query\": \"\"}", "{\"query\": 5}", "{\"query\": \"x\", \"k\": 0}",
		"{\"query\": \"x\", \"k\": 1001}", "{\"query\": \"x\", \"k\": 2.5}",
		"{\"query\": \"x\", \"k\": \"3\"}", "{\"query\": \"x\", \"mode\": \"magic\"}",
		"{\"query\": \"x\", \"filter\": 7}", "[1, 2]", "{\"query\": ", "", "nul\x01l",
	};
	http_res r;
	char deep[400];

	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		post_json("/v1/search", bodies[i], &r);
		assert_error(&r, 400, "invalid_request_error");
		res_free(&r);
	}
	memset(deep, '[', 200);
	deep[200] = '\0';
	post_json("/v1/search", deep, &r);
	assert_error(&r, 400, NULL);
	ck_assert_ptr_nonnull(strstr(r.body, "deeper"));
	res_free(&r);
}
END_TEST

/* Wrong method (405 with Allow), unknown path (404), wrong content type
 * (415), OPTIONS (204 with Allow). */
START_TEST(method_path_type_errors)
{
	http_res r;

	http_req("GET", "/v1/search", NULL, NULL, NULL, &r);
	assert_error(&r, 405, "method_not_allowed");
	ck_assert_ptr_nonnull(strstr(res_header(&r, "Allow"), "POST"));
	res_free(&r);
	http_req("DELETE", "/v1/documents", NULL, NULL, NULL, &r);
	assert_error(&r, 405, NULL);
	res_free(&r);
	http_req("PUT", "/health", NULL, "x", NULL, &r);
	assert_error(&r, 405, NULL);
	res_free(&r);
	http_req("GET", "/v2/whatever", NULL, NULL, NULL, &r);
	assert_error(&r, 404, "not_found");
	res_free(&r);
	http_req("POST", "/v1/search", "text/plain", "{\"query\": \"x\"}", NULL, &r);
	assert_error(&r, 415, "unsupported_media_type");
	res_free(&r);
	http_req("POST", "/v1/search", "application/x-www-form-urlencoded", "query=x", NULL, &r);
	assert_error(&r, 415, NULL);
	res_free(&r);
	http_req("OPTIONS", "/v1/search", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 204);
	ck_assert_ptr_nonnull(strstr(res_header(&r, "Allow"), "POST"));
	ck_assert_ptr_null(res_header(&r, "Access-Control-Allow-Origin"));
	res_free(&r);
}
END_TEST

/* /v1/query answers with citations and sources; "model" set to any name
 * that is not configured gets the default (extractive) answerer. */
START_TEST(query_json)
{
	http_res r;
	const cJSON *src, *usage;

	post_json("/v1/query", "{\"question\": \"How do I rotate the signing keys?\", \"k\": 3}", &r);
	ck_assert_msg(r.status == 200, "%s", r.body);
	ck_assert_ptr_nonnull(strstr(jstr(r.json, "answer"), "[1]"));
	ck_assert_str_eq(jstr(r.json, "model"), "extractive");
	src = cJSON_GetObjectItemCaseSensitive(r.json, "sources");
	ck_assert_int_ge(cJSON_GetArraySize(src), 1);
	ck_assert_str_eq(jstr(cJSON_GetArrayItem(src, 0), "id"), "keys");
	ck_assert_int_eq((int)jnum(cJSON_GetArrayItem(src, 0), "n"), 1);
	usage = cJSON_GetObjectItemCaseSensitive(r.json, "usage");
	ck_assert(cJSON_IsObject(usage));
	ck_assert(jnum(r.json, "took_ms") >= 0);
	res_free(&r);

	post_json("/v1/query", "{\"question\": \"How do I rotate the signing keys?\", "
	          "\"model\": \"gpt-4o-mini\"}", &r);
	ck_assert_msg(r.status == 200, "%s", r.body);
	ck_assert_str_eq(jstr(r.json, "model"), "extractive");
	res_free(&r);

	post_json("/v1/query", "{\"question\": \"\"}", &r);
	assert_error(&r, 400, NULL);
	res_free(&r);
	post_json("/v1/query", "{\"question\": \"x\", \"stream\": \"yes\"}", &r);
	assert_error(&r, 400, NULL);
	res_free(&r);
}
END_TEST

/* A model named in the configuration is passed to the library: an
 * unreachable configured model gives an error that names it, not a
 * silent fallback. */
START_TEST(query_configured_model_passed)
{
	rdb_srv_config cfg;
	char cfgpath[4200], err[512];
	http_res r;
	const char *json = "{\"models\": {\"house-llm\": {\"provider\": \"openai\", \"model\": "
	                   "\"m\", \"endpoint\": \"http://127.0.0.1:9/v1\", \"api_key\": \"k\"}}, "
	                   "\"timeout\": 5, \"max_retries\": 0}";

	snprintf(cfgpath, sizeof cfgpath, "%s/ragdb.json", fx.kb);
	ck_assert_int_eq(tu_write_file(cfgpath, json, strlen(json)), 0);
	rdb_srv_config_init(&cfg);
	ck_assert_msg(rdb_srv_config_load(&cfg, cfgpath, err, sizeof err) == 0, "%s", err);
	ck_assert(rdb_srv_config_has_model(&cfg, "house-llm"));
	cfg.port = 0;
	cfg.rate_limit = 0;
	serve(&cfg, 0);
	rdb_srv_config_free(&cfg);

	post_json("/v1/query", "{\"question\": \"How do I rotate the signing keys?\", "
	          "\"model\": \"house-llm\"}", &r);
	ck_assert_msg(r.status >= 400, "expected an error, got %ld: %s", r.status, r.body);
	assert_error(&r, r.status, NULL);
	ck_assert_msg(strstr(r.body, "house-llm") && strstr(r.body, "127.0.0.1:9"),
	              "the error should name the model and its endpoint: %s", r.body);
	res_free(&r);

	http_req("GET", "/v1/models", NULL, NULL, NULL, &r);
	ck_assert_ptr_nonnull(strstr(r.body, "\"house-llm\""));
	res_free(&r);
}
END_TEST

/* "stream": true gives server-sent events: deltas, then the sources, then
 * done, in that order. */
START_TEST(query_stream)
{
	http_res r;
	const char *d, *s, *e;

	post_json("/v1/query", "{\"question\": \"How do I rotate the signing keys?\", \"stream\": true}",
	          &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(res_header(&r, "Content-Type"), "text/event-stream"));
	d = strstr(r.body, "event: delta\ndata: {\"text\":");
	s = strstr(r.body, "event: sources\ndata: {");
	e = strstr(r.body, "event: done\n");
	ck_assert_msg(d && s && e && d < s && s < e, "stream: %s", r.body);
	ck_assert_ptr_nonnull(strstr(s, "\"id\":\"keys\""));
	res_free(&r);
}
END_TEST

/* Documents: add one (201), again unchanged (200), a batch, list with a
 * cursor, show by an id holding '/' and a space (percent-encoded), delete,
 * and 404 after. */
START_TEST(documents_crud)
{
	http_res r;
	const cJSON *docs;
	char next[256];

	post_json("/v1/documents", "{\"id\": \"new/doc one.txt\", \"title\": \"Espresso\", \"text\": "
	          "\"The espresso machine is descaled every Thursday.\", \"metadata\": {\"team\": "
	          "\"ops\"}}", &r);
	ck_assert_msg(r.status == 201, "%s", r.body);
	ck_assert_int_eq((int)jnum(r.json, "added"), 1);
	docs = cJSON_GetObjectItemCaseSensitive(r.json, "documents");
	ck_assert_str_eq(jstr(cJSON_GetArrayItem(docs, 0), "action"), "added");
	res_free(&r);
	post_json("/v1/documents", "{\"id\": \"new/doc one.txt\", \"title\": \"Espresso\", \"text\": "
	          "\"The espresso machine is descaled every Thursday.\", \"metadata\": {\"team\": "
	          "\"ops\"}}", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq((int)jnum(r.json, "unchanged"), 1);
	res_free(&r);
	post_json("/v1/documents", "[{\"text\": \"Parking permits are renewed in January.\"}, "
	          "{\"id\": \"b2\", \"text\": \"The library closes at six.\"}]", &r);
	ck_assert_msg(r.status == 201, "%s", r.body);
	ck_assert_int_eq((int)jnum(r.json, "added"), 2);
	{
		/* The document sent without an id got one made from its text. */
		const cJSON *d;
		int generated = 0;
		docs = cJSON_GetObjectItemCaseSensitive(r.json, "documents");
		cJSON_ArrayForEach(d, docs)
			generated += strncmp(jstr(d, "id"), "doc-", 4) == 0;
		ck_assert_int_eq(generated, 1);
	}
	res_free(&r);

	/* It is searchable at once. */
	post_json("/v1/search", "{\"query\": \"when is the espresso machine descaled\", \"k\": 1}", &r);
	ck_assert_ptr_nonnull(strstr(r.body, "new/doc one.txt"));
	res_free(&r);

	http_req("GET", "/v1/documents?limit=2", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r.json, "documents")), 2);
	ck_assert_int_eq((int)jnum(r.json, "total"), (int)NDOCS + 3);
	ck_assert_ptr_nonnull(jstr(r.json, "next"));
	snprintf(next, sizeof next, "/v1/documents?limit=100&after=%s", jstr(r.json, "next"));
	res_free(&r);
	http_req("GET", next, NULL, NULL, NULL, &r);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r.json, "documents")),
	                 (int)NDOCS + 3 - 2);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r.json, "next")));
	res_free(&r);
	http_req("GET", "/v1/documents?limit=0", NULL, NULL, NULL, &r);
	assert_error(&r, 400, NULL);
	res_free(&r);

	http_req("GET", "/v1/documents/new%2Fdoc%20one.txt", NULL, NULL, NULL, &r);
	ck_assert_msg(r.status == 200, "%s", r.body);
	ck_assert_str_eq(jstr(r.json, "id"), "new/doc one.txt");
	ck_assert_str_eq(jstr(r.json, "title"), "Espresso");
	ck_assert_ptr_nonnull(strstr(jstr(r.json, "text"), "descaled every Thursday"));
	ck_assert_str_eq(jstr(cJSON_GetObjectItemCaseSensitive(r.json, "metadata"), "team"), "ops");
	res_free(&r);
	/* The '/' may also be sent as it is. */
	http_req("GET", "/v1/documents/ops/backup%20notes.md", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	res_free(&r);

	http_req("DELETE", "/v1/documents/new%2Fdoc%20one.txt", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r.json, "deleted")));
	res_free(&r);
	http_req("GET", "/v1/documents/new%2Fdoc%20one.txt", NULL, NULL, NULL, &r);
	assert_error(&r, 404, "not_found");
	res_free(&r);
	http_req("DELETE", "/v1/documents/new%2Fdoc%20one.txt", NULL, NULL, NULL, &r);
	assert_error(&r, 404, NULL);
	res_free(&r);
}
END_TEST

/* Ids are data, never paths: asking for ../../etc/passwd finds no such
 * document and shows nothing of the file. */
START_TEST(documents_ids_are_not_paths)
{
	http_res r;

	http_req("GET", "/v1/documents/..%2F..%2F..%2F..%2Fetc%2Fpasswd", NULL, NULL, NULL, &r);
	assert_error(&r, 404, NULL);
	ck_assert_ptr_null(strstr(r.body, "root:"));
	res_free(&r);
	http_req("GET", "/v1/documents//etc/passwd", NULL, NULL, NULL, &r);
	assert_error(&r, 404, NULL);
	ck_assert_ptr_null(strstr(r.body, "root:"));
	res_free(&r);
	/* A "source" that names a file is stored as a name; the text is what was sent. */
	post_json("/v1/documents", "{\"id\": \"p\", \"source\": \"/etc/passwd\", \"text\": \"hello\"}", &r);
	ck_assert_int_eq(r.status, 201);
	res_free(&r);
	http_req("GET", "/v1/documents/p", NULL, NULL, NULL, &r);
	ck_assert_str_eq(jstr(r.json, "text"), "hello");
	res_free(&r);
}
END_TEST

/* Bad documents: no text, metadata not an object, an id with control
 * characters, an empty batch, a binary upload (415), a form without a file. */
START_TEST(documents_bad)
{
	http_res r;
	CURL *c;
	curl_mime *mime;
	curl_mimepart *part;
	char url[256];
	long status = 0;
	static const char binary[] = "PK\x03\x04\0\0binary";

	post_json("/v1/documents", "{\"id\": \"x\"}", &r);
	assert_error(&r, 400, NULL);
	res_free(&r);
	post_json("/v1/documents", "{\"id\": \"x\", \"text\": \"t\", \"metadata\": [1]}", &r);
	assert_error(&r, 400, NULL);
	res_free(&r);
	post_json("/v1/documents", "{\"id\": \"a\\nb\", \"text\": \"t\"}", &r);
	assert_error(&r, 400, NULL);
	res_free(&r);
	post_json("/v1/documents", "[]", &r);
	assert_error(&r, 400, NULL);
	res_free(&r);
	post_json("/v1/documents", "[{\"id\": \"d\", \"text\": \"a\"}, {\"id\": \"d\", \"text\": \"b\"}]", &r);
	assert_error(&r, 400, NULL);
	res_free(&r);

	c = curl_easy_init();
	memset(&r, 0, sizeof r);
	snprintf(url, sizeof url, "%s/v1/documents", fx.base);
	mime = curl_mime_init(c);
	part = curl_mime_addpart(mime);
	curl_mime_name(part, "file");
	curl_mime_filename(part, "archive.zip");
	curl_mime_data(part, binary, sizeof binary - 1);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	ck_assert_msg(status == 415, "binary upload: %ld %s", status, r.body);
	curl_mime_free(mime);
	free(r.body);
	memset(&r, 0, sizeof r);

	mime = curl_mime_init(c);
	part = curl_mime_addpart(mime);
	curl_mime_name(part, "title");
	curl_mime_data(part, "no file here", CURL_ZERO_TERMINATED);
	curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
	ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	ck_assert_int_eq(status, 400);
	ck_assert_ptr_nonnull(strstr(r.body, "no file"));
	curl_mime_free(mime);
	free(r.body);
	curl_easy_cleanup(c);
}
END_TEST

/* A multipart upload stores the file under its name, with the title field;
 * a Markdown file is chunked as Markdown and found by search. */
START_TEST(documents_upload)
{
	static const char md[] = "# Bicycle storage\n\nBicycles are kept in the basement "
	                         "rack; the door code changes monthly.\n";
	CURL *c = curl_easy_init();
	curl_mime *mime = curl_mime_init(c);
	curl_mimepart *part;
	http_res r;
	char url[256];
	long status = 0;

	memset(&r, 0, sizeof r);
	snprintf(url, sizeof url, "%s/v1/documents", fx.base);
	part = curl_mime_addpart(mime);
	curl_mime_name(part, "title");
	curl_mime_data(part, "Where bikes go", CURL_ZERO_TERMINATED);
	part = curl_mime_addpart(mime);
	curl_mime_name(part, "file");
	curl_mime_filename(part, "../../bikes.md");
	curl_mime_type(part, "text/markdown");
	curl_mime_data(part, md, sizeof md - 1);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	ck_assert_msg(status == 201, "%ld %s", status, r.body);
	ck_assert_ptr_nonnull(strstr(r.body, "\"id\":\"bikes.md\""));
	curl_mime_free(mime);
	curl_easy_cleanup(c);
	free(r.body);

	http_req("GET", "/v1/documents/bikes.md", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(jstr(r.json, "title"), "Where bikes go");
	res_free(&r);
	post_json("/v1/search", "{\"query\": \"where are bicycles kept\", \"k\": 1}", &r);
	ck_assert_ptr_nonnull(strstr(r.body, "bikes.md"));
	res_free(&r);
}
END_TEST

/* A PDF (binary, with a reader) uploads and its text is stored. */
START_TEST(documents_upload_pdf)
{
	const char *data = getenv("RAGDB_TEST_DATA");
	char path[4096], url[256];
	CURL *c = curl_easy_init();
	curl_mime *mime = curl_mime_init(c);
	curl_mimepart *part;
	http_res r;
	long status = 0;

	snprintf(path, sizeof path, "%s/readers/sample.pdf", data ? data : "tests/fixtures");
	memset(&r, 0, sizeof r);
	snprintf(url, sizeof url, "%s/v1/documents", fx.base);
	part = curl_mime_addpart(mime);
	curl_mime_name(part, "file");
	ck_assert_int_eq(curl_mime_filedata(part, path), CURLE_OK);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	ck_assert_msg(status == 201, "%ld %s", status, r.body);
	curl_mime_free(mime);
	curl_easy_cleanup(c);
	free(r.body);
	http_req("GET", "/v1/documents/sample.pdf", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_gt((int)jnum(r.json, "chunks"), 0);
	ck_assert_int_gt((int)strlen(jstr(r.json, "text")), 20);
	res_free(&r);
}
END_TEST

/* /metrics: Prometheus text with requests by route and status, latency
 * histograms, ingest counters and the index size. */
START_TEST(metrics)
{
	http_res r;

	post_json("/v1/search", "{\"query\": \"soup\"}", &r);
	res_free(&r);
	post_json("/v1/search", "{}", &r);
	res_free(&r);
	post_json("/v1/documents", "{\"id\": \"m\", \"text\": \"metrics text\"}", &r);
	res_free(&r);
	http_req("GET", "/metrics", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(res_header(&r, "Content-Type"), "text/plain"));
	ck_assert_ptr_nonnull(strstr(r.body, "ragdb_http_requests_total{route=\"/v1/search\",status=\"200\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "ragdb_http_requests_total{route=\"/v1/search\",status=\"400\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "ragdb_http_request_duration_seconds_bucket{route=\"/v1/search\",le=\"+Inf\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "ragdb_ingest_documents_total{action=\"added\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "ragdb_index_documents 4\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "# TYPE ragdb_http_request_duration_seconds histogram"));
	res_free(&r);
}
END_TEST

/* API keys: none or a wrong one is 401 (with WWW-Authenticate); a
 * read-only key searches but gets 403 on writes; a read-write key writes;
 * /health needs no key. */
START_TEST(api_keys)
{
	rdb_srv_config cfg;
	char err[256];
	http_res r;
	const char *rw[] = { "Authorization: Bearer rw-key-123456", NULL };
	const char *ro[] = { "Authorization: Bearer ro-key-123456", NULL };
	const char *bad[] = { "Authorization: Bearer rw-key-12345", NULL };
	const char *basic[] = { "Authorization: Basic cnc6a2V5", NULL };

	rdb_srv_config_init(&cfg);
	ck_assert_int_eq(rdb_srv_config_set_keys(&cfg, "rw-key-123456, ro:ro-key-123456", err,
	                                         sizeof err), 0);
	ck_assert_int_eq(cfg.n_keys, 2);
	cfg.port = 0;
	cfg.rate_limit = 0;
	serve(&cfg, 0);
	rdb_srv_config_free(&cfg);

	post_json("/v1/search", "{\"query\": \"soup\"}", &r);
	assert_error(&r, 401, "authentication_error");
	ck_assert_ptr_nonnull(strstr(res_header(&r, "WWW-Authenticate"), "Bearer"));
	res_free(&r);
	http_req("POST", "/v1/search", "application/json", "{\"query\": \"soup\"}", bad, &r);
	assert_error(&r, 401, NULL);
	res_free(&r);
	http_req("POST", "/v1/search", "application/json", "{\"query\": \"soup\"}", basic, &r);
	assert_error(&r, 401, NULL);
	res_free(&r);
	http_req("POST", "/v1/search", "application/json", "{\"query\": \"soup\"}", ro, &r);
	ck_assert_int_eq(r.status, 200);
	res_free(&r);
	http_req("POST", "/v1/query", "application/json", "{\"question\": \"soup?\"}", ro, &r);
	ck_assert_int_eq(r.status, 200);
	res_free(&r);
	http_req("POST", "/v1/documents", "application/json", "{\"id\": \"k\", \"text\": \"t\"}", ro, &r);
	assert_error(&r, 403, "permission_denied");
	res_free(&r);
	http_req("DELETE", "/v1/documents/keys", NULL, NULL, ro, &r);
	assert_error(&r, 403, NULL);
	res_free(&r);
	http_req("POST", "/v1/documents", "application/json", "{\"id\": \"k\", \"text\": \"t\"}", rw, &r);
	ck_assert_int_eq(r.status, 201);
	res_free(&r);
	http_req("GET", "/metrics", NULL, NULL, NULL, &r);
	assert_error(&r, 401, NULL);
	res_free(&r);
	http_req("GET", "/health", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	res_free(&r);
	http_req("GET", "/", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	res_free(&r);
}
END_TEST

/* The server refuses to listen beyond loopback without keys, and key and
 * listen settings are checked. */
START_TEST(start_refusals)
{
	rdb_srv_config cfg;
	rdb_srv *s = NULL;
	char err[1024];

	ck_assert_int_eq(ragdb_open(fx.kb, 0, &fx.db), RAGDB_OK);
	rdb_srv_config_init(&cfg);
	ck_assert_int_eq(rdb_srv_config_set_listen(&cfg, "0.0.0.0:0", err, sizeof err), 0);
	ck_assert_int_ne(rdb_srv_start(fx.db, &cfg, &s, err, sizeof err), 0);
	ck_assert_ptr_nonnull(strstr(err, "without API keys"));
	ck_assert_int_ne(rdb_srv_config_set_listen(&cfg, "example.com:80", err, sizeof err), 0);
	ck_assert_int_ne(rdb_srv_config_set_listen(&cfg, "127.0.0.1:99999", err, sizeof err), 0);
	ck_assert_int_eq(rdb_srv_config_set_listen(&cfg, "[::1]:8081", err, sizeof err), 0);
	ck_assert_str_eq(cfg.host, "::1");
	ck_assert_int_eq(cfg.port, 8081);
	ck_assert(rdb_srv_host_is_loopback("::1"));
	ck_assert(rdb_srv_host_is_loopback("127.0.0.2"));
	ck_assert(!rdb_srv_host_is_loopback("10.0.0.1"));
	ck_assert_int_ne(rdb_srv_config_set_keys(&cfg, "short", err, sizeof err), 0);
	ck_assert_int_ne(rdb_srv_config_set_keys(&cfg, "has space inside", err, sizeof err), 0);
	rdb_srv_config_free(&cfg);
}
END_TEST

/* A config file's server section is read; unknown settings are refused so
 * typos do not pass silently; "${VAR}" keys come from the environment. */
START_TEST(config_file)
{
	rdb_srv_config cfg;
	char path[4200], err[1024];
	const char *good = "{\"server\": {\"listen\": \"127.0.0.1:9090\", \"threads\": 3, "
	                   "\"api_keys\": [\"plain-key-1234\", \"ro:readonly-key-1\", "
	                   "{\"key\": \"${SRV_TEST_KEY}\", \"read_only\": true}], "
	                   "\"cors_origins\": [\"http://localhost:3000\"], \"max_k\": 50, "
	                   "\"rate_limit\": 5}, \"models\": {\"a\": {}, \"b\": {}}, \"timeout\": 3}";
	const char *typo = "{\"server\": {\"max_bodybytes\": 10}}";

	setenv("SRV_TEST_KEY", "from-the-environment", 1);
	snprintf(path, sizeof path, "%s/c.json", fx.dir);
	ck_assert_int_eq(tu_write_file(path, good, strlen(good)), 0);
	rdb_srv_config_init(&cfg);
	ck_assert_msg(rdb_srv_config_load(&cfg, path, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(cfg.port, 9090);
	ck_assert_int_eq(cfg.threads, 3);
	ck_assert_int_eq(cfg.n_keys, 3);
	ck_assert_int_eq(cfg.keys[1].read_only, 1);
	ck_assert_str_eq(cfg.keys[2].key, "from-the-environment");
	ck_assert_int_eq(cfg.keys[2].read_only, 1);
	ck_assert_int_eq(cfg.n_cors_origins, 1);
	ck_assert_int_eq(cfg.max_k, 50);
	ck_assert(rdb_srv_config_has_model(&cfg, "b"));
	ck_assert(!rdb_srv_config_has_model(&cfg, "gpt-4o"));
	rdb_srv_config_free(&cfg);

	ck_assert_int_eq(tu_write_file(path, typo, strlen(typo)), 0);
	rdb_srv_config_init(&cfg);
	ck_assert_int_ne(rdb_srv_config_load(&cfg, path, err, sizeof err), 0);
	ck_assert_ptr_nonnull(strstr(err, "max_bodybytes"));
	rdb_srv_config_free(&cfg);
}
END_TEST

/* CORS is off by default (no Access-Control headers); with an allow-list,
 * a listed origin gets them and its preflight 204, another origin's
 * preflight 403. */
START_TEST(cors)
{
	rdb_srv_config cfg;
	http_res r;
	const char *good[] = { "Origin: http://app.example", "Access-Control-Request-Method: POST",
	                       NULL };
	const char *evil[] = { "Origin: http://evil.example", "Access-Control-Request-Method: POST",
	                       NULL };
	const char *plain[] = { "Origin: http://app.example", NULL };

	rdb_srv_config_init(&cfg);
	cfg.port = 0;
	cfg.rate_limit = 0;
	cfg.cors_origins[0] = strdup("http://app.example");
	cfg.n_cors_origins = 1;
	serve(&cfg, 0);
	rdb_srv_config_free(&cfg);

	http_req("OPTIONS", "/v1/search", NULL, NULL, good, &r);
	ck_assert_int_eq(r.status, 204);
	ck_assert_str_eq(res_header(&r, "Access-Control-Allow-Origin"), "http://app.example");
	ck_assert_ptr_nonnull(strstr(res_header(&r, "Access-Control-Allow-Headers"), "Authorization"));
	res_free(&r);
	http_req("OPTIONS", "/v1/search", NULL, NULL, evil, &r);
	assert_error(&r, 403, "cors_error");
	ck_assert_ptr_null(res_header(&r, "Access-Control-Allow-Origin"));
	res_free(&r);
	http_req("POST", "/v1/search", "application/json", "{\"query\": \"soup\"}", plain, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(res_header(&r, "Access-Control-Allow-Origin"), "http://app.example");
	res_free(&r);
}
END_TEST

/* Limits: a body over max_body_bytes is 413 (by Content-Length, and when
 * sent chunked without one); the rate limit gives 429 with Retry-After;
 * with no stream slot free a streaming request is 503. */
START_TEST(limits)
{
	rdb_srv_config cfg;
	http_res r;
	char *big = malloc(10000);
	const char *chunked[] = { "Transfer-Encoding: chunked", NULL };
	int got429 = 0;

	rdb_srv_config_init(&cfg);
	cfg.port = 0;
	cfg.max_body_bytes = 4096;
	cfg.rate_limit = 0.5;
	cfg.rate_burst = 6;
	cfg.max_streams = 0;
	serve(&cfg, 0);

	memset(big, 'a', 9999);
	memcpy(big, "{\"query\": \"", 11);
	memcpy(big + 9996, "\"}", 3);
	post_json("/v1/search", big, &r);
	assert_error(&r, 413, "request_too_large");
	res_free(&r);
	http_req("POST", "/v1/search", "application/json", big, chunked, &r);
	assert_error(&r, 413, NULL);
	res_free(&r);
	post_json("/v1/query", "{\"question\": \"soup?\", \"stream\": true}", &r);
	assert_error(&r, 503, "unavailable");
	ck_assert_ptr_nonnull(res_header(&r, "Retry-After"));
	res_free(&r);
	/* 3 requests used of the burst of 6; the rest of it, then 429. */
	for (int i = 0; i < 6 && !got429; i++) {
		http_req("GET", "/v1/models", NULL, NULL, NULL, &r);
		if (r.status == 429) {
			assert_error(&r, 429, "rate_limit_exceeded");
			ck_assert_int_ge(atoi(res_header(&r, "Retry-After")), 1);
			got429 = 1;
		}
		res_free(&r);
	}
	ck_assert_msg(got429, "no 429 after the burst was used up");
	/* Liveness probes are not rate limited. */
	http_req("GET", "/health", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	res_free(&r);
	rdb_srv_config_free(&cfg);
	free(big);
}
END_TEST

/* A read-only server refuses writes with 403 and still searches. */
START_TEST(read_only_server)
{
	rdb_srv_config cfg;
	http_res r;

	rdb_srv_config_init(&cfg);
	cfg.port = 0;
	cfg.rate_limit = 0;
	cfg.read_only = 1;
	serve(&cfg, RAGDB_RDONLY);
	post_json("/v1/documents", "{\"id\": \"x\", \"text\": \"y\"}", &r);
	assert_error(&r, 403, "permission_denied");
	res_free(&r);
	post_json("/v1/search", "{\"query\": \"soup\"}", &r);
	ck_assert_int_eq(r.status, 200);
	res_free(&r);
	rdb_srv_config_free(&cfg);
}
END_TEST

/* A knowledge base whose chunk records are damaged gives 500 with a JSON
 * error (and the server goes on answering), not a crash. */
START_TEST(server_error_500)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *cur;
	MDB_val k, v;
	unsigned char junk[16];
	http_res r;

	memset(junk, 0xff, sizeof junk);
	ck_assert_int_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 64);
	mdb_env_set_mapsize(env, 1ull << 30);
	ck_assert_int_eq(mdb_env_open(env, fx.kb, 0, 0644), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "chunks", 0, &dbi), 0);
	ck_assert_int_eq(mdb_cursor_open(txn, dbi, &cur), 0);
	while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
		/* The key is copied out: it points into the page the put rewrites. */
		unsigned char key[8];
		MDB_val kc = { sizeof key, key }, nv = { sizeof junk, junk };
		ck_assert_uint_eq(k.mv_size, sizeof key);
		memcpy(key, k.mv_data, sizeof key);
		ck_assert_int_eq(mdb_cursor_put(cur, &kc, &nv, MDB_CURRENT), 0);
	}
	mdb_cursor_close(cur);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	serve(NULL, 0);

	http_req("GET", "/v1/documents/keys", NULL, NULL, NULL, &r);
	assert_error(&r, 500, "server_error");
	res_free(&r);
	http_req("GET", "/health", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	res_free(&r);
}
END_TEST

/* /ready is 503 when the knowledge base cannot be used (here: a handle
 * whose open failed). */
START_TEST(not_ready_503)
{
	char err[512], missing[4200];
	rdb_srv_config cfg;
	http_res r;

	snprintf(missing, sizeof missing, "%s/none", fx.dir);
	ck_assert_int_ne(ragdb_open(missing, 0, &fx.db), RAGDB_OK);
	rdb_srv_config_init(&cfg);
	cfg.port = 0;
	ck_assert_int_eq(rdb_srv_start(fx.db, &cfg, &fx.srv, err, sizeof err), 0);
	snprintf(fx.base, sizeof fx.base, "http://127.0.0.1:%u", (unsigned)rdb_srv_port(fx.srv));
	http_req("GET", "/ready", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 503);
	ck_assert_str_eq(jstr(r.json, "status"), "unavailable");
	res_free(&r);
	http_req("GET", "/health", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	res_free(&r);
	rdb_srv_config_free(&cfg);
}
END_TEST

/* OpenAI embeddings: one vector per input, in order, unit length, float
 * and base64 encodings agree; wrong inputs are 400. */
START_TEST(openai_embeddings)
{
	http_res r, r64;
	const cJSON *data, *e0, *emb;
	double norm = 0;
	int dim;

	post_json("/v1/embeddings", "{\"model\": \"anything\", \"input\": [\"soup on Mondays\", "
	          "\"signing keys\"]}", &r);
	ck_assert_msg(r.status == 200, "%s", r.body);
	ck_assert_str_eq(jstr(r.json, "object"), "list");
	data = cJSON_GetObjectItemCaseSensitive(r.json, "data");
	ck_assert_int_eq(cJSON_GetArraySize(data), 2);
	e0 = cJSON_GetArrayItem(data, 0);
	ck_assert_str_eq(jstr(e0, "object"), "embedding");
	ck_assert_int_eq((int)jnum(cJSON_GetArrayItem(data, 1), "index"), 1);
	emb = cJSON_GetObjectItemCaseSensitive(e0, "embedding");
	dim = cJSON_GetArraySize(emb);
	ck_assert_int_gt(dim, 8);
	for (int i = 0; i < dim; i++) {
		double x = cJSON_GetArrayItem(emb, i)->valuedouble;
		norm += x * x;
	}
	ck_assert_msg(norm > 0.98 && norm < 1.02, "norm %f", norm);
	ck_assert((int)jnum(cJSON_GetObjectItemCaseSensitive(r.json, "usage"), "prompt_tokens") > 0);

	post_json("/v1/embeddings", "{\"model\": \"x\", \"input\": \"soup on Mondays\", "
	          "\"encoding_format\": \"base64\"}", &r64);
	ck_assert_int_eq(r64.status, 200);
	{
		const char *b = jstr(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r64.json, "data"), 0),
		                     "embedding");
		ck_assert_ptr_nonnull(b);
		ck_assert_int_eq((int)strlen(b), (int)(4 * ((dim * 4 + 2) / 3)));
	}
	res_free(&r64);
	res_free(&r);

	post_json("/v1/embeddings", "{\"input\": [1, 2, 3]}", &r);
	assert_error(&r, 400, NULL);
	res_free(&r);
	post_json("/v1/embeddings", "{\"input\": []}", &r);
	assert_error(&r, 400, NULL);
	res_free(&r);
	post_json("/v1/embeddings", "{\"input\": \"x\", \"dimensions\": 3}", &r);
	assert_error(&r, 400, NULL);
	res_free(&r);
	post_json("/v1/embeddings", "{\"input\": \"x\", \"encoding_format\": \"hex\"}", &r);
	assert_error(&r, 400, NULL);
	res_free(&r);
}
END_TEST

/* OpenAI chat: a grounded answer from the last user message, usage filled,
 * sources in an extra field; streaming in chunk format ending [DONE]. */
START_TEST(openai_chat)
{
	http_res r;
	const cJSON *ch, *usage;

	post_json("/v1/chat/completions", "{\"model\": \"gpt-4o\", \"messages\": ["
	          "{\"role\": \"system\", \"content\": \"Be brief.\"},"
	          "{\"role\": \"user\", \"content\": \"What is for lunch?\"},"
	          "{\"role\": \"assistant\", \"content\": \"Soup.\"},"
	          "{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"How do I rotate "
	          "the signing keys?\"}]}]}", &r);
	ck_assert_msg(r.status == 200, "%s", r.body);
	ck_assert_str_eq(jstr(r.json, "object"), "chat.completion");
	ch = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r.json, "choices"), 0);
	ck_assert_str_eq(jstr(ch, "finish_reason"), "stop");
	ck_assert_str_eq(jstr(cJSON_GetObjectItemCaseSensitive(ch, "message"), "role"), "assistant");
	ck_assert_ptr_nonnull(strstr(jstr(cJSON_GetObjectItemCaseSensitive(ch, "message"), "content"),
	                             "[1]"));
	usage = cJSON_GetObjectItemCaseSensitive(r.json, "usage");
	ck_assert(jnum(usage, "prompt_tokens") > 0 && jnum(usage, "completion_tokens") > 0);
	ck_assert_int_eq((int)jnum(usage, "total_tokens"),
	                 (int)(jnum(usage, "prompt_tokens") + jnum(usage, "completion_tokens")));
	ck_assert_str_eq(jstr(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r.json, "sources"), 0),
	                      "id"), "keys");
	res_free(&r);

	post_json("/v1/chat/completions", "{\"model\": \"m\", \"stream\": true, \"stream_options\": "
	          "{\"include_usage\": true}, \"messages\": [{\"role\": \"user\", \"content\": \"How do "
	          "I rotate the signing keys?\"}]}", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "data: {\"id\":\"chatcmpl-"));
	ck_assert_ptr_nonnull(strstr(r.body, "\"object\":\"chat.completion.chunk\""));
	ck_assert_ptr_nonnull(strstr(r.body, "\"role\":\"assistant\""));
	ck_assert_ptr_nonnull(strstr(r.body, "\"finish_reason\":\"stop\""));
	ck_assert_ptr_nonnull(strstr(r.body, "\"choices\":[],\"usage\":{"));
	ck_assert_msg(strlen(r.body) > 14 && strcmp(r.body + strlen(r.body) - 14, "data: [DONE]\n\n") == 0,
	              "does not end with [DONE]: %s", r.body);
	res_free(&r);

	post_json("/v1/chat/completions", "{\"messages\": []}", &r);
	assert_error(&r, 400, NULL);
	res_free(&r);
	post_json("/v1/chat/completions", "{\"messages\": [{\"role\": \"assistant\", \"content\": "
	          "\"hi\"}]}", &r);
	assert_error(&r, 400, NULL);
	ck_assert_ptr_nonnull(strstr(r.body, "no user message"));
	res_free(&r);
	post_json("/v1/chat/completions", "{\"messages\": [{\"role\": \"wizard\", \"content\": \"x\"}]}", &r);
	assert_error(&r, 400, NULL);
	res_free(&r);
}
END_TEST

/* Writes through the API go on while searches are served: two threads
 * search while the test adds documents; every request succeeds and the
 * new documents are found. */
typedef struct search_loop {
	volatile int stop;
	int failures, done;
} search_loop;

static void *searcher(void *arg)
{
	search_loop *sl = arg;
	while (!sl->stop) {
		http_res r;
		post_json("/v1/search", "{\"query\": \"restore a database from backup\", \"k\": 3}", &r);
		if (r.status != 200 || !strstr(r.body, "backup"))
			sl->failures++;
		sl->done++;
		res_free(&r);
	}
	return NULL;
}

START_TEST(writes_during_searches)
{
	search_loop sl = { 0, 0, 0 };
	pthread_t t[2];
	char body[256];
	http_res r;

	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, searcher, &sl);
	for (int i = 0; i < 20; i++) {
		snprintf(body, sizeof body, "{\"id\": \"w%d\", \"text\": \"Write number %d: the "
		         "greenhouse is watered at %d o'clock.\"}", i, i, i);
		post_json("/v1/documents", body, &r);
		ck_assert_msg(r.status == 201, "%s", r.body);
		res_free(&r);
	}
	sl.stop = 1;
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(sl.failures, 0);
	ck_assert_int_gt(sl.done, 0);
	http_req("GET", "/v1/documents/w19", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	res_free(&r);
}
END_TEST

static Suite *server_suite(void)
{
	Suite *s = suite_create("server");
	TCase *tc = tcase_create("routes");
	TCase *tb = tcase_create("configured");

	tcase_add_checked_fixture(tc, setup_default, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, small_routes);
	tcase_add_test(tc, web_assets);
	tcase_add_test(tc, search_ok);
	tcase_add_test(tc, search_bad_requests);
	tcase_add_test(tc, method_path_type_errors);
	tcase_add_test(tc, query_json);
	tcase_add_test(tc, query_stream);
	tcase_add_test(tc, documents_crud);
	tcase_add_test(tc, documents_ids_are_not_paths);
	tcase_add_test(tc, documents_bad);
	tcase_add_test(tc, documents_upload);
	tcase_add_test(tc, documents_upload_pdf);
	tcase_add_test(tc, metrics);
	tcase_add_test(tc, openai_embeddings);
	tcase_add_test(tc, openai_chat);
	tcase_add_test(tc, writes_during_searches);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(tb, setup_bare, teardown);
	tcase_set_timeout(tb, 120);
	tcase_add_test(tb, query_configured_model_passed);
	tcase_add_test(tb, api_keys);
	tcase_add_test(tb, start_refusals);
	tcase_add_test(tb, config_file);
	tcase_add_test(tb, cors);
	tcase_add_test(tb, limits);
	tcase_add_test(tb, read_only_server);
	tcase_add_test(tb, server_error_500);
	tcase_add_test(tb, not_ready_503);
	suite_add_tcase(s, tb);
	return s;
}

int main(void)
{
	return tu_run(server_suite());
}
