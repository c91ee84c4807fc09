/*
 * server/server.h — `ragdb serve`: the HTTP server over one open knowledge
 * base, as the CLI (tools/cli/cmd_serve.c) and the server's tests see it:
 * the configuration (defaults, the "server" section of ragdb.json,
 * RAGDB_API_KEYS, the listen address) and start / port / shutdown.
 *
 * The server uses the public API (ragdb.h) only; server/http.c is the one
 * file that includes microhttpd.h. Functions here return 0 on success and
 * -1 on failure with a message in the caller's buffer saying what was
 * expected, what was found and what to do.
 */
#ifndef RDB_SERVER_H
#define RDB_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "ragdb.h"

/* An API key; read-only keys may search, ask and embed, but not change
 * documents. */
typedef struct rdb_srv_key {
	char *key;
	int read_only;
} rdb_srv_key;

/* Hard caps on the settings themselves, so a typo cannot ask for a 1 TB body. */
#define RDB_SRV_MAX_KEYS 256
#define RDB_SRV_MAX_ORIGINS 64
#define RDB_SRV_MAX_MODELS 256

typedef struct rdb_srv_config {
	char host[256];            /* listen address: IPv4/IPv6 literal or "localhost" */
	uint16_t port;             /* 0 = an ephemeral port (tests) */
	int threads;               /* HTTP worker threads; 0 = number of cores */
	rdb_srv_key keys[RDB_SRV_MAX_KEYS];
	size_t n_keys;
	char *cors_origins[RDB_SRV_MAX_ORIGINS]; /* allowed Origin values; "*" = any */
	size_t n_cors_origins;
	char *models[RDB_SRV_MAX_MODELS]; /* configured language-model names (ragdb.json "models") */
	size_t n_models;
	size_t max_body_bytes;     /* request body cap (413 past it) */
	int max_json_depth;        /* nesting of JSON bodies (400 past it) */
	uint32_t max_k;            /* k accepted by search and query: 1..max_k */
	uint32_t max_inputs;       /* texts per embeddings request / documents per batch */
	double rate_limit;         /* requests per second per client; 0 = off */
	double rate_burst;         /* bucket size (requests) */
	unsigned request_timeout;  /* seconds a connection may sit idle mid-request */
	unsigned max_streams;      /* concurrent streaming answers (503 past it) */
	unsigned max_connections;  /* open connections */
	int search_threads;        /* scan threads per search; 0 = the library's default */
	int read_only;             /* the knowledge base is open read-only: writes get 403 */
	int access_log;            /* one line per request on stderr (5xx are always logged) */
	char db_dir[4096];         /* for /ready and messages */
} rdb_srv_config;

/* The defaults: 127.0.0.1:8080, no keys, no CORS, 16 MiB bodies, depth 64,
 * k up to 1000, 2048 inputs, 50 requests/s per client with bursts of 100,
 * 30 s timeout, 16 streams, 1024 connections. */
void rdb_srv_config_init(rdb_srv_config *cfg);
/* Free what the config owns (keys, origins, models). Accepts NULL. */
void rdb_srv_config_free(rdb_srv_config *cfg);

/* Read the settings of JSON file @p path: the "server" object (unknown
 * settings there are refused, to catch typos) and the names of "models".
 * Other top-level sections belong to other parts of ragdb and are ignored.
 * api_keys entries are "KEY", "ro:KEY", "rw:KEY" or {"key", "read_only"};
 * "${VAR}" in a key is replaced by the environment variable VAR. */
int rdb_srv_config_load(rdb_srv_config *cfg, const char *path, char *err, size_t errcap);

/* Replace the keys with those of @p list ("key1,ro:key2", the format of
 * RAGDB_API_KEYS). */
int rdb_srv_config_set_keys(rdb_srv_config *cfg, const char *list, char *err, size_t errcap);

/* Parse "ADDR:PORT", "[V6ADDR]:PORT", "ADDR" or ":PORT" into host/port. */
int rdb_srv_config_set_listen(rdb_srv_config *cfg, const char *spec, char *err, size_t errcap);

/* 1 when cfg->host is a loopback address (127.0.0.0/8, ::1, localhost). */
int rdb_srv_host_is_loopback(const char *host);

/* Whether @p model names a configured model (or "extractive"), so a request
 * naming it is passed to the library; any other name gets the default. */
int rdb_srv_config_has_model(const rdb_srv_config *cfg, const char *model);

typedef struct rdb_srv rdb_srv;

/* Start serving @p db (which must stay open until rdb_srv_stop returns) in
 * background threads. Refuses a non-loopback address without API keys.
 * The config is copied. */
int rdb_srv_start(ragdb *db, const rdb_srv_config *cfg, rdb_srv **out, char *err, size_t errcap);

/* The port actually bound (useful with port 0). */
uint16_t rdb_srv_port(const rdb_srv *srv);

/* Stop accepting connections, let in-flight requests and streams finish
 * (new requests on open connections get 503), for at most @p grace_s
 * seconds for plain requests, then stop and free. Accepts NULL. */
void rdb_srv_stop(rdb_srv *srv, double grace_s);

#endif
