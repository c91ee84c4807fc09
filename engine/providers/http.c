/*
 * engine/providers/http.c — every HTTP request ragdb makes, through libcurl.
 *
 * The only file that includes curl/curl.h. See http.h for the contract
 * (retries, backoff, caps, streaming, messages). Design:
 *
 *   One curl multi handle per rdb_http_run() call drives all its requests;
 *   each request is a slot that moves WAITING -> RUNNING -> (WAITING again
 *   for a retry, with a due time) -> DONE. Nothing is shared between calls
 *   but curl_global_init, done once, so calls from several threads are
 *   independent. CURLOPT_NOSIGNAL keeps curl off signals (threads).
 *
 *   Balancing: a request with a balancer gets its URL per attempt (the
 *   endpoint picked + the path after the endpoint its url starts with);
 *   every attempt started is reported to the balancer exactly once, when
 *   it finishes or is abandoned. A retry that can go to another endpoint
 *   goes at once for the first n-1 attempts (another server need not wait
 *   out this one's backoff); after that the usual backoff applies.
 *
 *   Secrets: request headers are handed to curl and nowhere else. Messages
 *   quote the provider's response body (its error text), never a header.
 */
#include "engine/providers/http.h"
#include "engine/providers/balance.h"

#include <ctype.h>
#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#define DEF_CONNECT_MS 10000L
#define DEF_TIMEOUT_MS 120000L
#define DEF_RETRIES 4
#define DEF_BACKOFF_MS 500L
#define DEF_MAX_BACKOFF_MS 30000L

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static CURLcode g_init_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
	g_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void rdb_http_resp_clear(rdb_http_resp *r)
{
	if (!r)
		return;
	free(r->body);
	memset(r, 0, sizeof *r);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

long rdb_http_retry_after_ms(const char *v, int64_t now)
{
	while (v && (*v == ' ' || *v == '\t'))
		v++;
	if (!v || !*v)
		return -1;
	if (isdigit((unsigned char)*v)) {
		char *end = NULL;
		double s = strtod(v, &end);
		while (end && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
			end++;
		if (end && *end == 0 && s >= 0 && s < 86400.0 * 365)
			return (long)(s * 1000.0);
		return -1;
	}
	time_t t = curl_getdate(v, NULL);
	if (t == (time_t)-1)
		return -1;
	return t <= now ? 0 : (long)(t - now) * 1000L;
}

void rdb_http_error_text(const char *body, size_t len, char *out, size_t cap)
{
	if (cap == 0)
		return;
	out[0] = 0;
	if (!body || len == 0)
		return;
	const char *msg = NULL;
	cJSON *j = cJSON_ParseWithLength(body, len);
	if (j) {
		cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
		cJSON *m = NULL;
		if (cJSON_IsObject(e))
			m = cJSON_GetObjectItemCaseSensitive(e, "message");
		else if (cJSON_IsString(e))
			m = e;
		if (!cJSON_IsString(m))
			m = cJSON_GetObjectItemCaseSensitive(j, "message");
		if (!cJSON_IsString(m))
			m = cJSON_GetObjectItemCaseSensitive(j, "detail");
		if (cJSON_IsString(m))
			msg = m->valuestring;
	}
	size_t n = 0;
	const char *s = msg ? msg : body;
	size_t sl = msg ? strlen(msg) : len;
	for (size_t i = 0; i < sl && n + 1 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		out[n++] = (c == '\n' || c == '\r' || c == '\t') ? ' ' : (c < 0x20 ? '?' : (char)c);
	}
	if (n < sl) {
		/* Cut: drop a last UTF-8 sequence that lost its tail. */
		size_t k = n;
		while (k > 0 && ((unsigned char)out[k - 1] & 0xC0) == 0x80)
			k--;
		if (k > 0) {
			unsigned char lead = (unsigned char)out[k - 1];
			size_t want = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
			if (n - (k - 1) < want)
				n = k - 1;
		}
	}
	out[n] = 0;
	cJSON_Delete(j);
}

/* ---------------------------------------------------------------- slots */

enum slot_state { SLOT_WAITING, SLOT_RUNNING, SLOT_DONE };

typedef struct slot {
	const rdb_http_req *req;
	rdb_http_resp *resp;
	CURL *h;
	struct curl_slist *hdrs;
	enum slot_state state;
	double due;             /* when a WAITING slot may start */
	int attempt;            /* attempts started */
	int streamed;           /* this attempt handed body bytes to on_data */
	int cb_failed;          /* on_data asked to stop */
	int too_big;
	long retry_after_ms;    /* from the last response, -1 none */
	long http_status;       /* this attempt's status, as seen by the write callback */
	char *buf;              /* body or error body of this attempt */
	size_t len, cap, max;
	CURLcode rc;
	char errbuf[CURL_ERROR_SIZE];
	ragdb_status st;        /* final */
	rdb_err err;
	unsigned seed;          /* jitter (rand_r: calls run in several threads) */
	rdb_balancer *bal;      /* NULL: no balancing (none, or url not one of its endpoints) */
	const char *path;       /* url after the endpoint it starts with */
	char *url;              /* this attempt's URL (balanced) */
	int ep;                 /* endpoint of the attempt in flight or last reported, -1 none */
	int ep_active;          /* an attempt picked ep and is not reported yet */
	int ep_failed;          /* the last attempt failed on ep: a retry avoids it */
	double t_start;
} slot;

static const char *slot_url(const slot *s)
{
	return s->url ? s->url : s->req->url;
}

static void slot_report(slot *s, rdb_bal_outcome o, rdb_bal_err k)
{
	if (!s->bal || !s->ep_active)
		return;
	double now = now_ms();
	rdb_balancer_report_err(s->bal, (size_t)s->ep, o, k, now - s->t_start, now);
	s->ep_active = 0;
	s->ep_failed = o == RDB_BAL_FAIL;
}

static int buf_put(slot *s, const char *p, size_t n)
{
	if (n > s->max - s->len) {
		s->too_big = 1;
		return -1;
	}
	if (s->len + n + 1 > s->cap) {
		size_t nc = s->cap ? s->cap : 4096;
		while (nc < s->len + n + 1)
			nc *= 2;
		char *nb = realloc(s->buf, nc);
		if (!nb)
			return -1;
		s->buf = nb;
		s->cap = nc;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	s->buf[s->len] = 0;
	return 0;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
	slot *s = ud;
	size_t n = size * nmemb;
	if (s->http_status == 0)
		curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &s->http_status);
	int ok2xx = s->http_status >= 200 && s->http_status < 300;
	if (ok2xx && s->req->on_data) {
		if (n == 0)
			return 0;
		s->streamed = 1;
		if (s->req->on_data(s->req->ctx, p, n) != 0) {
			s->cb_failed = 1;
			return 0; /* CURLE_WRITE_ERROR */
		}
		return n;
	}
	if (!ok2xx && s->len >= RDB_HTTP_MAX_ERROR_BODY)
		return n; /* enough of an error body to quote; drop the rest */
	return buf_put(s, p, n) == 0 ? n : 0;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	slot *s = ud;
	size_t n = size * nmemb;
	static const char ra[] = "retry-after:", ram[] = "retry-after-ms:";
	char v[128];
	if (n > sizeof ram - 1 && strncasecmp(p, ram, sizeof ram - 1) == 0) {
		size_t vl = n - (sizeof ram - 1);
		if (vl >= sizeof v)
			vl = sizeof v - 1;
		memcpy(v, p + sizeof ram - 1, vl);
		v[vl] = 0;
		char *end = NULL;
		double ms = strtod(v, &end);
		if (end != v && ms >= 0 && ms < 86400e3)
			s->retry_after_ms = (long)ms;
	} else if (n > sizeof ra - 1 && strncasecmp(p, ra, sizeof ra - 1) == 0 &&
	           s->retry_after_ms < 0) {
		size_t vl = n - (sizeof ra - 1);
		if (vl >= sizeof v)
			vl = sizeof v - 1;
		memcpy(v, p + sizeof ra - 1, vl);
		v[vl] = 0;
		for (char *e = v + strlen(v); e > v && (e[-1] == '\r' || e[-1] == '\n'); e--)
			e[-1] = 0;
		s->retry_after_ms = rdb_http_retry_after_ms(v, (int64_t)time(NULL));
	}
	return n;
}

static ragdb_status slot_start(slot *s, CURLM *m, const rdb_http_opts *o)
{
	const rdb_http_req *r = s->req;
	s->attempt++;
	s->streamed = s->cb_failed = s->too_big = 0;
	s->retry_after_ms = -1;
	s->http_status = 0;
	s->len = 0;
	s->errbuf[0] = 0;
	if (s->bal) {
		size_t i = rdb_balancer_pick(s->bal, s->ep_failed ? s->ep : -1, now_ms());
		const char *base = rdb_balancer_endpoint(s->bal, i);
		size_t bl = strlen(base), pl = strlen(s->path);
		char *u = malloc(bl + pl + 1);
		if (!u) {
			rdb_balancer_report(s->bal, i, RDB_BAL_NEUTRAL, 0, now_ms());
			return rdb_err_set(&s->err, RAGDB_ENOMEM, "out of memory for a URL");
		}
		memcpy(u, base, bl);
		memcpy(u + bl, s->path, pl + 1);
		free(s->url);
		s->url = u;
		s->ep = (int)i;
		s->ep_active = 1;
		s->t_start = now_ms();
	}
	if (!s->h) {
		s->h = curl_easy_init();
		if (!s->h)
			return rdb_err_set(&s->err, RAGDB_ENOMEM, "%s: cannot create an HTTP handle",
			                   r->what ? r->what : r->url);
		for (size_t i = 0; i < r->n_headers; i++) {
			struct curl_slist *nl = curl_slist_append(s->hdrs, r->headers[i]);
			if (!nl)
				return rdb_err_set(&s->err, RAGDB_ENOMEM, "out of memory for HTTP headers");
			s->hdrs = nl;
		}
		if (r->body) {
			struct curl_slist *nl = curl_slist_append(s->hdrs, "Content-Type: application/json");
			if (nl)
				s->hdrs = nl;
		}
		/* curl would send "Expect: 100-continue" for big bodies: a round trip lost. */
		struct curl_slist *nl = curl_slist_append(s->hdrs, "Expect:");
		if (nl)
			s->hdrs = nl;
	} else {
		curl_easy_reset(s->h);
	}
	CURL *h = s->h;
	curl_easy_setopt(h, CURLOPT_URL, slot_url(s));
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, s->hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, s);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, s->errbuf);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, o->timeout_ms);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "ragdb/" RAGDB_VERSION);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (r->body) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
	}
	curl_easy_setopt(h, CURLOPT_PRIVATE, s);
	if (curl_multi_add_handle(m, h) != CURLM_OK) {
		slot_report(s, RDB_BAL_NEUTRAL, RDB_BAL_E_OTHER);
		return rdb_err_set(&s->err, RAGDB_ENOMEM, "%s: cannot start an HTTP request",
		                   r->what ? r->what : r->url);
	}
	s->state = SLOT_RUNNING;
	return RAGDB_OK;
}

static int status_retryable(long st)
{
	return st == 429 || st == 500 || st == 502 || st == 503 || st == 504 || st == 529;
}

static int curl_retryable(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

static const char *status_hint(long st, const rdb_http_req *r)
{
	switch (st) {
	case 400: case 422:
		return "the provider rejected the request; check the model name and its options in the configuration";
	case 401: case 403:
		return r->key_hint ? r->key_hint : "check the API key";
	case 404:
		return "check the model name and the endpoint URL (does the server serve this model and path?)";
	case 413:
		return "the request is too large for the provider; use smaller chunks";
	case 429:
		return "the provider is rate limiting; wait, lower --jobs, or raise your quota";
	case 529:
		return "the provider is overloaded; try again later";
	default:
		return st >= 500 ? "the provider failed; try again later" : "check the request and configuration";
	}
}

static ragdb_status status_code(long st)
{
	if (st == 401 || st == 403)
		return RAGDB_EPERM;
	if (st == 404)
		return RAGDB_ENOTFOUND;
	if (st >= 400 && st < 500 && st != 429 && st != 408)
		return RAGDB_EINVAL;
	return RAGDB_EIO;
}

/* How a finished attempt ended, for the per-endpoint metrics: the same
 * kinds of error whatever the balancer makes of them. */
static rdb_bal_err attempt_err(const slot *s, long status)
{
	if (s->cb_failed || s->too_big)
		return RDB_BAL_E_OTHER;
	if (s->rc == CURLE_OPERATION_TIMEDOUT)
		return RDB_BAL_E_TIMEOUT;
	if (s->rc == CURLE_COULDNT_CONNECT || s->rc == CURLE_COULDNT_RESOLVE_HOST)
		return RDB_BAL_E_CONNECT;
	if (s->rc != CURLE_OK)
		return RDB_BAL_E_NETWORK;
	if (status == 429)
		return RDB_BAL_E_RATE_LIMITED;
	if (status >= 500)
		return RDB_BAL_E_HTTP_5XX;
	if (status >= 400)
		return RDB_BAL_E_HTTP_4XX;
	return status >= 200 && status < 300 ? RDB_BAL_E_NONE : RDB_BAL_E_OTHER;
}

/* Decide what a finished attempt means: done, retry (state WAITING with a
 * due time) or failed (err set). */
static void slot_finish(slot *s, const rdb_http_opts *o, double now)
{
	const rdb_http_req *r = s->req;
	const char *what = r->what ? r->what : "HTTP";
	long status = 0;
	curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
	s->resp->status = status;
	s->resp->attempts = s->attempt;
	int retry = 0;
	/* What the attempt says of the server, for the balancer. */
	rdb_bal_err k = attempt_err(s, status);
	if (s->rc == CURLE_OK && status >= 200 && status < 300 && !s->cb_failed)
		slot_report(s, RDB_BAL_OK, k);
	else if (s->rc != CURLE_OK && !s->cb_failed && !s->too_big)
		slot_report(s, RDB_BAL_FAIL, k);
	else if (s->rc == CURLE_OK && status_retryable(status))
		slot_report(s, RDB_BAL_FAIL, k);
	else
		slot_report(s, RDB_BAL_NEUTRAL, k);
	if (s->rc == CURLE_OK && status >= 200 && status < 300) {
		s->st = RAGDB_OK;
	} else if (s->cb_failed) {
		if (r->cb_err && r->cb_err->status != RAGDB_OK)
			s->err = *r->cb_err;
		else
			rdb_err_set(&s->err, RAGDB_EIO, "%s: the response stream could not be read", what);
		s->st = s->err.status;
	} else if (s->too_big) {
		s->st = rdb_err_set(&s->err, RAGDB_EIO,
		                    "%s: the response is larger than %zu bytes; refusing it (is the endpoint right?)",
		                    what, s->max);
	} else if (s->rc != CURLE_OK) {
		const char *detail = s->errbuf[0] ? s->errbuf : curl_easy_strerror(s->rc);
		if (s->streamed) {
			s->st = rdb_err_set(&s->err, RAGDB_EIO,
			                    "%s: the response stream was cut off before it ended (%s); the answer is incomplete, try again",
			                    what, detail);
		} else {
			retry = curl_retryable(s->rc);
			if (s->rc == CURLE_OPERATION_TIMEDOUT)
				rdb_err_set(&s->err, RAGDB_EIO,
				            "%s: no complete answer from %s within %ld ms (%s); raise the timeout in ragdb.json or check the server",
				            what, slot_url(s), o->timeout_ms, detail);
			else if (s->rc == CURLE_COULDNT_CONNECT || s->rc == CURLE_COULDNT_RESOLVE_HOST)
				rdb_err_set(&s->err, RAGDB_EIO,
				            "%s: cannot connect to %s (%s); is the server running and the endpoint right?",
				            what, slot_url(s), detail);
			else
				rdb_err_set(&s->err, RAGDB_EIO, "%s: request to %s failed: %s", what, slot_url(s),
				            detail);
			s->st = RAGDB_EIO;
		}
	} else {
		char ptext[600];
		rdb_http_error_text(s->buf, s->len, ptext, sizeof ptext);
		retry = status_retryable(status);
		s->st = status_code(status);
		rdb_err_set(&s->err, s->st, "%s: HTTP %ld from %s%s%s%s; %s", what, status, slot_url(s),
		            ptext[0] ? ": \"" : "", ptext, ptext[0] ? "\"" : "", status_hint(status, r));
		/* Keep the error body for callers that parse it. */
		free(s->resp->body);
		s->resp->body = s->buf;
		s->resp->len = s->len;
		s->buf = NULL;
		s->len = s->cap = 0;
	}
	if (s->st == RAGDB_OK) {
		free(s->resp->body);
		s->resp->body = s->buf;
		s->resp->len = s->len;
		if (!s->resp->body) {
			s->resp->body = calloc(1, 1);
			if (!s->resp->body)
				s->st = rdb_err_set(&s->err, RAGDB_ENOMEM, "out of memory");
		}
		s->buf = NULL;
		s->len = s->cap = 0;
		s->state = SLOT_DONE;
		return;
	}
	int retries = o->max_retries < 0 ? 0 : o->max_retries;
	if (retry && s->attempt <= retries) {
		double wait;
		if (s->retry_after_ms >= 0) {
			wait = (double)s->retry_after_ms;
			if (wait > o->max_backoff_ms) {
				/* Waiting that long is not ours to decide: say when to come back. */
				rdb_err_prefix(&s->err, "asked to wait %ld s before retrying (more than the %ld s allowed)",
				               s->retry_after_ms / 1000, o->max_backoff_ms / 1000);
				s->state = SLOT_DONE;
				return;
			}
		} else {
			double cap = (double)o->backoff_ms * pow(2.0, s->attempt - 1);
			if (cap > o->max_backoff_ms)
				cap = (double)o->max_backoff_ms;
			/* Full jitter in [cap/2, cap]: spreads retries of many requests. */
			unsigned r0 = (unsigned)rand_r(&s->seed);
			wait = cap * (0.5 + 0.5 * (double)(r0 % 10001) / 10000.0);
		}
		/* Another server need not wait out this one's trouble. */
		if (s->bal && (size_t)s->attempt < rdb_balancer_count(s->bal))
			wait = 0;
		s->state = SLOT_WAITING;
		s->due = now + wait;
		return;
	}
	if (retry && s->attempt > 1)
		rdb_err_prefix(&s->err, "after %d attempts", s->attempt);
	s->state = SLOT_DONE;
}

ragdb_status rdb_http_run(const rdb_http_req *reqs, rdb_http_resp *resps, size_t n,
                          size_t max_parallel, const rdb_http_opts *opts, rdb_err *err)
{
	pthread_once(&g_once, global_init);
	if (g_init_rc != CURLE_OK)
		return rdb_err_set(err, RAGDB_EIO, "the HTTP library failed to start: %s",
		                   curl_easy_strerror(g_init_rc));
	rdb_http_opts o = {0};
	if (opts)
		o = *opts;
	if (o.connect_timeout_ms <= 0)
		o.connect_timeout_ms = DEF_CONNECT_MS;
	if (o.timeout_ms <= 0)
		o.timeout_ms = DEF_TIMEOUT_MS;
	if (o.max_retries == 0)
		o.max_retries = DEF_RETRIES;
	if (o.backoff_ms <= 0)
		o.backoff_ms = DEF_BACKOFF_MS;
	if (o.max_backoff_ms <= 0)
		o.max_backoff_ms = DEF_MAX_BACKOFF_MS;
	if (max_parallel == 0)
		max_parallel = 8;
	for (size_t i = 0; i < n; i++)
		memset(&resps[i], 0, sizeof resps[i]);
	if (n == 0)
		return RAGDB_OK;

	ragdb_status st = RAGDB_OK;
	slot *slots = calloc(n, sizeof *slots);
	CURLM *m = curl_multi_init();
	if (!slots || !m) {
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory for %zu HTTP requests", n);
		goto out_free;
	}
	for (size_t i = 0; i < n; i++) {
		slots[i].req = &reqs[i];
		slots[i].resp = &resps[i];
		slots[i].state = SLOT_WAITING;
		slots[i].seed = (unsigned)now_ms() ^ (unsigned)(i * 2654435761u);
		slots[i].max = reqs[i].max_response ? reqs[i].max_response : RDB_HTTP_MAX_RESPONSE;
		slots[i].ep = -1;
		size_t pl = 0;
		if (reqs[i].bal && rdb_balancer_match(reqs[i].bal, reqs[i].url, &pl) >= 0) {
			slots[i].bal = reqs[i].bal;
			slots[i].path = reqs[i].url + pl;
		}
	}
	size_t done = 0, running = 0;
	while (done < n) {
		double now = now_ms(), next_due = -1;
		for (size_t i = 0; i < n && running < max_parallel; i++) {
			slot *s = &slots[i];
			if (s->state != SLOT_WAITING)
				continue;
			if (s->due > now) {
				if (next_due < 0 || s->due < next_due)
					next_due = s->due;
				continue;
			}
			if (slot_start(s, m, &o) != RAGDB_OK) {
				s->st = s->err.status;
				s->state = SLOT_DONE;
				done++;
				continue;
			}
			running++;
		}
		if (done >= n)
			break;
		int still = 0;
		curl_multi_perform(m, &still);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(m, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			slot *s = NULL;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
			s->rc = msg->data.result;
			curl_multi_remove_handle(m, s->h);
			running--;
			slot_finish(s, &o, now_ms());
			if (s->state == SLOT_DONE)
				done++;
			/* A retry just scheduled: wake for it, not after the 1 s default. */
			else if (s->state == SLOT_WAITING && (next_due < 0 || s->due < next_due))
				next_due = s->due;
		}
		if (done >= n)
			break;
		int timeout = 1000;
		if (next_due >= 0) {
			double d = next_due - now_ms();
			timeout = d <= 0 ? 0 : d < 1000 ? (int)d + 1 : 1000;
		}
		if (running > 0)
			curl_multi_poll(m, NULL, 0, timeout, NULL);
		else if (timeout > 0) {
			struct timespec ts = {timeout / 1000, (long)(timeout % 1000) * 1000000L};
			nanosleep(&ts, NULL);
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (slots[i].st != RAGDB_OK) {
			if (err)
				*err = slots[i].err;
			st = slots[i].st;
			break;
		}
	}
out_free:
	for (size_t i = 0; slots && i < n; i++) {
		slot_report(&slots[i], RDB_BAL_NEUTRAL, RDB_BAL_E_OTHER);
		free(slots[i].url);
		if (slots[i].h) {
			if (slots[i].state == SLOT_RUNNING)
				curl_multi_remove_handle(m, slots[i].h);
			curl_easy_cleanup(slots[i].h);
		}
		curl_slist_free_all(slots[i].hdrs);
		free(slots[i].buf);
	}
	if (m)
		curl_multi_cleanup(m);
	free(slots);
	return st;
}

ragdb_status rdb_http_do(const rdb_http_req *req, rdb_http_resp *resp, const rdb_http_opts *o,
                         rdb_err *err)
{
	return rdb_http_run(req, resp, 1, 1, o, err);
}
