/*
 * engine/providers/config.c — ragdb.json, provider defaults and the
 * precedence flag > environment > file > default (see config.h).
 */
#include "engine/providers/config.h"
#include "engine/providers/balance.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

struct rdb_config {
	char *path;
	cJSON *root;      /* the parsed file (NULL: none) */
	cJSON *models;    /* root.models: an object name -> model, or an array */
	char *default_model;
};

typedef struct prov_info {
	const char *name;
	const char *base_env;     /* endpoint variable, or NULL */
	const char *base_default;
	const char *key_env;      /* key variable, or NULL */
	const char *key_env2;     /* a second accepted key variable */
	uint32_t batch;           /* texts per embedding request */
	size_t max_input;         /* bytes per embedding input */
} prov_info;

/* Batch sizes are the providers' documented limits or lower: OpenAI takes
 * 2048 inputs but ~300k tokens per request, so 256 chunks of ~1k tokens fit;
 * TEI's default max_client_batch_size is 32; Gemini's batchEmbedContents
 * takes 100. Input caps are bytes, set below each model family's token
 * window at a pessimistic 3 bytes per token (OpenAI 8191 tokens, Gemini
 * 2048, BERT-size TEI models 512, Ollama's embedding models 2048..8192
 * with truncation on their side too). */
static const prov_info PROVS[RDB_PROV_COUNT] = {
	[RDB_PROV_OPENAI] = {"openai", "OPENAI_BASE_URL", "https://api.openai.com/v1", "OPENAI_API_KEY",
	                     NULL, 256, 24000},
	[RDB_PROV_ANTHROPIC] = {"anthropic", "ANTHROPIC_BASE_URL", "https://api.anthropic.com",
	                        "ANTHROPIC_API_KEY", NULL, 0, 0},
	[RDB_PROV_OLLAMA] = {"ollama", "OLLAMA_HOST", "http://127.0.0.1:11434", NULL, NULL, 64, 6000},
	[RDB_PROV_GEMINI] = {"gemini", "GEMINI_BASE_URL", "https://generativelanguage.googleapis.com",
	                     "GEMINI_API_KEY", "GOOGLE_API_KEY", 100, 6000},
	[RDB_PROV_HUGGINGFACE] = {"huggingface", "HF_INFERENCE_ENDPOINT", NULL, "HF_TOKEN", NULL, 32,
	                          1500},
};

const char *rdb_provider_name(rdb_provider p)
{
	return p < RDB_PROV_COUNT ? PROVS[p].name : "?";
}

int rdb_provider_parse(const char *s, size_t n)
{
	for (int i = 0; i < RDB_PROV_COUNT; i++)
		if (strlen(PROVS[i].name) == n && strncmp(PROVS[i].name, s, n) == 0)
			return i;
	if (n == 2 && strncmp(s, "hf", 2) == 0)
		return RDB_PROV_HUGGINGFACE;
	if (n == 3 && strncmp(s, "tei", 3) == 0)
		return RDB_PROV_HUGGINGFACE;
	return -1;
}

void rdb_config_free(rdb_config *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->default_model);
	cJSON_Delete(c->root);
	free(c);
}

const char *rdb_config_path(const rdb_config *c)
{
	return c ? c->path : NULL;
}

const char *rdb_config_default_model(const rdb_config *c)
{
	return c ? c->default_model : NULL;
}

ragdb_status rdb_config_load(const char *path, int required, rdb_config **out, rdb_err *err)
{
	rdb_config *c = calloc(1, sizeof *c);
	if (!c)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory loading the configuration");
	ragdb_status st = RAGDB_OK;
	char *text = NULL;
	FILE *f = NULL;
	if (!path)
		goto out_ok;
	f = fopen(path, "rb");
	if (!f) {
		if (errno == ENOENT && !required)
			goto out_ok;
		st = rdb_err_set(err, errno == ENOENT ? RAGDB_ENOTFOUND : errno == EACCES ? RAGDB_EPERM : RAGDB_EIO,
		                 "configuration file %s: cannot open it: %s", path, strerror(errno));
		goto out_fail;
	}
	text = malloc(RDB_CONFIG_MAX_BYTES + 1);
	if (!text) {
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory reading %s", path);
		goto out_fail;
	}
	size_t n = fread(text, 1, RDB_CONFIG_MAX_BYTES + 1, f);
	if (ferror(f)) {
		st = rdb_err_set(err, RAGDB_EIO, "configuration file %s: read failed", path);
		goto out_fail;
	}
	if (n > RDB_CONFIG_MAX_BYTES) {
		st = rdb_err_set(err, RAGDB_EINVAL, "configuration file %s is larger than %u bytes; is it the right file?",
		                 path, RDB_CONFIG_MAX_BYTES);
		goto out_fail;
	}
	text[n] = 0;
	const char *ep = NULL;
	c->root = cJSON_ParseWithOpts(text, &ep, 0);
	if (!c->root || !cJSON_IsObject(c->root)) {
		size_t off = ep && !c->root ? (size_t)(ep - text) : 0;
		size_t line = 1;
		for (size_t i = 0; i < off && i < n; i++)
			line += text[i] == '\n';
		if (c->root)
			st = rdb_err_set(err, RAGDB_EINVAL,
			                 "configuration file %s: expected a JSON object at the top level", path);
		else
			st = rdb_err_set(err, RAGDB_EINVAL,
			                 "configuration file %s: malformed JSON near line %zu; fix the file", path,
			                 line);
		goto out_fail;
	}
	c->models = cJSON_GetObjectItemCaseSensitive(c->root, "models");
	if (c->models && !cJSON_IsObject(c->models) && !cJSON_IsArray(c->models)) {
		st = rdb_err_set(err, RAGDB_EINVAL,
		                 "configuration file %s: \"models\" must be an object of named models", path);
		goto out_fail;
	}
	cJSON *dm = cJSON_GetObjectItemCaseSensitive(c->root, "default_model");
	if (cJSON_IsString(dm) && dm->valuestring[0]) {
		c->default_model = strdup(dm->valuestring);
		if (!c->default_model) {
			st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory");
			goto out_fail;
		}
	}
	c->path = strdup(path);
	if (!c->path) {
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory");
		goto out_fail;
	}
out_ok:
	if (f)
		fclose(f);
	free(text);
	*out = c;
	return RAGDB_OK;
out_fail:
	if (f)
		fclose(f);
	free(text);
	rdb_config_free(c);
	return st;
}

void rdb_model_cfg_clear(rdb_model_cfg *m)
{
	if (!m)
		return;
	free(m->name);
	free(m->model);
	free(m->endpoint);
	free(m->api_key);
	memset(m, 0, sizeof *m);
}

static cJSON *find_named(const rdb_config *c, const char *name)
{
	if (!c || !c->models)
		return NULL;
	if (cJSON_IsObject(c->models))
		return cJSON_GetObjectItemCaseSensitive(c->models, name);
	cJSON *it;
	cJSON_ArrayForEach(it, c->models) {
		cJSON *n = cJSON_GetObjectItemCaseSensitive(it, "name");
		if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
			return it;
	}
	return NULL;
}

/* A configured entry for provider+model (settings such as prices given
 * for "anthropic:claude-x" without the user naming the entry). */
static cJSON *find_by_model(const rdb_config *c, rdb_provider p, const char *model)
{
	if (!c || !c->models)
		return NULL;
	cJSON *it;
	cJSON_ArrayForEach(it, c->models) {
		cJSON *pv = cJSON_GetObjectItemCaseSensitive(it, "provider");
		cJSON *mv = cJSON_GetObjectItemCaseSensitive(it, "model");
		if (cJSON_IsString(pv) && cJSON_IsString(mv) &&
		    rdb_provider_parse(pv->valuestring, strlen(pv->valuestring)) == (int)p &&
		    strcmp(mv->valuestring, model) == 0)
			return it;
	}
	return NULL;
}

static const char *env_nonempty(const char *var)
{
	const char *v = var ? getenv(var) : NULL;
	return v && *v ? v : NULL;
}

/* Base URL without a trailing slash; OLLAMA_HOST may be "host:port". */
static char *norm_endpoint(const char *s)
{
	size_t n = strlen(s);
	while (n > 0 && s[n - 1] == '/')
		n--;
	int has_scheme = strstr(s, "://") != NULL;
	char *out = malloc(n + 8 + 1);
	if (!out)
		return NULL;
	snprintf(out, n + 9, "%s%.*s", has_scheme ? "" : "http://", (int)n, s);
	return out;
}

static ragdb_status get_num(const char *path, const char *name, cJSON *o, const char *field,
                            double min, double max, double *out, rdb_err *err)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, field);
	if (!v)
		return RAGDB_OK;
	if (!cJSON_IsNumber(v) || !(v->valuedouble >= min && v->valuedouble <= max))
		return rdb_err_set(err, RAGDB_EINVAL,
		                   "configuration file %s: model \"%s\": \"%s\" must be a number from %g to %g",
		                   path ? path : "-", name, field, min, max);
	*out = v->valuedouble;
	return RAGDB_OK;
}

static ragdb_status apply_http(const char *path, const char *name, cJSON *o, rdb_http_opts *h,
                               rdb_err *err)
{
	double t = -1, ct = -1, r = -1;
	ragdb_status st;
	if ((st = get_num(path, name, o, "timeout", 0.001, 86400, &t, err)) ||
	    (st = get_num(path, name, o, "connect_timeout", 0.001, 3600, &ct, err)) ||
	    (st = get_num(path, name, o, "max_retries", 0, 100, &r, err)))
		return st;
	if (t > 0)
		h->timeout_ms = (long)(t * 1000);
	if (ct > 0)
		h->connect_timeout_ms = (long)(ct * 1000);
	if (r >= 0)
		h->max_retries = r == 0 ? -1 : (int)r;
	return RAGDB_OK;
}

/* The LLM answer cache's limits: defaults, then the file's "cache". */
static ragdb_status apply_cache(const rdb_config *c, rdb_cache_opts *o, rdb_err *err)
{
	o->ttl_s = RDB_CACHE_DEFAULT_TTL_S;
	o->max_entries = RDB_CACHE_DEFAULT_ENTRIES;
	o->max_bytes = RDB_CACHE_DEFAULT_BYTES;
	cJSON *co = c && c->root ? cJSON_GetObjectItemCaseSensitive(c->root, "cache") : NULL;
	if (!co)
		return RAGDB_OK;
	if (!cJSON_IsObject(co))
		return rdb_err_set(err, RAGDB_EINVAL,
		                   "configuration file %s: \"cache\" must be an object like {\"ttl_seconds\": 3600, \"max_entries\": 1000, \"max_bytes\": 67108864}",
		                   c->path ? c->path : "-");
	double t = -1, e = -1, b = -1;
	ragdb_status st;
	if ((st = get_num(c->path, "cache", co, "ttl_seconds", 0, 1e9, &t, err)) ||
	    (st = get_num(c->path, "cache", co, "max_entries", 0, 1e7, &e, err)) ||
	    (st = get_num(c->path, "cache", co, "max_bytes", 0, 1e12, &b, err)))
		return st;
	if (t >= 0)
		o->ttl_s = (long)t;
	if (e >= 0)
		o->max_entries = (size_t)e;
	if (b >= 0)
		o->max_bytes = (size_t)b;
	return RAGDB_OK;
}

static ragdb_status dup_field(cJSON *o, const char *field, char **dst, const char *path,
                              const char *name, rdb_err *err)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, field);
	if (!v)
		return RAGDB_OK;
	if (!cJSON_IsString(v))
		return rdb_err_set(err, RAGDB_EINVAL, "configuration file %s: model \"%s\": \"%s\" must be a string",
		                   path ? path : "-", name, field);
	char *s = strdup(v->valuestring);
	if (!s)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory");
	free(*dst);
	*dst = s;
	return RAGDB_OK;
}

/* "endpoints" (with "endpoint" first when both are given) and "balance":
 * the process-wide balancer when two or more distinct endpoints remain.
 * m->endpoint becomes the first. */
static ragdb_status apply_endpoints(const char *path, const char *name, cJSON *entry,
                                    rdb_model_cfg *m, rdb_err *err)
{
	cJSON *eps = cJSON_GetObjectItemCaseSensitive(entry, "endpoints");
	cJSON *bv = cJSON_GetObjectItemCaseSensitive(entry, "balance");
	int pol = RDB_BAL_ROUND_ROBIN;
	if (bv && (!cJSON_IsString(bv) || (pol = rdb_balance_parse(bv->valuestring)) < 0))
		return rdb_err_set(err, RAGDB_EINVAL,
		                   "configuration file %s: model \"%s\": \"balance\" must be \"round_robin\", \"least_latency\" or \"least_load\"",
		                   path ? path : "-", name);
	if (!eps)
		return RAGDB_OK;
	int ne = cJSON_GetArraySize(eps);
	if (!cJSON_IsArray(eps) || ne < 1 || ne > RDB_BAL_MAX_ENDPOINTS)
		return rdb_err_set(err, RAGDB_EINVAL,
		                   "configuration file %s: model \"%s\": \"endpoints\" must be an array of 1 to %d base URLs, e.g. [\"http://a:8000/v1\", \"http://b:8000/v1\"]",
		                   path ? path : "-", name, RDB_BAL_MAX_ENDPOINTS);
	char *list[RDB_BAL_MAX_ENDPOINTS + 1];
	size_t n = 0;
	ragdb_status st = RAGDB_OK;
	if (m->endpoint)
		list[n++] = m->endpoint;
	cJSON *it;
	cJSON_ArrayForEach(it, eps) {
		if (!cJSON_IsString(it) || !it->valuestring[0]) {
			st = rdb_err_set(err, RAGDB_EINVAL,
			                 "configuration file %s: model \"%s\": every entry of \"endpoints\" must be a URL string",
			                 path ? path : "-", name);
			goto out_free;
		}
		char *u = norm_endpoint(it->valuestring);
		if (!u) {
			st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory");
			goto out_free;
		}
		int dup = 0;
		for (size_t i = 0; i < n; i++)
			dup |= strcmp(list[i], u) == 0;
		if (dup || n >= RDB_BAL_MAX_ENDPOINTS)
			free(u);
		else
			list[n++] = u;
	}
	if (n >= 2) {
		char id[300];
		snprintf(id, sizeof id, "%s:%s", rdb_provider_name(m->provider), m->model);
		st = rdb_balancer_get(id, (const char *const *)list, n, (rdb_balance_policy)pol, &m->bal,
		                      err);
	}
	if (st == RAGDB_OK && !m->endpoint) {
		m->endpoint = list[0];
		list[0] = NULL;
	}
out_free:
	for (size_t i = 0; i < n; i++)
		if (list[i] != m->endpoint)
			free(list[i]);
	return st;
}

ragdb_status rdb_config_resolve(const rdb_config *c, const char *spec, const char *endpoint_flag,
                                rdb_model_cfg *out, rdb_err *err)
{
	rdb_model_cfg m = {0};
	m.temperature = -1;
	ragdb_status st = RAGDB_OK;
	const char *path = c ? c->path : NULL;
	if (!spec || !*spec)
		return rdb_err_set(err, RAGDB_EINVAL, "no model named; give provider:model (e.g. openai:gpt-4o-mini)");
	cJSON *entry = find_named(c, spec);
	const char *colon = strchr(spec, ':');
	char *file_endpoint = NULL;
	if (entry) {
		cJSON *pv = cJSON_GetObjectItemCaseSensitive(entry, "provider");
		cJSON *mv = cJSON_GetObjectItemCaseSensitive(entry, "model");
		int p = cJSON_IsString(pv) ? rdb_provider_parse(pv->valuestring, strlen(pv->valuestring)) : -1;
		if (p < 0 || !cJSON_IsString(mv) || !mv->valuestring[0]) {
			st = rdb_err_set(err, RAGDB_EINVAL,
			                 "configuration file %s: model \"%s\" needs \"provider\" (openai, anthropic, ollama, gemini, huggingface) and \"model\"",
			                 path ? path : "-", spec);
			goto out_fail;
		}
		m.provider = (rdb_provider)p;
		m.model = strdup(mv->valuestring);
	} else if (colon) {
		int p = rdb_provider_parse(spec, (size_t)(colon - spec));
		if (p < 0 || !colon[1]) {
			st = rdb_err_set(err, RAGDB_EINVAL,
			                 "unknown model \"%s\"; name one as provider:model with provider one of openai, anthropic, ollama, gemini, huggingface%s%s",
			                 spec, path ? ", or a model defined in " : "", path ? path : "");
			goto out_fail;
		}
		m.provider = (rdb_provider)p;
		m.model = strdup(colon + 1);
		entry = find_by_model(c, m.provider, m.model ? m.model : "");
	} else {
		st = rdb_err_set(err, RAGDB_EINVAL,
		                 "unknown model \"%s\"; name one as provider:model (openai:gpt-4o-mini, anthropic:claude-sonnet-4-5, ollama:llama3.2, gemini:gemini-2.0-flash) or define it in %s",
		                 spec, path ? path : "ragdb.json");
		goto out_fail;
	}
	m.name = strdup(spec);
	if (!m.model || !m.name) {
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory");
		goto out_fail;
	}
	const prov_info *pi = &PROVS[m.provider];
	m.batch_size = pi->batch;
	m.max_input_bytes = pi->max_input;
	m.max_tokens = 1024;
	m.parallel = 4;
	/* The file: the top level first, the model's own entry over it. */
	if (c && c->root && (st = apply_http(path, spec, c->root, &m.http, err)) != RAGDB_OK)
		goto out_fail;
	if ((st = apply_cache(c, &m.cache, err)) != RAGDB_OK)
		goto out_fail;
	if (entry) {
		double d;
		if ((st = apply_http(path, spec, entry, &m.http, err)) != RAGDB_OK ||
		    (st = dup_field(entry, "endpoint", &file_endpoint, path, spec, err)) != RAGDB_OK ||
		    (st = dup_field(entry, "api_key", &m.api_key, path, spec, err)) != RAGDB_OK)
			goto out_fail;
#define NUMF(field, min, max, dst, type)                                              \
	d = -1;                                                                       \
	if ((st = get_num(path, spec, entry, field, min, max, &d, err)) != RAGDB_OK) \
		goto out_fail;                                                        \
	if (d >= 0)                                                                   \
		dst = (type)d;
		NUMF("max_tokens", 1, 1e7, m.max_tokens, uint32_t)
		NUMF("temperature", 0, 2, m.temperature, double)
		NUMF("context_window", 1, 1e8, m.context_window, uint32_t)
		NUMF("price_input", 0, 1e6, m.price_input, double)
		NUMF("price_output", 0, 1e6, m.price_output, double)
		NUMF("dimensions", 1, 65536, m.dimensions, uint32_t)
		NUMF("batch_size", 1, 4096, m.batch_size, uint32_t)
		NUMF("max_input_bytes", 16, 1e8, m.max_input_bytes, size_t)
		NUMF("parallel", 1, 256, m.parallel, uint32_t)
#undef NUMF
	}
	/* What kind of model it is (see config.h). */
	{
		cJSON *kv = entry ? cJSON_GetObjectItemCaseSensitive(entry, "kind") : NULL;
		if (kv) {
			if (!cJSON_IsString(kv) || (strcmp(kv->valuestring, "embedding") != 0 &&
			                            strcmp(kv->valuestring, "chat") != 0)) {
				st = rdb_err_set(err, RAGDB_EINVAL,
				                 "configuration file %s: model \"%s\": \"kind\" must be \"embedding\" or \"chat\"",
				                 path ? path : "-", spec);
				goto out_fail;
			}
			m.embedding = strcmp(kv->valuestring, "embedding") == 0;
		} else {
			char low[128];
			size_t i = 0;
			for (; m.model[i] && i + 1 < sizeof low; i++)
				low[i] = (char)tolower((unsigned char)m.model[i]);
			low[i] = 0;
			m.embedding = m.provider == RDB_PROV_HUGGINGFACE || strstr(low, "embed") ||
			              strstr(low, "bge") || strstr(low, "minilm") ||
			              (entry && (cJSON_GetObjectItemCaseSensitive(entry, "dimensions") ||
			                         cJSON_GetObjectItemCaseSensitive(entry, "batch_size") ||
			                         cJSON_GetObjectItemCaseSensitive(entry, "max_input_bytes")));
		}
	}
	/* Environment over the file for the HTTP policy (tests shorten waits). */
	const char *ev;
	if ((ev = env_nonempty("RAGDB_HTTP_TIMEOUT_MS")))
		m.http.timeout_ms = atol(ev);
	if ((ev = env_nonempty("RAGDB_HTTP_CONNECT_TIMEOUT_MS")))
		m.http.connect_timeout_ms = atol(ev);
	if ((ev = env_nonempty("RAGDB_HTTP_RETRIES")))
		m.http.max_retries = atoi(ev) == 0 ? -1 : atoi(ev);
	if ((ev = env_nonempty("RAGDB_HTTP_BACKOFF_MS")))
		m.http.backoff_ms = atol(ev);
	if ((ev = env_nonempty("RAGDB_HTTP_MAX_BACKOFF_MS")))
		m.http.max_backoff_ms = atol(ev);
	/* Endpoint: flag > environment > file > default. */
	const char *ep = endpoint_flag && *endpoint_flag ? endpoint_flag
	                 : env_nonempty(pi->base_env)   ? env_nonempty(pi->base_env)
	                 : file_endpoint                ? file_endpoint
	                                                : pi->base_default;
	if (ep == file_endpoint || (ep == pi->base_default && entry &&
	                            cJSON_GetObjectItemCaseSensitive(entry, "endpoints")))
		ep = file_endpoint; /* the file decides: "endpoint" and/or "endpoints" */
	if (ep) {
		m.endpoint = norm_endpoint(ep);
		if (!m.endpoint) {
			st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory");
			goto out_fail;
		}
	}
	if (entry && (ep == file_endpoint) &&
	    (st = apply_endpoints(path, spec, entry, &m, err)) != RAGDB_OK)
		goto out_fail;
	/* Key: the file's api_key ("${VAR}") names where it comes from; else
	 * the provider's own SDK variable. Kept as a reference, not a value. */
	m.key_var = pi->key_env;
	if (!m.api_key && pi->key_env) {
		const char *var = pi->key_env;
		if (!env_nonempty(var) && pi->key_env2 && env_nonempty(pi->key_env2))
			var = pi->key_env2;
		m.key_var = var;
		size_t kl = strlen(var) + 4;
		m.api_key = malloc(kl);
		if (!m.api_key) {
			st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory");
			goto out_fail;
		}
		snprintf(m.api_key, kl, "${%s}", var);
	}
	free(file_endpoint);
	*out = m;
	return RAGDB_OK;
out_fail:
	free(file_endpoint);
	rdb_model_cfg_clear(&m);
	return st;
}

void rdb_key_free(char *key)
{
	if (!key)
		return;
	volatile char *p = key;
	while (*p)
		*p++ = 0;
	free(key);
}

ragdb_status rdb_model_key(const rdb_model_cfg *m, char **key, rdb_err *err)
{
	*key = NULL;
	const char *k = m->api_key;
	if (!k || !*k)
		return RAGDB_OK;
	size_t kl = strlen(k);
	if (kl > 3 && k[0] == '$' && k[1] == '{' && k[kl - 1] == '}') {
		char var[128];
		if (kl - 3 >= sizeof var)
			return rdb_err_set(err, RAGDB_EINVAL, "model %s: api_key names a variable longer than %zu characters",
			                   m->name, sizeof var - 1);
		memcpy(var, k + 2, kl - 3);
		var[kl - 3] = 0;
		const char *v = getenv(var);
		if (!v || !*v)
			return RAGDB_OK; /* the caller decides whether a key is needed */
		*key = strdup(v);
	} else {
		*key = strdup(k);
	}
	if (!*key)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory");
	/* A key with a line break would inject headers. */
	if (strpbrk(*key, "\r\n")) {
		rdb_key_free(*key);
		*key = NULL;
		return rdb_err_set(err, RAGDB_EINVAL, "model %s: the API key contains a line break; fix the variable",
		                   m->name);
	}
	return RAGDB_OK;
}
