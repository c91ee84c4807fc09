/*
 * tools/cli/cmd_tune.c — `ragdb tune`: fit the local embedder to the
 * knowledge base (word weights from its chunks) and re-embed every chunk
 * (staged, switched to at the end); --reset goes back to the plain embedder.
 */
#include <string.h>

#include "cli.h"

enum { OPT_RESET = CLI_OPT_FIRST_COMMAND_OPT };

int cli_cmd_tune(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{ "json", no_argument, NULL, CLI_OPT_JSON },
		{ "reset", no_argument, NULL, OPT_RESET },
		{ NULL, 0, NULL, 0 },
	};
	ragdb_tune_options o;
	ragdb_tune_summary sum;
	ragdb *db = NULL;
	ragdb_status st;
	int c, rc, json = 0;

	memset(&o, 0, sizeof o);
	cli_getopt_begin();
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (cli_common_option(ctx, c, optarg, &rc)) {
			if (rc >= 0)
				return rc;
			continue;
		}
		if (c == CLI_OPT_JSON)
			json = 1;
		else if (c == OPT_RESET)
			o.reset = 1;
		else
			return cli_getopt_error(ctx, c, argv);
	}
	if (optind < argc)
		return cli_usage_error(ctx, "unexpected argument '%s'", argv[optind]);
	if ((rc = cli_open_db(ctx, 0, &db)))
		return rc;
	cli_interrupt_install(db);
	st = ragdb_tune(db, &o, &sum);
	cli_interrupt_remove();
	if (st != RAGDB_OK) {
		rc = cli_api_error(ctx, db, st);
		goto out_close;
	}
	if (json) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "model_before", sum.model_before);
		cJSON_AddStringToObject(j, "model", sum.model);
		cJSON_AddNumberToObject(j, "chunks", (double)sum.chunks);
		cJSON_AddNumberToObject(j, "features", (double)sum.features);
		cJSON_AddNumberToObject(j, "vectors", (double)sum.vectors);
		cJSON_AddNumberToObject(j, "seconds", cli_round6(sum.seconds));
		rc = cli_json_print(ctx, j, 1);
	} else if (o.reset) {
		printf("reset: embedder %s -> %s; %llu vectors re-embedded in %.2f s\n",
		       sum.model_before, sum.model, (unsigned long long)sum.vectors, sum.seconds);
		rc = CLI_EXIT_OK;
	} else {
		printf("tuned: embedder %s -> %s; weights for %llu words from %llu chunks; %llu vectors "
		       "re-embedded in %.2f s\n",
		       sum.model_before, sum.model, (unsigned long long)sum.features,
		       (unsigned long long)sum.chunks, (unsigned long long)sum.vectors, sum.seconds);
		rc = CLI_EXIT_OK;
	}
out_close:
	ragdb_close(db);
	return rc;
}
