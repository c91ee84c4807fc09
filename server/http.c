/*
 * server/http.c — the HTTP layer of `ragdb serve`, the one file that includes
 * microhttpd.h: the daemon (internal thread pool, poll), the per-request
 * state machine, the checks every request passes before its handler (drain,
 * route, method, rate limit, API key, body size and type), request bodies
 * (JSON read whole up to the cap; multipart through MHD's post processor),
 * responses with CORS and security headers, server-sent-event streams and
 * the graceful stop.
 *
 * Invariants:
 * 1. A request is counted in srv->in_flight from its first handler call to
 *    MHD's completion notice; rdb_srv_stop waits for it to reach zero (up
 *    to the grace time) and for every stream worker to end (always: the
 *    workers use the ragdb handle, which the caller closes after us).
 * 2. A stream is shared by its worker thread and its MHD response; each
 *    holds a reference and the last one frees it. The connection is
 *    suspended only from the content reader, with st->mu held, when no
 *    bytes are pending; the worker resumes it (st->mu held) whenever it adds
 *    bytes or ends. So a suspended connection always has a worker that
 *    will resume it, and no connection is suspended when MHD stops.
 * 3. Every response gets exactly one status, recorded in the request state
 *    for the metrics and the access log.
 * 4. Slow clients are dropped by time, not only by idleness (MHD's timeout
 *    resets on every byte, so a client sending a byte a second would hold
 *    a connection for ever): a connection whose request headers are not
 *    all in request_timeout seconds after it opened (or after its previous
 *    request ended) is shut down by the reaper thread, and a body still
 *    arriving after request_timeout seconds at less than SRV_MIN_BODY_RATE
 *    is cut off. The reaper only shuts a socket down (MHD then closes it on
 *    its own thread), and only while the connection is in srv->conns,
 *    which it leaves (under conn_mu) before MHD closes its descriptor, so
 *    the descriptor is never one reused by another connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "server/internal.h"

/* Bytes of a too-large body read and dropped (so the client can read our
 * 413) before the connection is closed instead. */
#define SRV_DISCARD_MAX (64u << 20)
/* Bytes of stream output waiting for a slow client before it is dropped. */
#define SRV_STREAM_MAX_PENDING (8u << 20)
/* Bytes a second a request body must average once it has taken longer than
 * request_timeout (a modem is faster; a slowloris client is not). */
#define SRV_MIN_BODY_RATE 1024.0

/* A connection as the reaper sees it. */
typedef struct srv_conn {
	struct srv_conn *prev, *next;
	int fd;
	int busy;        /* a request is past its headers and not yet completed */
	int reaped;      /* shut down already */
	double since;    /* when it opened, or its last request completed */
} srv_conn;

struct rdb_srv {
	ragdb *db;
	rdb_srv_config cfg;         /* deep copy */
	struct MHD_Daemon *d;
	uint16_t port;
	srv_metrics *metrics;
	srv_ratelimit *rl;
	atomic_long in_flight;      /* requests between first call and completion */
	atomic_long streams;        /* stream workers running */
	atomic_long connections;
	atomic_int draining;
	pthread_mutex_t conn_mu;    /* conns, and each srv_conn's fields */
	pthread_cond_t reaper_cv;
	srv_conn *conns;
	pthread_t reaper;
	int reaper_running, reaper_stop;
	atomic_long reaped;         /* connections shut down for slowness */
	srv_ready_cache ready;
};

struct srv_stream {
	pthread_mutex_t mu;
	rdb_srv *srv;
	struct MHD_Connection *conn; /* NULL once the response is gone */
	char *buf;
	size_t len, off, cap;
	int done, gone, suspended, refs;
	void (*fn)(srv_stream *st, void *ctx);
	void *ctx;
	void (*ctx_free)(void *ctx);
};

/* Per-request state (MHD's req_cls). */
typedef struct conn_req {
	srv_req rq;
	const srv_route *route;
	srv_route_id route_id;
	double t0;
	int status;                 /* the status queued, for metrics and the log */
	int queued;                 /* a response was queued */
	int multipart;
	srv_resp pending;           /* an error found mid-upload, sent once the body is in */
	struct MHD_PostProcessor *pp;
	size_t body_cap;
	size_t received;            /* raw body bytes received */
	char method_str[16];
	char client[INET6_ADDRSTRLEN];
	char *path_copy;
	srv_conn *sc;               /* the connection's reaper entry, or NULL */
} conn_req;

static double srv_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------- accessors */

srv_metrics *srv_get_metrics(rdb_srv *srv) { return srv->metrics; }
ragdb *srv_get_db(rdb_srv *srv) { return srv->db; }

void srv_get_gauges(rdb_srv *srv, long *in_flight, long *streams, long *connections)
{
	*in_flight = atomic_load(&srv->in_flight);
	*streams = atomic_load(&srv->streams);
	*connections = atomic_load(&srv->connections);
}

srv_ready_cache *srv_get_ready_cache(rdb_srv *srv)
{
	return &srv->ready;
}

long srv_get_slow_dropped(rdb_srv *srv)
{
	return atomic_load(&srv->reaped);
}

uint16_t rdb_srv_port(const rdb_srv *srv)
{
	return srv ? srv->port : 0;
}

const char *srv_req_arg(const srv_req *rq, const char *name)
{
	return MHD_lookup_connection_value((struct MHD_Connection *)rq->conn, MHD_GET_ARGUMENT_KIND,
	                                   name);
}

/* ---------------------------------------------------------------- responses */

void srv_resp_header(srv_resp *rs, const char *name, const char *fmt, ...)
{
	va_list ap;
	srv_header *h;

	if (rs->n_headers >= SRV_MAX_HEADERS)
		return;
	h = &rs->headers[rs->n_headers++];
	snprintf(h->name, sizeof h->name, "%s", name);
	va_start(ap, fmt);
	vsnprintf(h->value, sizeof h->value, fmt, ap);
	va_end(ap);
}

static void resp_reset(srv_resp *rs)
{
	free(rs->body);
	memset(rs, 0, sizeof *rs);
}

void srv_json(srv_resp *rs, int status, cJSON *j)
{
	char *s = j ? cJSON_PrintUnformatted(j) : NULL;

	cJSON_Delete(j);
	free(rs->body);
	rs->body = NULL;
	rs->static_body = NULL;
	if (!s) {
		static const char oom[] =
			"{\"error\":{\"type\":\"server_error\",\"message\":\"out of memory\"}}";
		rs->status = 500;
		rs->static_body = (const unsigned char *)oom;
		rs->len = sizeof oom - 1;
		rs->content_type = "application/json";
		return;
	}
	rs->status = status;
	rs->body = s;
	rs->len = strlen(s);
	rs->content_type = "application/json";
}

/* Replace each byte that does not start a valid UTF-8 sequence with '?':
 * messages quote what the client sent (paths, ids), which may be anything,
 * and a response must stay valid JSON text. */
static void utf8_scrub(char *s)
{
	size_t n = strlen(s), i = 0;

	while (i < n) {
		i += srv_utf8_valid_prefix(s + i, n - i);
		if (i < n)
			s[i++] = '?';
	}
}

void srv_error(srv_resp *rs, int status, const char *type, const char *fmt, ...)
{
	char msg[1536];
	va_list ap;
	cJSON *j = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(j, "error");

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	utf8_scrub(msg);
	cJSON_AddStringToObject(e, "type", type);
	cJSON_AddStringToObject(e, "message", msg);
	srv_json(rs, status, j);
}

void srv_status_map(ragdb_status st, int *status, const char **type)
{
	*status = 500;
	*type = "server_error";
	switch (st) {
	case RAGDB_OK: /* not an error; a caller bug */ break;
	case RAGDB_EINVAL:
	case RAGDB_EBADINPUT: *status = 400; *type = "invalid_request_error"; break;
	case RAGDB_EUNSUPPORTED: *status = 400; *type = "unsupported"; break;
	case RAGDB_ENOTFOUND: *status = 404; *type = "not_found"; break;
	case RAGDB_EREADONLY: *status = 403; *type = "permission_denied"; break;
	case RAGDB_EEXIST: *status = 409; *type = "conflict"; break;
	case RAGDB_EBUSY:
	case RAGDB_EINTR: *status = 503; *type = "unavailable"; break;
	case RAGDB_EMAPFULL:
	case RAGDB_ENOSPC: *status = 507; *type = "insufficient_storage"; break;
	case RAGDB_EEMBEDDER: *status = 502; *type = "embedder_error"; break;
	case RAGDB_EIO:
	case RAGDB_ENOMEM:
	case RAGDB_ESCHEMA:
	case RAGDB_ECORRUPT:
	case RAGDB_EPERM: break;
	}
}

static const char *api_msg(ragdb *db, ragdb_status st)
{
	const char *m = ragdb_errmsg(db);

	return (m && *m) ? m : ragdb_strerror(st);
}

void srv_api_error(srv_resp *rs, ragdb *db, ragdb_status st)
{
	int status;
	const char *type;

	srv_status_map(st, &status, &type);
	srv_error(rs, status, type, "%s", api_msg(db, st));
	if (status == 503)
		srv_resp_header(rs, "Retry-After", "1");
}

cJSON *srv_api_error_json(ragdb *db, ragdb_status st)
{
	int status;
	const char *type;
	cJSON *j = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(j, "error");

	srv_status_map(st, &status, &type);
	cJSON_AddStringToObject(e, "type", type);
	cJSON_AddStringToObject(e, "message", api_msg(db, st));
	cJSON_AddNumberToObject(e, "status", status);
	return j;
}

/* ---------------------------------------------------------------- streams */

static void stream_unref(srv_stream *st)
{
	int refs;

	pthread_mutex_lock(&st->mu);
	refs = --st->refs;
	pthread_mutex_unlock(&st->mu);
	if (refs > 0)
		return;
	if (st->ctx_free)
		st->ctx_free(st->ctx);
	free(st->buf);
	pthread_mutex_destroy(&st->mu);
	free(st);
}

static void stream_wake_locked(srv_stream *st)
{
	if (st->suspended && st->conn) {
		st->suspended = 0;
		MHD_resume_connection(st->conn);
	}
}

int srv_stream_write(srv_stream *st, const char *data, size_t len)
{
	int rc = 0;

	pthread_mutex_lock(&st->mu);
	if (st->gone) {
		rc = -1;
		goto out_unlock;
	}
	if (st->len - st->off + len > SRV_STREAM_MAX_PENDING) {
		/* The client reads slower than we write: give up on it. */
		st->gone = 1;
		rc = -1;
		goto out_unlock;
	}
	if (st->off > 0 && st->len + len > st->cap) {
		memmove(st->buf, st->buf + st->off, st->len - st->off);
		st->len -= st->off;
		st->off = 0;
	}
	if (st->len + len > st->cap) {
		size_t ncap = st->cap ? st->cap : 4096;
		char *nb;
		while (ncap < st->len + len)
			ncap *= 2;
		nb = realloc(st->buf, ncap);
		if (!nb) {
			rc = -1;
			goto out_unlock;
		}
		st->buf = nb;
		st->cap = ncap;
	}
	memcpy(st->buf + st->len, data, len);
	st->len += len;
	stream_wake_locked(st);
out_unlock:
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int srv_stream_event(srv_stream *st, const char *event, cJSON *j)
{
	char *s = j ? cJSON_PrintUnformatted(j) : NULL;
	char head[80];
	int rc = -1;

	cJSON_Delete(j);
	if (!s)
		return -1;
	if (event) {
		snprintf(head, sizeof head, "event: %s\n", event);
		if (srv_stream_write(st, head, strlen(head)))
			goto out_free;
	}
	if (srv_stream_write(st, "data: ", 6) || srv_stream_write(st, s, strlen(s)) ||
	    srv_stream_write(st, "\n\n", 2))
		goto out_free;
	rc = 0;
out_free:
	cJSON_free(s);
	return rc;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
	srv_stream *st = cls;
	ssize_t n;

	(void)pos;
	pthread_mutex_lock(&st->mu);
	if (st->len > st->off) {
		size_t avail = st->len - st->off;
		n = (ssize_t)(avail < max ? avail : max);
		memcpy(out, st->buf + st->off, (size_t)n);
		st->off += (size_t)n;
		if (st->off == st->len)
			st->off = st->len = 0;
	} else if (st->done || st->gone) {
		n = MHD_CONTENT_READER_END_OF_STREAM;
	} else {
		/* Nothing yet: park the connection until the worker writes. */
		st->suspended = 1;
		MHD_suspend_connection(st->conn);
		n = 0;
	}
	pthread_mutex_unlock(&st->mu);
	return n;
}

static void stream_response_free(void *cls)
{
	srv_stream *st = cls;

	pthread_mutex_lock(&st->mu);
	st->gone = 1;
	st->conn = NULL;
	pthread_mutex_unlock(&st->mu);
	stream_unref(st);
}

static void *stream_worker(void *arg)
{
	srv_stream *st = arg;
	rdb_srv *srv = st->srv;

	st->fn(st, st->ctx);
	pthread_mutex_lock(&st->mu);
	st->done = 1;
	stream_wake_locked(st);
	pthread_mutex_unlock(&st->mu);
	stream_unref(st);
	atomic_fetch_sub(&srv->streams, 1);
	return NULL;
}

int srv_stream_start(srv_req *rq, srv_resp *rs, void (*fn)(srv_stream *st, void *ctx), void *ctx,
                     void (*ctx_free)(void *ctx))
{
	rdb_srv *srv = rq->srv;
	srv_stream *st = NULL;
	pthread_attr_t attr;
	pthread_t tid;
	long running = atomic_fetch_add(&srv->streams, 1);

	if (running >= (long)srv->cfg.max_streams) {
		atomic_fetch_sub(&srv->streams, 1);
		srv_error(rs, 503, "unavailable", "%ld streaming answers are running, the most this "
		          "server allows (max_streams); retry shortly or ask without \"stream\"", running);
		srv_resp_header(rs, "Retry-After", "1");
		goto out_fail;
	}
	st = calloc(1, sizeof *st);
	if (!st) {
		atomic_fetch_sub(&srv->streams, 1);
		srv_error(rs, 500, "server_error", "out of memory starting a stream");
		goto out_fail;
	}
	pthread_mutex_init(&st->mu, NULL);
	st->srv = srv;
	st->conn = rq->conn;
	st->fn = fn;
	st->ctx = ctx;
	st->ctx_free = ctx_free;
	st->refs = 2; /* the worker and the response */
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&tid, &attr, stream_worker, st) != 0) {
		pthread_attr_destroy(&attr);
		pthread_mutex_destroy(&st->mu);
		free(st);
		atomic_fetch_sub(&srv->streams, 1);
		srv_error(rs, 503, "unavailable", "cannot start a thread for the stream; retry shortly");
		srv_resp_header(rs, "Retry-After", "1");
		goto out_fail;
	}
	pthread_attr_destroy(&attr);
	rs->status = 200;
	rs->content_type = "text/event-stream";
	rs->stream = st;
	return 0;
out_fail:
	if (ctx_free)
		ctx_free(ctx);
	return -1;
}

/* ---------------------------------------------------------------- sending */

static int origin_allowed(const rdb_srv *srv, const char *origin)
{
	if (!origin)
		return 0;
	for (size_t i = 0; i < srv->cfg.n_cors_origins; i++)
		if (strcmp(srv->cfg.cors_origins[i], "*") == 0 ||
		    strcmp(srv->cfg.cors_origins[i], origin) == 0)
			return 1;
	return 0;
}

static void add_common_headers(rdb_srv *srv, struct MHD_Connection *conn, struct MHD_Response *r,
                               const char *ctype)
{
	const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");

	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	if (ctype && strncmp(ctype, "text/html", 9) == 0) {
		MHD_add_response_header(r, "Content-Security-Policy",
		                        "default-src 'none'; script-src 'self'; style-src 'self'; "
		                        "img-src 'self' data:; connect-src 'self'; "
		                        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
		MHD_add_response_header(r, "X-Frame-Options", "DENY");
	}
	if (ctype && (strncmp(ctype, "application/json", 16) == 0 ||
	              strncmp(ctype, "text/event-stream", 17) == 0))
		MHD_add_response_header(r, "Cache-Control", "no-store");
	if (origin_allowed(srv, origin)) {
		MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
		MHD_add_response_header(r, "Vary", "Origin");
		MHD_add_response_header(r, "Access-Control-Expose-Headers", "Retry-After");
	}
}

/* Queue @p rs on @p conn; frees what rs owns. */
static enum MHD_Result send_resp(conn_req *cr, struct MHD_Connection *conn, srv_resp *rs)
{
	rdb_srv *srv = cr->rq.srv;
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (rs->stream) {
		r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, rs->stream,
		                                      stream_response_free);
		if (!r) {
			/* The worker still runs; let it find no reader. */
			stream_response_free(rs->stream);
			return MHD_NO;
		}
		MHD_add_response_header(r, "X-Accel-Buffering", "no");
	} else if (rs->static_body) {
		r = MHD_create_response_from_buffer(rs->len, (void *)rs->static_body,
		                                    MHD_RESPMEM_PERSISTENT);
	} else {
		r = MHD_create_response_from_buffer(rs->len, rs->body ? rs->body : (char *)"",
		                                    rs->body ? MHD_RESPMEM_MUST_FREE
		                                             : MHD_RESPMEM_PERSISTENT);
		if (r)
			rs->body = NULL; /* MHD owns it now */
	}
	if (!r) {
		resp_reset(rs);
		return MHD_NO;
	}
	if (rs->content_type)
		MHD_add_response_header(r, "Content-Type", rs->content_type);
	for (size_t i = 0; i < rs->n_headers; i++)
		MHD_add_response_header(r, rs->headers[i].name, rs->headers[i].value);
	add_common_headers(srv, conn, r, rs->content_type);
	if (atomic_load(&srv->draining))
		MHD_add_response_header(r, "Connection", "close");
	cr->status = rs->status;
	cr->queued = 1;
	ret = MHD_queue_response(conn, (unsigned)rs->status, r);
	MHD_destroy_response(r);
	resp_reset(rs);
	return ret;
}

/* ---------------------------------------------------------------- checks */

static srv_method method_of(const char *m)
{
	if (strcmp(m, "GET") == 0) return SRV_GET;
	if (strcmp(m, "HEAD") == 0) return SRV_HEAD;
	if (strcmp(m, "POST") == 0) return SRV_POST;
	if (strcmp(m, "DELETE") == 0) return SRV_DELETE;
	if (strcmp(m, "OPTIONS") == 0) return SRV_OPTIONS;
	return SRV_OTHER;
}

static void allow_list(unsigned methods, char *buf, size_t cap)
{
	static const struct { unsigned bit; const char *name; } names[] = {
		{ SRV_GET, "GET" }, { SRV_HEAD, "HEAD" }, { SRV_POST, "POST" },
		{ SRV_DELETE, "DELETE" }, { SRV_OPTIONS, "OPTIONS" },
	};
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (!(methods & names[i].bit) && names[i].bit != SRV_OPTIONS)
			continue;
		n += (size_t)snprintf(buf + n, cap > n ? cap - n : 0, "%s%s", n ? ", " : "",
		                      names[i].name);
	}
}

/* Compare without an early exit, so the time taken says nothing about how
 * much of a key matched. */
static int key_equal(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);
	unsigned char diff = (unsigned char)(alen != blen);

	for (size_t i = 0; i < blen; i++)
		diff |= (unsigned char)(b[i] ^ (i < alen ? a[i] : 0));
	return diff == 0;
}

/* 0 when the caller may use the route; else a 401/403 is in @p rs. */
static int check_access(conn_req *cr, struct MHD_Connection *conn, srv_access need, srv_resp *rs)
{
	const rdb_srv_config *cfg = &cr->rq.srv->cfg;
	const char *auth, *key;
	size_t klen;
	int found = -1;

	if (need == SRV_WRITE && cfg->read_only) {
		srv_error(rs, 403, "permission_denied", "this server was started with --read-only; "
		          "documents cannot be added or deleted through it");
		return -1;
	}
	if (need == SRV_PUBLIC || cfg->n_keys == 0)
		return 0;
	auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) {
		srv_error(rs, 401, "authentication_error", "this server needs an API key: send the "
		          "header 'Authorization: Bearer KEY'");
		srv_resp_header(rs, "WWW-Authenticate", "Bearer realm=\"ragdb\"");
		return -1;
	}
	key = auth + 7;
	while (*key == ' ')
		key++;
	klen = strlen(key);
	for (size_t i = 0; i < cfg->n_keys; i++)
		if (key_equal(key, klen, cfg->keys[i].key))
			found = (int)i;
	if (found < 0) {
		srv_error(rs, 401, "authentication_error", "the API key is not valid for this server");
		srv_resp_header(rs, "WWW-Authenticate", "Bearer realm=\"ragdb\", error=\"invalid_token\"");
		return -1;
	}
	cr->rq.read_only_key = cfg->keys[found].read_only;
	if (need == SRV_WRITE && cfg->keys[found].read_only) {
		srv_error(rs, 403, "permission_denied", "this API key is read-only: it may search and "
		          "ask, but not add or delete documents");
		return -1;
	}
	return 0;
}

static int ctype_is(const char *ct, const char *want)
{
	size_t n = strlen(want);

	return ct && strncasecmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';' ||
	                                               ct[n] == ' ');
}

/* The body's Content-Type is acceptable for the route: JSON (or none, or
 * another +json type), or multipart where the route takes uploads. */
static int ctype_ok(const srv_route *route, const char *ct, int *multipart)
{
	*multipart = 0;
	if (!ct || !*ct || ctype_is(ct, "application/json"))
		return 1;
	if (route->body_multipart && ctype_is(ct, "multipart/form-data")) {
		*multipart = 1;
		return 1;
	}
	{
		/* application/<x>+json */
		const char *semi = strchr(ct, ';');
		size_t n = semi ? (size_t)(semi - ct) : strlen(ct);
		if (n > 5 && strncasecmp(ct, "application/", 12) == 0 &&
		    strncasecmp(ct + n - 5, "+json", 5) == 0)
			return 1;
	}
	return 0;
}

/* ---------------------------------------------------------------- multipart */

static enum MHD_Result on_post_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *filename, const char *content_type,
                                     const char *transfer_encoding, const char *data,
                                     uint64_t off, size_t size)
{
	conn_req *cr = cls;
	srv_req *rq = &cr->rq;
	srv_part *p = rq->n_parts ? &rq->parts[rq->n_parts - 1] : NULL;
	char *nd;

	(void)kind;
	(void)transfer_encoding;
	if (!key)
		key = "";
	/* MHD calls again with off > 0 for the rest of the same field. */
	if (!p || off == 0) {
		if (rq->n_parts >= SRV_MAX_PARTS)
			return MHD_NO;
		p = &rq->parts[rq->n_parts++];
		p->name = strdup(key);
		p->filename = filename ? strdup(filename) : NULL;
		p->content_type = content_type ? strdup(content_type) : NULL;
		p->data = calloc(1, 1);
		if (!p->name || !p->data || (filename && !p->filename))
			return MHD_NO;
	}
	if (size == 0)
		return MHD_YES;
	/* The raw body is already capped, so the parts are too. */
	nd = realloc(p->data, p->len + size + 1);
	if (!nd)
		return MHD_NO;
	memcpy(nd + p->len, data, size);
	p->len += size;
	nd[p->len] = '\0';
	p->data = nd;
	return MHD_YES;
}

/* ---------------------------------------------------------------- requests */

static void req_free(conn_req *cr)
{
	if (!cr)
		return;
	if (cr->pp)
		MHD_destroy_post_processor(cr->pp);
	for (size_t i = 0; i < cr->rq.n_parts; i++) {
		free(cr->rq.parts[i].name);
		free(cr->rq.parts[i].filename);
		free(cr->rq.parts[i].content_type);
		free(cr->rq.parts[i].data);
	}
	free(cr->rq.body);
	free(cr->path_copy);
	free(cr->pending.body);
	free(cr);
}

static void client_addr(struct MHD_Connection *conn, char *buf, size_t cap)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	snprintf(buf, cap, "?");
	if (!sa)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)cap);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)cap);
}

/* The checks of a request's first call, before any body is read. Returns
 * 1 with a response in @p rs when the request is answered already. */
static int first_checks(conn_req *cr, struct MHD_Connection *conn, srv_resp *rs)
{
	rdb_srv *srv = cr->rq.srv;
	const char *rest = NULL;
	const srv_route *route;
	srv_method m = cr->rq.method;
	char allow[96];
	const char *ct, *cl;
	unsigned wait;

	if (atomic_load(&srv->draining)) {
		srv_error(rs, 503, "unavailable", "the server is shutting down");
		srv_resp_header(rs, "Retry-After", "5");
		return 1;
	}
	route = srv_route_find(cr->rq.path, &rest);
	if (!route) {
		srv_error(rs, 404, "not_found", "no such endpoint: %s %s (see /openapi.json for the "
		          "API)", cr->method_str, cr->rq.path);
		return 1;
	}
	cr->route = route;
	cr->route_id = route->id;
	cr->rq.rest = rest;
	allow_list(route->methods, allow, sizeof allow);
	if (m == SRV_OPTIONS) {
		const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
		const char *preflight = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		                                                    "Access-Control-Request-Method");
		if (preflight && origin && !origin_allowed(srv, origin)) {
			srv_error(rs, 403, "cors_error", "origin %.200s is not in this server's cors_origins",
			          origin);
			return 1;
		}
		rs->status = 204;
		srv_resp_header(rs, "Allow", "%s", allow);
		if (preflight && origin) {
			srv_resp_header(rs, "Access-Control-Allow-Methods", "%s", allow);
			srv_resp_header(rs, "Access-Control-Allow-Headers", "Authorization, Content-Type");
			srv_resp_header(rs, "Access-Control-Max-Age", "600");
		}
		return 1;
	}
	if (!(route->methods & m)) {
		srv_error(rs, 405, "method_not_allowed", "%s does not take %s; it takes %s",
		          cr->rq.path, cr->method_str, allow);
		srv_resp_header(rs, "Allow", "%s", allow);
		return 1;
	}
	if (srv->rl && route->id != SRV_R_HEALTH && route->id != SRV_R_READY &&
	    (wait = srv_ratelimit_take(srv->rl, cr->client, srv_now())) > 0) {
		srv_metrics_rate_limited(srv);
		srv_error(rs, 429, "rate_limit_exceeded", "too many requests from %s (the limit is %g "
		          "per second); retry after %u s", cr->client, srv->cfg.rate_limit, wait);
		srv_resp_header(rs, "Retry-After", "%u", wait);
		return 1;
	}
	if (check_access(cr, conn, (m == SRV_GET || m == SRV_HEAD) ? route->get_access
	                                                            : route->post_access, rs))
		return 1;
	if (m == SRV_POST) {
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
		if (cl) {
			char *end = NULL;
			unsigned long long v = strtoull(cl, &end, 10);
			if (end && *end == '\0' && v > srv->cfg.max_body_bytes) {
				srv_error(rs, 413, "request_too_large", "the request body is %llu bytes; this "
				          "server takes at most %zu (max_body_bytes)", v, srv->cfg.max_body_bytes);
				return 1;
			}
		}
		ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
		if (!ctype_ok(route, ct, &cr->multipart)) {
			srv_error(rs, 415, "unsupported_media_type", "%s takes %s, not %.100s; with curl "
			          "add -H 'Content-Type: application/json'", cr->rq.path,
			          route->body_multipart ? "application/json or multipart/form-data"
			                                : "application/json", ct);
			return 1;
		}
		cr->rq.content_type = ct;
		if (cr->multipart) {
			cr->pp = MHD_create_post_processor(conn, 64 * 1024, on_post_field, cr);
			if (!cr->pp) {
				srv_error(rs, 400, "invalid_request_error", "a multipart/form-data body needs "
				          "a boundary in its Content-Type");
				return 1;
			}
		}
	}
	return 0;
}

static void log_request(conn_req *cr)
{
	rdb_srv *srv = cr->rq.srv;
	double ms = (srv_now() - cr->t0) * 1e3;

	if (!srv->cfg.access_log && cr->status < 500)
		return;
	fprintf(stderr, "ragdb serve: %s %s %s %d %.1f ms\n", cr->client, cr->method_str,
	        cr->rq.path ? cr->rq.path : "?", cr->status, ms);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
	rdb_srv *srv = cls;
	conn_req *cr = *req_cls;
	srv_resp rs;

	(void)version;
	memset(&rs, 0, sizeof rs);
	if (!cr) {
		cr = calloc(1, sizeof *cr);
		if (!cr)
			return MHD_NO;
		*req_cls = cr;
		atomic_fetch_add(&srv->in_flight, 1);
		cr->t0 = srv_now();
		cr->rq.srv = srv;
		cr->rq.db = srv->db;
		cr->rq.cfg = &srv->cfg;
		cr->rq.conn = conn;
		cr->rq.method = method_of(method);
		snprintf(cr->method_str, sizeof cr->method_str, "%s", method);
		{
			const union MHD_ConnectionInfo *ci =
				MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
			cr->sc = ci ? ci->socket_context : NULL;
			if (cr->sc) {
				pthread_mutex_lock(&srv->conn_mu);
				cr->sc->busy = 1;
				pthread_mutex_unlock(&srv->conn_mu);
			}
		}
		cr->path_copy = strdup(url ? url : "/");
		cr->rq.path = cr->path_copy ? cr->path_copy : "/";
		client_addr(conn, cr->client, sizeof cr->client);
		if (first_checks(cr, conn, &rs))
			return send_resp(cr, conn, &rs);
		return MHD_YES;
	}
	if (cr->queued) {
		/* Answered at the first call already: nothing more to read. */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;
		double took = srv_now() - cr->t0;
		*upload_data_size = 0;
		cr->received += n;
		if (took > (double)srv->cfg.request_timeout &&
		    (double)cr->received < took * SRV_MIN_BODY_RATE) {
			/* A body trickling in: close rather than be held open. */
			atomic_fetch_add(&srv->reaped, 1);
			return MHD_NO;
		}
		if (cr->pending.status) {
			/* MHD takes a response only before or after the body: read
			 * and drop the rest, up to a bound, then give up on the client. */
			return cr->received > srv->cfg.max_body_bytes + SRV_DISCARD_MAX ? MHD_NO : MHD_YES;
		}
		if (cr->received > srv->cfg.max_body_bytes) {
			srv_error(&cr->pending, 413, "request_too_large", "the request body is larger than "
			          "%zu bytes, the most this server takes (max_body_bytes)",
			          srv->cfg.max_body_bytes);
			free(cr->rq.body);
			cr->rq.body = NULL;
			cr->rq.body_len = cr->body_cap = 0;
			return MHD_YES;
		}
		if (cr->multipart) {
			if (MHD_post_process(cr->pp, upload_data, n) != MHD_YES)
				srv_error(&cr->pending, 400, "invalid_request_error", "the multipart/form-data "
				          "body is malformed or has more than %d fields", SRV_MAX_PARTS);
			return MHD_YES;
		}
		if (cr->rq.body_len + n + 1 > cr->body_cap) {
			size_t ncap = cr->body_cap ? cr->body_cap : 4096;
			char *nb;
			while (ncap < cr->rq.body_len + n + 1)
				ncap *= 2;
			nb = realloc(cr->rq.body, ncap);
			if (!nb) {
				srv_error(&cr->pending, 500, "server_error", "out of memory reading the "
				          "request body");
				return MHD_YES;
			}
			cr->rq.body = nb;
			cr->body_cap = ncap;
		}
		memcpy(cr->rq.body + cr->rq.body_len, upload_data, n);
		cr->rq.body_len += n;
		cr->rq.body[cr->rq.body_len] = '\0';
		return MHD_YES;
	}
	/* The whole request is here. */
	if (cr->pending.status) {
		rs = cr->pending;
		memset(&cr->pending, 0, sizeof cr->pending);
		return send_resp(cr, conn, &rs);
	}
	if (!cr->rq.body) {
		cr->rq.body = calloc(1, 1);
		if (!cr->rq.body)
			return MHD_NO;
	}
	cr->route->handler(&cr->rq, &rs);
	if (rs.status == 0)
		srv_error(&rs, 500, "server_error", "the handler gave no response");
	return send_resp(cr, conn, &rs);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
	rdb_srv *srv = cls;
	conn_req *cr = *req_cls;

	(void)conn;
	(void)toe;
	if (!cr)
		return;
	if (!cr->queued)
		cr->status = 499; /* the client went away before an answer */
	if (cr->sc) {
		pthread_mutex_lock(&srv->conn_mu);
		cr->sc->busy = 0;
		cr->sc->since = srv_now();
		pthread_mutex_unlock(&srv->conn_mu);
	}
	srv_metrics_request(srv, cr->route_id, cr->status, srv_now() - cr->t0);
	log_request(cr);
	req_free(cr);
	*req_cls = NULL;
	atomic_fetch_sub(&srv->in_flight, 1);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode toe)
{
	rdb_srv *srv = cls;
	srv_conn *c;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		atomic_fetch_add(&srv->connections, 1);
		/* Without an entry the connection is only bounded by MHD's idle
		 * timeout, as before: out of memory here is not worth refusing it. */
		c = ci ? calloc(1, sizeof *c) : NULL;
		*socket_ctx = c;
		if (!c)
			return;
		c->fd = ci->connect_fd;
		c->since = srv_now();
		pthread_mutex_lock(&srv->conn_mu);
		c->next = srv->conns;
		if (srv->conns)
			srv->conns->prev = c;
		srv->conns = c;
		pthread_mutex_unlock(&srv->conn_mu);
		return;
	}
	atomic_fetch_sub(&srv->connections, 1);
	c = *socket_ctx;
	*socket_ctx = NULL;
	if (!c)
		return;
	/* MHD closes the descriptor after this returns: unlink first. */
	pthread_mutex_lock(&srv->conn_mu);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&srv->conn_mu);
	free(c);
}

/* Once a second: shut down connections that have taken longer than
 * request_timeout to send their request headers (invariant 4). */
static void *reaper_main(void *arg)
{
	rdb_srv *srv = arg;
	struct timespec ts;

	pthread_mutex_lock(&srv->conn_mu);
	while (!srv->reaper_stop) {
		double now = srv_now();
		for (srv_conn *c = srv->conns; c; c = c->next) {
			if (c->busy || c->reaped || now - c->since <= (double)srv->cfg.request_timeout)
				continue;
			shutdown(c->fd, SHUT_RDWR);
			c->reaped = 1;
			atomic_fetch_add(&srv->reaped, 1);
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&srv->reaper_cv, &srv->conn_mu, &ts);
	}
	pthread_mutex_unlock(&srv->conn_mu);
	return NULL;
}

/* libmicrohttpd logs a line for every malformed request, so a client
 * sending garbage in a loop would fill the disk under the log: at most
 * SRV_LOG_BURST lines a second, then a count of those left out. */
#define SRV_LOG_BURST 10
static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;
static time_t g_log_second;
static unsigned g_log_lines, g_log_dropped;

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	time_t now = time(NULL);

	(void)cls;
	pthread_mutex_lock(&g_log_mu);
	if (now != g_log_second) {
		if (g_log_dropped)
			fprintf(stderr, "ragdb serve: http: %u more messages like these left out\n",
			        g_log_dropped);
		g_log_second = now;
		g_log_lines = g_log_dropped = 0;
	}
	if (g_log_lines < SRV_LOG_BURST) {
		g_log_lines++;
		fputs("ragdb serve: http: ", stderr);
		vfprintf(stderr, fmt, ap);
	} else {
		g_log_dropped++;
	}
	pthread_mutex_unlock(&g_log_mu);
}

/* ---------------------------------------------------------------- start, stop */

static void srv_free(rdb_srv *srv)
{
	if (!srv)
		return;
	srv_metrics_free(srv->metrics);
	srv_ratelimit_free(srv->rl);
	rdb_srv_config_free(&srv->cfg);
	pthread_cond_destroy(&srv->reaper_cv);
	pthread_mutex_destroy(&srv->conn_mu);
	pthread_mutex_destroy(&srv->ready.mu);
	free(srv);
}

/* Deep-copy @p in into @p out (the strings are duplicated). */
static int config_copy(rdb_srv_config *out, const rdb_srv_config *in)
{
	*out = *in;
	out->n_keys = out->n_cors_origins = out->n_models = 0;
	for (size_t i = 0; i < in->n_keys; i++) {
		if (!(out->keys[i].key = strdup(in->keys[i].key)))
			return -1;
		out->keys[i].read_only = in->keys[i].read_only;
		out->n_keys++;
	}
	for (size_t i = 0; i < in->n_cors_origins; i++) {
		if (!(out->cors_origins[i] = strdup(in->cors_origins[i])))
			return -1;
		out->n_cors_origins++;
	}
	for (size_t i = 0; i < in->n_models; i++) {
		if (!(out->models[i] = strdup(in->models[i])))
			return -1;
		out->n_models++;
	}
	return 0;
}

/* Worker threads unless configured: 8 per core, 16..128 (each search
 * holds one of the 254 LMDB reader slots, index/store.c). A worker holds
 * its request for the whole search, and searches in flight at once share
 * one pass over the vectors (engine/share.c), so with only one worker per
 * core concurrent searches queue behind each other instead of going
 * together; benchmarks/bench_serve.sh --mode vector (100k chunks, 64
 * connections, 2 cores): 34.9-38.7 searches/s with 2 workers, 78.6-117.8
 * with 16 (benchmarks/README.md, bench_concurrent).
 * Workers waiting on a provider (embeddings, answers) cost no CPU either. */
static unsigned default_threads(long cores)
{
	unsigned n = cores > 0 && cores < 16 ? 8u * (unsigned)cores : 128u;
	return n < 16 ? 16 : n;
}

int rdb_srv_start(ragdb *db, const rdb_srv_config *cfg, rdb_srv **out, char *err, size_t errcap)
{
	rdb_srv *srv = NULL;
	struct sockaddr_storage ss;
	/* poll(), not epoll (which MHD_USE_AUTO picks on Linux): with epoll and
	 * a thread pool, MHD_quiesce_daemon races the workers, which also
	 * remove the quiesced listen socket from their epoll sets, and the
	 * loser's EPOLL_CTL_DEL gets ENOENT, which MHD 0.9.75 treats as fatal
	 * ("Failed to remove listen FD from epoll set", abort). It aborted
	 * unit.test_server about once in 50 runs. With poll() quiescing
	 * signals each worker instead. The server's cost is the search, and
	 * each worker polls at most its share of max_connections. */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_ALLOW_SUSPEND_RESUME |
	                 MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;
	const char *host = cfg->host;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned threads;
	int perr;

	if (!rdb_srv_host_is_loopback(cfg->host) && cfg->n_keys == 0) {
		snprintf(err, errcap, "refusing to listen on %s without API keys: anyone who can reach "
		         "it could read and change the knowledge base. Set RAGDB_API_KEYS (e.g. "
		         "\"KEY1,ro:KEY2\") or server.api_keys in the config file, or listen on "
		         "127.0.0.1", cfg->host);
		return -1;
	}
	srv = calloc(1, sizeof *srv);
	if (srv) {
		pthread_mutex_init(&srv->conn_mu, NULL);
		pthread_cond_init(&srv->reaper_cv, NULL);
		pthread_mutex_init(&srv->ready.mu, NULL);
	}
	if (!srv || config_copy(&srv->cfg, cfg)) {
		snprintf(err, errcap, "out of memory");
		goto out_fail;
	}
	srv->db = db;
	srv->metrics = srv_metrics_create();
	if (!srv->metrics) {
		snprintf(err, errcap, "out of memory");
		goto out_fail;
	}
	if (cfg->rate_limit > 0) {
		srv->rl = srv_ratelimit_create(cfg->rate_limit, cfg->rate_burst > 0 ? cfg->rate_burst : 1);
		if (!srv->rl) {
			snprintf(err, errcap, "out of memory");
			goto out_fail;
		}
	}
	memset(&ss, 0, sizeof ss);
	if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	if (strchr(host, ':')) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(cfg->port);
		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			goto out_bad_addr;
		flags |= MHD_USE_IPv6;
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
		a4->sin_family = AF_INET;
		a4->sin_port = htons(cfg->port);
		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			goto out_bad_addr;
	}
	threads = cfg->threads > 0 ? (unsigned)cfg->threads : default_threads(cores);
	srv->d = MHD_start_daemon(
		flags, cfg->port, NULL, NULL, on_request, srv,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, /* first, so it gets every message */
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_THREAD_POOL_SIZE, threads > 1 ? threads : 0u,
		MHD_OPTION_CONNECTION_TIMEOUT, cfg->request_timeout,
		MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
		MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
		MHD_OPTION_END);
	if (!srv->d) {
		snprintf(err, errcap, "cannot listen on %s port %u: %s (another server there? try "
		         "--listen with another port)", cfg->host, (unsigned)cfg->port,
		         errno ? strerror(errno) : "the HTTP library refused the settings");
		goto out_fail;
	}
	info = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : cfg->port;
	if ((perr = pthread_create(&srv->reaper, NULL, reaper_main, srv)) != 0) {
		snprintf(err, errcap, "cannot start a thread (the slow-client reaper): %s",
		         strerror(perr));
		MHD_stop_daemon(srv->d);
		goto out_fail;
	}
	srv->reaper_running = 1;
	*out = srv;
	return 0;
out_bad_addr:
	snprintf(err, errcap, "cannot parse listen address %s", cfg->host);
out_fail:
	srv_free(srv);
	return -1;
}

void rdb_srv_stop(rdb_srv *srv, double grace_s)
{
	double deadline;
	MHD_socket ls;

	if (!srv)
		return;
	atomic_store(&srv->draining, 1);
	/* Stop accepting; connections already open finish their requests. The
	 * listening socket is closed only after MHD_stop_daemon: the pool
	 * threads take it out of their poll sets on their own time. */
	ls = MHD_quiesce_daemon(srv->d);
	deadline = srv_now() + grace_s;
	while (atomic_load(&srv->in_flight) > 0 && srv_now() < deadline)
		usleep(10 * 1000);
	/* Stream workers use the handle and may hold suspended connections:
	 * they always end (a query is bounded), so wait for them whatever the
	 * grace time. */
	while (atomic_load(&srv->streams) > 0)
		usleep(10 * 1000);
	/* A stream's last bytes may still be going out. */
	deadline = srv_now() + 1.0;
	while (atomic_load(&srv->in_flight) > 0 && srv_now() < deadline)
		usleep(10 * 1000);
	if (srv->reaper_running) {
		pthread_mutex_lock(&srv->conn_mu);
		srv->reaper_stop = 1;
		pthread_cond_signal(&srv->reaper_cv);
		pthread_mutex_unlock(&srv->conn_mu);
		pthread_join(srv->reaper, NULL);
	}
	MHD_stop_daemon(srv->d);
	if (ls != MHD_INVALID_SOCKET)
		close(ls);
	srv_free(srv);
}
