/*
 * engine/query.c — ragdb_query: retrieve, merge neighbouring chunks into
 * numbered sources within a token budget, and answer: with a language model
 * (streamed through on_delta) when one is named or configured, else with the
 * built-in extractive answerer, which says so. With opts->agentic the model
 * may search again with a tool before answering (agentic.c).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/agentic.h"
#include "engine/conversation.h"
#include "engine/internal.h"
#include "engine/providers/text.h"
#include "engine/rag/rag.h"
#include "engine/routing.h"

#define RDB_QUERY_DEFAULT_K 5
#define RDB_QUERY_DEFAULT_BUDGET 2000
#define RDB_QUERY_DEFAULT_SENTENCES 3

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void ragdb_answer_free(ragdb_answer *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n_sources; i++) {
		ragdb_source *s = &a->sources[i];
		free((char *)s->id);
		free((char *)s->source);
		free((char *)s->title);
		free((char *)s->heading);
		free((char *)s->text);
	}
	free(a->sources);
	free((char *)a->answer);
	free((char *)a->model);
	free((char *)a->search_query);
	free(a);
}

static ragdb_status fill_sources(ragdb_answer *a, const rdb_passage *p, size_t n, rdb_err *e)
{
	a->sources = calloc(n ? n : 1, sizeof *a->sources);
	if (!a->sources)
		return rdb_err_set(e, RAGDB_ENOMEM, "out of memory for %zu sources", n);
	uint32_t tokens = 0;
	for (size_t i = 0; i < n; i++) {
		const ragdb_hit *h = p[i].user;
		ragdb_source *s = &a->sources[i];
		a->n_sources = i + 1;
		s->n = p[i].n;
		s->start = p[i].start;
		s->end = p[i].end;
		s->score = p[i].score;
		s->id = strdup(h->id);
		s->source = strdup(h->source);
		s->title = strdup(h->title);
		s->heading = strdup(h->heading);
		s->text = strdup(p[i].text);
		if (!s->id || !s->source || !s->title || !s->heading || !s->text)
			return rdb_err_set(e, RAGDB_ENOMEM, "out of memory copying sources");
		tokens += (uint32_t)rdb_token_estimate(p[i].text, p[i].text_len);
	}
	a->context_tokens = tokens;
	return RAGDB_OK;
}

ragdb_status ragdb_query(ragdb *db, const char *question, const ragdb_query_options *opts,
                         ragdb_answer **out)
{
	ragdb_status st = rdb_ready(db);
	if (st != RAGDB_OK)
		return st;
	if (!question || !*question)
		return rdb_failf(db, RAGDB_EINVAL, "the question is empty; ask something");
	double t0 = now_ms();
	ragdb_query_options o = {0};
	if (opts)
		o = *opts;
	const char *model = o.model && *o.model ? o.model : rdb_models_default(db);
	if (model && strcmp(model, "extractive") == 0)
		model = NULL;
	if (o.conversation_id && (st = rdb_require_writable(db)) != RAGDB_OK)
		return st;
	/* No model named: the configuration's routing rules may pick one. */
	char *routed = !(o.model && *o.model) ? rdb_route_pick(db, question) : NULL;
	if (routed && strcmp(routed, "extractive") != 0)
		model = routed;
	if (o.agentic && !model) {
		free(routed);
		return rdb_failf(db, RAGDB_EINVAL,
		                 "agentic answers need a language model that can call tools; give a model "
		                 "(--model anthropic:MODEL, openai:MODEL, ollama:MODEL or gemini:MODEL) or set "
		                 "default_model in ragdb.json (docs/providers.md)");
	}
	if (o.agentic && o.max_tool_calls > RDB_AGENTIC_MAX_CALLS) {
		free(routed);
		return rdb_failf(db, RAGDB_EINVAL, "max_tool_calls is %u; give 1 to %u (0 = %u)",
		                 o.max_tool_calls, RDB_AGENTIC_MAX_CALLS, RDB_AGENTIC_DEFAULT_CALLS);
	}
	rdb_err e = {0};
	rdb_chat chat = {0};
	const char *search_q = question;
	if (o.conversation_id || (o.history && o.n_history)) {
		if ((st = rdb_chat_prepare(db, &o, question, model, &chat, &e)) != RAGDB_OK) {
			free(routed);
			return rdb_fail(db, &e);
		}
		search_q = chat.search_query;
	}
	ragdb_search_options so = {.k = o.k ? o.k : RDB_QUERY_DEFAULT_K, .mode = o.mode,
	                           .filters = o.filters, .n_filters = o.n_filters,
	                           .mmr_lambda = o.mmr_lambda};
	ragdb_results *r = NULL;
	uint64_t *docs = NULL;
	if ((st = rdb_search_internal(db, search_q, &so, &r, &docs)) != RAGDB_OK) {
		rdb_chat_clear(&chat);
		free(routed);
		return st;
	}

	rdb_hit_in *hits = calloc(r->n ? r->n : 1, sizeof *hits);
	rdb_passage *ps = NULL;
	size_t nps = 0;
	char *answer = NULL;
	ragdb_answer *a = calloc(1, sizeof *a);
	if (!hits || !a) {
		st = rdb_err_set(&e, RAGDB_ENOMEM, "out of memory answering a question");
		goto out;
	}
	for (size_t i = 0; i < r->n; i++) {
		hits[i].doc = docs[i];
		hits[i].ordinal = r->hits[i].chunk;
		hits[i].start = r->hits[i].start;
		hits[i].end = r->hits[i].end;
		hits[i].text = r->hits[i].text;
		hits[i].text_len = r->hits[i].text_len;
		hits[i].score = r->hits[i].score;
		hits[i].user = &r->hits[i];
	}
	st = rdb_context_build(hits, r->n, o.context_tokens ? o.context_tokens : RDB_QUERY_DEFAULT_BUDGET,
	                       &ps, &nps, &e);
	if (st != RAGDB_OK)
		goto out;
	if (model) {
		/* The sources are filled first: a streaming caller may print them
		 * while the answer arrives. */
		if ((st = fill_sources(a, ps, nps, &e)) != RAGDB_OK)
			goto out;
		const char **titles = calloc(nps ? nps : 1, sizeof *titles);
		if (!titles) {
			st = rdb_err_set(&e, RAGDB_ENOMEM, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < nps; i++)
			titles[i] = ((const ragdb_hit *)ps[i].user)->title;
		char *prompt = rdb_prompt_build_chat(question, ps, nps, titles, chat.summary, chat.turns,
		                                     chat.n_turns);
		free(titles);
		if (!prompt) {
			st = rdb_err_set(&e, RAGDB_ENOMEM, "out of memory building the prompt");
			goto out;
		}
		if (o.agentic)
			st = rdb_agentic_answer(db, model, prompt, &o, a, &e);
		else
			st = rdb_route_answer(db, model, prompt, o.on_delta, o.ctx, o.no_cache, a, &e);
		free(prompt);
		if (st != RAGDB_OK)
			goto out;
	} else {
		/* A follow-up's rewritten query names its subject; sentences are
		 * scored against it. */
		st = rdb_extractive_answer(db->embedder, search_q, ps, nps,
		                           o.max_sentences ? o.max_sentences : RDB_QUERY_DEFAULT_SENTENCES,
		                           &answer, &e);
		if (st != RAGDB_OK)
			goto out;
		a->answer = answer;
		answer = NULL;
		a->model = strdup("extractive");
		a->extractive = 1;
		if (!a->model) {
			st = rdb_err_set(&e, RAGDB_ENOMEM, "out of memory");
			goto out;
		}
		if ((st = fill_sources(a, ps, nps, &e)) != RAGDB_OK)
			goto out;
		if (o.on_delta)
			o.on_delta(o.ctx, a->answer, strlen(a->answer));
	}
	if (!(a->search_query = strdup(search_q))) {
		st = rdb_err_set(&e, RAGDB_ENOMEM, "out of memory");
		goto out;
	}
	if (o.conversation_id &&
	    (st = rdb_chat_store(db, o.conversation_id, question, search_q, a, &e)) != RAGDB_OK)
		goto out;
	a->took_ms = now_ms() - t0;
out:
	rdb_chat_clear(&chat);
	free(routed);
	free(answer);
	rdb_passages_free(ps, nps);
	free(hits);
	free(docs);
	ragdb_results_free(r);
	if (st != RAGDB_OK) {
		ragdb_answer_free(a);
		return rdb_fail(db, &e);
	}
	*out = a;
	return RAGDB_OK;
}
