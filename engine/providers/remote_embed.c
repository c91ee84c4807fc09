/*
 * engine/providers/remote_embed.c — embedders that call a provider over
 * HTTP: OpenAI-compatible /embeddings, Ollama /api/embed, HuggingFace
 * (TEI /embed, or the hosted feature-extraction API), Gemini
 * batchEmbedContents.
 *
 * One embed() call cuts its texts into the provider's batch size and sends
 * the batches at once (up to cfg.parallel in flight, curl multi); several
 * ingest workers calling embed() at the same time add to that. Texts over
 * max_input_bytes are cut at a UTF-8 boundary before sending (a provider
 * answers an over-long input with an error, llama.cpp with HTTP 500) and
 * counted in n_truncated. Every vector that comes back is checked (count,
 * dimension, finite numbers) and L2-normalised here, whatever the provider
 * says it did.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "engine/providers/config.h"
#include "engine/providers/embedder.h"
#include "engine/providers/http.h"
#include "engine/providers/llm_cache.h"
#include "engine/providers/metrics.h"
#include "index/ecache.h"

typedef struct remote_emb {
	rdb_embedder base;
	rdb_model_cfg cfg;
	int send_dims;      /* ask the provider for base.dim dimensions */
} remote_emb;

/* Cut @p len to at most @p max bytes without splitting a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	size_t n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return n;
}

static const char *task_type(rdb_embed_purpose p)
{
	return p == RDB_EMBED_QUERY ? "RETRIEVAL_QUERY" : "RETRIEVAL_DOCUMENT";
}

/* The request body for texts [0, n). NULL on out of memory. */
static char *build_body(const remote_emb *r, const char *const *texts, const size_t *lens,
                        size_t n, rdb_embed_purpose purpose)
{
	cJSON *root = cJSON_CreateObject(), *arr = NULL;
	char *out = NULL;
	if (!root)
		return NULL;
	const rdb_model_cfg *c = &r->cfg;
	char *tmp = NULL;
	switch (c->provider) {
	case RDB_PROV_OPENAI:
		cJSON_AddStringToObject(root, "model", c->model);
		arr = cJSON_AddArrayToObject(root, "input");
		cJSON_AddStringToObject(root, "encoding_format", "float");
		if (r->send_dims)
			cJSON_AddNumberToObject(root, "dimensions", r->base.dim);
		break;
	case RDB_PROV_OLLAMA:
		cJSON_AddStringToObject(root, "model", c->model);
		arr = cJSON_AddArrayToObject(root, "input");
		cJSON_AddBoolToObject(root, "truncate", 1);
		if (r->send_dims)
			cJSON_AddNumberToObject(root, "dimensions", r->base.dim);
		break;
	case RDB_PROV_HUGGINGFACE:
		arr = cJSON_AddArrayToObject(root, "inputs");
		cJSON_AddBoolToObject(root, "normalize", 1);
		cJSON_AddBoolToObject(root, "truncate", 1);
		if (r->send_dims)
			cJSON_AddNumberToObject(root, "dimensions", r->base.dim);
		break;
	case RDB_PROV_GEMINI:
		arr = cJSON_AddArrayToObject(root, "requests");
		break;
	default:
		goto out;
	}
	if (!arr)
		goto out;
	for (size_t i = 0; i < n; i++) {
		size_t len = utf8_cut(texts[i], lens[i], c->max_input_bytes);
		tmp = malloc(len + 1);
		if (!tmp)
			goto out;
		memcpy(tmp, texts[i], len);
		tmp[len] = 0;
		/* A NUL inside a text would end it early in JSON terms: keep what
		 * precedes it (cJSON takes C strings). */
		cJSON *item;
		if (c->provider == RDB_PROV_GEMINI) {
			item = cJSON_CreateObject();
			char mname[300];
			snprintf(mname, sizeof mname, "%s%s", strncmp(c->model, "models/", 7) ? "models/" : "",
			         c->model);
			cJSON_AddStringToObject(item, "model", mname);
			cJSON *content = cJSON_AddObjectToObject(item, "content");
			cJSON *parts = content ? cJSON_AddArrayToObject(content, "parts") : NULL;
			cJSON *part = cJSON_CreateObject();
			cJSON_AddStringToObject(part, "text", tmp);
			if (!parts || !cJSON_AddItemToArray(parts, part))
				cJSON_Delete(part);
			cJSON_AddStringToObject(item, "taskType", task_type(purpose));
			if (r->send_dims)
				cJSON_AddNumberToObject(item, "outputDimensionality", r->base.dim);
		} else {
			item = cJSON_CreateString(tmp);
		}
		free(tmp);
		tmp = NULL;
		if (!item || !cJSON_AddItemToArray(arr, item)) {
			cJSON_Delete(item);
			goto out;
		}
	}
	out = cJSON_PrintUnformatted(root);
out:
	free(tmp);
	cJSON_Delete(root);
	return out;
}

static char *build_url(const remote_emb *r)
{
	const rdb_model_cfg *c = &r->cfg;
	char *u = NULL;
	int n = -1;
	switch (c->provider) {
	case RDB_PROV_OPENAI:
		n = asprintf(&u, "%s/embeddings", c->endpoint);
		break;
	case RDB_PROV_OLLAMA:
		n = asprintf(&u, "%s/api/embed", c->endpoint);
		break;
	case RDB_PROV_HUGGINGFACE:
		if (c->endpoint)
			n = asprintf(&u, "%s/embed", c->endpoint);
		else
			n = asprintf(&u, "https://router.huggingface.co/hf-inference/models/%s/pipeline/feature-extraction",
			             c->model);
		break;
	case RDB_PROV_GEMINI:
		n = asprintf(&u, "%s/v1beta/%s%s:batchEmbedContents", c->endpoint,
		             strncmp(c->model, "models/", 7) ? "models/" : "", c->model);
		break;
	default:
		break;
	}
	return n < 0 ? NULL : u;
}

/* Quote the start of a body in a message. */
static void snippet(const char *body, size_t len, char *out, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < len && n + 4 < cap; i++) {
		unsigned char ch = (unsigned char)body[i];
		out[n++] = ch < 0x20 ? ' ' : (char)ch;
	}
	if (len > n && n + 4 <= cap) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = 0;
}

/* Copy one vector, checking it, and L2-normalise it. *dim 0 = learn it. */
static ragdb_status take_vector(const remote_emb *r, cJSON *v, uint32_t *dim, float *out,
                                size_t row, const char *url, rdb_err *err)
{
	const char *what = r->cfg.name;
	if (!cJSON_IsArray(v))
		return rdb_err_set(err, RAGDB_EEMBEDDER,
		                   "%s: malformed response from %s: embedding %zu is not an array of numbers",
		                   what, url, row + 1);
	int n = cJSON_GetArraySize(v);
	if (n <= 0)
		return rdb_err_set(err, RAGDB_EEMBEDDER, "%s: %s returned an empty embedding for text %zu",
		                   what, url, row + 1);
	if (*dim == 0) {
		if (n > 65536)
			return rdb_err_set(err, RAGDB_EEMBEDDER, "%s: %s returned %d dimensions; at most 65536 are supported",
			                   what, url, n);
		*dim = (uint32_t)n;
		return RAGDB_OK; /* the probe: the caller only wants the size */
	}
	if ((uint32_t)n != *dim)
		return rdb_err_set(err, RAGDB_EEMBEDDER,
		                   "%s: %s returned vectors of %d dimensions, expected %u (the knowledge base's); "
		                   "the endpoint serves another model than the one this knowledge base was built with, "
		                   "or ignores the dimensions setting",
		                   what, url, n, *dim);
	double ss = 0;
	int i = 0;
	cJSON *x;
	float *o = out + row * (size_t)*dim;
	cJSON_ArrayForEach(x, v) {
		/* A double past FLT_MAX has no float (the conversion is undefined). */
		if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble) || fabs(x->valuedouble) > FLT_MAX)
			return rdb_err_set(err, RAGDB_EEMBEDDER,
			                   "%s: malformed response from %s: embedding %zu has a non-number or a number out of float range at position %d",
			                   what, url, row + 1, i + 1);
		o[i] = (float)x->valuedouble;
		ss += (double)o[i] * o[i];
		i++;
	}
	if (ss > 0) {
		/* In double: for tiny vectors 1/|v| is past FLT_MAX. */
		double inv = 1.0 / sqrt(ss);
		for (uint32_t k = 0; k < *dim; k++)
			o[k] = (float)(o[k] * inv);
	}
	return RAGDB_OK;
}

/* Parse one response holding @p n vectors into out (rows of *dim). */
static ragdb_status parse_response(const remote_emb *r, const char *body, size_t len, size_t n,
                                   uint32_t *dim, float *out, const char *url, rdb_err *err)
{
	const char *what = r->cfg.name;
	char snip[240];
	ragdb_status st = RAGDB_OK;
	cJSON *root = cJSON_ParseWithLength(body, len);
	if (!root) {
		snippet(body, len, snip, sizeof snip);
		return rdb_err_set(err, RAGDB_EEMBEDDER, "%s: malformed JSON from %s: \"%s\"", what, url, snip);
	}
	cJSON *rows = NULL;
	uint8_t *seen = NULL; /* rows filled (openai's indexes may repeat one) */
	int openai = r->cfg.provider == RDB_PROV_OPENAI;
	switch (r->cfg.provider) {
	case RDB_PROV_OPENAI:
		rows = cJSON_GetObjectItemCaseSensitive(root, "data");
		break;
	case RDB_PROV_OLLAMA:
		rows = cJSON_GetObjectItemCaseSensitive(root, "embeddings");
		break;
	case RDB_PROV_HUGGINGFACE:
		rows = root;
		break;
	case RDB_PROV_GEMINI:
		rows = cJSON_GetObjectItemCaseSensitive(root, "embeddings");
		break;
	default:
		break;
	}
	if (!cJSON_IsArray(rows)) {
		char ptext[400];
		rdb_http_error_text(body, len, ptext, sizeof ptext);
		st = rdb_err_set(err, RAGDB_EEMBEDDER, "%s: unexpected response from %s (no embeddings in it): \"%s\"",
		                 what, url, ptext);
		goto out;
	}
	int got = cJSON_GetArraySize(rows);
	if (got != (int)n) {
		st = rdb_err_set(err, RAGDB_EEMBEDDER, "%s: %s returned %d embeddings for %zu texts%s", what, url,
		                 got, n, got == 0 ? " (an empty response)" : "");
		goto out;
	}
	int i = 0;
	cJSON *row;
	seen = out ? calloc(n ? n : 1, 1) : NULL;
	if (out && !seen) {
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(row, rows) {
		cJSON *v = row;
		size_t at = (size_t)i;
		if (openai) {
			/* data[] carries an index: place each vector by it. */
			cJSON *idx = cJSON_GetObjectItemCaseSensitive(row, "index");
			v = cJSON_GetObjectItemCaseSensitive(row, "embedding");
			if (cJSON_IsNumber(idx)) {
				if (idx->valuedouble < 0 || idx->valuedouble >= (double)n) {
					st = rdb_err_set(err, RAGDB_EEMBEDDER, "%s: %s returned an embedding with index %g for %zu texts",
					                 what, url, idx->valuedouble, n);
					goto out;
				}
				at = (size_t)idx->valuedouble;
			}
			if (cJSON_IsString(v)) {
				st = rdb_err_set(err, RAGDB_EEMBEDDER,
				                 "%s: %s returned base64 embeddings although floats were asked for", what, url);
				goto out;
			}
		} else if (r->cfg.provider == RDB_PROV_GEMINI) {
			v = cJSON_GetObjectItemCaseSensitive(row, "values");
		}
		if (seen && seen[at]) {
			st = rdb_err_set(err, RAGDB_EEMBEDDER, "%s: %s returned two embeddings for text %zu",
			                 what, url, at + 1);
			goto out;
		}
		if ((st = take_vector(r, v, dim, out, at, url, err)) != RAGDB_OK)
			goto out;
		if (!out)
			goto out; /* the probe */
		seen[at] = 1;
		i++;
	}
out:
	free(seen);
	cJSON_Delete(root);
	return st;
}

/* Headers for one request; keys are written into @p hdrbuf (wiped by the caller). */
static size_t make_headers(const remote_emb *r, const char *key, char hdrbuf[2][1024],
                           const char *hdrs[2])
{
	size_t nh = 0;
	if (!key)
		return 0;
	switch (r->cfg.provider) {
	case RDB_PROV_OPENAI:
	case RDB_PROV_HUGGINGFACE:
		snprintf(hdrbuf[nh], sizeof hdrbuf[nh], "Authorization: Bearer %s", key);
		hdrs[nh] = hdrbuf[nh];
		nh++;
		break;
	case RDB_PROV_GEMINI:
		snprintf(hdrbuf[nh], sizeof hdrbuf[nh], "x-goog-api-key: %s", key);
		hdrs[nh] = hdrbuf[nh];
		nh++;
		break;
	case RDB_PROV_OLLAMA:
		snprintf(hdrbuf[nh], sizeof hdrbuf[nh], "Authorization: Bearer %s", key);
		hdrs[nh] = hdrbuf[nh];
		nh++;
		break;
	default:
		break;
	}
	return nh;
}

/* Whether a missing key is an error: hosted APIs need one; a local
 * OpenAI-compatible server or TEI usually does not. */
static int key_required(const rdb_model_cfg *c)
{
	switch (c->provider) {
	case RDB_PROV_OPENAI:
		return c->endpoint && strstr(c->endpoint, "api.openai.com") != NULL;
	case RDB_PROV_GEMINI:
		return 1;
	case RDB_PROV_HUGGINGFACE:
		return c->endpoint == NULL;
	default:
		return 0;
	}
}

/* Send texts [0, n) to the provider (no persistent cache). */
static ragdb_status remote_embed_net(rdb_embedder *e, const char *const *texts, const size_t *lens,
                                     size_t n, rdb_embed_purpose purpose, float *out, rdb_err *err)
{
	remote_emb *r = (remote_emb *)e;
	const rdb_model_cfg *c = &r->cfg;
	if (n == 0)
		return RAGDB_OK;
	/* A query embedded before (same provider, endpoint, model, dimension)
	 * comes from the process's cache: repeated questions to a server cost
	 * no embedding call. Documents are not cached here: an unchanged
	 * document is skipped before it is embedded. */
	char mid[300];
	snprintf(mid, sizeof mid, "%s:%s", rdb_provider_name(c->provider), c->model);
	rdb_cache_key ekey = {0, 0};
	int ecache = n == 1 && purpose == RDB_EMBED_QUERY && e->dim > 0 && out && lens[0] > 0 &&
	             c->cache.max_entries > 0 && !e->cache;
	if (ecache) {
		char dimb[16];
		snprintf(dimb, sizeof dimb, "%u", e->dim);
		const char *parts[6] = {"embed", rdb_provider_name(c->provider), c->endpoint ? c->endpoint : "",
		                        c->model, dimb, texts[0]};
		size_t pl[6];
		for (int i = 0; i < 5; i++)
			pl[i] = strlen(parts[i]);
		pl[5] = lens[0];
		ekey = rdb_llm_cache_key_n(parts, pl, 6);
		char *cv = NULL, stop[32];
		size_t cl = 0;
		int hit = rdb_llm_cache_get(ekey, (int64_t)time(NULL), &cv, &cl, stop) &&
		          cl == (size_t)e->dim * sizeof(float);
		if (hit)
			memcpy(out, cv, cl);
		free(cv);
		rdb_metrics_cache_kind(mid, RDB_METRIC_EMBED, hit);
		if (hit)
			return RAGDB_OK;
	}
	size_t bs = c->batch_size ? c->batch_size : 32;
	size_t nb = (n + bs - 1) / bs;
	ragdb_status st = RAGDB_OK;
	int called = 0;
	double t0 = 0;
	char *key = NULL, *url = NULL;
	char hdrbuf[2][1024];
	const char *hdrs[2];
	size_t nh = 0;
	rdb_http_req *reqs = calloc(nb, sizeof *reqs);
	rdb_http_resp *resps = calloc(nb, sizeof *resps);
	char **bodies = calloc(nb, sizeof *bodies);
	/* Texts that arrive empty get a zero vector without asking (providers
	 * reject empty inputs); the others are packed. */
	if (!reqs || !resps || !bodies) {
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory embedding %zu texts", n);
		goto out_free;
	}
	if ((st = rdb_model_key(c, &key, err)) != RAGDB_OK)
		goto out_free;
	if (!key && key_required(c)) {
		st = rdb_err_set(err, RAGDB_EPERM, "%s: no API key; set %s (or api_key in ragdb.json)", c->name,
		                 c->key_var ? c->key_var : "the provider's key variable");
		goto out_free;
	}
	nh = make_headers(r, key, hdrbuf, hdrs);
	url = build_url(r);
	if (!url) {
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory");
		goto out_free;
	}
	char key_hint[160];
	snprintf(key_hint, sizeof key_hint, "check the API key in %s (or api_key in ragdb.json)",
	         c->key_var ? c->key_var : "the provider's variable");
	for (size_t b = 0; b < nb; b++) {
		size_t from = b * bs, m = n - from < bs ? n - from : bs;
		for (size_t i = from; i < from + m; i++)
			if (lens[i] > c->max_input_bytes)
				__atomic_fetch_add(&e->n_truncated, 1, __ATOMIC_RELAXED);
		bodies[b] = build_body(r, texts + from, lens + from, m, purpose);
		if (!bodies[b]) {
			st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory building an embedding request");
			goto out_free;
		}
		reqs[b].url = url;
		reqs[b].body = bodies[b];
		reqs[b].body_len = strlen(bodies[b]);
		reqs[b].headers = hdrs;
		reqs[b].n_headers = nh;
		reqs[b].what = c->name;
		reqs[b].key_hint = key_hint;
		reqs[b].bal = c->bal;
	}
	t0 = rdb_metrics_now_ms();
	called = 1;
	st = rdb_http_run(reqs, resps, nb, c->parallel ? c->parallel : 4, &c->http, err);
	if (st != RAGDB_OK) {
		/* The status of the transport says what kind; embedding callers see
		 * an embedder failure with that message. */
		st = RAGDB_EEMBEDDER;
		if (err)
			err->status = st;
		goto out_free;
	}
	for (size_t b = 0; b < nb && st == RAGDB_OK; b++) {
		size_t from = b * bs, m = n - from < bs ? n - from : bs;
		uint32_t dim = e->dim;
		st = parse_response(r, resps[b].body, resps[b].len, m, &dim, out ? out + from * (size_t)e->dim : NULL,
		                    url, err);
		if (st == RAGDB_OK && e->dim == 0)
			e->dim = dim; /* the probe at open */
	}
	if (ecache && st == RAGDB_OK)
		rdb_llm_cache_put_mem(ekey, (const char *)out, (size_t)e->dim * sizeof(float), "", &c->cache,
		                  (int64_t)time(NULL));
out_free:
	if (called) {
		long hs = 0;
		for (size_t b = 0; b < nb && st != RAGDB_OK; b++)
			if (resps[b].status && (resps[b].status < 200 || resps[b].status >= 300)) {
				hs = resps[b].status;
				break;
			}
		rdb_metrics_record(mid, RDB_METRIC_EMBED, nb, st, hs, err ? err->msg : NULL,
		                   rdb_metrics_now_ms() - t0, 0, 0, 0);
	}
	for (size_t b = 0; b < nb && bodies; b++)
		free(bodies[b]);
	for (size_t b = 0; b < nb && resps; b++)
		rdb_http_resp_clear(&resps[b]);
	free(bodies);
	free(resps);
	free(reqs);
	free(url);
	rdb_key_free(key);
	memset(hdrbuf, 0, sizeof hdrbuf);
	__asm__ __volatile__("" ::"r"(hdrbuf) : "memory"); /* keep the wipe */
	return st;
}

/* The persistent cache's key for one text: the embedder's identity
 * without its endpoint (the same model served elsewhere gives the same
 * vectors), the dimension, the task type, and the exact bytes sent. */
static rdb_ekey vec_key(const remote_emb *r, rdb_embed_purpose purpose, const char *text,
                        size_t len)
{
	const rdb_model_cfg *c = &r->cfg;
	char dimb[16];
	snprintf(dimb, sizeof dimb, "%u", r->base.dim);
	const char *parts[6] = {"vec1", rdb_provider_name(c->provider), c->model, dimb,
	                        purpose == RDB_EMBED_QUERY ? "query" : "document", text};
	size_t pl[6];
	for (int i = 0; i < 5; i++)
		pl[i] = strlen(parts[i]);
	pl[5] = utf8_cut(text, len, c->max_input_bytes);
	rdb_cache_key k = rdb_llm_cache_key_n(parts, pl, 6);
	rdb_ekey ek = {k.lo, k.hi};
	return ek;
}

/* Texts found in the persistent cache cost no call; the others are sent in
 * one go and stored (one write txn per call). */
static ragdb_status remote_embed(rdb_embedder *e, const char *const *texts, const size_t *lens,
                                 size_t n, rdb_embed_purpose purpose, float *out, rdb_err *err)
{
	remote_emb *r = (remote_emb *)e;
	if (!e->cache || !out || e->dim == 0 || n == 0)
		return remote_embed_net(e, texts, lens, n, purpose, out, err);
	size_t dim = e->dim;
	ragdb_status st = RAGDB_OK;
	rdb_ekey *keys = malloc(n * sizeof *keys);
	uint8_t *hit = malloc(n);
	const char **mt = malloc(n * sizeof *mt);
	size_t *ml = malloc(n * sizeof *ml);
	float *mv = NULL;
	if (!keys || !hit || !mt || !ml) {
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory embedding %zu texts", n);
		goto out_free;
	}
	for (size_t i = 0; i < n; i++)
		keys[i] = vec_key(r, purpose, texts[i], lens[i]);
	size_t hits = rdb_ecache_get_vecs(e->cache, keys, n, e->dim, out, hit);
	if (n == 1 && purpose == RDB_EMBED_QUERY) {
		char mid[300];
		snprintf(mid, sizeof mid, "%s:%s", rdb_provider_name(r->cfg.provider), r->cfg.model);
		rdb_metrics_cache_kind(mid, RDB_METRIC_EMBED, hits == 1);
	}
	if (hits == n)
		goto out_free;
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (!hit[i]) {
			mt[m] = texts[i];
			ml[m++] = lens[i];
		}
	if (m > SIZE_MAX / sizeof(float) / dim || !(mv = malloc(m * dim * sizeof(float)))) {
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory embedding %zu texts", n);
		goto out_free;
	}
	if ((st = remote_embed_net(e, mt, ml, m, purpose, mv, err)) != RAGDB_OK)
		goto out_free;
	for (size_t i = 0, j = 0; i < n; i++)
		if (!hit[i])
			memcpy(out + i * dim, mv + j++ * dim, dim * sizeof(float));
	/* Empty texts are not worth a cache entry. */
	for (size_t i = 0; i < n; i++)
		if (!hit[i] && lens[i] == 0)
			hit[i] = 1;
	rdb_ecache_put_vecs(e->cache, keys, n, e->dim, out, hit);
out_free:
	free(keys);
	free(hit);
	free(mt);
	free(ml);
	free(mv);
	return st;
}

static void remote_close(rdb_embedder *e)
{
	remote_emb *r = (remote_emb *)e;
	if (!r)
		return;
	rdb_model_cfg_clear(&r->cfg);
	free(r);
}

static const struct rdb_embedder_ops REMOTE_OPS = {remote_embed, remote_close};

ragdb_status rdb_remote_embedder_open(const rdb_config *cfg, const char *spec, const char *endpoint,
                                      uint32_t dim, rdb_embedder **out, rdb_err *err)
{
	remote_emb *r = calloc(1, sizeof *r);
	if (!r)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory opening embedder %s", spec);
	ragdb_status st = rdb_config_resolve(cfg, spec, endpoint, &r->cfg, err);
	if (st != RAGDB_OK) {
		free(r);
		return st;
	}
	rdb_model_cfg *c = &r->cfg;
	if (c->provider == RDB_PROV_ANTHROPIC) {
		st = rdb_err_set(err, RAGDB_EINVAL,
		                 "%s: Anthropic offers no embedding models; embed with openai, ollama, huggingface or gemini",
		                 spec);
		goto out_fail;
	}
	if (strlen(rdb_provider_name(c->provider)) >= sizeof r->base.name ||
	    strlen(c->model) >= sizeof r->base.model) {
		st = rdb_err_set(err, RAGDB_EINVAL, "%s: the model name is longer than %zu characters", spec,
		                 sizeof r->base.model - 1);
		goto out_fail;
	}
	r->base.ops = &REMOTE_OPS;
	snprintf(r->base.name, sizeof r->base.name, "%s", rdb_provider_name(c->provider));
	snprintf(r->base.model, sizeof r->base.model, "%s", c->model);
	r->base.max_input = c->max_input_bytes;
	r->base.batch_max = (size_t)c->batch_size * (c->parallel ? c->parallel : 1);
	r->base.remote = 1;
	if (dim > 65536) {
		st = rdb_err_set(err, RAGDB_EINVAL, "dimension %u is out of range; use 1..65536", dim);
		goto out_fail;
	}
	/* Which models take a dimension: OpenAI's text-embedding-3 family and
	 * Gemini's embedding models (outputDimensionality); any model whose
	 * configuration sets "dimensions". */
	if (c->dimensions && dim && c->dimensions != dim) {
		st = rdb_err_set(err, RAGDB_EINVAL,
		                 "%s: the configuration asks for %u dimensions but %u were asked for (the knowledge base's or --dim); make them agree",
		                 spec, c->dimensions, dim);
		goto out_fail;
	}
	if (!dim)
		dim = c->dimensions;
	int takes_dims = c->dimensions ||
	                 (c->provider == RDB_PROV_OPENAI && strncmp(c->model, "text-embedding-3", 16) == 0) ||
	                 c->provider == RDB_PROV_GEMINI;
	r->send_dims = takes_dims && dim;
	r->base.dim = dim;
	if (dim == 0) {
		/* Learn the dimension from one request (only at creation: a
		 * knowledge base records it, and reopening passes it). */
		static const char *probe[] = {"dimension probe"};
		size_t plen = strlen(probe[0]);
		st = remote_embed_net(&r->base, probe, &plen, 1, RDB_EMBED_DOCUMENT, NULL, err);
		if (st != RAGDB_OK) {
			rdb_err_prefix(err, "cannot learn the dimension of %s (or give --dim)", spec);
			goto out_fail;
		}
	}
	*out = &r->base;
	return RAGDB_OK;
out_fail:
	remote_close(&r->base);
	return st;
}

/* For tests/fuzz (providers/parse_entry.h): parse_response for provider @p p. */
ragdb_status rdb_embed_parse_answer(rdb_provider p, const char *body, size_t len, size_t n,
                                    uint32_t *dim, float *out, rdb_err *err)
{
	remote_emb r;
	memset(&r, 0, sizeof r);
	r.cfg.provider = p;
	r.cfg.name = (char *)"fuzz";
	return parse_response(&r, body, len, n, dim, out, "-", err);
}
