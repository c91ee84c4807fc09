/*
 * server/config.c — the server's settings: defaults, the "server" section of
 * ragdb.json (plus the names of its "models"), the RAGDB_API_KEYS list and
 * the listen address.
 *
 * Precedence (DESIGN.md): command-line flag > environment > file > default;
 * the CLI applies them in that order by calling these functions in reverse.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "server/server.h"

/* Largest config file read: settings, not data. */
#define CFG_MAX_FILE (1u << 20)
#define CFG_MAX_KEY_LEN 512

static int cfg_fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int cfg_fail(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (err && cap) {
		va_start(ap, fmt);
		vsnprintf(err, cap, fmt, ap);
		va_end(ap);
	}
	return -1;
}

void rdb_srv_config_init(rdb_srv_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	snprintf(cfg->host, sizeof cfg->host, "127.0.0.1");
	cfg->port = 8080;
	cfg->max_body_bytes = 16u << 20;
	cfg->max_json_depth = 64;
	cfg->max_k = 1000;
	cfg->max_inputs = 2048;
	cfg->rate_limit = 50;
	cfg->rate_burst = 100;
	cfg->request_timeout = 30;
	cfg->max_streams = 16;
	cfg->max_connections = 1024;
}

static void free_keys(rdb_srv_config *cfg)
{
	for (size_t i = 0; i < cfg->n_keys; i++) {
		/* Keys are secrets: do not leave them in freed memory. */
		if (cfg->keys[i].key)
			explicit_bzero(cfg->keys[i].key, strlen(cfg->keys[i].key));
		free(cfg->keys[i].key);
	}
	cfg->n_keys = 0;
}

void rdb_srv_config_free(rdb_srv_config *cfg)
{
	if (!cfg)
		return;
	free_keys(cfg);
	for (size_t i = 0; i < cfg->n_cors_origins; i++)
		free(cfg->cors_origins[i]);
	cfg->n_cors_origins = 0;
	for (size_t i = 0; i < cfg->n_models; i++)
		free(cfg->models[i]);
	cfg->n_models = 0;
}

/* "${VAR}" → the variable's value; anything else as it is. */
static int expand_key(const char *in, char **out, char *err, size_t cap)
{
	size_t n = strlen(in);

	if (n > 3 && in[0] == '$' && in[1] == '{' && in[n - 1] == '}') {
		char var[256];
		const char *v;
		if (n - 3 >= sizeof var)
			return cfg_fail(err, cap, "api key variable name %s is too long", in);
		memcpy(var, in + 2, n - 3);
		var[n - 3] = '\0';
		v = getenv(var);
		if (!v || !*v)
			return cfg_fail(err, cap, "api key ${%s}: the environment variable %s is not set; "
			                "export it or remove the key", var, var);
		in = v;
	}
	*out = strdup(in);
	return *out ? 0 : cfg_fail(err, cap, "out of memory");
}

/* Add one key: "KEY", "ro:KEY" or "rw:KEY". */
static int add_key(rdb_srv_config *cfg, const char *spec, int read_only, char *err, size_t cap)
{
	char *k = NULL;

	if (strncmp(spec, "ro:", 3) == 0) {
		read_only = 1;
		spec += 3;
	} else if (strncmp(spec, "rw:", 3) == 0) {
		spec += 3;
	}
	if (cfg->n_keys >= RDB_SRV_MAX_KEYS)
		return cfg_fail(err, cap, "more than %d API keys; use fewer", RDB_SRV_MAX_KEYS);
	if (expand_key(spec, &k, err, cap))
		return -1;
	if (strlen(k) < 8 || strlen(k) > CFG_MAX_KEY_LEN) {
		free(k);
		return cfg_fail(err, cap, "an API key must be 8 to %d characters long (found one of %zu); "
		                "generate one with: openssl rand -hex 24", CFG_MAX_KEY_LEN, strlen(spec));
	}
	for (const char *p = k; *p; p++) {
		if ((unsigned char)*p <= ' ' || *p == ',' || (unsigned char)*p >= 0x7f) {
			free(k);
			return cfg_fail(err, cap, "an API key may hold printable ASCII characters only, "
			                "without spaces or commas");
		}
	}
	cfg->keys[cfg->n_keys].key = k;
	cfg->keys[cfg->n_keys].read_only = read_only;
	cfg->n_keys++;
	return 0;
}

int rdb_srv_config_set_keys(rdb_srv_config *cfg, const char *list, char *err, size_t cap)
{
	char *copy = strdup(list ? list : ""), *save = NULL, *tok;
	int rc = 0;

	if (!copy)
		return cfg_fail(err, cap, "out of memory");
	free_keys(cfg);
	for (tok = strtok_r(copy, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		size_t n = strlen(tok);
		while (n > 0 && tok[n - 1] == ' ')
			tok[--n] = '\0';
		if (n == 0)
			continue;
		rc = add_key(cfg, tok, 0, err, cap);
	}
	explicit_bzero(copy, strlen(list ? list : ""));
	free(copy);
	if (rc)
		free_keys(cfg);
	return rc;
}

int rdb_srv_config_set_listen(rdb_srv_config *cfg, const char *spec, char *err, size_t cap)
{
	const char *host = spec, *port = NULL;
	size_t hlen;
	char hostbuf[256];

	if (!spec || !*spec)
		return cfg_fail(err, cap, "the listen address is empty; give ADDR:PORT, e.g. 127.0.0.1:8080");
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');
		if (!close)
			return cfg_fail(err, cap, "listen address %s: missing ']' after the IPv6 address", spec);
		host = spec + 1;
		hlen = (size_t)(close - host);
		if (close[1] == ':')
			port = close + 2;
		else if (close[1])
			return cfg_fail(err, cap, "listen address %s: expected ':PORT' after ']'", spec);
	} else {
		const char *colon = strrchr(spec, ':');
		if (colon && strchr(spec, ':') != colon) {
			/* Several colons and no brackets: a bare IPv6 address. */
			colon = NULL;
		}
		hlen = colon ? (size_t)(colon - spec) : strlen(spec);
		if (colon)
			port = colon + 1;
	}
	if (hlen >= sizeof hostbuf)
		return cfg_fail(err, cap, "listen address %s: the host part is too long", spec);
	memcpy(hostbuf, host, hlen);
	hostbuf[hlen] = '\0';
	if (port) {
		char *end = NULL;
		long v;
		errno = 0;
		v = strtol(port, &end, 10);
		if (!*port || *end || errno || v < 0 || v > 65535)
			return cfg_fail(err, cap, "listen address %s: the port must be a number from 0 to "
			                "65535, found '%s'", spec, port);
		cfg->port = (uint16_t)v;
	}
	if (hlen > 0) {
		struct in6_addr a6;
		struct in_addr a4;
		if (strcmp(hostbuf, "localhost") != 0 && inet_pton(AF_INET, hostbuf, &a4) != 1 &&
		    inet_pton(AF_INET6, hostbuf, &a6) != 1)
			return cfg_fail(err, cap, "listen address %s: '%s' is not an IPv4 or IPv6 address "
			                "(host names other than localhost are not resolved; use 0.0.0.0 "
			                "for every interface)", spec, hostbuf);
		snprintf(cfg->host, sizeof cfg->host, "%s", hostbuf);
	}
	return 0;
}

int rdb_srv_host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		       (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return 0;
}

int rdb_srv_config_has_model(const rdb_srv_config *cfg, const char *model)
{
	if (!model || !*model)
		return 0;
	if (strcmp(model, "extractive") == 0)
		return 1;
	for (size_t i = 0; i < cfg->n_models; i++)
		if (strcmp(cfg->models[i], model) == 0)
			return 1;
	return 0;
}

static int add_model(rdb_srv_config *cfg, const char *name, char *err, size_t cap)
{
	if (!name || !*name)
		return 0;
	if (cfg->n_models >= RDB_SRV_MAX_MODELS)
		return cfg_fail(err, cap, "more than %d models configured", RDB_SRV_MAX_MODELS);
	if (!(cfg->models[cfg->n_models] = strdup(name)))
		return cfg_fail(err, cap, "out of memory");
	cfg->n_models++;
	return 0;
}

/* A setting read as a number in [min, max]. */
static int num_setting(const cJSON *it, const char *path, double min, double max, double *out,
                       char *err, size_t cap)
{
	if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || it->valuedouble < min ||
	    it->valuedouble > max)
		return cfg_fail(err, cap, "%s: server.%s must be a number from %g to %g", path,
		                it->string, min, max);
	*out = it->valuedouble;
	return 0;
}

static int load_server(rdb_srv_config *cfg, const cJSON *srv, const char *path, char *err,
                       size_t cap)
{
	const cJSON *it;
	double v = 0;

	cJSON_ArrayForEach(it, srv) {
		const char *k = it->string;
		if (strcmp(k, "listen") == 0) {
			char sub[512];
			if (!cJSON_IsString(it))
				return cfg_fail(err, cap, "%s: server.listen must be a string like "
				                "\"127.0.0.1:8080\"", path);
			if (rdb_srv_config_set_listen(cfg, it->valuestring, sub, sizeof sub))
				return cfg_fail(err, cap, "%s: server.listen: %s", path, sub);
		} else if (strcmp(k, "api_keys") == 0) {
			const cJSON *e;
			if (!cJSON_IsArray(it))
				return cfg_fail(err, cap, "%s: server.api_keys must be an array of \"KEY\", "
				                "\"ro:KEY\" or {\"key\": ..., \"read_only\": true}", path);
			free_keys(cfg);
			cJSON_ArrayForEach(e, it) {
				char sub[512];
				if (cJSON_IsString(e)) {
					if (add_key(cfg, e->valuestring, 0, sub, sizeof sub))
						return cfg_fail(err, cap, "%s: server.api_keys: %s", path, sub);
				} else if (cJSON_IsObject(e)) {
					const cJSON *kk = cJSON_GetObjectItemCaseSensitive(e, "key");
					const cJSON *ro = cJSON_GetObjectItemCaseSensitive(e, "read_only");
					if (!cJSON_IsString(kk) || (ro && !cJSON_IsBool(ro)))
						return cfg_fail(err, cap, "%s: server.api_keys: an object entry needs "
						                "\"key\" (a string) and optionally \"read_only\" "
						                "(true/false)", path);
					if (add_key(cfg, kk->valuestring, cJSON_IsTrue(ro), sub, sizeof sub))
						return cfg_fail(err, cap, "%s: server.api_keys: %s", path, sub);
				} else {
					return cfg_fail(err, cap, "%s: server.api_keys: entries are strings or "
					                "objects", path);
				}
			}
		} else if (strcmp(k, "cors_origins") == 0) {
			const cJSON *e;
			if (!cJSON_IsArray(it))
				return cfg_fail(err, cap, "%s: server.cors_origins must be an array of origins "
				                "like \"http://localhost:3000\"", path);
			cJSON_ArrayForEach(e, it) {
				if (!cJSON_IsString(e) || !*e->valuestring)
					return cfg_fail(err, cap, "%s: server.cors_origins: entries are origin "
					                "strings", path);
				if (cfg->n_cors_origins >= RDB_SRV_MAX_ORIGINS)
					return cfg_fail(err, cap, "%s: more than %d CORS origins", path,
					                RDB_SRV_MAX_ORIGINS);
				if (!(cfg->cors_origins[cfg->n_cors_origins] = strdup(e->valuestring)))
					return cfg_fail(err, cap, "out of memory");
				cfg->n_cors_origins++;
			}
		} else if (strcmp(k, "threads") == 0) {
			if (num_setting(it, path, 0, 1024, &v, err, cap))
				return -1;
			cfg->threads = (int)v;
		} else if (strcmp(k, "max_body_bytes") == 0) {
			if (num_setting(it, path, 1024, 1u << 30, &v, err, cap))
				return -1;
			cfg->max_body_bytes = (size_t)v;
		} else if (strcmp(k, "max_json_depth") == 0) {
			if (num_setting(it, path, 2, 1000, &v, err, cap))
				return -1;
			cfg->max_json_depth = (int)v;
		} else if (strcmp(k, "max_k") == 0) {
			if (num_setting(it, path, 1, 100000, &v, err, cap))
				return -1;
			cfg->max_k = (uint32_t)v;
		} else if (strcmp(k, "max_inputs") == 0) {
			if (num_setting(it, path, 1, 100000, &v, err, cap))
				return -1;
			cfg->max_inputs = (uint32_t)v;
		} else if (strcmp(k, "rate_limit") == 0) {
			if (num_setting(it, path, 0, 1e6, &v, err, cap))
				return -1;
			cfg->rate_limit = v;
		} else if (strcmp(k, "rate_burst") == 0) {
			if (num_setting(it, path, 1, 1e6, &v, err, cap))
				return -1;
			cfg->rate_burst = v;
		} else if (strcmp(k, "request_timeout") == 0) {
			if (num_setting(it, path, 1, 86400, &v, err, cap))
				return -1;
			cfg->request_timeout = (unsigned)v;
		} else if (strcmp(k, "max_streams") == 0) {
			if (num_setting(it, path, 1, 100000, &v, err, cap))
				return -1;
			cfg->max_streams = (unsigned)v;
		} else if (strcmp(k, "max_connections") == 0) {
			if (num_setting(it, path, 1, 1000000, &v, err, cap))
				return -1;
			cfg->max_connections = (unsigned)v;
		} else if (strcmp(k, "search_threads") == 0) {
			if (num_setting(it, path, 0, 1024, &v, err, cap))
				return -1;
			cfg->search_threads = (int)v;
		} else {
			return cfg_fail(err, cap, "%s: unknown setting server.%s; known: listen, threads, "
			                "api_keys, cors_origins, max_body_bytes, max_json_depth, max_k, "
			                "max_inputs, rate_limit, rate_burst, request_timeout, max_streams, "
			                "max_connections, search_threads", path, k);
		}
	}
	return 0;
}

int rdb_srv_config_load(rdb_srv_config *cfg, const char *path, char *err, size_t cap)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0;
	cJSON *root = NULL;
	const cJSON *srv, *models, *it;
	int rc = -1;

	if (!f)
		return cfg_fail(err, cap, "cannot open config file %s: %s", path, strerror(errno));
	buf = malloc(CFG_MAX_FILE + 1);
	if (!buf) {
		cfg_fail(err, cap, "out of memory");
		goto out_close;
	}
	n = fread(buf, 1, CFG_MAX_FILE + 1, f);
	if (ferror(f)) {
		cfg_fail(err, cap, "reading %s failed: %s", path, strerror(errno));
		goto out_close;
	}
	if (n > CFG_MAX_FILE) {
		cfg_fail(err, cap, "%s is larger than %u bytes; is it the right file?", path, CFG_MAX_FILE);
		goto out_close;
	}
	/* The error message quotes from the error position with %.40s: the
	 * text must end within the buffer. */
	buf[n] = '\0';
	root = cJSON_ParseWithLength(buf, n);
	if (!cJSON_IsObject(root)) {
		cfg_fail(err, cap, "%s is not a JSON object (a syntax error near: %.40s)", path,
		         cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "the start");
		goto out_close;
	}
	srv = cJSON_GetObjectItemCaseSensitive(root, "server");
	if (srv && !cJSON_IsObject(srv)) {
		cfg_fail(err, cap, "%s: \"server\" must be an object of settings", path);
		goto out_close;
	}
	if (srv && load_server(cfg, srv, path, err, cap))
		goto out_close;
	/* Model names only: the models themselves belong to the library. */
	models = cJSON_GetObjectItemCaseSensitive(root, "models");
	if (cJSON_IsObject(models)) {
		cJSON_ArrayForEach(it, models)
			if (add_model(cfg, it->string, err, cap))
				goto out_close;
	} else if (cJSON_IsArray(models)) {
		cJSON_ArrayForEach(it, models) {
			const cJSON *nm = cJSON_GetObjectItemCaseSensitive(it, "name");
			if (cJSON_IsString(nm) && add_model(cfg, nm->valuestring, err, cap))
				goto out_close;
		}
	}
	rc = 0;
out_close:
	cJSON_Delete(root);
	if (buf)
		explicit_bzero(buf, n < CFG_MAX_FILE ? n : CFG_MAX_FILE);
	free(buf);
	fclose(f);
	return rc;
}
