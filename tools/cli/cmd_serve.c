/*
 * tools/cli/cmd_serve.c — `ragdb serve`: serve the knowledge base over HTTP
 * (ragdb's JSON API, the OpenAI-compatible endpoints and the web page; see
 * docs/api.md) until SIGINT or SIGTERM, then stop accepting, let in-flight
 * requests finish and exit 0.
 *
 * Settings, by precedence: flags > RAGDB_API_KEYS > the config file's
 * "server" section (--config FILE or $RAGDB_CONFIG, else DIR/ragdb.json when
 * present) > defaults. The signals are blocked in every thread and taken with
 * sigwait(), so no handler runs inside the HTTP library's threads.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "server/server.h"

enum {
	OPT_LISTEN = CLI_OPT_FIRST_COMMAND_OPT,
	OPT_THREADS,
	OPT_READ_ONLY,
	OPT_ACCESS_LOG,
};

/* Seconds in-flight requests get to finish after a stop signal. */
#define SERVE_GRACE_S 30.0

int cli_cmd_serve(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "read-only", no_argument, NULL, OPT_READ_ONLY },
		{ "access-log", no_argument, NULL, OPT_ACCESS_LOG },
		{ NULL, 0, NULL, 0 },
	};
	rdb_srv_config cfg;
	rdb_srv *srv = NULL;
	ragdb *db = NULL;
	ragdb_stats stats;
	const char *listen = NULL, *config = NULL, *env_keys = getenv("RAGDB_API_KEYS");
	char err[1024], cfg_path[4200];
	uint32_t threads = 0;
	int c, rc, threads_set = 0, read_only = 0, access_log = 0, sig = 0;
	sigset_t sigs;
	struct stat sb;

	rdb_srv_config_init(&cfg);
	cli_getopt_begin();
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (cli_common_option(ctx, c, optarg, &rc)) {
			if (rc >= 0)
				goto out_free_cfg;
			continue;
		}
		switch (c) {
		case OPT_LISTEN: listen = optarg; break;
		case OPT_READ_ONLY: read_only = 1; break;
		case OPT_ACCESS_LOG: access_log = 1; break;
		case OPT_THREADS:
			if ((rc = cli_parse_u32(ctx, "--threads", optarg, 1, 1024, &threads)))
				goto out_free_cfg;
			threads_set = 1;
			break;
		default:
			rc = cli_getopt_error(ctx, c, argv);
			goto out_free_cfg;
		}
	}
	if (optind < argc) {
		rc = cli_usage_error(ctx, "unexpected argument '%s'", argv[optind]);
		goto out_free_cfg;
	}

	/* File, then environment, then flags: each may override the one before.
	 * --config (a common option) sets $RAGDB_CONFIG, which the handle reads
	 * for its models too. */
	config = getenv("RAGDB_CONFIG");
	if (config && !*config)
		config = NULL;
	if (!config) {
		snprintf(cfg_path, sizeof cfg_path, "%s/ragdb.json", ctx->db_dir);
		if (stat(cfg_path, &sb) == 0)
			config = cfg_path;
	}
	if (config && rdb_srv_config_load(&cfg, config, err, sizeof err)) {
		rc = cli_error(ctx, "%s", err);
		goto out_free_cfg;
	}
	if (env_keys && *env_keys && rdb_srv_config_set_keys(&cfg, env_keys, err, sizeof err)) {
		rc = cli_error(ctx, "RAGDB_API_KEYS: %s", err);
		goto out_free_cfg;
	}
	if (listen && rdb_srv_config_set_listen(&cfg, listen, err, sizeof err)) {
		rc = cli_usage_error(ctx, "--listen: %s", err);
		goto out_free_cfg;
	}
	if (threads_set)
		cfg.threads = (int)threads;
	cfg.read_only = read_only;
	cfg.access_log = access_log;
	snprintf(cfg.db_dir, sizeof cfg.db_dir, "%s", ctx->db_dir);

	if ((rc = cli_open_db(ctx, read_only ? RAGDB_RDONLY : 0, &db)))
		goto out_free_cfg;
	/* Block the stop signals before any thread starts, so every thread
	 * inherits the mask and only sigwait() below receives them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (rdb_srv_start(db, &cfg, &srv, err, sizeof err)) {
		rc = cli_error(ctx, "%s", err);
		goto out_close;
	}
	{
		const char *h = cfg.host;
		int v6 = strchr(h, ':') != NULL;
		printf("ragdb serve: http://%s%s%s:%u/ serving %s", v6 ? "[" : "", h, v6 ? "]" : "",
		       (unsigned)rdb_srv_port(srv), ctx->db_dir);
		if (ragdb_get_stats(db, &stats) == RAGDB_OK)
			printf(" (%llu documents, %llu chunks)", (unsigned long long)stats.documents,
			       (unsigned long long)stats.chunks);
		printf("%s%s\n", cfg.n_keys ? ", API keys required" : "",
		       read_only ? ", read-only" : "");
		fflush(stdout);
	}
	while (sigwait(&sigs, &sig) != 0)
		;
	fprintf(stderr, "ragdb serve: %s: finishing in-flight requests, then stopping\n",
	        sig == SIGTERM ? "SIGTERM" : "SIGINT");
	rdb_srv_stop(srv, SERVE_GRACE_S);
	fprintf(stderr, "ragdb serve: stopped\n");
	rc = CLI_EXIT_OK;
out_close:
	ragdb_close(db);
out_free_cfg:
	rdb_srv_config_free(&cfg);
	return rc;
}
