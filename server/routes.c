/*
 * server/routes.c — the route table (path, methods, who may call it, the
 * handler) and the small routes: the web page's compiled-in assets,
 * /health, /ready, /metrics, /openapi.json and /v1/models.
 */
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "server/internal.h"

static void h_asset(srv_req *rq, srv_resp *rs);
static void h_health(srv_req *rq, srv_resp *rs);
static void h_ready(srv_req *rq, srv_resp *rs);
static void h_metrics(srv_req *rq, srv_resp *rs);
static void h_openapi(srv_req *rq, srv_resp *rs);

#define GH (SRV_GET | SRV_HEAD | SRV_OPTIONS)

/* Exact paths first; a path ending in '/' is a prefix (the rest is an id). */
static const srv_route routes[] = {
	{ "/health", SRV_R_HEALTH, "/health", GH, SRV_PUBLIC, SRV_PUBLIC, 0, h_health },
	{ "/ready", SRV_R_READY, "/ready", GH, SRV_PUBLIC, SRV_PUBLIC, 0, h_ready },
	{ "/metrics", SRV_R_METRICS, "/metrics", GH, SRV_READ, SRV_READ, 0, h_metrics },
	{ "/openapi.json", SRV_R_OPENAPI, "/openapi.json", GH, SRV_PUBLIC, SRV_PUBLIC, 0, h_openapi },
	{ "/v1/search", SRV_R_SEARCH, "/v1/search", SRV_POST | SRV_OPTIONS, SRV_READ, SRV_READ, 0,
	  srv_h_search },
	{ "/v1/query", SRV_R_QUERY, "/v1/query", SRV_POST | SRV_OPTIONS, SRV_READ, SRV_READ, 0,
	  srv_h_query },
	{ "/v1/documents", SRV_R_DOCUMENTS, "/v1/documents", GH | SRV_POST, SRV_READ, SRV_WRITE, 1,
	  srv_h_documents },
	{ "/v1/documents/", SRV_R_DOCUMENT, "/v1/documents/{id}", GH | SRV_DELETE, SRV_READ,
	  SRV_WRITE, 0, srv_h_document },
	{ "/v1/embeddings", SRV_R_EMBEDDINGS, "/v1/embeddings", SRV_POST | SRV_OPTIONS, SRV_READ,
	  SRV_READ, 0, srv_h_embeddings },
	{ "/v1/chat/completions", SRV_R_CHAT, "/v1/chat/completions", SRV_POST | SRV_OPTIONS,
	  SRV_READ, SRV_READ, 0, srv_h_chat },
	{ "/v1/models", SRV_R_MODELS, "/v1/models", GH, SRV_READ, SRV_READ, 0, srv_h_models },
};

/* The page's files: "/" is index.html. */
static const srv_route asset_route = { "/", SRV_R_ASSET, "/ (web page)", GH, SRV_PUBLIC,
                                       SRV_PUBLIC, 0, h_asset };

const srv_route *srv_route_find(const char *path, const char **rest)
{
	*rest = NULL;
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		const char *p = routes[i].path;
		size_t n = strlen(p);
		if (p[n - 1] == '/') {
			if (strncmp(path, p, n) == 0 && path[n]) {
				*rest = path + n;
				return &routes[i];
			}
		} else if (strcmp(path, p) == 0) {
			return &routes[i];
		}
	}
	if (strcmp(path, "/") == 0 || srv_asset_find(path))
		return &asset_route;
	return NULL;
}

const char *srv_route_label(srv_route_id id)
{
	if (id == SRV_R_NOTFOUND)
		return "unmatched";
	if (id == SRV_R_ASSET)
		return asset_route.label;
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
		if (routes[i].id == id)
			return routes[i].label;
	return "unmatched";
}

static void h_asset(srv_req *rq, srv_resp *rs)
{
	const srv_asset *a = srv_asset_find(strcmp(rq->path, "/") == 0 ? "/index.html" : rq->path);

	if (!a) {
		srv_error(rs, 404, "not_found", "no such file: %s", rq->path);
		return;
	}
	rs->status = 200;
	rs->content_type = a->content_type;
	rs->static_body = a->data;
	rs->len = a->len;
	srv_resp_header(rs, "Cache-Control", "no-cache");
}

static void h_openapi(srv_req *rq, srv_resp *rs)
{
	const srv_asset *a = srv_asset_find("/openapi.json");

	(void)rq;
	if (!a) {
		srv_error(rs, 404, "not_found", "this build has no OpenAPI document");
		return;
	}
	rs->status = 200;
	rs->content_type = "application/json";
	rs->static_body = a->data;
	rs->len = a->len;
}

static void h_health(srv_req *rq, srv_resp *rs)
{
	cJSON *j = cJSON_CreateObject();

	(void)rq;
	cJSON_AddStringToObject(j, "status", "ok");
	cJSON_AddStringToObject(j, "version", ragdb_version());
	srv_json(rs, 200, j);
}

/* A language model's check costs a call (of one token): at most one every
 * READY_LLM_EVERY_S seconds, the last result reused in between. */
#define READY_LLM_EVERY_S 30
static pthread_mutex_t g_llm_mu = PTHREAD_MUTEX_INITIALIZER;
static time_t g_llm_at;
static ragdb_status g_llm_st;
static char g_llm_msg[512];

/* 1: a default language model answers; 0: none configured; -1: it fails
 * (@p why says how). */
static int llm_ready(ragdb *db, char *why, size_t cap)
{
	time_t now = time(NULL);
	pthread_mutex_lock(&g_llm_mu);
	if (g_llm_at == 0 || now - g_llm_at >= READY_LLM_EVERY_S) {
		g_llm_st = ragdb_check_model(db, NULL);
		const char *m = ragdb_errmsg(db);
		snprintf(g_llm_msg, sizeof g_llm_msg, "%s",
		         g_llm_st == RAGDB_OK ? "" : (m && *m) ? m : ragdb_strerror(g_llm_st));
		g_llm_at = now;
	}
	ragdb_status st = g_llm_st;
	snprintf(why, cap, "%s", g_llm_msg);
	pthread_mutex_unlock(&g_llm_mu);
	return st == RAGDB_OK ? 1 : st == RAGDB_ENOTFOUND ? 0 : -1;
}

/* The embedder probe of /ready: embed a word as a document (query vectors
 * are cached, and this must reach the embedder), at most once every
 * READY_EMBED_EVERY_S per server, the result reused in between. */
#define READY_EMBED_EVERY_S 1.0
static ragdb_status embed_ready(srv_req *rq, uint32_t dim, char *why, size_t cap)
{
	srv_ready_cache *rc = srv_get_ready_cache(rq->srv);
	struct timespec ts;
	double now;
	ragdb_status st;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	pthread_mutex_lock(&rc->mu);
	if (rc->at == 0 || now - rc->at >= READY_EMBED_EVERY_S) {
		const char *text = "ready", *m;
		float *probe = malloc(sizeof(float) * (dim ? dim : 1));
		rc->st = probe ? ragdb_embed(rq->db, &text, 1, 0, probe) : RAGDB_ENOMEM;
		free(probe);
		m = ragdb_errmsg(rq->db);
		snprintf(rc->msg, sizeof rc->msg, "%s", rc->st == RAGDB_OK ? ""
		         : (m && *m) ? m : ragdb_strerror(rc->st));
		rc->at = now;
	}
	st = rc->st;
	snprintf(why, cap, "%s", rc->msg);
	pthread_mutex_unlock(&rc->mu);
	return st;
}

/* Ready when the knowledge base answers (its statistics can be read), its
 * embedder embeds (a remote one is reachable: a server that cannot embed a
 * query cannot search) and the default language model, when one is
 * configured, answers. */
static void h_ready(srv_req *rq, srv_resp *rs)
{
	char why[512];
	int llm = 0;
	ragdb_stats s;
	ragdb_status st = ragdb_get_stats(rq->db, &s);
	cJSON *j = cJSON_CreateObject(), *c;

	if (st != RAGDB_OK) {
		const char *m = ragdb_errmsg(rq->db);
		snprintf(why, sizeof why, "%s", (m && *m) ? m : ragdb_strerror(st));
	} else {
		st = embed_ready(rq, s.dim, why, sizeof why);
	}
	if (st == RAGDB_OK && (llm = llm_ready(rq->db, why, sizeof why)) < 0) {
		cJSON_AddStringToObject(j, "status", "unavailable");
		cJSON_AddStringToObject(j, "reason", why);
		srv_json(rs, 503, j);
		srv_resp_header(rs, "Retry-After", "5");
		return;
	}
	if (st != RAGDB_OK) {
		cJSON_AddStringToObject(j, "status", "unavailable");
		cJSON_AddStringToObject(j, "reason", why);
		srv_json(rs, 503, j);
		srv_resp_header(rs, "Retry-After", "5");
		return;
	}
	cJSON_AddStringToObject(j, "status", "ready");
	c = cJSON_AddObjectToObject(j, "checks");
	cJSON_AddStringToObject(c, "database", "ok");
	cJSON_AddStringToObject(c, "embedder", "ok");
	cJSON_AddStringToObject(j, "embedder", s.embedder);
	cJSON_AddStringToObject(c, "answerer", llm > 0 ? "ok" : "extractive");
	cJSON_AddNumberToObject(j, "documents", (double)s.documents);
	cJSON_AddNumberToObject(j, "chunks", (double)s.chunks);
	srv_json(rs, 200, j);
}

static void h_metrics(srv_req *rq, srv_resp *rs)
{
	size_t len = 0;
	char *text = srv_metrics_render(rq->srv, &len);

	if (!text) {
		srv_error(rs, 500, "server_error", "out of memory rendering the metrics");
		return;
	}
	rs->status = 200;
	rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
	rs->body = text;
	rs->len = len;
}

static cJSON *model_obj(const char *id, const char *kind)
{
	cJSON *m = cJSON_CreateObject();

	cJSON_AddStringToObject(m, "id", id);
	cJSON_AddStringToObject(m, "object", "model");
	cJSON_AddNumberToObject(m, "created", 0);
	cJSON_AddStringToObject(m, "owned_by", "ragdb");
	cJSON_AddStringToObject(m, "ragdb_kind", kind);
	return m;
}

void srv_h_models(srv_req *rq, srv_resp *rs)
{
	cJSON *j = cJSON_CreateObject(), *data;
	ragdb_stats s;
	char emb[160];

	cJSON_AddStringToObject(j, "object", "list");
	data = cJSON_AddArrayToObject(j, "data");
	cJSON_AddItemToArray(data, model_obj("extractive", "answerer"));
	for (size_t i = 0; i < rq->cfg->n_models; i++)
		if (strcmp(rq->cfg->models[i], "extractive") != 0)
			cJSON_AddItemToArray(data, model_obj(rq->cfg->models[i], "answerer"));
	if (ragdb_get_stats(rq->db, &s) == RAGDB_OK) {
		snprintf(emb, sizeof emb, "%s:%s", s.embedder, s.embedder_model);
		cJSON_AddItemToArray(data, model_obj(emb, "embedder"));
	}
	srv_json(rs, 200, j);
}
