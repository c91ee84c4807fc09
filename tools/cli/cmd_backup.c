/*
 * tools/cli/cmd_backup.c — `ragdb backup DIR` (a consistent hot copy of the
 * knowledge base) and `ragdb restore DIR` (put a backup back in place of the
 * knowledge base, after checking it).
 */
#include <string.h>

#include "cli.h"

enum { OPT_FORCE = CLI_OPT_FIRST_COMMAND_OPT };

int cli_cmd_backup(cli_ctx *ctx, int argc, char **argv)
{
	uint64_t bytes = 0;
	ragdb *db = NULL;
	ragdb_status st;
	int rc, json = 0;

	if ((rc = cli_parse_json_only(ctx, argc, argv, &json)) >= 0)
		return rc;
	if (optind + 1 != argc)
		return cli_usage_error(ctx, optind < argc ? "unexpected argument '%s'"
		                                          : "expected the backup directory%s",
		                       optind < argc ? argv[optind + 1] : "");
	/* Read-only: a backup never writes the knowledge base, and works on one
	 * another process is writing to. */
	if ((rc = cli_open_db(ctx, RAGDB_RDONLY, &db)))
		return rc;
	st = ragdb_backup(db, argv[optind], &bytes);
	if (st != RAGDB_OK) {
		rc = cli_api_error(ctx, db, st);
		goto out_close;
	}
	if (json) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "backup", argv[optind]);
		cJSON_AddNumberToObject(j, "bytes", (double)bytes);
		rc = cli_json_print(ctx, j, 1);
	} else {
		char b[32];
		printf("backed up %s to %s (%s)\n", ctx->db_dir, argv[optind],
		       cli_human_bytes(bytes, b, sizeof b));
		rc = CLI_EXIT_OK;
	}
out_close:
	ragdb_close(db);
	return rc;
}

int cli_cmd_restore(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "json", no_argument, NULL, CLI_OPT_JSON },
		{ NULL, 0, NULL, 0 },
	};
	unsigned flags = 0;
	ragdb *b = NULL;
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
		else if (c == OPT_FORCE)
			flags |= RAGDB_RESTORE_FORCE;
		else
			return cli_getopt_error(ctx, c, argv);
	}
	if (optind + 1 != argc)
		return cli_usage_error(ctx, optind < argc ? "unexpected argument '%s'"
		                                          : "expected the backup directory%s",
		                       optind < argc ? argv[optind + 1] : "");
	st = ragdb_open(argv[optind], RAGDB_RDONLY, &b);
	if (st != RAGDB_OK) {
		rc = cli_error(ctx, "cannot open the backup %s: %s", argv[optind], cli_errmsg(b, st));
		goto out_close;
	}
	st = ragdb_restore(b, ctx->db_dir, flags);
	if (st != RAGDB_OK) {
		rc = cli_api_error(ctx, b, st);
		goto out_close;
	}
	if (json) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "restored", ctx->db_dir);
		cJSON_AddStringToObject(j, "from", argv[optind]);
		rc = cli_json_print(ctx, j, 1);
	} else {
		printf("restored %s from %s (checked: invariants hold)\n", ctx->db_dir, argv[optind]);
		rc = CLI_EXIT_OK;
	}
out_close:
	ragdb_close(b);
	return rc;
}
