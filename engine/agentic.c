/*
 * engine/agentic.c — agentic answering: the language model gets the first
 * retrieval's numbered sources and one tool, search_knowledge_base; each
 * call runs a search and hands back the passages, and the model is asked
 * again, until it answers.
 *
 * Invariants:
 *  - Source numbers never change once given: a->sources[i].n == i + 1. A
 *    passage a search finds again (same document, inside a given source's
 *    byte range) is referred to by its old number; any other gets the next
 *    number. So a citation [n] means the same passage in every round and in
 *    the final answer, and the answer's sources are in number order.
 *  - Every call the model makes gets exactly one result (the providers
 *    require it), including unknown tools, arguments that are not JSON and
 *    calls past the bound (error results, is_error).
 *  - At most max_tool_calls calls run; each counts, malformed ones too. Once
 *    they are used up, the model is asked with the tools switched off, so
 *    there are at most max_tool_calls + 1 model calls.
 *  - Sources are capped at RDB_AGENTIC_MAX_SOURCES; each search's passages
 *    fit the query's context token budget (rdb_context_build).
 */
#include "engine/agentic.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "engine/providers/config.h"
#include "engine/providers/llm.h"
#include "engine/providers/text.h"
#include "engine/rag/rag.h"
#include "engine/rag/sbuf.h"

#define TOOL_NAME "search_knowledge_base"
#define DEFAULT_K 5
#define DEFAULT_BUDGET 2000

#define AGENTIC_SYSTEM                                                                          \
	"You are the answering step of a retrieval-augmented knowledge base. Answer from the "     \
	"numbered sources you are given, cite them as [n], and say so when they do not hold the " \
	"answer. When the sources you have do not hold the answer (for example when it needs a "  \
	"fact that a first source only points to), call " TOOL_NAME " with a short search query " \
	"to find more; the passages it returns are numbered after the ones you have, and you "   \
	"cite them as [n] too. Search only when you need to; then answer."

#define TOOL_DESCRIPTION                                                                     \
	"Search the knowledge base and return the most relevant passages, each numbered as a " \
	"source [n] that you can cite. Passages you already have are referred to by number."

static const char TOOL_SCHEMA[] =
	"{\"type\":\"object\",\"properties\":{"
	"\"query\":{\"type\":\"string\",\"description\":\"what to search for: keywords or a "
	"standalone question\"},"
	"\"k\":{\"type\":\"integer\",\"description\":\"how many passages to retrieve (1-20; "
	"default 5)\"}},"
	"\"required\":[\"query\"]}";

static char *xstrdup(const char *s)
{
	return strdup(s ? s : "");
}

/* The number of the given source holding passage @p p of document @p id,
 * or 0. */
static uint32_t known_source(const ragdb_answer *a, const char *id, const rdb_passage *p)
{
	for (size_t i = 0; i < a->n_sources; i++) {
		const ragdb_source *s = &a->sources[i];
		if (s->id && strcmp(s->id, id) == 0 && p->start >= s->start && p->end <= s->end)
			return s->n;
	}
	return 0;
}

static ragdb_status add_source(ragdb_answer *a, const rdb_passage *p, size_t *cap, uint32_t *n,
                               rdb_err *e)
{
	if (a->n_sources == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		ragdb_source *ns = realloc(a->sources, nc * sizeof *ns);
		if (!ns)
			return rdb_err_set(e, RAGDB_ENOMEM, "out of memory for the sources");
		a->sources = ns;
		*cap = nc;
	}
	const ragdb_hit *h = p->user;
	ragdb_source *s = &a->sources[a->n_sources];
	memset(s, 0, sizeof *s);
	a->n_sources++;
	s->n = (uint32_t)a->n_sources;
	s->start = p->start;
	s->end = p->end;
	s->score = p->score;
	s->id = xstrdup(h->id);
	s->source = xstrdup(h->source);
	s->title = xstrdup(h->title);
	s->heading = xstrdup(h->heading);
	s->text = xstrdup(p->text);
	if (!s->id || !s->source || !s->title || !s->heading || !s->text)
		return rdb_err_set(e, RAGDB_ENOMEM, "out of memory copying sources");
	a->context_tokens += (uint32_t)rdb_token_estimate(p->text, p->text_len);
	*n = s->n;
	return RAGDB_OK;
}

/* Run one search for the model and write its result text (*out, malloc'd):
 * the passages, numbered as sources. */
static ragdb_status run_search(ragdb *db, const ragdb_query_options *o, const char *query,
                               uint32_t k, ragdb_answer *a, size_t *cap, char **out, rdb_err *e)
{
	ragdb_search_options so = {.k = k, .mode = o->mode, .filters = o->filters,
	                           .n_filters = o->n_filters, .mmr_lambda = o->mmr_lambda};
	ragdb_results *r = NULL;
	uint64_t *docs = NULL;
	rdb_hit_in *hits = NULL;
	rdb_passage *ps = NULL;
	size_t nps = 0, fresh = 0, dropped = 0;
	rdb_sbuf b = {0};
	ragdb_status st = rdb_search_internal(db, query, &so, &r, &docs);
	if (st != RAGDB_OK) {
		rdb_err_set(e, st, "%s", ragdb_errmsg(db));
		return st;
	}
	hits = calloc(r->n ? r->n : 1, sizeof *hits);
	if (!hits) {
		st = rdb_err_set(e, RAGDB_ENOMEM, "out of memory for a search");
		goto out_free;
	}
	for (size_t i = 0; i < r->n; i++) {
		hits[i] = (rdb_hit_in){.doc = docs[i], .ordinal = r->hits[i].chunk,
		                       .start = r->hits[i].start, .end = r->hits[i].end,
		                       .text = r->hits[i].text, .text_len = r->hits[i].text_len,
		                       .score = r->hits[i].score, .user = &r->hits[i]};
	}
	st = rdb_context_build(hits, r->n, o->context_tokens ? o->context_tokens : DEFAULT_BUDGET,
	                       &ps, &nps, e);
	if (st != RAGDB_OK)
		goto out_free;
	rdb_sbuf_printf(&b, "Search results for \"");
	rdb_sbuf_data(&b, query, strlen(query), true);
	rdb_sbuf_printf(&b, "\":\n");
	if (nps == 0)
		rdb_sbuf_printf(&b, "No passages were found for this search.\n");
	for (size_t i = 0; i < nps; i++) {
		const ragdb_hit *h = ps[i].user;
		uint32_t n = known_source(a, h->id, &ps[i]);
		if (n) {
			rdb_sbuf_printf(&b, "\n[%u] (you have this source already)\n", n);
			continue;
		}
		if (a->n_sources >= RDB_AGENTIC_MAX_SOURCES) {
			dropped++;
			continue;
		}
		if ((st = add_source(a, &ps[i], cap, &n, e)) != RAGDB_OK)
			goto out_free;
		fresh++;
		rdb_sbuf_printf(&b, "\n[%u] ", n);
		const char *title = h->title && *h->title ? h->title : h->id;
		rdb_sbuf_data(&b, title, strlen(title), true);
		rdb_sbuf_printf(&b, "\n<source n=\"%u\">\n", n);
		rdb_sbuf_data(&b, ps[i].text, ps[i].text_len, false);
		if (ps[i].text_len == 0 || ps[i].text[ps[i].text_len - 1] != '\n')
			rdb_sbuf_put(&b, "\n", 1);
		rdb_sbuf_printf(&b, "</source>\n");
	}
	if (dropped)
		rdb_sbuf_printf(&b, "\n(%zu more passages were left out: the answer already has %u sources.)\n",
		          dropped, RDB_AGENTIC_MAX_SOURCES);
	(void)fresh;
	if (b.failed) {
		st = rdb_err_set(e, RAGDB_ENOMEM, "out of memory for a search result");
		goto out_free;
	}
	*out = b.s;
	b.s = NULL;
out_free:
	free(b.s);
	rdb_passages_free(ps, nps);
	free(hits);
	free(docs);
	ragdb_results_free(r);
	return st;
}

/* One round kept for the next requests: the model's reply with its calls,
 * and a result for each call. */
typedef struct round_store {
	rdb_llm_result res;
	char **results;
	int *is_error;
} round_store;

static void round_store_clear(round_store *r)
{
	for (size_t i = 0; r->results && i < r->res.n_calls; i++)
		free(r->results[i]);
	free(r->results);
	free(r->is_error);
	rdb_llm_result_clear(&r->res);
}

static char *dupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dupf(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

/* Answer call @p c: a search, or an error result for the model. *used
 * counts the calls run. */
static ragdb_status answer_call(ragdb *db, const ragdb_query_options *o, const rdb_llm_call *c,
                                uint32_t *used, uint32_t max, ragdb_answer *a, size_t *cap,
                                char **res, int *is_error, rdb_err *e)
{
	*is_error = 1;
	if (*used >= max) {
		*res = dupf("error: the limit of %u searches is reached; answer now from the sources "
		            "you have.", max);
		return *res ? RAGDB_OK : rdb_err_set(e, RAGDB_ENOMEM, "out of memory");
	}
	(*used)++;
	if (strcmp(c->name, TOOL_NAME) != 0) {
		*res = dupf("error: there is no tool named \"%.100s\"; the only tool is " TOOL_NAME ".",
		            c->name);
		return *res ? RAGDB_OK : rdb_err_set(e, RAGDB_ENOMEM, "out of memory");
	}
	cJSON *j = cJSON_Parse(c->args);
	const cJSON *q = cJSON_GetObjectItemCaseSensitive(j, "query");
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(j, "k");
	ragdb_status st = RAGDB_OK;
	if (!cJSON_IsObject(j)) {
		*res = dupf("error: the arguments are not a JSON object (found \"%.200s\"); call " TOOL_NAME
		            " with {\"query\": \"...\"}.", c->args);
	} else if (!cJSON_IsString(q) || !q->valuestring[strspn(q->valuestring, " \t\r\n")]) {
		*res = dupf("error: the arguments need a non-empty \"query\" string; call " TOOL_NAME
		            " with {\"query\": \"...\"}.");
	} else {
		uint32_t kk = o->k ? o->k : DEFAULT_K;
		if (cJSON_IsNumber(k) && k->valuedouble >= 1)
			kk = k->valuedouble > RDB_AGENTIC_MAX_K ? RDB_AGENTIC_MAX_K : (uint32_t)k->valuedouble;
		if (kk > RDB_AGENTIC_MAX_K)
			kk = RDB_AGENTIC_MAX_K;
		if (o->on_tool_call)
			o->on_tool_call(o->ctx, q->valuestring);
		st = run_search(db, o, q->valuestring, kk, a, cap, res, e);
		*is_error = 0;
		cJSON_Delete(j);
		return st;
	}
	cJSON_Delete(j);
	return *res ? RAGDB_OK : rdb_err_set(e, RAGDB_ENOMEM, "out of memory");
}

ragdb_status rdb_agentic_answer(ragdb *db, const char *model, const char *prompt,
                                const ragdb_query_options *o, ragdb_answer *a, rdb_err *e)
{
	rdb_model_cfg m;
	ragdb_status st = rdb_config_resolve(db->config, model, NULL, &m, e);
	if (st != RAGDB_OK)
		return st;
	uint32_t max = o->max_tool_calls ? o->max_tool_calls : RDB_AGENTIC_DEFAULT_CALLS;
	if (max > RDB_AGENTIC_MAX_CALLS)
		max = RDB_AGENTIC_MAX_CALLS;
	const rdb_llm_tool tool = {TOOL_NAME, TOOL_DESCRIPTION, TOOL_SCHEMA};
	/* Each round but the last holds at least one call that ran (calls past
	 * the bound come with one that did, or end the loop), so max rounds. */
	round_store *rs = calloc(max + 1, sizeof *rs);
	rdb_llm_round *rounds = calloc(max + 1, sizeof *rounds);
	size_t n_rounds = 0, cap = a->n_sources;
	uint32_t used = 0;
	char *name = NULL;
	if (!rs || !rounds || asprintf(&name, "%s:%s", rdb_provider_name(m.provider), m.model) < 0) {
		name = NULL;
		st = rdb_err_set(e, RAGDB_ENOMEM, "out of memory");
		goto out_free;
	}
	for (;;) {
		int last = used >= max;
		rdb_llm_request req = {.system = AGENTIC_SYSTEM, .user = prompt,
		                       .stream = o->on_delta != NULL, .on_delta = o->on_delta,
		                       .ctx = o->ctx, .no_cache = 1, .tools = &tool, .n_tools = 1,
		                       .tools_off = last, .rounds = rounds, .n_rounds = n_rounds};
		rdb_llm_result r;
		if ((st = rdb_llm_complete(&m, &req, &r, e)) != RAGDB_OK)
			goto out_free;
		a->input_tokens += r.input_tokens;
		a->output_tokens += r.output_tokens;
		a->cost += r.cost;
		if (r.n_calls == 0 || (last && r.len > 0)) {
			/* The answer (a model that calls a tool it was told not to
			 * but also writes an answer: the answer counts). */
			a->answer = r.text;
			r.text = NULL;
			rdb_llm_result_clear(&r);
			break;
		}
		if (last || n_rounds == max) {
			rdb_llm_result_clear(&r);
			st = rdb_err_set(e, RAGDB_EIO,
			                 "%s: the model kept calling tools after its %u tool calls and gave no "
			                 "answer; raise max_tool_calls or ask without --agentic",
			                 m.name, max);
			goto out_free;
		}
		round_store *cur = &rs[n_rounds];
		cur->res = r;
		cur->results = calloc(r.n_calls, sizeof *cur->results);
		cur->is_error = calloc(r.n_calls, sizeof *cur->is_error);
		if (!cur->results || !cur->is_error) {
			st = rdb_err_set(e, RAGDB_ENOMEM, "out of memory");
			n_rounds++;
			goto out_free;
		}
		n_rounds++;
		for (size_t i = 0; i < r.n_calls; i++) {
			uint32_t before = used;
			if ((st = answer_call(db, o, &r.calls[i], &used, max, a, &cap, &cur->results[i],
			                      &cur->is_error[i], e)) != RAGDB_OK)
				goto out_free;
			a->tool_calls += used > before;
		}
		if (used >= max) {
			/* The next request switches the tools off; say why, so the
			 * model answers instead of trying to search. */
			char **lr = &cur->results[r.n_calls - 1];
			char *nr = dupf("%s\n\n(No more searches: the limit of %u is reached. Answer now "
			                "from the sources you have.)", *lr, max);
			if (!nr) {
				st = rdb_err_set(e, RAGDB_ENOMEM, "out of memory");
				goto out_free;
			}
			free(*lr);
			*lr = nr;
		}
		rounds[n_rounds - 1] = (rdb_llm_round){.text = r.text, .calls = r.calls,
		                                       .n_calls = r.n_calls,
		                                       .results = (const char *const *)cur->results,
		                                       .is_error = cur->is_error};
	}
	a->model = name;
	name = NULL;
	a->extractive = 0;
	a->cached = 0;
out_free:
	for (size_t i = 0; rs && i < n_rounds; i++)
		round_store_clear(&rs[i]);
	free(rs);
	free(rounds);
	free(name);
	rdb_model_cfg_clear(&m);
	return st;
}
