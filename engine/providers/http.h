/*
 * engine/providers/http.h — HTTP requests to model providers, and the
 * incremental parsers for their streaming formats (SSE, NDJSON).
 *
 * http.c is the only file of ragdb that includes curl/curl.h; CURLE_* codes
 * and HTTP statuses become ragdb statuses and messages there, and nowhere
 * else. stream.c holds the stream parsers (no curl).
 *
 * Contract of rdb_http_run():
 *  1. Every request is tried until it gets a 2xx, a status that is not worth
 *     retrying (400, 401, 403, 404, 422...), or runs out of attempts.
 *     429, 500, 502, 503, 504, 529 and network errors (refused, reset,
 *     timed out) are retried with exponential backoff and full jitter;
 *     a Retry-After header (seconds or an HTTP date) or retry-after-ms sets
 *     the wait instead.
 *  2. A streaming request (on_data set) is retried only while none of its
 *     body has been handed to on_data: a stream cut off after data arrived is
 *     an error, never a silent short answer.
 *  3. Bodies are capped (max_response); a larger body is an error.
 *  4. Up to max_parallel requests are in flight at once (curl multi).
 *  5. Messages name the request's `what` (provider:model), the status, the
 *     provider's own error message (quoted from its JSON body) and what to
 *     do; header values (API keys) are never copied into a message.
 */
#ifndef RDB_HTTP_H
#define RDB_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "index/err.h"

/* Timeouts and retry policy; zero fields take the defaults below. */
typedef struct rdb_http_opts {
	long connect_timeout_ms;  /* default 10 s */
	long timeout_ms;          /* whole request, incl. the stream; default 120 s */
	int max_retries;          /* retries after the first attempt; default 4; <0 = none */
	long backoff_ms;          /* first backoff; default 500 ms */
	long max_backoff_ms;      /* cap of one wait, also of Retry-After; default 30 s */
} rdb_http_opts;

#define RDB_HTTP_MAX_RESPONSE (64u << 20) /* default body cap */
#define RDB_HTTP_MAX_ERROR_BODY (64u << 10)

struct rdb_balancer;

typedef struct rdb_http_req {
	const char *url;
	const char *body;            /* POST body (JSON); NULL = GET */
	size_t body_len;
	const char *const *headers;  /* "Name: value" lines (may hold secrets) */
	size_t n_headers;
	size_t max_response;         /* 0 = RDB_HTTP_MAX_RESPONSE */
	/* Streaming: the bytes of a 2xx body go here as they arrive instead of
	 * being kept. Return 0 to go on; non-zero stops the transfer (the
	 * request then fails with the message the callback left in *cb_err). */
	int (*on_data)(void *ctx, const char *p, size_t n);
	void *ctx;
	rdb_err *cb_err;
	const char *what;            /* "openai:gpt-4o" — names the request in messages */
	const char *key_hint;        /* what to do on 401/403: "set OPENAI_API_KEY" */
	/* Several endpoints of one model (balance.h), or NULL. url then begins
	 * with one of the balancer's endpoints; each attempt swaps that prefix
	 * for the endpoint the balancer picks (a retry another one when there
	 * is one) and reports the attempt's latency and outcome to it. */
	struct rdb_balancer *bal;
} rdb_http_req;

typedef struct rdb_http_resp {
	long status;         /* last HTTP status (0: no response) */
	char *body;          /* the body (non-streaming), or the error body; NUL-ended */
	size_t len;
	int attempts;
} rdb_http_resp;

void rdb_http_resp_clear(rdb_http_resp *r);

/* Run @p n requests, up to @p max_parallel (0 = 8) at once. resps[i] is
 * filled for every request, also on failure (free each with
 * rdb_http_resp_clear). Returns RAGDB_OK when every request got a 2xx;
 * otherwise the status and message of the first failure (by index):
 * RAGDB_EPERM (401, 403), RAGDB_ENOTFOUND (404), RAGDB_EINVAL (other 4xx),
 * RAGDB_EIO (5xx, 429 after the retries, network errors, timeouts, a body
 * over its cap, a stream cut off), RAGDB_ENOMEM. */
ragdb_status rdb_http_run(const rdb_http_req *reqs, rdb_http_resp *resps, size_t n,
                          size_t max_parallel, const rdb_http_opts *o, rdb_err *err);

/* One request: rdb_http_run with n = 1. */
ragdb_status rdb_http_do(const rdb_http_req *req, rdb_http_resp *resp, const rdb_http_opts *o,
                         rdb_err *err);

/* The provider's own message in an error body: error.message, error (a
 * string), message, detail, or the body itself, cut to @p cap - 1 bytes,
 * one line. Writes "" for an empty body. */
void rdb_http_error_text(const char *body, size_t len, char *out, size_t cap);

/* Parse a Retry-After value (delta seconds, fractional allowed, or an HTTP
 * date) into milliseconds from @p now (s since the epoch); -1 if unparsable. */
long rdb_http_retry_after_ms(const char *value, int64_t now);

/* ------------------------------------------------------------ streams */

/* Lines of a byte stream, split at \n, \r\n or \r, whatever chunk
 * boundaries the bytes arrive in. A line longer than the cap fails. */
typedef struct rdb_lines {
	char *buf;
	size_t len, cap, max;
	int last_cr;        /* the previous chunk ended in \r: skip a leading \n */
	int (*on_line)(void *ctx, const char *line, size_t len);
	void *ctx;
} rdb_lines;

/* Server-sent events (text/event-stream) on top of rdb_lines: "event:" and
 * "data:" fields (multi-line data joined by \n), comments ignored, an event
 * dispatched at its blank line. on_event returns 0 to go on. */
typedef struct rdb_sse {
	rdb_lines lines;
	char event[64];
	char *data;
	size_t dlen, dcap, max;
	int has_data;
	int (*on_event)(void *ctx, const char *event, const char *data, size_t len);
	void *ctx;
	int overflow;       /* an event or line went over its cap */
} rdb_sse;

#define RDB_STREAM_MAX_LINE (4u << 20)

void rdb_lines_init(rdb_lines *l, size_t max, int (*on_line)(void *, const char *, size_t),
                    void *ctx);
/* Feed bytes: 0, -1 when a line goes over the cap, or on_line's non-zero. */
int rdb_lines_feed(rdb_lines *l, const char *p, size_t n);
/* End of stream: a last line without its newline is delivered. */
int rdb_lines_finish(rdb_lines *l);
void rdb_lines_free(rdb_lines *l);

void rdb_sse_init(rdb_sse *s, int (*on_event)(void *, const char *, const char *, size_t),
                  void *ctx);
int rdb_sse_feed(rdb_sse *s, const char *p, size_t n);
/* End of stream: an event not closed by its blank line is NOT dispatched
 * (the SSE rule), so a cut-off stream loses its incomplete last event. */
void rdb_sse_free(rdb_sse *s);

#endif
