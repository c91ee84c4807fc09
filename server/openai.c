/*
 * server/openai.c — the OpenAI-compatible endpoints, so OpenAI clients and
 * tools can use a ragdb knowledge base unchanged: POST /v1/embeddings (the
 * knowledge base's embedder; float or base64 encoding) and
 * POST /v1/chat/completions (answers grounded in the knowledge base: the
 * last user message is the question, the turns before it its history;
 * streamed as chat.completion.chunk events ending in "data: [DONE]").
 * /v1/models is in routes.c.
 *
 * Extra fields ("sources" with the cited passages) ride along in the
 * responses; OpenAI clients ignore fields they do not know.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/internal.h"

#define SRV_MAX_MESSAGES 1024

/* ---------------------------------------------------------------- embeddings */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Base64 of @p n bytes (OpenAI's base64 encoding: little-endian float32s). */
static char *base64(const unsigned char *p, size_t n)
{
	size_t out_len = 4 * ((n + 2) / 3);
	char *s = malloc(out_len + 1), *o = s;

	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		*o++ = b64chars[(v >> 18) & 63];
		*o++ = b64chars[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
		*o++ = i + 2 < n ? b64chars[v & 63] : '=';
	}
	*o = '\0';
	return s;
}

void srv_h_embeddings(srv_req *rq, srv_resp *rs)
{
	cJSON *body = srv_parse_body(rq, rs), *j, *data, *usage;
	const cJSON *input, *e;
	const char **texts = NULL;
	const char *fmt = NULL;
	float *vecs = NULL;
	ragdb_stats s;
	ragdb_status st;
	size_t n = 0, i = 0;
	uint64_t tokens = 0;
	uint32_t dims = 0;
	int b64 = 0;
	char model[160];

	if (!body)
		return;
	if (!cJSON_IsObject(body)) {
		srv_error(rs, 400, "invalid_request_error", "expected a JSON object like "
		          "{\"input\": \"text\", \"model\": \"...\"}");
		goto out_free;
	}
	input = cJSON_GetObjectItemCaseSensitive(body, "input");
	if (cJSON_IsString(input)) {
		n = 1;
	} else if (cJSON_IsArray(input)) {
		n = (size_t)cJSON_GetArraySize(input);
		cJSON_ArrayForEach(e, input) {
			if (!cJSON_IsString(e)) {
				srv_error(rs, 400, "invalid_request_error", "\"input\" must be a string or an "
				          "array of strings (token arrays are not supported)");
				goto out_free;
			}
		}
	} else {
		srv_error(rs, 400, "invalid_request_error", "\"input\" is missing; send a string or an "
		          "array of strings");
		goto out_free;
	}
	if (n == 0 || n > rq->cfg->max_inputs) {
		srv_error(rs, 400, "invalid_request_error", "send 1 to %u inputs (found %zu)",
		          (unsigned)rq->cfg->max_inputs, n);
		goto out_free;
	}
	if (srv_get_string(body, "encoding_format", &fmt, rs) < 0 ||
	    srv_get_u32(body, "dimensions", 1, 1u << 16, &dims, rs) < 0)
		goto out_free;
	if (fmt && strcmp(fmt, "base64") == 0) {
		b64 = 1;
	} else if (fmt && strcmp(fmt, "float") != 0) {
		srv_error(rs, 400, "invalid_request_error", "\"encoding_format\" must be \"float\" or "
		          "\"base64\"");
		goto out_free;
	}
	st = ragdb_get_stats(rq->db, &s);
	if (st != RAGDB_OK) {
		srv_api_error(rs, rq->db, st);
		goto out_free;
	}
	if (dims && dims != s.dim) {
		srv_error(rs, 400, "invalid_request_error", "this knowledge base's embedder gives %u "
		          "dimensions, not %u; leave \"dimensions\" out or ask for %u", s.dim,
		          (unsigned)dims, s.dim);
		goto out_free;
	}
	texts = calloc(n, sizeof *texts);
	vecs = (n <= SIZE_MAX / sizeof(float) / (s.dim ? s.dim : 1))
	       ? malloc(n * s.dim * sizeof(float)) : NULL;
	if (!texts || !vecs) {
		srv_error(rs, 500, "server_error", "out of memory for %zu embeddings", n);
		goto out_free;
	}
	if (cJSON_IsString(input)) {
		texts[0] = input->valuestring;
	} else {
		cJSON_ArrayForEach(e, input)
			texts[i++] = e->valuestring;
	}
	for (i = 0; i < n; i++) {
		if (!*texts[i]) {
			srv_error(rs, 400, "invalid_request_error", "input %zu is empty", i);
			goto out_free;
		}
		tokens += srv_token_estimate(texts[i]);
	}
	/* Inputs are embedded as documents: what a client embeds to store. */
	st = ragdb_embed(rq->db, texts, n, 0, vecs);
	if (st != RAGDB_OK) {
		srv_api_error(rs, rq->db, st);
		goto out_free;
	}
	snprintf(model, sizeof model, "%s:%s", s.embedder, s.embedder_model);
	j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "object", "list");
	data = cJSON_AddArrayToObject(j, "data");
	for (i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		const float *v = vecs + i * s.dim;
		cJSON_AddStringToObject(o, "object", "embedding");
		cJSON_AddNumberToObject(o, "index", (double)i);
		if (b64) {
			/* x86-64 is little-endian, the byte order OpenAI's clients decode. */
			char *enc = base64((const unsigned char *)v, s.dim * sizeof(float));
			cJSON_AddStringToObject(o, "embedding", enc ? enc : "");
			free(enc);
		} else {
			cJSON *arr = cJSON_AddArrayToObject(o, "embedding");
			for (uint32_t d = 0; arr && d < s.dim; d++)
				cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)v[d]));
		}
		cJSON_AddItemToArray(data, o);
	}
	cJSON_AddStringToObject(j, "model", model);
	usage = cJSON_AddObjectToObject(j, "usage");
	cJSON_AddNumberToObject(usage, "prompt_tokens", (double)tokens);
	cJSON_AddNumberToObject(usage, "total_tokens", (double)tokens);
	srv_json(rs, 200, j);
out_free:
	free(texts);
	free(vecs);
	cJSON_Delete(body);
}

/* ---------------------------------------------------------------- chat */

typedef struct chat_job {
	rdb_srv *srv;
	ragdb *db;
	char *question;
	char *model;           /* passed to the library, or NULL */
	char *model_asked;     /* what the client sent, for messages */
	ragdb_message *history;
	char **owned;          /* history strings */
	size_t n_history, n_owned;
	ragdb_query_options qo;
	int include_usage;
	char id[48];
	long created;
	srv_stream *st;
	int client_gone, sent_role;
} chat_job;

static void chat_job_free(void *p)
{
	chat_job *c = p;

	if (!c)
		return;
	free(c->question);
	free(c->model);
	free(c->model_asked);
	for (size_t i = 0; i < c->n_owned; i++)
		free(c->owned[i]);
	free(c->owned);
	free(c->history);
	free(c);
}

/* A message's text: a string, or an array of parts of which the "text"
 * ones are joined (images and audio are not for a text knowledge base). */
static char *message_text(const cJSON *content)
{
	const cJSON *part;
	size_t len = 0;
	char *s;

	if (cJSON_IsString(content))
		return strdup(content->valuestring);
	if (!cJSON_IsArray(content))
		return NULL;
	cJSON_ArrayForEach(part, content) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
		if (cJSON_IsString(t))
			len += strlen(t->valuestring) + 1;
	}
	s = malloc(len + 1);
	if (!s)
		return NULL;
	s[0] = '\0';
	len = 0;
	cJSON_ArrayForEach(part, content) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
		if (cJSON_IsString(t)) {
			size_t k = strlen(t->valuestring);
			if (len)
				s[len++] = '\n';
			memcpy(s + len, t->valuestring, k);
			len += k;
			s[len] = '\0';
		}
	}
	return s;
}

static int valid_role(const char *r)
{
	return strcmp(r, "system") == 0 || strcmp(r, "developer") == 0 || strcmp(r, "user") == 0 ||
	       strcmp(r, "assistant") == 0 || strcmp(r, "tool") == 0;
}

static chat_job *chat_job_parse(srv_req *rq, const cJSON *body, int *stream, srv_resp *rs)
{
	chat_job *c = calloc(1, sizeof *c);
	const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(body, "messages"), *m, *so;
	const char *model = NULL;
	size_t n, i = 0, last_user = SIZE_MAX;
	double max_tokens = 0, temperature = 0;

	if (!c) {
		srv_error(rs, 500, "server_error", "out of memory");
		return NULL;
	}
	c->srv = rq->srv;
	c->db = rq->db;
	*stream = 0;
	if (!cJSON_IsArray(msgs) || (n = (size_t)cJSON_GetArraySize(msgs)) == 0) {
		srv_error(rs, 400, "invalid_request_error", "\"messages\" must be a non-empty array of "
		          "{\"role\", \"content\"}");
		goto out_fail;
	}
	if (n > SRV_MAX_MESSAGES) {
		srv_error(rs, 400, "invalid_request_error", "at most %d messages", SRV_MAX_MESSAGES);
		goto out_fail;
	}
	if (srv_get_string(body, "model", &model, rs) < 0 || srv_get_bool(body, "stream", stream, rs) < 0 ||
	    srv_get_number(body, "max_tokens", 0, 1e9, &max_tokens, rs) < 0 ||
	    srv_get_number(body, "max_completion_tokens", 0, 1e9, &max_tokens, rs) < 0 ||
	    srv_get_number(body, "temperature", 0, 2, &temperature, rs) < 0)
		goto out_fail;
	so = cJSON_GetObjectItemCaseSensitive(body, "stream_options");
	if (cJSON_IsObject(so) && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage")))
		c->include_usage = 1;
	cJSON_ArrayForEach(m, msgs) {
		const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
		if (!cJSON_IsObject(m) || !cJSON_IsString(role) || !valid_role(role->valuestring)) {
			srv_error(rs, 400, "invalid_request_error", "messages[%zu]: expected {\"role\": "
			          "\"system\"|\"user\"|\"assistant\", \"content\": ...}", i);
			goto out_fail;
		}
		if (strcmp(role->valuestring, "user") == 0)
			last_user = i;
		i++;
	}
	if (last_user == SIZE_MAX) {
		srv_error(rs, 400, "invalid_request_error", "no user message: the last user message is "
		          "the question to answer");
		goto out_fail;
	}
	c->history = calloc(n, sizeof *c->history);
	c->owned = calloc(n, sizeof *c->owned);
	if (!c->history || !c->owned)
		goto out_oom;
	i = 0;
	cJSON_ArrayForEach(m, msgs) {
		const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
		char *text = message_text(cJSON_GetObjectItemCaseSensitive(m, "content"));
		if (i == last_user) {
			if (!text || !*text) {
				free(text);
				srv_error(rs, 400, "invalid_request_error", "messages[%zu]: the question is "
				          "empty", i);
				goto out_fail;
			}
			c->question = text;
		} else if (i < last_user && text && *text) {
			c->owned[c->n_owned++] = text;
			c->history[c->n_history].role = role->valuestring;
			c->history[c->n_history].content = text;
			c->n_history++;
		} else {
			free(text);
		}
		i++;
	}
	/* Roles point into the body, which a stream outlives: copy them. */
	for (i = 0; i < c->n_history; i++) {
		const char *r = c->history[i].role;
		c->history[i].role = strcmp(r, "assistant") == 0 ? "assistant"
		                   : strcmp(r, "user") == 0 ? "user" : "system";
	}
	c->model_asked = strdup(model ? model : "");
	if (!c->model_asked)
		goto out_oom;
	{
		const char *pm = srv_pick_model(rq->cfg, model);
		if (pm && !(c->model = strdup(pm)))
			goto out_oom;
	}
	c->qo.model = c->model;
	c->qo.history = c->n_history ? c->history : NULL;
	c->qo.n_history = c->n_history;
	c->created = (long)time(NULL);
	{
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		snprintf(c->id, sizeof c->id, "chatcmpl-%lx%08lx", (long)ts.tv_sec,
		         (unsigned long)ts.tv_nsec ^ (unsigned long)(uintptr_t)c);
	}
	return c;
out_oom:
	srv_error(rs, 500, "server_error", "out of memory");
out_fail:
	chat_job_free(c);
	return NULL;
}

/* OpenAI usage: the model's counts when it reported them, else estimates
 * (about 4 bytes a token) of the question plus context and of the answer. */
static cJSON *chat_usage(const chat_job *c, const ragdb_answer *a)
{
	cJSON *u = cJSON_CreateObject();
	uint64_t in = a->input_tokens, out = a->output_tokens;

	if (!in) {
		in = srv_token_estimate(c->question) + a->context_tokens;
		for (size_t i = 0; i < c->n_history; i++)
			in += srv_token_estimate(c->history[i].content);
	}
	if (!out)
		out = srv_token_estimate(a->answer);
	cJSON_AddNumberToObject(u, "prompt_tokens", (double)in);
	cJSON_AddNumberToObject(u, "completion_tokens", (double)out);
	cJSON_AddNumberToObject(u, "total_tokens", (double)(in + out));
	return u;
}

static cJSON *chunk_obj(const chat_job *c, const char *model)
{
	cJSON *j = cJSON_CreateObject();

	cJSON_AddStringToObject(j, "id", c->id);
	cJSON_AddStringToObject(j, "object", "chat.completion.chunk");
	cJSON_AddNumberToObject(j, "created", (double)c->created);
	cJSON_AddStringToObject(j, "model", model);
	return j;
}

/* The model name reported while streaming, before the answer says which
 * answered: the one passed on, else the built-in default. */
static const char *stream_model(const chat_job *c)
{
	return c->model ? c->model : "extractive";
}

static int send_delta(chat_job *c, const char *text, size_t len)
{
	cJSON *j = chunk_obj(c, stream_model(c)), *choices, *ch, *delta;
	char *s = strndup(text, len);

	choices = cJSON_AddArrayToObject(j, "choices");
	ch = cJSON_CreateObject();
	cJSON_AddNumberToObject(ch, "index", 0);
	delta = cJSON_AddObjectToObject(ch, "delta");
	if (!c->sent_role) {
		cJSON_AddStringToObject(delta, "role", "assistant");
		c->sent_role = 1;
	}
	cJSON_AddStringToObject(delta, "content", s ? s : "");
	cJSON_AddNullToObject(ch, "finish_reason");
	cJSON_AddItemToArray(choices, ch);
	free(s);
	return srv_stream_event(c->st, NULL, j);
}

static void on_chat_delta(void *ctx, const char *text, size_t len)
{
	chat_job *c = ctx;

	if (!c->client_gone && send_delta(c, text, len))
		c->client_gone = 1;
}

static void chat_stream_worker(srv_stream *st, void *ctx)
{
	chat_job *c = ctx;
	ragdb_answer *a = NULL;
	ragdb_status s;
	cJSON *j, *choices, *ch;

	c->st = st;
	c->qo.on_delta = on_chat_delta;
	c->qo.ctx = c;
	s = ragdb_query(c->db, c->question, &c->qo, &a);
	if (s != RAGDB_OK) {
		/* OpenAI streams report a failure as a data event with "error". */
		srv_stream_event(st, NULL, srv_api_error_json(c->db, s));
		srv_stream_write(st, "data: [DONE]\n\n", 14);
		return;
	}
	if (!c->sent_role)
		send_delta(c, "", 0);
	j = chunk_obj(c, a->model ? a->model : "extractive");
	choices = cJSON_AddArrayToObject(j, "choices");
	ch = cJSON_CreateObject();
	cJSON_AddNumberToObject(ch, "index", 0);
	cJSON_AddObjectToObject(ch, "delta");
	cJSON_AddStringToObject(ch, "finish_reason", "stop");
	cJSON_AddItemToArray(choices, ch);
	cJSON_AddItemToObject(j, "usage", chat_usage(c, a));
	cJSON_AddItemToObject(j, "sources", srv_sources_json(a));
	srv_stream_event(st, NULL, j);
	if (c->include_usage) {
		/* What stream_options.include_usage asks for: a last chunk with no
		 * choices and the usage. */
		j = chunk_obj(c, a->model ? a->model : "extractive");
		cJSON_AddArrayToObject(j, "choices");
		cJSON_AddItemToObject(j, "usage", chat_usage(c, a));
		srv_stream_event(st, NULL, j);
	}
	srv_stream_write(st, "data: [DONE]\n\n", 14);
	ragdb_answer_free(a);
}

static void chat_error(srv_resp *rs, const chat_job *c, ragdb_status st)
{
	if (st == RAGDB_EUNSUPPORTED && c->model && strcmp(c->model, "extractive") != 0) {
		srv_error(rs, 400, "model_unavailable", "model \"%s\" cannot answer on this server: %s. "
		          "Send any name that is not configured for the default answerer", c->model,
		          ragdb_errmsg(c->db));
		return;
	}
	srv_api_error(rs, c->db, st);
}

void srv_h_chat(srv_req *rq, srv_resp *rs)
{
	cJSON *body = srv_parse_body(rq, rs), *j, *choices, *ch, *msg;
	chat_job *c;
	ragdb_answer *a = NULL;
	ragdb_status st;
	int stream = 0;

	if (!body)
		return;
	if (!cJSON_IsObject(body)) {
		srv_error(rs, 400, "invalid_request_error", "expected a JSON object like "
		          "{\"model\": \"...\", \"messages\": [{\"role\": \"user\", \"content\": \"...\"}]}");
		goto out_free;
	}
	c = chat_job_parse(rq, body, &stream, rs);
	if (!c)
		goto out_free;
	if (stream) {
		srv_stream_start(rq, rs, chat_stream_worker, c, chat_job_free);
		goto out_free;
	}
	st = ragdb_query(rq->db, c->question, &c->qo, &a);
	if (st != RAGDB_OK) {
		chat_error(rs, c, st);
		chat_job_free(c);
		goto out_free;
	}
	j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "id", c->id);
	cJSON_AddStringToObject(j, "object", "chat.completion");
	cJSON_AddNumberToObject(j, "created", (double)c->created);
	cJSON_AddStringToObject(j, "model", a->model ? a->model : "extractive");
	choices = cJSON_AddArrayToObject(j, "choices");
	ch = cJSON_CreateObject();
	cJSON_AddNumberToObject(ch, "index", 0);
	msg = cJSON_AddObjectToObject(ch, "message");
	cJSON_AddStringToObject(msg, "role", "assistant");
	cJSON_AddStringToObject(msg, "content", a->answer ? a->answer : "");
	cJSON_AddStringToObject(ch, "finish_reason", "stop");
	cJSON_AddItemToArray(choices, ch);
	cJSON_AddItemToObject(j, "usage", chat_usage(c, a));
	cJSON_AddItemToObject(j, "sources", srv_sources_json(a));
	srv_json(rs, 200, j);
	ragdb_answer_free(a);
	chat_job_free(c);
out_free:
	cJSON_Delete(body);
}
