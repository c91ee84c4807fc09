/*
 * server/internal.h — what the server's files share: the request and
 * response as the route handlers see them (http.c fills and sends them; no
 * handler sees libmicrohttpd), the route table, JSON helpers, streaming,
 * metrics and the rate limiter.
 *
 * A handler runs on an HTTP worker thread with the whole request body read
 * (capped), fills one srv_resp and returns; a streaming handler instead
 * hands a worker function to srv_stream_start(), which runs on its own
 * thread and writes to the client as it goes.
 */
#ifndef RDB_SRV_INTERNAL_H
#define RDB_SRV_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ragdb.h"
#include "server/server.h"

/* ---------------------------------------------------------------- routes */

typedef enum srv_method {
	SRV_GET = 1, SRV_HEAD = 2, SRV_POST = 4, SRV_DELETE = 8, SRV_OPTIONS = 16, SRV_OTHER = 32,
} srv_method;

/* Routes, for the dispatch table and the metrics labels (a fixed set keeps
 * the metrics' cardinality bounded whatever paths clients send). */
typedef enum srv_route_id {
	SRV_R_NOTFOUND = 0,
	SRV_R_ASSET,
	SRV_R_HEALTH,
	SRV_R_READY,
	SRV_R_METRICS,
	SRV_R_OPENAPI,
	SRV_R_SEARCH,
	SRV_R_QUERY,
	SRV_R_DOCUMENTS,
	SRV_R_DOCUMENT,
	SRV_R_EMBEDDINGS,
	SRV_R_CHAT,
	SRV_R_MODELS,
	SRV_R_COUNT
} srv_route_id;

/* Who may call a route. */
typedef enum srv_access {
	SRV_PUBLIC = 0, /* no key needed: the page, /health, /ready, /openapi.json */
	SRV_READ = 1,   /* any key */
	SRV_WRITE = 2,  /* a read-write key */
} srv_access;

/* One uploaded multipart/form-data field. */
typedef struct srv_part {
	char *name;
	char *filename;      /* NULL for a plain field */
	char *content_type;
	char *data;          /* NUL-ended */
	size_t len;
} srv_part;

#define SRV_MAX_PARTS 64

typedef struct srv_req srv_req;
typedef struct srv_resp srv_resp;
typedef struct srv_stream srv_stream;
typedef struct rdb_srv rdb_srv;

struct srv_req {
	rdb_srv *srv;
	ragdb *db;
	const rdb_srv_config *cfg;
	srv_method method;
	const char *path;        /* percent-decoded by the HTTP layer */
	const char *rest;        /* the path after the route's prefix (document ids) */
	const char *content_type;
	char *body;              /* NUL-ended; may be empty */
	size_t body_len;
	srv_part parts[SRV_MAX_PARTS]; /* multipart bodies */
	size_t n_parts;
	int read_only_key;       /* the caller used a read-only key */
	void *conn;              /* the HTTP layer's connection (srv_req_arg) */
};

typedef struct srv_header {
	char name[48];
	char value[256];
} srv_header;

#define SRV_MAX_HEADERS 8

struct srv_resp {
	int status;
	const char *content_type; /* static string */
	char *body;              /* malloc'd; freed by the HTTP layer */
	size_t len;
	srv_header headers[SRV_MAX_HEADERS];
	size_t n_headers;
	const unsigned char *static_body; /* instead of body: compiled-in bytes */
	srv_stream *stream;      /* set by srv_stream_start */
};

typedef void (*srv_handler)(srv_req *rq, srv_resp *rs);

typedef struct srv_route {
	const char *path;        /* exact path, or a prefix when it ends in '/' */
	srv_route_id id;
	const char *label;       /* for metrics */
	unsigned methods;        /* srv_method bits */
	srv_access get_access, post_access; /* GET/HEAD vs POST/DELETE */
	int body_multipart;      /* multipart/form-data accepted */
	srv_handler handler;
} srv_route;

/* Find the route for @p path; *rest is the path past a prefix route. NULL
 * when no route matches. */
const srv_route *srv_route_find(const char *path, const char **rest);
/* The label of a route id, for metrics. */
const char *srv_route_label(srv_route_id id);

/* A query-string argument of the request, or NULL. */
const char *srv_req_arg(const srv_req *rq, const char *name);

/* ---------------------------------------------------------------- responses */

/* Add a response header (silently dropped past SRV_MAX_HEADERS: only our
 * own code adds them, and never that many). */
void srv_resp_header(srv_resp *rs, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* @p j as the JSON body with @p status; frees @p j. Out of memory gives a 500. */
void srv_json(srv_resp *rs, int status, cJSON *j);

/* {"error": {"type", "message"}} with @p status. */
void srv_error(srv_resp *rs, int status, const char *type, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The error response for a failed library call: the status mapped to HTTP
 * (EINVAL 400, ENOTFOUND 404, EUNSUPPORTED 400, EREADONLY 403, EBUSY and
 * EINTR 503, EMAPFULL/ENOSPC 507, EEMBEDDER 502, others 500) with the
 * library's message. */
void srv_api_error(srv_resp *rs, ragdb *db, ragdb_status st);
/* The HTTP status and error type srv_api_error uses for @p st. */
void srv_status_map(ragdb_status st, int *status, const char **type);
/* {"error": {"type", "message"}} for a failed library call, for streams
 * (which report errors as an event, the status being sent already). */
cJSON *srv_api_error_json(ragdb *db, ragdb_status st);

/* ---------------------------------------------------------------- JSON in */

/* Parse the request body as a JSON value no deeper than the configured
 * depth, in UTF-8, with nothing after the value. On failure fill a 400 and
 * return NULL. */
cJSON *srv_parse_body(const srv_req *rq, srv_resp *rs);
/* The length of the longest valid UTF-8 prefix of @p s (== @p n when all of
 * it is valid; overlong forms, surrogates and code points past U+10FFFF are
 * not). */
size_t srv_utf8_valid_prefix(const char *s, size_t n);
/* 0 when every member of the object @p o is named in @p known (NULL-ended);
 * else -1 with a 400 naming the unknown field (@p what: "a search request"),
 * so a misspelt field is not silently ignored. */
int srv_check_fields(const cJSON *o, const char *const *known, const char *what, srv_resp *rs);

/* Field readers: 1 when present and valid (*out set), 0 when absent,
 * -1 when present but wrong (a 400 is filled). */
int srv_get_string(const cJSON *o, const char *name, const char **out, srv_resp *rs);
int srv_get_bool(const cJSON *o, const char *name, int *out, srv_resp *rs);
int srv_get_u32(const cJSON *o, const char *name, uint32_t min, uint32_t max, uint32_t *out,
                srv_resp *rs);
int srv_get_number(const cJSON *o, const char *name, double min, double max, double *out,
                   srv_resp *rs);

/* A score rounded to 6 decimals. */
double srv_round6(double x);
/* A search hit / an answer source / a document as JSON (NULL if out of memory). */
cJSON *srv_hit_json(const ragdb_hit *h);
cJSON *srv_source_json(const ragdb_source *s);
cJSON *srv_sources_json(const ragdb_answer *a);
cJSON *srv_doc_json(const ragdb_doc_info *d, int with_text);
/* Approximate tokens of @p s (about 4 bytes a token), for usage fields when
 * no model reported them. */
uint64_t srv_token_estimate(const char *s);

/* ---------------------------------------------------------------- streaming */

/* Start a streaming response (text/event-stream) whose body @p fn writes on
 * its own thread with srv_stream_write(); @p ctx is freed with @p ctx_free
 * when the stream ends. Fails with a 503 filled in when the configured
 * number of streams is running. Returns 0 when started. */
int srv_stream_start(srv_req *rq, srv_resp *rs, void (*fn)(srv_stream *st, void *ctx), void *ctx,
                     void (*ctx_free)(void *ctx));
/* Append bytes for the client; returns -1 once the client is gone (the
 * worker may stop early). */
int srv_stream_write(srv_stream *st, const char *data, size_t len);
/* "event: NAME\ndata: JSON\n\n" (NAME may be NULL: data only); frees @p j. */
int srv_stream_event(srv_stream *st, const char *event, cJSON *j);

/* ---------------------------------------------------------------- metrics */

/* Counting lives in metrics.c; http.c calls these for every request. */
void srv_metrics_request(rdb_srv *srv, srv_route_id route, int status, double seconds);
void srv_metrics_ingest(rdb_srv *srv, const ragdb_ingest_summary *s);
void srv_metrics_rate_limited(rdb_srv *srv);
/* The Prometheus text exposition (malloc'd) or NULL. */
char *srv_metrics_render(rdb_srv *srv, size_t *len);

typedef struct srv_metrics srv_metrics;
srv_metrics *srv_metrics_create(void);
void srv_metrics_free(srv_metrics *m);
/* The server's metrics and live gauges (http.c owns the gauges). */
srv_metrics *srv_get_metrics(rdb_srv *srv);
ragdb *srv_get_db(rdb_srv *srv);
void srv_get_gauges(rdb_srv *srv, long *in_flight, long *streams, long *connections);
/* /ready's last probe of the embedder, reused for READY_EMBED_EVERY_S:
 * /ready is public and not rate limited, and with a remote embedder each
 * probe is a (paid) call, so polling it must not multiply calls. */
typedef struct srv_ready_cache {
	pthread_mutex_t mu;  /* held during a probe: one at a time */
	double at;           /* monotonic seconds of the last probe; 0 = none */
	ragdb_status st;
	char msg[512];
} srv_ready_cache;
srv_ready_cache *srv_get_ready_cache(rdb_srv *srv);
/* Connections closed because their headers or body came too slowly. */
long srv_get_slow_dropped(rdb_srv *srv);

/* ---------------------------------------------------------------- rate limit */

typedef struct srv_ratelimit srv_ratelimit;
srv_ratelimit *srv_ratelimit_create(double rate, double burst);
void srv_ratelimit_free(srv_ratelimit *rl);
/* 0 when @p client may go on, else the seconds to wait (>= 1). */
unsigned srv_ratelimit_take(srv_ratelimit *rl, const char *client, double now);

/* ---------------------------------------------------------------- assets */

/* Compiled-in files of server/web (generated at build time). */
typedef struct srv_asset {
	const char *path;          /* "/index.html" */
	const char *content_type;
	const unsigned char *data;
	size_t len;
} srv_asset;
const srv_asset *srv_asset_find(const char *path);

/* ---------------------------------------------------------------- handlers */

/* The model a request's "model" selects: a configured name, "extractive" or
 * "provider:model" is passed to the library; any other string (clients
 * that insist on sending some model name) gives NULL, the default. */
const char *srv_pick_model(const rdb_srv_config *cfg, const char *model);

void srv_h_search(srv_req *rq, srv_resp *rs);
void srv_h_query(srv_req *rq, srv_resp *rs);
void srv_h_documents(srv_req *rq, srv_resp *rs);
void srv_h_document(srv_req *rq, srv_resp *rs);
void srv_h_embeddings(srv_req *rq, srv_resp *rs);
void srv_h_chat(srv_req *rq, srv_resp *rs);
void srv_h_models(srv_req *rq, srv_resp *rs);

#endif
