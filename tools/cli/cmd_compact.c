/*
 * tools/cli/cmd_compact.c — `ragdb compact`: rewrite the vector blocks
 * without tombstones and report the bytes freed for reuse. Ctrl-C stops
 * it between two of its write transactions (what they freed stays freed).
 */
#include <string.h>

#include "cli.h"

int cli_cmd_compact(cli_ctx *ctx, int argc, char **argv)
{
	uint64_t freed = 0;
	ragdb *db = NULL;
	ragdb_status st;
	int rc, json = 0;

	if ((rc = cli_parse_json_only(ctx, argc, argv, &json)) >= 0)
		return rc;
	if (optind < argc)
		return cli_usage_error(ctx, "unexpected argument '%s'", argv[optind]);
	if ((rc = cli_open_db(ctx, 0, &db)))
		return rc;
	cli_interrupt_install(db);
	st = ragdb_compact(db, &freed);
	cli_interrupt_remove();
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
