/*
 * engine/providers/llm.c — requests to language models and the parsing of
 * their answers, streamed or whole (see llm.h).
 *
 * States of a streamed answer: the HTTP layer hands body bytes to
 * on_data -> the SSE or line parser -> one handler per provider, which
 * appends text (and calls on_delta), records usage, and marks `done` at the
 * provider's end marker. An error event, or a line that is not JSON, stops
 * the transfer with a message in st.err. After the transfer, done == 0
 * means the stream was cut off.
 *
 * Tool calls are collected in st.calls as they arrive: whole (Anthropic and
 * Gemini whole replies, Ollama, Gemini chunks), or in pieces keyed by the
 * provider's index (Anthropic content block index with input_json_delta
 * pieces; OpenAI delta.tool_calls[].index with arguments pieces). Text is
 * passed to on_delta through emit(), which holds it back while tools are
 * offered (llm.h).
 */
#include "engine/providers/llm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "engine/providers/http.h"
#include "engine/providers/llm_cache.h"
#include "engine/providers/metrics.h"

static void calls_free(rdb_llm_call *c, size_t n)
{
	for (size_t i = 0; c && i < n; i++) {
		free(c[i].id);
		free(c[i].name);
		free(c[i].args);
		free(c[i].signature);
	}
	free(c);
}

void rdb_llm_result_clear(rdb_llm_result *r)
{
	if (!r)
		return;
	free(r->text);
	calls_free(r->calls, r->n_calls);
	memset(r, 0, sizeof *r);
}

/* A tool call being received; key is the provider's index for calls that
 * arrive in pieces, else -1. */
typedef struct pcall {
	char *id, *name, *sig;
	char *args;
	size_t alen, acap;
	long key;
} pcall;

typedef struct lstate {
	const rdb_model_cfg *m;
	const rdb_llm_request *req;
	char *text;
	size_t len, cap;
	uint64_t in_tok, out_tok;
	int done;
	char stop[32];
	rdb_err err;
	rdb_sse sse;
	rdb_lines lines;
	const char *url;
	pcall calls[RDB_LLM_MAX_CALLS];
	size_t n_calls;
	size_t emitted;  /* text bytes handed to on_delta */
	int live;        /* tools offered, and the text is being streamed */
	int whole;       /* a whole (not streamed) reply */
} lstate;

static int tools_on(const lstate *s)
{
	return s->req->n_tools > 0 && !s->req->tools_off;
}

/* Hand the text not yet shown to on_delta, unless tools are offered and it
 * may still turn out to be a remark before a tool call (@p end: the reply
 * is complete). */
static void emit(lstate *s, int end)
{
	if (!s->req->on_delta)
		return;
	if (tools_on(s)) {
		if (s->n_calls > 0)
			return;
		if (!s->live && !end && (s->whole || s->len - s->emitted < RDB_LLM_HOLD))
			return;
		s->live = 1;
	}
	if (s->len > s->emitted) {
		s->req->on_delta(s->req->ctx, s->text + s->emitted, s->len - s->emitted);
		s->emitted = s->len;
	}
}

static void pcalls_free(lstate *s)
{
	for (size_t i = 0; i < s->n_calls; i++) {
		free(s->calls[i].id);
		free(s->calls[i].name);
		free(s->calls[i].sig);
		free(s->calls[i].args);
	}
	s->n_calls = 0;
}

static pcall *call_find(lstate *s, long key)
{
	for (size_t i = 0; i < s->n_calls; i++)
		if (s->calls[i].key == key)
			return &s->calls[i];
	return NULL;
}

static pcall *call_new(lstate *s, long key)
{
	if (s->n_calls == RDB_LLM_MAX_CALLS) {
		rdb_err_set(&s->err, RAGDB_EIO, "%s: the model made more than %u tool calls in one reply",
		            s->m->name, RDB_LLM_MAX_CALLS);
		return NULL;
	}
	pcall *c = &s->calls[s->n_calls++];
	memset(c, 0, sizeof *c);
	c->key = key;
	return c;
}

/* Append @p n bytes to a call's arguments, or a piece of a string field. */
static int grow_str(lstate *s, char **p, size_t *len, size_t *cap, const char *t, size_t n)
{
	if (n > RDB_LLM_MAX_ARGS - *len) {
		rdb_err_set(&s->err, RAGDB_EIO, "%s: a tool call's arguments are longer than %u bytes",
		            s->m->name, RDB_LLM_MAX_ARGS);
		return -1;
	}
	if (*len + n + 1 > *cap) {
		size_t nc = *cap ? *cap : 64;
		while (nc < *len + n + 1)
			nc *= 2;
		char *nb = realloc(*p, nc);
		if (!nb) {
			rdb_err_set(&s->err, RAGDB_ENOMEM, "out of memory for a tool call");
			return -1;
		}
		*p = nb;
		*cap = nc;
	}
	memcpy(*p + *len, t, n);
	*len += n;
	(*p)[*len] = 0;
	return 0;
}

static int call_args(lstate *s, pcall *c, const char *t, size_t n)
{
	return grow_str(s, &c->args, &c->alen, &c->acap, t, n);
}

/* Arguments given as a JSON value (an object), kept as its JSON text. */
static int call_args_json(lstate *s, pcall *c, cJSON *v)
{
	if (cJSON_IsString(v))
		return call_args(s, c, v->valuestring, strlen(v->valuestring));
	if (!v)
		return 0;
	char *t = cJSON_PrintUnformatted(v);
	if (!t) {
		rdb_err_set(&s->err, RAGDB_ENOMEM, "out of memory for a tool call");
		return -1;
	}
	int rc = call_args(s, c, t, strlen(t));
	free(t);
	return rc;
}

/* Set (or, for streamed pieces, extend) a string field of a call. */
static int call_str(lstate *s, char **dst, cJSON *v, int extend)
{
	if (!cJSON_IsString(v))
		return 0;
	size_t have = *dst && extend ? strlen(*dst) : 0, n = strlen(v->valuestring);
	if (n > 4096 - have) {
		rdb_err_set(&s->err, RAGDB_EIO, "%s: a tool call's name or id is over 4096 bytes", s->m->name);
		return -1;
	}
	char *nb = malloc(have + n + 1);
	if (!nb) {
		rdb_err_set(&s->err, RAGDB_ENOMEM, "out of memory for a tool call");
		return -1;
	}
	if (have)
		memcpy(nb, *dst, have);
	memcpy(nb + have, v->valuestring, n + 1);
	free(*dst);
	*dst = nb;
	return 0;
}

static cJSON *item(cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static int append(lstate *s, const char *t, size_t n)
{
	if (n == 0)
		return 0;
	if (n > RDB_LLM_MAX_ANSWER - s->len) {
		rdb_err_set(&s->err, RAGDB_EIO, "%s: the answer is longer than %u bytes; lower max_tokens",
		            s->m->name, RDB_LLM_MAX_ANSWER);
		return -1;
	}
	if (s->len + n + 1 > s->cap) {
		size_t nc = s->cap ? s->cap : 1024;
		while (nc < s->len + n + 1)
			nc *= 2;
		char *nb = realloc(s->text, nc);
		if (!nb) {
			rdb_err_set(&s->err, RAGDB_ENOMEM, "out of memory for the answer");
			return -1;
		}
		s->text = nb;
		s->cap = nc;
	}
	memcpy(s->text + s->len, t, n);
	s->len += n;
	s->text[s->len] = 0;
	emit(s, 0);
	return 0;
}

static void set_stop(lstate *s, cJSON *v)
{
	if (cJSON_IsString(v))
		snprintf(s->stop, sizeof s->stop, "%s", v->valuestring);
}

/* Converting a double outside the target type's range is undefined: a
 * count past 2^64 reads as 0, an index outside 0..2^31-1 as -1. */
static uint64_t num(cJSON *o, const char *k)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 18446744073709551616.0
	       ? (uint64_t)v->valuedouble : 0;
}

static long index_key(const cJSON *ix)
{
	return cJSON_IsNumber(ix) && ix->valuedouble >= 0 && ix->valuedouble <= 2147483647.0
	       ? (long)ix->valuedouble : -1;
}

static int provider_error(lstate *s, cJSON *j, const char *raw, size_t len)
{
	char msg[600];
	rdb_http_error_text(raw, len, msg, sizeof msg);
	cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
	cJSON *type = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "type") : NULL;
	int overloaded = cJSON_IsString(type) && strcmp(type->valuestring, "overloaded_error") == 0;
	rdb_err_set(&s->err, RAGDB_EIO, "%s: the provider reported an error in the middle of the answer: \"%s\"; %s",
	            s->m->name, msg, overloaded ? "it is overloaded, try again later" : "try again");
	return -1;
}

static int malformed(lstate *s, const char *data, size_t len)
{
	char snip[200];
	size_t n = len < sizeof snip - 1 ? len : sizeof snip - 1;
	for (size_t i = 0; i < n; i++)
		snip[i] = (unsigned char)data[i] < 0x20 ? ' ' : data[i];
	snip[n] = 0;
	rdb_err_set(&s->err, RAGDB_EIO, "%s: malformed JSON in the answer stream from %s: \"%s%s\"",
	            s->m->name, s->url, snip, len > n ? "..." : "");
	return -1;
}

/* One JSON object of an answer, streamed or whole. Returns 0, or -1 with
 * s->err set. */
static int handle_json(lstate *s, cJSON *j, const char *raw, size_t rawlen, int whole)
{
	if (!cJSON_IsObject(j))
		return malformed(s, raw, rawlen);
	if (cJSON_GetObjectItemCaseSensitive(j, "error"))
		return provider_error(s, j, raw, rawlen);
	switch (s->m->provider) {
	case RDB_PROV_ANTHROPIC: {
		cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
		const char *t = cJSON_IsString(type) ? type->valuestring : "";
		if (whole || strcmp(t, "message") == 0) {
			cJSON *content = cJSON_GetObjectItemCaseSensitive(j, "content"), *b;
			if (!cJSON_IsArray(content))
				return malformed(s, raw, rawlen);
			cJSON_ArrayForEach(b, content) {
				cJSON *btype = item(b, "type");
				if (cJSON_IsString(btype) && strcmp(btype->valuestring, "tool_use") == 0) {
					pcall *c = call_new(s, -1);
					if (!c || call_str(s, &c->id, item(b, "id"), 0) ||
					    call_str(s, &c->name, item(b, "name"), 0) ||
					    call_args_json(s, c, item(b, "input")))
						return -1;
					continue;
				}
				cJSON *bt = cJSON_GetObjectItemCaseSensitive(b, "text");
				if (cJSON_IsString(bt) && append(s, bt->valuestring, strlen(bt->valuestring)))
					return -1;
			}
			cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usage");
			s->in_tok = num(u, "input_tokens");
			s->out_tok = num(u, "output_tokens");
			set_stop(s, cJSON_GetObjectItemCaseSensitive(j, "stop_reason"));
			s->done = 1;
		} else if (strcmp(t, "message_start") == 0) {
			cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");
			cJSON *u = cJSON_GetObjectItemCaseSensitive(msg, "usage");
			s->in_tok = num(u, "input_tokens") + num(u, "cache_read_input_tokens") +
			            num(u, "cache_creation_input_tokens");
			s->out_tok = num(u, "output_tokens");
		} else if (strcmp(t, "content_block_start") == 0) {
			cJSON *cb = item(j, "content_block"), *ix = item(j, "index");
			cJSON *cbt = item(cb, "type");
			if (cJSON_IsString(cbt) && strcmp(cbt->valuestring, "tool_use") == 0) {
				pcall *c = call_new(s, index_key(ix));
				if (!c || call_str(s, &c->id, item(cb, "id"), 0) ||
				    call_str(s, &c->name, item(cb, "name"), 0))
					return -1;
			}
		} else if (strcmp(t, "content_block_delta") == 0) {
			cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "delta");
			cJSON *tx = cJSON_GetObjectItemCaseSensitive(d, "text");
			cJSON *pj = item(d, "partial_json"), *ix = item(j, "index");
			if (cJSON_IsString(pj)) {
				pcall *c = index_key(ix) >= 0 ? call_find(s, index_key(ix)) : NULL;
				if (!c) {
					rdb_err_set(&s->err, RAGDB_EIO, "%s: tool input for content block %ld, which is not a tool_use block",
					            s->m->name, index_key(ix));
					return -1;
				}
				if (call_args(s, c, pj->valuestring, strlen(pj->valuestring)))
					return -1;
			}
			if (cJSON_IsString(tx) && append(s, tx->valuestring, strlen(tx->valuestring)))
				return -1;
		} else if (strcmp(t, "message_delta") == 0) {
			cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usage");
			if (cJSON_GetObjectItemCaseSensitive(u, "output_tokens"))
				s->out_tok = num(u, "output_tokens");
			if (cJSON_GetObjectItemCaseSensitive(u, "input_tokens"))
				s->in_tok = num(u, "input_tokens");
			set_stop(s, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "delta"),
			                                             "stop_reason"));
		} else if (strcmp(t, "message_stop") == 0) {
			s->done = 1;
		}
		/* ping, content_block_start/stop and unknown events: nothing to do. */
		return 0;
	}
	case RDB_PROV_OPENAI: {
		cJSON *choices = cJSON_GetObjectItemCaseSensitive(j, "choices"), *c;
		cJSON_ArrayForEach(c, choices) {
			cJSON *idx = cJSON_GetObjectItemCaseSensitive(c, "index");
			if (cJSON_IsNumber(idx) && idx->valuedouble != 0)
				continue;
			cJSON *d = cJSON_GetObjectItemCaseSensitive(c, whole ? "message" : "delta");
			cJSON *tx = cJSON_GetObjectItemCaseSensitive(d, "content");
			if (cJSON_IsString(tx) && append(s, tx->valuestring, strlen(tx->valuestring)))
				return -1;
			cJSON *tc, *tcs = item(d, "tool_calls");
			long pos = 0;
			cJSON_ArrayForEach(tc, tcs) {
				/* Streamed pieces name their call by index; a whole reply
				 * lists each call once. */
				cJSON *ti = item(tc, "index"), *fn = item(tc, "function");
				long key = whole ? -1 : cJSON_IsNumber(ti) ? index_key(ti) : pos;
				pos++;
				pcall *pc = whole ? NULL : call_find(s, key);
				if (!pc && !(pc = call_new(s, key)))
					return -1;
				if ((!pc->id && call_str(s, &pc->id, item(tc, "id"), 0)) ||
				    call_str(s, &pc->name, item(fn, "name"), !whole) ||
				    call_args_json(s, pc, item(fn, "arguments")))
					return -1;
			}
			set_stop(s, cJSON_GetObjectItemCaseSensitive(c, "finish_reason"));
		}
		cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usage");
		if (cJSON_IsObject(u)) {
			s->in_tok = num(u, "prompt_tokens");
			s->out_tok = num(u, "completion_tokens");
		}
		if (whole) {
			if (!cJSON_IsArray(choices) || cJSON_GetArraySize(choices) == 0)
				return malformed(s, raw, rawlen);
			s->done = 1;
		}
		return 0;
	}
	case RDB_PROV_OLLAMA: {
		cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");
		cJSON *tx = cJSON_GetObjectItemCaseSensitive(msg, "content");
		if (cJSON_IsString(tx) && append(s, tx->valuestring, strlen(tx->valuestring)))
			return -1;
		cJSON *tc;
		cJSON_ArrayForEach(tc, item(msg, "tool_calls")) {
			cJSON *fn = item(tc, "function");
			pcall *c = call_new(s, -1);
			if (!c || call_str(s, &c->id, item(tc, "id"), 0) ||
			    call_str(s, &c->name, item(fn, "name"), 0) ||
			    call_args_json(s, c, item(fn, "arguments")))
				return -1;
		}
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "done"))) {
			s->in_tok = num(j, "prompt_eval_count");
			s->out_tok = num(j, "eval_count");
			set_stop(s, cJSON_GetObjectItemCaseSensitive(j, "done_reason"));
			s->done = 1;
		} else if (whole) {
			return malformed(s, raw, rawlen);
		}
		return 0;
	}
	case RDB_PROV_GEMINI: {
		cJSON *cands = cJSON_GetObjectItemCaseSensitive(j, "candidates"), *c;
		int i = 0;
		cJSON_ArrayForEach(c, cands) {
			if (i++ > 0)
				break;
			cJSON *content = cJSON_GetObjectItemCaseSensitive(c, "content");
			cJSON *parts = cJSON_GetObjectItemCaseSensitive(content, "parts"), *p;
			cJSON_ArrayForEach(p, parts) {
				cJSON *tx = cJSON_GetObjectItemCaseSensitive(p, "text");
				cJSON *thought = cJSON_GetObjectItemCaseSensitive(p, "thought");
				if (cJSON_IsTrue(thought))
					continue;
				cJSON *fc = item(p, "functionCall");
				if (cJSON_IsObject(fc)) {
					pcall *pc = call_new(s, -1);
					if (!pc || call_str(s, &pc->id, item(fc, "id"), 0) ||
					    call_str(s, &pc->name, item(fc, "name"), 0) ||
					    call_str(s, &pc->sig, item(p, "thoughtSignature"), 0) ||
					    call_args_json(s, pc, item(fc, "args")))
						return -1;
					continue;
				}
				if (cJSON_IsString(tx) && append(s, tx->valuestring, strlen(tx->valuestring)))
					return -1;
			}
			cJSON *fr = cJSON_GetObjectItemCaseSensitive(c, "finishReason");
			if (cJSON_IsString(fr) && fr->valuestring[0]) {
				set_stop(s, fr);
				s->done = 1;
			}
		}
		cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usageMetadata");
		if (cJSON_IsObject(u)) {
			s->in_tok = num(u, "promptTokenCount");
			s->out_tok = num(u, "candidatesTokenCount") + num(u, "thoughtsTokenCount");
		}
		cJSON *pf = cJSON_GetObjectItemCaseSensitive(j, "promptFeedback");
		cJSON *br = cJSON_GetObjectItemCaseSensitive(pf, "blockReason");
		if (cJSON_IsString(br)) {
			rdb_err_set(&s->err, RAGDB_EINVAL, "%s: the provider blocked the prompt (%s)", s->m->name,
			            br->valuestring);
			return -1;
		}
		if (whole && !s->done)
			return malformed(s, raw, rawlen);
		return 0;
	}
	default:
		return -1;
	}
}

/* Anthropic and Ollama answers end at their end marker: what follows it is
 * ignored, in whatever chunk it arrives (checked per event and per line,
 * not only per chunk, so the result does not depend on where the bytes
 * were cut). */
static int after_end(const lstate *s)
{
	return s->done && s->m->provider != RDB_PROV_GEMINI && s->m->provider != RDB_PROV_OPENAI;
}

static int on_sse(void *ctx, const char *event, const char *data, size_t len)
{
	lstate *s = ctx;
	if (after_end(s))
		return 0;
	if (s->m->provider == RDB_PROV_OPENAI && len == 6 && memcmp(data, "[DONE]", 6) == 0) {
		s->done = 1;
		return 0;
	}
	if (strcmp(event, "ping") == 0)
		return 0;
	cJSON *j = cJSON_ParseWithLength(data, len);
	if (!j)
		return malformed(s, data, len);
	int rc = handle_json(s, j, data, len, 0);
	cJSON_Delete(j);
	return rc;
}

static int on_line(void *ctx, const char *line, size_t len)
{
	lstate *s = ctx;
	if (after_end(s))
		return 0;
	size_t i = 0;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i == len)
		return 0;
	cJSON *j = cJSON_ParseWithLength(line, len);
	if (!j)
		return malformed(s, line, len);
	int rc = handle_json(s, j, line, len, 0);
	cJSON_Delete(j);
	return rc;
}

static int on_data(void *ctx, const char *p, size_t n)
{
	lstate *s = ctx;
	if (after_end(s))
		return 0; /* bytes after the end marker are ignored */
	int rc = s->m->provider == RDB_PROV_OLLAMA ? rdb_lines_feed(&s->lines, p, n)
	                                           : rdb_sse_feed(&s->sse, p, n);
	if (rc && s->err.status == RAGDB_OK)
		rdb_err_set(&s->err, RAGDB_EIO, "%s: the answer stream from %s has a line over %u bytes; is the endpoint right?",
		            s->m->name, s->url, RDB_STREAM_MAX_LINE);
	return rc;
}

static int reasoning_model(const char *m)
{
	return strncmp(m, "o1", 2) == 0 || strncmp(m, "o3", 2) == 0 || strncmp(m, "o4", 2) == 0 ||
	       strncmp(m, "gpt-5", 5) == 0;
}

/* Add @p o to array @p arr, or free it. */
static void push(cJSON *arr, cJSON *o)
{
	if (!arr || !o || !cJSON_AddItemToArray(arr, o))
		cJSON_Delete(o);
}

/* A call's arguments as an object (providers other than OpenAI send them
 * as one): what the model wrote if that is a JSON object, else {}. */
static cJSON *args_object(const char *args)
{
	cJSON *j = args ? cJSON_Parse(args) : NULL;
	if (cJSON_IsObject(j))
		return j;
	cJSON_Delete(j);
	return cJSON_CreateObject();
}

static cJSON *schema_of(const rdb_llm_tool *t)
{
	cJSON *j = t->parameters ? cJSON_Parse(t->parameters) : NULL;
	if (cJSON_IsObject(j))
		return j;
	cJSON_Delete(j);
	j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "type", "object");
	return j;
}

static const char *nz(const char *s)
{
	return s ? s : "";
}

/* tools (and the choice) in the provider's format. */
static void add_tools(cJSON *root, const rdb_model_cfg *m, const rdb_llm_request *r)
{
	if (r->n_tools == 0 || (m->provider == RDB_PROV_OLLAMA && r->tools_off))
		return;
	cJSON *tools = cJSON_AddArrayToObject(root, "tools");
	cJSON *decls = tools;
	if (m->provider == RDB_PROV_GEMINI) {
		cJSON *g = cJSON_CreateObject();
		decls = g ? cJSON_AddArrayToObject(g, "functionDeclarations") : NULL;
		push(tools, g);
	}
	for (size_t i = 0; i < r->n_tools; i++) {
		const rdb_llm_tool *t = &r->tools[i];
		cJSON *o = cJSON_CreateObject(), *f = o;
		if (!o)
			continue;
		if (m->provider == RDB_PROV_OPENAI || m->provider == RDB_PROV_OLLAMA) {
			cJSON_AddStringToObject(o, "type", "function");
			f = cJSON_AddObjectToObject(o, "function");
		}
		if (f) {
			cJSON_AddStringToObject(f, "name", t->name);
			cJSON_AddStringToObject(f, "description", nz(t->description));
			cJSON_AddItemToObject(f, m->provider == RDB_PROV_ANTHROPIC ? "input_schema" : "parameters",
			                      schema_of(t));
		}
		push(decls, o);
	}
	switch (m->provider) {
	case RDB_PROV_ANTHROPIC: {
		cJSON *tc = cJSON_AddObjectToObject(root, "tool_choice");
		if (tc)
			cJSON_AddStringToObject(tc, "type", r->tools_off ? "none" : "auto");
		break;
	}
	case RDB_PROV_OPENAI:
		cJSON_AddStringToObject(root, "tool_choice", r->tools_off ? "none" : "auto");
		break;
	case RDB_PROV_GEMINI: {
		cJSON *tc = cJSON_AddObjectToObject(root, "toolConfig");
		cJSON *fc = tc ? cJSON_AddObjectToObject(tc, "functionCallingConfig") : NULL;
		if (fc)
			cJSON_AddStringToObject(fc, "mode", r->tools_off ? "NONE" : "AUTO");
		break;
	}
	default:
		break;
	}
}

/* The earlier rounds of a tool conversation, after the user prompt: the
 * model's turn with its calls, then the results, in each provider's own
 * shape. */
static void add_rounds(cJSON *msgs, const rdb_model_cfg *m, const rdb_llm_request *r)
{
	for (size_t k = 0; k < r->n_rounds; k++) {
		const rdb_llm_round *rd = &r->rounds[k];
		const char *text = rd->text && *rd->text ? rd->text : NULL;
		switch (m->provider) {
		case RDB_PROV_ANTHROPIC: {
			cJSON *as = cJSON_CreateObject(), *res = cJSON_CreateObject();
			cJSON *ac = NULL, *rc = NULL;
			if (as) {
				cJSON_AddStringToObject(as, "role", "assistant");
				ac = cJSON_AddArrayToObject(as, "content");
			}
			if (res) {
				cJSON_AddStringToObject(res, "role", "user");
				rc = cJSON_AddArrayToObject(res, "content");
			}
			if (text) {
				cJSON *b = cJSON_CreateObject();
				cJSON_AddStringToObject(b, "type", "text");
				cJSON_AddStringToObject(b, "text", text);
				push(ac, b);
			}
			for (size_t i = 0; i < rd->n_calls; i++) {
				cJSON *b = cJSON_CreateObject(), *t = cJSON_CreateObject();
				if (b) {
					cJSON_AddStringToObject(b, "type", "tool_use");
					cJSON_AddStringToObject(b, "id", nz(rd->calls[i].id));
					cJSON_AddStringToObject(b, "name", nz(rd->calls[i].name));
					cJSON_AddItemToObject(b, "input", args_object(rd->calls[i].args));
				}
				push(ac, b);
				if (t) {
					cJSON_AddStringToObject(t, "type", "tool_result");
					cJSON_AddStringToObject(t, "tool_use_id", nz(rd->calls[i].id));
					cJSON_AddStringToObject(t, "content", nz(rd->results[i]));
					if (rd->is_error && rd->is_error[i])
						cJSON_AddBoolToObject(t, "is_error", 1);
				}
				push(rc, t);
			}
			push(msgs, as);
			push(msgs, res);
			break;
		}
		case RDB_PROV_OPENAI:
		case RDB_PROV_OLLAMA: {
			int oa = m->provider == RDB_PROV_OPENAI;
			cJSON *as = cJSON_CreateObject(), *tcs = NULL;
			if (as) {
				cJSON_AddStringToObject(as, "role", "assistant");
				if (text)
					cJSON_AddStringToObject(as, "content", text);
				else if (oa)
					cJSON_AddNullToObject(as, "content");
				else
					cJSON_AddStringToObject(as, "content", "");
				tcs = cJSON_AddArrayToObject(as, "tool_calls");
			}
			for (size_t i = 0; i < rd->n_calls; i++) {
				const rdb_llm_call *c = &rd->calls[i];
				cJSON *o = cJSON_CreateObject(), *f = NULL;
				if (o) {
					if (oa || (c->id && *c->id))
						cJSON_AddStringToObject(o, "id", nz(c->id));
					if (oa)
						cJSON_AddStringToObject(o, "type", "function");
					f = cJSON_AddObjectToObject(o, "function");
				}
				if (f) {
					cJSON_AddStringToObject(f, "name", nz(c->name));
					if (oa)
						cJSON_AddStringToObject(f, "arguments", c->args && *c->args ? c->args : "{}");
					else
						cJSON_AddItemToObject(f, "arguments", args_object(c->args));
				}
				push(tcs, o);
			}
			push(msgs, as);
			for (size_t i = 0; i < rd->n_calls; i++) {
				cJSON *t = cJSON_CreateObject();
				if (t) {
					cJSON_AddStringToObject(t, "role", "tool");
					if (oa)
						cJSON_AddStringToObject(t, "tool_call_id", nz(rd->calls[i].id));
					else
						cJSON_AddStringToObject(t, "tool_name", nz(rd->calls[i].name));
					cJSON_AddStringToObject(t, "content", nz(rd->results[i]));
				}
				push(msgs, t);
			}
			break;
		}
		case RDB_PROV_GEMINI: {
			cJSON *mo = cJSON_CreateObject(), *fr = cJSON_CreateObject();
			cJSON *mp = NULL, *fp = NULL;
			if (mo) {
				cJSON_AddStringToObject(mo, "role", "model");
				mp = cJSON_AddArrayToObject(mo, "parts");
			}
			if (fr) {
				cJSON_AddStringToObject(fr, "role", "user");
				fp = cJSON_AddArrayToObject(fr, "parts");
			}
			if (text) {
				cJSON *p = cJSON_CreateObject();
				cJSON_AddStringToObject(p, "text", text);
				push(mp, p);
			}
			for (size_t i = 0; i < rd->n_calls; i++) {
				const rdb_llm_call *c = &rd->calls[i];
				cJSON *p = cJSON_CreateObject(), *fc = p ? cJSON_AddObjectToObject(p, "functionCall") : NULL;
				if (fc) {
					if (c->id && *c->id)
						cJSON_AddStringToObject(fc, "id", c->id);
					cJSON_AddStringToObject(fc, "name", nz(c->name));
					cJSON_AddItemToObject(fc, "args", args_object(c->args));
				}
				if (p && c->signature)
					cJSON_AddStringToObject(p, "thoughtSignature", c->signature);
				push(mp, p);
				cJSON *q = cJSON_CreateObject();
				cJSON *rs = q ? cJSON_AddObjectToObject(q, "functionResponse") : NULL;
				if (rs) {
					if (c->id && *c->id)
						cJSON_AddStringToObject(rs, "id", c->id);
					cJSON_AddStringToObject(rs, "name", nz(c->name));
					cJSON *resp = cJSON_AddObjectToObject(rs, "response");
					if (resp)
						cJSON_AddStringToObject(resp, rd->is_error && rd->is_error[i] ? "error" : "result",
						                        nz(rd->results[i]));
				}
				push(fp, q);
			}
			push(msgs, mo);
			push(msgs, fr);
			break;
		}
		default:
			break;
		}
	}
}

static char *build_body(const rdb_model_cfg *m, const rdb_llm_request *r)
{
	cJSON *root = cJSON_CreateObject();
	char *out = NULL;
	if (!root)
		return NULL;
	const char *sys = r->system && *r->system ? r->system : NULL;
	switch (m->provider) {
	case RDB_PROV_ANTHROPIC: {
		cJSON_AddStringToObject(root, "model", m->model);
		cJSON_AddNumberToObject(root, "max_tokens", m->max_tokens);
		if (sys)
			cJSON_AddStringToObject(root, "system", sys);
		cJSON *msgs = cJSON_AddArrayToObject(root, "messages");
		cJSON *u = cJSON_CreateObject();
		cJSON_AddStringToObject(u, "role", "user");
		cJSON_AddStringToObject(u, "content", r->user);
		push(msgs, u);
		add_rounds(msgs, m, r);
		add_tools(root, m, r);
		if (m->temperature >= 0)
			cJSON_AddNumberToObject(root, "temperature", m->temperature > 1 ? 1 : m->temperature);
		if (r->stream)
			cJSON_AddBoolToObject(root, "stream", 1);
		break;
	}
	case RDB_PROV_OPENAI:
	case RDB_PROV_OLLAMA: {
		cJSON_AddStringToObject(root, "model", m->model);
		cJSON *msgs = cJSON_AddArrayToObject(root, "messages");
		for (int i = 0; i < 2 && msgs; i++) {
			if (i == 0 && !sys)
				continue;
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "role", i == 0 ? "system" : "user");
			cJSON_AddStringToObject(o, "content", i == 0 ? sys : r->user);
			push(msgs, o);
		}
		add_rounds(msgs, m, r);
		add_tools(root, m, r);
		if (m->provider == RDB_PROV_OPENAI) {
			cJSON_AddNumberToObject(root, reasoning_model(m->model) ? "max_completion_tokens" : "max_tokens",
			                        m->max_tokens);
			if (m->temperature >= 0)
				cJSON_AddNumberToObject(root, "temperature", m->temperature);
			cJSON_AddBoolToObject(root, "stream", r->stream != 0);
			if (r->stream) {
				cJSON *so = cJSON_AddObjectToObject(root, "stream_options");
				if (so)
					cJSON_AddBoolToObject(so, "include_usage", 1);
			}
		} else {
			cJSON_AddBoolToObject(root, "stream", r->stream != 0);
			cJSON *opt = cJSON_AddObjectToObject(root, "options");
			if (opt) {
				cJSON_AddNumberToObject(opt, "num_predict", m->max_tokens);
				if (m->temperature >= 0)
					cJSON_AddNumberToObject(opt, "temperature", m->temperature);
			}
		}
		break;
	}
	case RDB_PROV_GEMINI: {
		if (sys) {
			cJSON *si = cJSON_AddObjectToObject(root, "systemInstruction");
			cJSON *parts = si ? cJSON_AddArrayToObject(si, "parts") : NULL;
			cJSON *p = cJSON_CreateObject();
			cJSON_AddStringToObject(p, "text", sys);
			push(parts, p);
		}
		cJSON *contents = cJSON_AddArrayToObject(root, "contents");
		cJSON *c = cJSON_CreateObject();
		cJSON_AddStringToObject(c, "role", "user");
		cJSON *parts = cJSON_AddArrayToObject(c, "parts");
		cJSON *p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "text", r->user);
		push(parts, p);
		push(contents, c);
		add_rounds(contents, m, r);
		add_tools(root, m, r);
		cJSON *gc = cJSON_AddObjectToObject(root, "generationConfig");
		if (gc) {
			cJSON_AddNumberToObject(gc, "maxOutputTokens", m->max_tokens);
			if (m->temperature >= 0)
				cJSON_AddNumberToObject(gc, "temperature", m->temperature);
		}
		break;
	}
	default:
		break;
	}
	out = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return out;
}

static char *build_url(const rdb_model_cfg *m, int stream)
{
	char *u = NULL;
	int n = -1;
	const char *mp = strncmp(m->model, "models/", 7) ? "models/" : "";
	switch (m->provider) {
	case RDB_PROV_ANTHROPIC:
		n = asprintf(&u, "%s/v1/messages", m->endpoint);
		break;
	case RDB_PROV_OPENAI:
		n = asprintf(&u, "%s/chat/completions", m->endpoint);
		break;
	case RDB_PROV_OLLAMA:
		n = asprintf(&u, "%s/api/chat", m->endpoint);
		break;
	case RDB_PROV_GEMINI:
		n = stream ? asprintf(&u, "%s/v1beta/%s%s:streamGenerateContent?alt=sse", m->endpoint, mp, m->model)
		           : asprintf(&u, "%s/v1beta/%s%s:generateContent", m->endpoint, mp, m->model);
		break;
	default:
		break;
	}
	return n < 0 ? NULL : u;
}

/* The calls received, moved into a result's array (*out NULL when none);
 * s->n_calls stays their count. */
static ragdb_status take_calls(lstate *s, rdb_llm_call **out, rdb_err *err)
{
	*out = NULL;
	if (s->n_calls == 0)
		return RAGDB_OK;
	rdb_llm_call *calls = calloc(s->n_calls, sizeof *calls);
	if (!calls)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory");
	int ok = 1;
	for (size_t i = 0; i < s->n_calls; i++) {
		pcall *c = &s->calls[i];
		calls[i].id = c->id ? c->id : strdup("");
		calls[i].name = c->name ? c->name : strdup("");
		calls[i].args = c->args ? c->args : strdup("{}");
		calls[i].signature = c->sig;
		c->id = c->name = c->args = c->sig = NULL;
		ok = ok && calls[i].id && calls[i].name && calls[i].args;
	}
	if (!ok) {
		calls_free(calls, s->n_calls);
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory");
	}
	*out = calls;
	return RAGDB_OK;
}

static const char *end_marker(rdb_provider p)
{
	switch (p) {
	case RDB_PROV_ANTHROPIC: return "message_stop";
	case RDB_PROV_OPENAI: return "data: [DONE]";
	case RDB_PROV_OLLAMA: return "\"done\": true";
	case RDB_PROV_GEMINI: return "a finishReason";
	default: return "its end marker";
	}
}

ragdb_status rdb_llm_complete(const rdb_model_cfg *m, const rdb_llm_request *req,
                              rdb_llm_result *out, rdb_err *err)
{
	if (m->provider == RDB_PROV_HUGGINGFACE)
		return rdb_err_set(err, RAGDB_EINVAL,
		                   "%s: huggingface is an embedding provider here; answer with anthropic, openai, ollama or gemini",
		                   m->name);
	lstate s = {0};
	s.m = m;
	s.req = req;
	s.whole = !req->stream;
	rdb_sse_init(&s.sse, on_sse, &s);
	rdb_lines_init(&s.lines, RDB_STREAM_MAX_LINE, on_line, &s);
	ragdb_status st = RAGDB_OK;
	char *key = NULL, *body = NULL, *url = NULL;
	char hdr[3][1024];
	const char *hdrs[3];
	size_t nh = 0;
	rdb_http_resp resp = {0};
	char mid[300];
	char *kbody = NULL;
	rdb_cache_key ckey = {0, 0};
	int use_cache = 0, called = 0;
	double t0 = 0;
	snprintf(mid, sizeof mid, "%s:%s", rdb_provider_name(m->provider), m->model);
	if ((st = rdb_model_key(m, &key, err)) != RAGDB_OK)
		goto out_free;
	int needs_key = m->provider == RDB_PROV_ANTHROPIC || m->provider == RDB_PROV_GEMINI ||
	                (m->provider == RDB_PROV_OPENAI && strstr(m->endpoint, "api.openai.com"));
	if (!key && needs_key) {
		st = rdb_err_set(err, RAGDB_EPERM, "%s: no API key; set %s (or api_key in ragdb.json)", m->name,
		                 m->key_var ? m->key_var : "the provider's key variable");
		goto out_free;
	}
	switch (m->provider) {
	case RDB_PROV_ANTHROPIC:
		if (key) {
			snprintf(hdr[nh], sizeof hdr[nh], "x-api-key: %s", key);
			hdrs[nh] = hdr[nh];
			nh++;
		}
		snprintf(hdr[nh], sizeof hdr[nh], "anthropic-version: 2023-06-01");
		hdrs[nh] = hdr[nh];
		nh++;
		break;
	case RDB_PROV_GEMINI:
		snprintf(hdr[nh], sizeof hdr[nh], "x-goog-api-key: %s", key);
		hdrs[nh] = hdr[nh];
		nh++;
		break;
	default:
		if (key) {
			snprintf(hdr[nh], sizeof hdr[nh], "Authorization: Bearer %s", key);
			hdrs[nh] = hdr[nh];
			nh++;
		}
		break;
	}
	if (req->stream && m->provider != RDB_PROV_OLLAMA) {
		snprintf(hdr[nh], sizeof hdr[nh], "Accept: text/event-stream");
		hdrs[nh] = hdr[nh];
		nh++;
	}
	body = build_body(m, req);
	url = build_url(m, req->stream);
	if (!body || !url) {
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory building the request to %s", m->name);
		goto out_free;
	}
	s.url = url;
	/* The answer cache: keyed on the request as it would be sent, streaming
	 * off (a streamed and a whole answer are the same answer). */
	if (!req->no_cache && m->cache.max_entries > 0 && req->n_tools == 0 && req->n_rounds == 0) {
		rdb_llm_request kreq = *req;
		kreq.stream = 0;
		kbody = build_body(m, &kreq);
		const char *parts[4] = {rdb_provider_name(m->provider), m->endpoint, m->model, kbody};
		if (kbody) {
			ckey = rdb_llm_cache_key(parts, 4);
			use_cache = 1;
		}
	}
	if (use_cache) {
		char *ct = NULL;
		size_t cl = 0;
		char stop[32];
		int hit = rdb_llm_cache_get(ckey, (int64_t)time(NULL), &ct, &cl, stop);
		rdb_metrics_cache(mid, hit);
		if (hit) {
			if (req->on_delta && cl)
				req->on_delta(req->ctx, ct, cl);
			memset(out, 0, sizeof *out);
			out->text = ct;
			out->len = cl;
			memcpy(out->stop_reason, stop, sizeof out->stop_reason);
			out->cached = 1;
			goto out_free;
		}
	}
	char key_hint[160];
	snprintf(key_hint, sizeof key_hint, "check the API key in %s (or api_key in ragdb.json)",
	         m->key_var ? m->key_var : "the provider's variable");
	rdb_http_req hr = {
		.url = url, .body = body, .body_len = strlen(body), .headers = hdrs, .n_headers = nh,
		.on_data = req->stream ? on_data : NULL, .ctx = &s, .cb_err = &s.err, .what = m->name,
		.key_hint = key_hint, .bal = m->bal,
	};
	t0 = rdb_metrics_now_ms();
	called = 1;
	st = rdb_http_do(&hr, &resp, &m->http, err);
	if (st != RAGDB_OK)
		goto out_free;
	if (req->stream) {
		if (m->provider == RDB_PROV_OLLAMA && rdb_lines_finish(&s.lines) != 0) {
			if (err)
				*err = s.err;
			st = s.err.status ? s.err.status : RAGDB_EIO;
			goto out_free;
		}
		if (!s.done) {
			st = rdb_err_set(err, RAGDB_EIO,
			                 "%s: the answer stream from %s ended before the answer was complete (no %s after %zu bytes of text); "
			                 "the connection was cut off or the server stopped: try again",
			                 m->name, url, end_marker(m->provider), s.len);
			goto out_free;
		}
	} else {
		cJSON *j = cJSON_ParseWithLength(resp.body, resp.len);
		if (!j) {
			malformed(&s, resp.body, resp.len);
			if (err)
				*err = s.err;
			st = RAGDB_EIO;
			goto out_free;
		}
		int rc = handle_json(&s, j, resp.body, resp.len, 1);
		cJSON_Delete(j);
		if (rc != 0) {
			if (err)
				*err = s.err;
			st = s.err.status ? s.err.status : RAGDB_EIO;
			goto out_free;
		}
	}
	rdb_llm_call *calls = NULL;
	if ((st = take_calls(&s, &calls, err)) != RAGDB_OK)
		goto out_free;
	memset(out, 0, sizeof *out);
	out->text = s.text ? s.text : strdup("");
	if (!out->text) {
		calls_free(calls, s.n_calls);
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory");
		goto out_free;
	}
	emit(&s, 1);
	s.text = NULL;
	out->calls = calls;
	out->n_calls = s.n_calls;
	out->len = s.len;
	out->input_tokens = s.in_tok;
	out->output_tokens = s.out_tok;
	out->cost = (double)s.in_tok / 1e6 * m->price_input + (double)s.out_tok / 1e6 * m->price_output;
	memcpy(out->stop_reason, s.stop, sizeof out->stop_reason);
	if (use_cache)
		rdb_llm_cache_put(ckey, out->text, out->len, out->stop_reason, &m->cache, (int64_t)time(NULL));
out_free:
	if (called)
		rdb_metrics_record(mid, RDB_METRIC_LLM, 1, st, resp.status, err ? err->msg : NULL,
		                   rdb_metrics_now_ms() - t0, st == RAGDB_OK ? out->input_tokens : 0,
		                   st == RAGDB_OK ? out->output_tokens : 0, st == RAGDB_OK ? out->cost : 0);
	free(kbody);
	rdb_http_resp_clear(&resp);
	rdb_sse_free(&s.sse);
	rdb_lines_free(&s.lines);
	pcalls_free(&s);
	free(s.text);
	free(body);
	free(url);
	rdb_key_free(key);
	memset(hdr, 0, sizeof hdr);
	__asm__ __volatile__("" ::"r"(hdr) : "memory");
	return st;
}

/* For tests/fuzz (providers/parse_entry.h): the answer parsing of
 * rdb_llm_complete without the transfer. */
ragdb_status rdb_llm_parse_answer(const rdb_model_cfg *m, const char *body, size_t len, int stream,
                                  const size_t *cuts, size_t n_cuts, rdb_llm_result *out,
                                  rdb_err *err)
{
	static const rdb_llm_request no_req = {0};
	lstate s = {0};
	s.m = m;
	s.req = &no_req;
	s.url = m->endpoint ? m->endpoint : "-";
	rdb_sse_init(&s.sse, on_sse, &s);
	rdb_lines_init(&s.lines, RDB_STREAM_MAX_LINE, on_line, &s);
	ragdb_status st = RAGDB_OK;
	if (stream) {
		size_t at = 0;
		for (size_t i = 0; i <= n_cuts; i++) {
			size_t end = i < n_cuts && cuts[i] >= at && cuts[i] <= len ? cuts[i] : len;
			if (i < n_cuts && end == len)
				continue;
			if (on_data(&s, body + at, end - at) != 0) {
				st = s.err.status ? s.err.status : RAGDB_EIO;
				goto out_free;
			}
			at = end;
		}
		if (m->provider == RDB_PROV_OLLAMA && rdb_lines_finish(&s.lines) != 0) {
			st = s.err.status ? s.err.status : RAGDB_EIO;
			goto out_free;
		}
		if (!s.done) {
			st = rdb_err_set(&s.err, RAGDB_EIO, "%s: the answer stream ended before %s", m->name,
			                 end_marker(m->provider));
			goto out_free;
		}
	} else {
		cJSON *j = cJSON_ParseWithLength(body, len);
		int rc = j ? handle_json(&s, j, body, len, 1) : malformed(&s, body, len);
		cJSON_Delete(j);
		if (rc != 0) {
			st = s.err.status ? s.err.status : RAGDB_EIO;
			goto out_free;
		}
	}
	rdb_llm_call *calls = NULL;
	if ((st = take_calls(&s, &calls, &s.err)) != RAGDB_OK)
		goto out_free;
	memset(out, 0, sizeof *out);
	out->text = s.text ? s.text : strdup("");
	if (!out->text) {
		calls_free(calls, s.n_calls);
		st = rdb_err_set(&s.err, RAGDB_ENOMEM, "out of memory");
		goto out_free;
	}
	s.text = NULL;
	out->calls = calls;
	out->n_calls = s.n_calls;
	out->len = s.len;
	out->input_tokens = s.in_tok;
	out->output_tokens = s.out_tok;
	memcpy(out->stop_reason, s.stop, sizeof out->stop_reason);
out_free:
	if (st != RAGDB_OK && err)
		*err = s.err;
	rdb_sse_free(&s.sse);
	rdb_lines_free(&s.lines);
	pcalls_free(&s);
	free(s.text);
	return st;
}
