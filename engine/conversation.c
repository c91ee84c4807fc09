/*
 * engine/conversation.c — stored conversations through the public API
 * (list, get, delete) and the conversation side of ragdb_query: history,
 * follow-up rewriting, trimming to the context window, storing the turns.
 *
 * The rules (docs/conversations.md):
 *  - Rewriting. With a language model, the model is asked for a standalone
 *    search query from the recent turns and the follow-up (one line, at
 *    most RW_MAX_BYTES; anything else falls back to the heuristic). With
 *    the extractive answerer, a follow-up — a question led by a pronoun or
 *    connective ("it", "they", "that", "and", "what about"...) or with at
 *    most 2 content words — gets the key terms (non-stopwords, in order, at
 *    most 8) of the previous question's own search query appended, so a
 *    chain of follow-ups keeps the subject of the first question.
 *  - Trimming. The turns kept whole are the newest that fit the history
 *    budget: the model's context window minus the context budget, the
 *    answer's max_tokens and a reserve for instructions and question
 *    (HIST_DEFAULT tokens when the window is unknown). Older turns are
 *    summarised: with a model, by a summary request; else (or when it
 *    fails) by the first sentence of each older question and answer,
 *    newest kept first, within a quarter of the budget.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "engine/conversation.h"
#include "engine/providers/config.h"
#include "engine/providers/stopwords.h"
#include "engine/providers/text.h"
#include "index/conv.h"

#define HIST_DEFAULT 3000u       /* history tokens when the window is unknown */
#define HIST_RESERVE 800u        /* instructions, question, formatting */
#define RW_MAX_BYTES 400u        /* a model's rewrite longer than this is ignored */
#define RW_MAX_TERMS 8
#define RW_MAX_CONTENT 2         /* content words at most for a follow-up */
#define RW_TURNS 6               /* recent turns shown to the rewriter */
#define MAX_HISTORY 10000u       /* turns considered at most */
#define SUMMARY_SENTENCE 300u    /* bytes of one summary sentence at most */

static int64_t now_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the public API ---- */

struct list_ctx {
	int (*cb)(void *ctx, const ragdb_conversation_info *c);
	void *ctx;
};

static int list_one(void *ctx, const rdb_conv_head *h)
{
	struct list_ctx *lc = ctx;
	ragdb_conversation_info ci = {.id = h->id, .title = h->title, .created_ms = h->created_ms,
	                              .updated_ms = h->updated_ms, .n_turns = h->n_turns};
	return lc->cb(lc->ctx, &ci);
}

ragdb_status ragdb_conversation_list(ragdb *db,
                                     int (*cb)(void *ctx, const ragdb_conversation_info *c),
                                     void *ctx)
{
	ragdb_status st = rdb_ready(db);
	if (st != RAGDB_OK)
		return st;
	if (!cb)
		return rdb_failf(db, RAGDB_EINVAL, "ragdb_conversation_list needs a callback");
	rdb_err e = {0};
	st = rdb_conv_ready(db->store, 0, &e);
	if (st == RAGDB_ENOTFOUND)
		return RAGDB_OK;
	if (st != RAGDB_OK)
		return rdb_fail(db, &e);
	rdb_txn *t = NULL;
	struct list_ctx lc = {cb, ctx};
	if ((st = rdb_txn_begin(db->store, 0, &t, &e)) == RAGDB_OK)
		st = rdb_conv_iter(t, list_one, &lc, &e);
	rdb_txn_abort(t);
	return st == RAGDB_OK ? RAGDB_OK : rdb_fail(db, &e);
}

void ragdb_conversation_free(ragdb_conversation *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_turns; i++) {
		ragdb_turn *t = &c->turns[i];
		free((char *)t->text);
		free((char *)t->model);
		free((char *)t->search_query);
		free((char *)t->sources_json);
	}
	free(c->turns);
	free((char *)c->info.id);
	free((char *)c->info.title);
	free(c);
}

struct get_ctx {
	ragdb_conversation *c;
	int failed;
};

static int get_turn(void *ctx, uint32_t n, const rdb_conv_turn *tn)
{
	struct get_ctx *g = ctx;
	(void)n;
	ragdb_turn *t = &g->c->turns[g->c->n_turns];
	t->role = tn->role == RDB_ROLE_USER ? "user" : "assistant";
	t->text = strdup(tn->text);
	t->model = strdup(tn->model);
	t->search_query = strdup(tn->query);
	t->sources_json = strdup(tn->sources_json);
	t->time_ms = tn->time_ms;
	t->input_tokens = tn->input_tokens;
	t->output_tokens = tn->output_tokens;
	g->c->n_turns++;
	if (!t->text || !t->model || !t->search_query || !t->sources_json) {
		g->failed = 1;
		return 1;
	}
	return 0;
}

/* Read conversation @p id into *out (ENOTFOUND when there is none). */
static ragdb_status conv_read(ragdb *db, const char *id, ragdb_conversation **out, rdb_err *e)
{
	ragdb_status st = rdb_conv_ready(db->store, 0, e);
	if (st == RAGDB_ENOTFOUND)
		return rdb_err_set(e, RAGDB_ENOTFOUND, "no conversation %s; list them with `ragdb "
		                   "conversations list`", id);
	if (st != RAGDB_OK)
		return st;
	rdb_txn *t = NULL;
	ragdb_conversation *c = calloc(1, sizeof *c);
	if (!c)
		return rdb_err_set(e, RAGDB_ENOMEM, "out of memory reading a conversation");
	if ((st = rdb_txn_begin(db->store, 0, &t, e)) != RAGDB_OK)
		goto out;
	rdb_conv_head h;
	if ((st = rdb_conv_head_get(t, id, &h, e)) != RAGDB_OK)
		goto out;
	c->info.id = strdup(id);
	c->info.title = strdup(h.title);
	c->info.created_ms = h.created_ms;
	c->info.updated_ms = h.updated_ms;
	c->info.n_turns = h.n_turns;
	c->turns = calloc(h.n_turns ? h.n_turns : 1, sizeof *c->turns);
	if (!c->info.id || !c->info.title || !c->turns) {
		st = rdb_err_set(e, RAGDB_ENOMEM, "out of memory reading a conversation");
		goto out;
	}
	struct get_ctx g = {c, 0};
	st = rdb_conv_turns(t, id, get_turn, &g, e);
	if (st == RAGDB_OK && g.failed)
		st = rdb_err_set(e, RAGDB_ENOMEM, "out of memory reading a conversation");
out:
	rdb_txn_abort(t);
	if (st != RAGDB_OK) {
		ragdb_conversation_free(c);
		return st;
	}
	*out = c;
	return RAGDB_OK;
}

ragdb_status ragdb_conversation_get(ragdb *db, const char *id, ragdb_conversation **out)
{
	ragdb_status st = rdb_ready(db);
	if (st != RAGDB_OK)
		return st;
	if (!id || !*id || !out)
		return rdb_failf(db, RAGDB_EINVAL, "a conversation id is required");
	rdb_err e = {0};
	st = conv_read(db, id, out, &e);
	return st == RAGDB_OK ? RAGDB_OK : rdb_fail(db, &e);
}

static ragdb_status delete_fn(rdb_txn *t, void *ctx, rdb_err *e)
{
	return rdb_conv_delete(t, ctx, e);
}

ragdb_status ragdb_conversation_delete(ragdb *db, const char *id)
{
	ragdb_status st = rdb_ready_writable(db);
	if (st != RAGDB_OK)
		return st;
	if (!id || !*id)
		return rdb_failf(db, RAGDB_EINVAL, "a conversation id is required");
	rdb_err e = {0};
	st = rdb_conv_ready(db->store, 0, &e);
	if (st == RAGDB_ENOTFOUND)
		return rdb_failf(db, RAGDB_ENOTFOUND, "no conversation %s; list them with `ragdb "
		                 "conversations list`", id);
	if (st != RAGDB_OK)
		return rdb_fail(db, &e);
	return rdb_write(db, delete_fn, (void *)id);
}

/* ---- history for a query ---- */

void rdb_chat_clear(rdb_chat *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_turns; i++) {
		free((char *)c->turns[i].role);
		free((char *)c->turns[i].content);
	}
	free(c->turns);
	free(c->summary);
	free(c->search_query);
	memset(c, 0, sizeof *c);
}

/* A growing string (sizes bounded by the history we hold). */
typedef struct sbuf {
	char *s;
	size_t len, cap;
	int failed;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap : 256;
		while (nc < b->len + n + 1)
			nc *= 2;
		char *ns = realloc(b->s, nc);
		if (!ns) {
			b->failed = 1;
			return;
		}
		b->s = ns;
		b->cap = nc;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = 0;
}

static void sb_puts(sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

static const char *const LEADS[] = {
	"it", "its", "it's", "they", "them", "their", "theirs", "this", "that", "these", "those",
	"he", "him", "his", "she", "her", "hers", "there", "and", "also", "so", "then", "what about",
	"how about", "and what", "what else", "more", "same", "which one", "why",
};

static int is_follow_up(const char *q)
{
	while (*q == ' ' || *q == '\t' || *q == '\n')
		q++;
	for (size_t i = 0; i < sizeof LEADS / sizeof LEADS[0]; i++) {
		size_t l = strlen(LEADS[i]);
		if (strncasecmp(q, LEADS[i], l) == 0 &&
		    (q[l] == 0 || q[l] == ' ' || q[l] == ',' || q[l] == '?' || q[l] == '.'))
			return 1;
	}
	rdb_words w;
	rdb_words_init(&w, q, strlen(q));
	int content = 0;
	while (rdb_words_next(&w))
		if (!rdb_stopword(w.buf, w.len))
			content++;
	return content <= RW_MAX_CONTENT;
}

static int has_word(const char *text, const char *word, size_t len)
{
	rdb_words w;
	rdb_words_init(&w, text, strlen(text));
	while (rdb_words_next(&w))
		if (w.len == len && memcmp(w.buf, word, len) == 0)
			return 1;
	return 0;
}

char *rdb_chat_rewrite_heuristic(const char *question, const char *previous)
{
	sbuf b = {0};
	sb_puts(&b, question);
	if (previous && *previous && is_follow_up(question)) {
		rdb_words w;
		rdb_words_init(&w, previous, strlen(previous));
		int added = 0;
		sbuf seen = {0};
		sb_puts(&seen, question);
		while (added < RW_MAX_TERMS && rdb_words_next(&w)) {
			if (rdb_stopword(w.buf, w.len) || has_word(seen.s ? seen.s : "", w.buf, w.len))
				continue;
			sb_puts(&b, " ");
			sb_put(&b, w.buf, w.len);
			sb_puts(&seen, " ");
			sb_put(&seen, w.buf, w.len);
			added++;
		}
		if (seen.failed)
			b.failed = 1;
		free(seen.s);
	}
	if (b.failed) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

/* Everything gathered before trimming: role, content, and for stored user
 * turns the query retrieval used. */
typedef struct hist {
	char **role, **content, **query;
	size_t n, cap;
	int failed;
} hist;

static void hist_add(hist *h, const char *role, const char *content, const char *query)
{
	if (h->failed || h->n >= MAX_HISTORY)
		return;
	if (h->n == h->cap) {
		size_t nc = h->cap ? h->cap * 2 : 16;
		char **r = realloc(h->role, nc * sizeof *r);
		if (r)
			h->role = r;
		char **c = realloc(h->content, nc * sizeof *c);
		if (c)
			h->content = c;
		char **q = realloc(h->query, nc * sizeof *q);
		if (q)
			h->query = q;
		if (!r || !c || !q) {
			h->failed = 1;
			return;
		}
		h->cap = nc;
	}
	h->role[h->n] = strdup(role);
	h->content[h->n] = strdup(content ? content : "");
	h->query[h->n] = query && *query ? strdup(query) : NULL;
	if (!h->role[h->n] || !h->content[h->n] || (query && *query && !h->query[h->n]))
		h->failed = 1;
	h->n++;
}

static void hist_free(hist *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free(h->role[i]);
		free(h->content[i]);
		free(h->query[i]);
	}
	free(h->role);
	free(h->content);
	free(h->query);
}

static int load_turn(void *ctx, uint32_t n, const rdb_conv_turn *tn)
{
	(void)n;
	hist_add(ctx, tn->role == RDB_ROLE_USER ? "user" : "assistant", tn->text, tn->query);
	return ((hist *)ctx)->failed;
}

static ragdb_status load_stored(ragdb *db, const char *id, hist *h, rdb_err *e)
{
	ragdb_status st = rdb_conv_ready(db->store, 0, e);
	if (st == RAGDB_ENOTFOUND)
		return RAGDB_OK; /* a new conversation */
	if (st != RAGDB_OK)
		return st;
	rdb_txn *t = NULL;
	if ((st = rdb_txn_begin(db->store, 0, &t, e)) == RAGDB_OK) {
		st = rdb_conv_turns(t, id, load_turn, h, e);
		if (st == RAGDB_ENOTFOUND)
			st = RAGDB_OK;
	}
	rdb_txn_abort(t);
	return st;
}

/* The first sentence of @p s, at most SUMMARY_SENTENCE bytes, on one line. */
static void put_first_sentence(sbuf *b, const char *s)
{
	size_t len = strlen(s);
	size_t end = rdb_sentence_end(s, len, 0);
	if (end > SUMMARY_SENTENCE) {
		end = SUMMARY_SENTENCE;
		while (end > 0 && ((unsigned char)s[end] & 0xC0) == 0x80)
			end--;
	}
	for (size_t i = 0; i < end; i++)
		sb_put(b, s[i] == '\n' || s[i] == '\r' ? " " : s + i, 1);
}

/* The extractive summary of turns [0, n): newest first kept within
 * @p budget tokens, printed oldest first. */
static char *summary_extractive(const hist *h, size_t n, size_t budget)
{
	size_t from = n, used = 0;
	while (from > 0) {
		sbuf one = {0};
		put_first_sentence(&one, h->content[from - 1]);
		size_t tk = rdb_token_estimate(one.s ? one.s : "", one.len) + 4;
		free(one.s);
		if (used + tk > budget && from < n)
			break;
		used += tk;
		from--;
	}
	sbuf b = {0};
	for (size_t i = from; i < n; i++) {
		sb_puts(&b, strcmp(h->role[i], "user") == 0 ? "- The user asked: "
		                                             : "- The assistant answered: ");
		put_first_sentence(&b, h->content[i]);
		sb_puts(&b, "\n");
	}
	if (b.failed) {
		free(b.s);
		return NULL;
	}
	return b.s ? b.s : strdup("");
}

/* Ask @p model; *out = its answer text (malloc'd). */
static ragdb_status ask_model(ragdb *db, const char *model, const char *prompt, char **out,
                              rdb_err *e)
{
	ragdb_answer tmp = {0};
	ragdb_status st = rdb_models_answer(db, model, prompt, NULL, NULL, &tmp, e);
	free((char *)tmp.model);
	if (st != RAGDB_OK) {
		free((char *)tmp.answer);
		return st;
	}
	*out = (char *)tmp.answer;
	return RAGDB_OK;
}

static void put_turns(sbuf *b, const hist *h, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		sb_puts(b, strcmp(h->role[i], "user") == 0 ? "User: " : "Assistant: ");
		sb_puts(b, h->content[i]);
		sb_puts(b, "\n");
	}
}

/* The model's standalone query, or NULL when it gave nothing usable. */
static char *rewrite_with_model(ragdb *db, const char *model, const hist *h,
                                const char *question)
{
	sbuf b = {0};
	sb_puts(&b, "Rewrite the follow-up question as one standalone search query for a "
	            "knowledge base, resolving pronouns and references from the conversation. "
	            "Reply with the query only, on one line.\n\nConversation:\n");
	put_turns(&b, h, h->n > RW_TURNS ? h->n - RW_TURNS : 0, h->n);
	sb_puts(&b, "\nFollow-up question: ");
	sb_puts(&b, question);
	sb_puts(&b, "\n");
	char *ans = NULL;
	rdb_err e2 = {0};
	if (b.failed || ask_model(db, model, b.s, &ans, &e2) != RAGDB_OK) {
		free(b.s);
		return NULL;
	}
	free(b.s);
	char *s = ans;
	while (*s == ' ' || *s == '\n' || *s == '"')
		s++;
	size_t l = strcspn(s, "\r\n");
	while (l > 0 && (s[l - 1] == ' ' || s[l - 1] == '"'))
		l--;
	char *q = NULL;
	if (l > 0 && l <= RW_MAX_BYTES && (q = malloc(l + 1))) {
		memcpy(q, s, l);
		q[l] = 0;
	}
	free(ans);
	return q;
}

static char *summary_with_model(ragdb *db, const char *model, const hist *h, size_t n,
                                size_t budget)
{
	/* The turns sent are themselves bounded: the extractive summary's
	 * budget times eight, newest first. */
	size_t from = n, used = 0;
	while (from > 0) {
		size_t tk = rdb_token_estimate(h->content[from - 1], strlen(h->content[from - 1])) + 4;
		if (used + tk > budget * 8 && from < n)
			break;
		used += tk;
		from--;
	}
	sbuf b = {0};
	sb_puts(&b, "Summarise this conversation in a few sentences, keeping the names, facts and "
	            "open questions a later answer may need. Reply with the summary only.\n\n");
	put_turns(&b, h, from, n);
	char *ans = NULL;
	rdb_err e2 = {0};
	if (b.failed || ask_model(db, model, b.s, &ans, &e2) != RAGDB_OK)
		ans = NULL;
	free(b.s);
	return ans;
}

ragdb_status rdb_chat_prepare(ragdb *db, const ragdb_query_options *o, const char *question,
                              const char *model, rdb_chat *c, rdb_err *e)
{
	ragdb_status st = RAGDB_OK;
	hist h = {0};
	memset(c, 0, sizeof *c);
	if (o->conversation_id && (st = load_stored(db, o->conversation_id, &h, e)) != RAGDB_OK)
		goto out;
	for (size_t i = 0; i < o->n_history && o->history; i++) {
		const ragdb_message *m = &o->history[i];
		if (!m->role || !m->content)
			continue;
		/* A system turn is the caller's instruction, not conversation. */
		if (strcmp(m->role, "user") != 0 && strcmp(m->role, "assistant") != 0)
			continue;
		hist_add(&h, m->role, m->content, NULL);
	}
	if (h.failed) {
		st = rdb_err_set(e, RAGDB_ENOMEM, "out of memory gathering the conversation");
		goto out;
	}
	c->n_history = h.n;

	/* Rewrite. The previous question: its own search query when stored. */
	const char *prev = NULL;
	for (size_t i = h.n; i > 0 && !prev; i--)
		if (strcmp(h.role[i - 1], "user") == 0)
			prev = h.query[i - 1] ? h.query[i - 1] : h.content[i - 1];
	if (prev && model)
		c->search_query = rewrite_with_model(db, model, &h, question);
	if (!c->search_query)
		c->search_query = prev ? rdb_chat_rewrite_heuristic(question, prev) : strdup(question);
	if (!c->search_query) {
		st = rdb_err_set(e, RAGDB_ENOMEM, "out of memory rewriting the question");
		goto out;
	}

	/* Trim: the budget from the model's window. */
	size_t budget = HIST_DEFAULT;
	if (model) {
		rdb_model_cfg m;
		rdb_err e2 = {0};
		if (rdb_config_resolve(db->config, model, NULL, &m, &e2) == RAGDB_OK) {
			if (m.context_window) {
				size_t ctx = o->context_tokens ? o->context_tokens : 2000;
				size_t ans = m.max_tokens ? m.max_tokens : 1024;
				size_t q = rdb_token_estimate(question, strlen(question));
				size_t need = ctx + ans + q + HIST_RESERVE;
				budget = m.context_window > need ? m.context_window - need : 0;
			}
			rdb_model_cfg_clear(&m);
		}
	}
	size_t keep = h.n, used = 0;
	while (keep > 0) {
		size_t tk = rdb_token_estimate(h.content[keep - 1], strlen(h.content[keep - 1])) + 4;
		if (used + tk > budget)
			break;
		used += tk;
		keep--;
	}
	if (keep > 0) {
		size_t sbudget = budget / 4;
		if (model)
			c->summary = summary_with_model(db, model, &h, keep, sbudget);
		if (!c->summary)
			c->summary = summary_extractive(&h, keep, sbudget);
		if (!c->summary) {
			st = rdb_err_set(e, RAGDB_ENOMEM, "out of memory summarising the conversation");
			goto out;
		}
	}
	size_t nk = h.n - keep;
	c->turns = calloc(nk ? nk : 1, sizeof *c->turns);
	if (!c->turns) {
		st = rdb_err_set(e, RAGDB_ENOMEM, "out of memory gathering the conversation");
		goto out;
	}
	for (size_t i = keep; i < h.n; i++) {
		/* Ownership moves from h to c. */
		c->turns[c->n_turns].role = h.role[i];
		c->turns[c->n_turns].content = h.content[i];
		h.role[i] = h.content[i] = NULL;
		c->n_turns++;
	}
out:
	hist_free(&h);
	if (st != RAGDB_OK)
		rdb_chat_clear(c);
	return st;
}

/* ---- storing ---- */

struct store_ctx {
	const char *id;
	rdb_conv_turn turns[2];
};

static ragdb_status store_fn(rdb_txn *t, void *ctx, rdb_err *e)
{
	struct store_ctx *sc = ctx;
	return rdb_conv_append(t, sc->id, sc->turns, 2, e);
}

ragdb_status rdb_chat_store(ragdb *db, const char *id, const char *question,
                            const char *search_query, const ragdb_answer *a, rdb_err *e)
{
	ragdb_status st = rdb_conv_ready(db->store, 1, e);
	if (st != RAGDB_OK)
		return st;
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; arr && i < a->n_sources; i++) {
		const ragdb_source *s = &a->sources[i];
		cJSON *o = cJSON_CreateObject();
		if (!o)
			break;
		cJSON_AddNumberToObject(o, "n", s->n);
		cJSON_AddStringToObject(o, "id", s->id ? s->id : "");
		cJSON_AddStringToObject(o, "source", s->source ? s->source : "");
		cJSON_AddStringToObject(o, "title", s->title ? s->title : "");
		cJSON_AddItemToArray(arr, o);
	}
	char *sources = arr ? cJSON_PrintUnformatted(arr) : NULL;
	cJSON_Delete(arr);
	if (!sources)
		return rdb_err_set(e, RAGDB_ENOMEM, "out of memory storing the conversation");
	int64_t now = now_wall_ms();
	struct store_ctx sc = {.id = id};
	sc.turns[0] = (rdb_conv_turn){.role = RDB_ROLE_USER, .time_ms = now, .text = question,
	                              .query = search_query};
	sc.turns[1] = (rdb_conv_turn){.role = RDB_ROLE_ASSISTANT, .time_ms = now,
	                              .input_tokens = a->input_tokens,
	                              .output_tokens = a->output_tokens,
	                              .text = a->answer ? a->answer : "",
	                              .model = a->model ? a->model : "", .sources_json = sources};
	st = rdb_write(db, store_fn, &sc);
	free(sources);
	if (st != RAGDB_OK && db->err.status == st)
		*e = db->err;
	return st;
}
