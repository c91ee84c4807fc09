/*
 * tests/fuzz/fuzz_http_bodies.c — the request bodies of the server's
 * routes (server/api.c, server/openai.c), handed straight to the handlers
 * as server/http.c would after reading a request. The first byte picks the
 * route: POST /v1/search, /v1/query, /v1/documents (JSON, or multipart
 * parts cut from the body at NUL bytes: name, filename, data, ...),
 * /v1/embeddings, /v1/chat/completions, GET and DELETE
 * /v1/documents/{id} with the body as the id; the rest is the body.
 * Requests asking for a stream ("stream": true) are skipped: a stream
 * runs on its own thread against a live connection.
 *
 * A small knowledge base (local embedder, a few documents) and a server
 * object (rdb_srv_start on an ephemeral loopback port, never called over
 * HTTP) are made once per process in a temporary directory. Language
 * models named "provider:model" point at a closed local port, so a request
 * naming one fails fast.
 * Property: every response is a JSON object with a 2xx or 4xx status, or
 * a 5xx only when the request named a provider's model (the model could
 * not be reached: not a problem of the body); error responses carry
 * {"error": {"message"}}; no crash, leak or undefined behaviour.
 */
#include <cjson/cJSON.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "ragdb.h"
#include "server/internal.h"
#include "server/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ragdb *g_db;
static rdb_srv *g_srv;
static rdb_srv_config g_cfg;
static char g_dir[256];

static void rm_dir(void)
{
	char cmd[400];
	rdb_srv_stop(g_srv, 0);
	ragdb_close(g_db);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_http_bodies: could not remove %s\n", g_dir);
}

static void setup(void)
{
	/* Every provider at a closed port, no retries: a named model fails fast. */
	setenv("RAGDB_HTTP_RETRIES", "0", 1);
	setenv("RAGDB_HTTP_CONNECT_TIMEOUT_MS", "200", 1);
	setenv("RAGDB_HTTP_TIMEOUT_MS", "500", 1);
	setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1", 1);
	setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9", 1);
	setenv("GEMINI_BASE_URL", "http://127.0.0.1:9", 1);
	setenv("OLLAMA_HOST", "127.0.0.1:9", 1);
	setenv("HF_INFERENCE_ENDPOINT", "http://127.0.0.1:9", 1);
	setenv("OPENAI_API_KEY", "sk-fuzz", 1);
	setenv("ANTHROPIC_API_KEY", "sk-fuzz", 1);
	setenv("GEMINI_API_KEY", "sk-fuzz", 1);
	unsetenv("RAGDB_CONFIG");
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(g_dir, sizeof g_dir, "%s/ragdb-fuzz-http-%d", base, (int)getpid());
	ragdb_create_options o;
	memset(&o, 0, sizeof o);
	o.dim = 64;
	if (ragdb_create(g_dir, &o, &g_db) != RAGDB_OK) {
		fprintf(stderr, "fuzz_http_bodies: create %s: %s\n", g_dir, g_db ? ragdb_errmsg(g_db) : "");
		abort();
	}
	atexit(rm_dir);
	static const ragdb_document docs[] = {
		{ "guide/intro.md", "# Intro\n\nRotate the signing keys every 90 days with `ragdb keys rotate`.",
		  (size_t)-1, "Intro", "/kb/guide/intro.md", "{\"lang\":\"en\",\"year\":2024}",
		  RAGDB_FORMAT_MARKDOWN },
		{ "notes.txt", "Backups run nightly. Restore with ragdb restore DIR.", (size_t)-1, NULL,
		  NULL, NULL, RAGDB_FORMAT_AUTO },
		{ "faq", "Q: How many documents? A: As many as fit in the map.", (size_t)-1, "FAQ", NULL,
		  "{\"tags\":[\"faq\",\"limits\"]}", RAGDB_FORMAT_AUTO },
	};
	if (ragdb_ingest_text(g_db, docs, 3, NULL, NULL) != RAGDB_OK) {
		fprintf(stderr, "fuzz_http_bodies: ingest: %s\n", ragdb_errmsg(g_db));
		abort();
	}
	rdb_srv_config_init(&g_cfg);
	snprintf(g_cfg.host, sizeof g_cfg.host, "127.0.0.1");
	g_cfg.port = 0;
	g_cfg.threads = 2;
	g_cfg.max_inputs = 16;
	g_cfg.max_k = 50;
	snprintf(g_cfg.db_dir, sizeof g_cfg.db_dir, "%s", g_dir);
	char err[256];
	if (rdb_srv_start(g_db, &g_cfg, &g_srv, err, sizeof err) != 0) {
		fprintf(stderr, "fuzz_http_bodies: server: %s\n", err);
		abort();
	}
}

/* Whether the body asks for a stream, and whether it names a provider's
 * model ("provider:model", which the handlers pass to the library). */
static void peek(const char *body, size_t len, int *stream, int *provider_model)
{
	*stream = *provider_model = 0;
	cJSON *j = cJSON_ParseWithLength(body, len);
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return;
	}
	*stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "stream"));
	cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "model");
	*provider_model = cJSON_IsString(m) && strchr(m->valuestring, ':') != NULL;
	cJSON_Delete(j);
}

/* Multipart parts from the body: NUL-separated name, filename ("" = a
 * plain field), data, repeated. */
static void make_parts(srv_req *rq, const char *body, size_t len)
{
	const char *f[3 * SRV_MAX_PARTS];
	size_t fl[3 * SRV_MAX_PARTS], nf = 0, at = 0;
	while (at <= len && nf < 3 * SRV_MAX_PARTS) {
		const char *z = memchr(body + at, 0, len - at);
		f[nf] = body + at;
		fl[nf] = z ? (size_t)(z - (body + at)) : len - at;
		nf++;
		if (!z)
			break;
		at += fl[nf - 1] + 1;
	}
	for (size_t i = 0; i < nf; i += 3) {
		srv_part *p = &rq->parts[rq->n_parts++];
		p->name = strndup(f[i], fl[i]);
		p->filename = i + 1 < nf && fl[i + 1] ? strndup(f[i + 1], fl[i + 1]) : NULL;
		p->content_type = NULL;
		/* http.c hands over the data NUL-ended, NULs inside kept */
		size_t dl = i + 2 < nf ? fl[i + 2] : 0;
		p->data = malloc(dl + 1);
		if (p->data) {
			memcpy(p->data, i + 2 < nf ? f[i + 2] : "", dl);
			p->data[dl] = 0;
		}
		p->len = dl;
		FZ_ASSERT(p->name && p->data);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!g_db)
		setup();
	if (size < 1)
		return 0;
	unsigned route = data[0] % 8;
	size_t len = size - 1;
	char *body = malloc(len + 1);
	if (!body)
		return 0;
	memcpy(body, data + 1, len);
	body[len] = 0;
	int stream, provider_model;
	peek(body, len, &stream, &provider_model);
	if (stream) {
		free(body);
		return 0;
	}
	srv_req rq;
	srv_resp rs;
	memset(&rq, 0, sizeof rq);
	memset(&rs, 0, sizeof rs);
	rq.srv = g_srv;
	rq.db = g_db;
	rq.cfg = &g_cfg;
	rq.method = SRV_POST;
	rq.body = body;
	rq.body_len = len;
	rq.content_type = "application/json";
	switch (route) {
	case 0: rq.path = "/v1/search"; srv_h_search(&rq, &rs); break;
	case 1: rq.path = "/v1/query"; srv_h_query(&rq, &rs); break;
	case 2: rq.path = "/v1/documents"; srv_h_documents(&rq, &rs); break;
	case 3:
		rq.path = "/v1/documents";
		rq.content_type = "multipart/form-data; boundary=x";
		make_parts(&rq, body, len);
		srv_h_documents(&rq, &rs);
		break;
	case 4: rq.path = "/v1/embeddings"; srv_h_embeddings(&rq, &rs); break;
	case 5: rq.path = "/v1/chat/completions"; srv_h_chat(&rq, &rs); break;
	default:
		/* the id as http.c hands it over: NUL-ended, non-empty */
		if (!*body)
			goto out_free;
		rq.path = "/v1/documents/";
		rq.rest = body;
		rq.method = route == 6 ? SRV_GET : SRV_DELETE;
		rq.body_len = 0;
		srv_h_document(&rq, &rs);
		break;
	}
	if (getenv("RAGDB_FUZZ_VERBOSE"))
		fprintf(stderr, "route %u -> %d %.*s\n", route, rs.status, (int)(rs.len < 160 ? rs.len : 160),
		        rs.body ? rs.body : "");
	FZ_ASSERT(rs.stream == NULL);
	FZ_ASSERT((rs.status >= 200 && rs.status < 300) || (rs.status >= 400 && rs.status < 500) ||
	          (rs.status >= 500 && provider_model));
	FZ_ASSERT(rs.body && rs.len > 0);
	cJSON *j = cJSON_ParseWithLength(rs.body, rs.len);
	FZ_ASSERT(cJSON_IsObject(j));
	if (rs.status >= 400) {
		cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
		cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
		FZ_ASSERT(cJSON_IsString(m) && *m->valuestring);
	}
	cJSON_Delete(j);
out_free:
	free(rs.body);
	for (size_t i = 0; i < rq.n_parts; i++) {
		free(rq.parts[i].name);
		free(rq.parts[i].filename);
		free(rq.parts[i].data);
	}
	free(body);
	return 0;
}
