/*
 * tools/cli/cmd_compact.c — `ragdb compact`: rewrite the vector blocks
 * without tombstones and report the bytes freed for reuse.
 */
#include <string.h>

#include "cli.h"

int cli_cmd_compact(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{ "json", no_argument, NULL, CLI_OPT_JSON },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t freed = 0;
	ragdb *db = NULL;
	ragdb_status st;
	int c, rc, json = 0;

	cli_getopt_begin();
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (cli_common_option(ctx, c, optarg, &rc)) {
			if (rc >= 0)
				return rc;
			continue;
		}
		if (c == CLI_OPT_JSON)
			json = 1;
		else
			return cli_getopt_error(ctx, c, argv);
	}
	if (optind < argc)
		return cli_usage_error(ctx, "unexpected argument '%s'", argv[optind]);
	if ((rc = cli_open_db(ctx, 0, &db)))
		return rc;
	st = ragdb_compact(db, &freed);
	if (st != RAGDB_OK) {
		rc = cli_api_error(ctx, db, st);
		goto out_close;
	}
	if (json) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddNumberToObject(j, "freed_bytes", (double)freed);
		rc = cli_json_print(ctx, j, 1);
	} else {
		char b[32];
		printf("compacted: %s freed (%llu bytes), reused by later writes\n",
		       cli_human_bytes(freed, b, sizeof b), (unsigned long long)freed);
		rc = CLI_EXIT_OK;
	}
out_close:
	ragdb_close(db);
	return rc;
}
