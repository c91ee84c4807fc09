/*
 * engine/routing.c — which language model answers: routing rules pick a
 * model for a question when none is named, and a fallback chain tries the
 * next model when one fails (docs/conversations.md, "Routing and fallback").
 *
 * Both come from the configuration file (ragdb.json), read here again with
 * cJSON because the provider configuration keeps only what it resolves:
 *
 *   "routing":  [ {"keywords": ["invoice", "refund"], "model": "cheap"},
 *                 {"regex": "^(why|explain)\\b", "model": "smart"} ],
 *   "fallback": { "smart": ["cheap", "ollama:llama3.2"] }
 *
 * Rules are tried in order; a keyword rule matches when any keyword is a
 * word of the question (case-folded, normalised like search words; a
 * keyword of several words matches as a substring of the folded question);
 * a regex rule is a POSIX extended regular expression, case-insensitive.
 * A fallback is taken only when a model fails before any of its answer was
 * streamed (a partly shown answer cannot be taken back); the answer's
 * model names the one that answered.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "engine/internal.h"
#include "engine/providers/balance.h"
#include "engine/providers/config.h"
#include "engine/providers/text.h"
#include "engine/routing.h"

#define ROUTE_MAX_FILE (4u << 20)
#define ROUTE_MAX_CHAIN 8

static cJSON *load_config(const ragdb *db)
{
	const char *path = rdb_config_path(db->config);
	if (!path)
		return NULL;
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = malloc(ROUTE_MAX_FILE + 1);
	size_t n = buf ? fread(buf, 1, ROUTE_MAX_FILE, f) : 0;
	fclose(f);
	cJSON *j = NULL;
	if (buf) {
		buf[n] = 0;
		j = cJSON_Parse(buf);
	}
	free(buf);
	return j;
}

/* The question's words, case-folded, space-separated, with spaces at both
 * ends so " word " finds whole words. */
static char *fold(const char *s)
{
	size_t len = strlen(s), cap = len * 4 + 3, o = 0;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	out[o++] = ' ';
	rdb_words w;
	rdb_words_init(&w, s, len);
	while (rdb_words_next(&w)) {
		if (o + w.len + 2 > cap)
			break;
		memcpy(out + o, w.buf, w.len);
		o += w.len;
		out[o++] = ' ';
	}
	out[o] = 0;
	return out;
}

static int keyword_match(const char *folded_q, const char *kw)
{
	char *k = fold(kw);
	int hit = k && strlen(k) > 2 && strstr(folded_q, k) != NULL;
	free(k);
	return hit;
}

static int rule_matches(const cJSON *rule, const char *question, const char *folded_q)
{
	const cJSON *kws = cJSON_GetObjectItemCaseSensitive(rule, "keywords");
	const cJSON *kw;
	cJSON_ArrayForEach(kw, kws)
		if (cJSON_IsString(kw) && keyword_match(folded_q, kw->valuestring))
			return 1;
	const cJSON *re = cJSON_GetObjectItemCaseSensitive(rule, "regex");
	if (cJSON_IsString(re)) {
		regex_t r;
		if (regcomp(&r, re->valuestring, REG_EXTENDED | REG_ICASE | REG_NOSUB) == 0) {
			int hit = regexec(&r, question, 0, NULL, 0) == 0;
			regfree(&r);
			if (hit)
				return 1;
		}
	}
	return 0;
}

char *rdb_route_pick(const ragdb *db, const char *question)
{
	cJSON *j = load_config(db);
	char *model = NULL;
	const cJSON *rules = cJSON_GetObjectItemCaseSensitive(j, "routing"), *rule;
	char *fq = cJSON_IsArray(rules) ? fold(question) : NULL;
	if (fq) {
		cJSON_ArrayForEach(rule, rules) {
			const cJSON *m = cJSON_GetObjectItemCaseSensitive(rule, "model");
			if (cJSON_IsString(m) && m->valuestring[0] && rule_matches(rule, question, fq)) {
				model = strdup(m->valuestring);
				break;
			}
		}
	}
	free(fq);
	cJSON_Delete(j);
	return model;
}

/* Wraps the caller's on_delta to know whether anything was shown. */
typedef struct delta_seen {
	void (*on_delta)(void *, const char *, size_t);
	void *ctx;
	size_t bytes;
} delta_seen;

static void seen_delta(void *ctx, const char *text, size_t len)
{
	delta_seen *d = ctx;
	d->bytes += len;
	d->on_delta(d->ctx, text, len);
}

ragdb_status rdb_route_answer(ragdb *db, const char *model, const char *prompt,
                              void (*on_delta)(void *, const char *, size_t), void *ctx,
                              int no_cache, ragdb_answer *a, rdb_err *e)
{
	const char *chain[ROUTE_MAX_CHAIN] = {model};
	size_t n = 1;
	cJSON *j = load_config(db);
	const cJSON *fb = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(j, "fallback"), model);
	const cJSON *m;
	cJSON_ArrayForEach(m, fb)
		if (cJSON_IsString(m) && m->valuestring[0] && n < ROUTE_MAX_CHAIN)
			chain[n++] = m->valuestring;
	delta_seen d = {on_delta, ctx, 0};
	ragdb_status st = RAGDB_EINVAL;
	rdb_err first = {0};
	for (size_t i = 0; i < n; i++) {
		rdb_err ei = {0};
		st = rdb_models_answer_nc(db, chain[i], prompt, on_delta ? seen_delta : NULL, &d,
		                          no_cache, a, &ei);
		if (st == RAGDB_OK)
			break;
		if (i == 0)
			first = ei;
		/* Keep the first model's failure as the message; name the rest. */
		if (d.bytes > 0 || st == RAGDB_ENOMEM || i + 1 == n) {
			*e = i == 0 ? ei : first;
			if (i > 0)
				rdb_err_prefix(e, "%zu models failed (the last: %s)", i + 1, ei.msg);
			break;
		}
	}
	cJSON_Delete(j);
	return st;
}

ragdb_status ragdb_configured_models(ragdb *db,
                                     int (*cb)(void *ctx, const ragdb_model_info *m), void *ctx)
{
	ragdb_status st = rdb_ready(db);
	if (st != RAGDB_OK)
		return st;
	if (!cb)
		return rdb_failf(db, RAGDB_EINVAL, "ragdb_configured_models needs a callback");
	cJSON *j = load_config(db);
	const cJSON *models = cJSON_GetObjectItemCaseSensitive(j, "models"), *m;
	const cJSON *fbs = cJSON_GetObjectItemCaseSensitive(j, "fallback");
	const char *def = rdb_models_default(db);
	rdb_err e = {0};
	cJSON_ArrayForEach(m, models) {
		if (!m->string)
			continue;
		rdb_model_cfg c;
		if ((st = rdb_config_resolve(db->config, m->string, NULL, &c, &e)) != RAGDB_OK)
			break;
		char fb[1024] = "";
		size_t o = 0;
		const cJSON *f;
		cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(fbs, m->string)) {
			if (!cJSON_IsString(f))
				continue;
			int w = snprintf(fb + o, sizeof fb - o, "%s%s", o ? "," : "", f->valuestring);
			if (w < 0 || (size_t)w >= sizeof fb - o)
				break;
			o += (size_t)w;
		}
		const char *eps[RDB_BAL_MAX_ENDPOINTS];
		size_t neps = 0;
		if (c.bal)
			for (; neps < rdb_balancer_count(c.bal); neps++)
				eps[neps] = rdb_balancer_endpoint(c.bal, neps);
		else if (c.endpoint)
			eps[neps++] = c.endpoint;
		/* The knowledge base's own embedder is an embedding model whatever
		 * its entry says. */
		int kb_emb = db->embedder && strcmp(db->embedder->name, rdb_provider_name(c.provider)) == 0 &&
		             strcmp(db->embedder->model, c.model) == 0;
		ragdb_model_info mi = {.name = m->string, .provider = rdb_provider_name(c.provider),
		                       .model = c.model, .endpoint = c.endpoint ? c.endpoint : "",
		                       .context_window = c.context_window,
		                       .price_input = c.price_input, .price_output = c.price_output,
		                       .is_default = def && strcmp(def, m->string) == 0,
		                       .fallback = fb, .endpoints = eps, .n_endpoints = neps,
		                       .balance = c.bal ? rdb_balance_name(rdb_balancer_policy(c.bal)) : "",
		                       .embedder = c.embedding || kb_emb};
		int stop = cb(ctx, &mi);
		rdb_model_cfg_clear(&c);
		if (stop)
			break;
	}
	cJSON_Delete(j);
	return st == RAGDB_OK ? RAGDB_OK : rdb_fail(db, &e);
}
