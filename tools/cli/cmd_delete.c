/*
 * tools/cli/cmd_delete.c — `ragdb delete ID...` and `ragdb delete --source
 * PATH`: remove documents with their chunks and vectors. Every id is tried
 * even when an earlier one is unknown; the exit status says if any failed.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum { OPT_SOURCE = CLI_OPT_FIRST_COMMAND_OPT };

int cli_cmd_delete(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{ "json", no_argument, NULL, CLI_OPT_JSON },
		{ "source", required_argument, NULL, OPT_SOURCE },
		{ NULL, 0, NULL, 0 },
	};
	const char **sources;
	size_t n_sources = 0;
	cJSON *j = NULL, *deleted = NULL, *missing = NULL;
	uint64_t by_source = 0;
	ragdb *db = NULL;
	int c, rc, json = 0, failed = 0;

	sources = calloc((size_t)argc + 1, sizeof *sources);
	if (!sources)
		return cli_error(ctx, "out of memory");
	cli_getopt_begin();
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (cli_common_option(ctx, c, optarg, &rc)) {
			if (rc >= 0)
				goto out_free_sources;
			continue;
		}
		if (c == CLI_OPT_JSON) {
			json = 1;
		} else if (c == OPT_SOURCE) {
			sources[n_sources++] = optarg;
		} else {
			rc = cli_getopt_error(ctx, c, argv);
			goto out_free_sources;
		}
	}
	if (optind >= argc && n_sources == 0) {
		rc = cli_usage_error(ctx, "what to delete? give document IDs or --source PATH");
		goto out_free_sources;
	}
	if ((rc = cli_open_db(ctx, 0, &db)))
		goto out_free_sources;
	if (json) {
		j = cJSON_CreateObject();
		deleted = cJSON_AddArrayToObject(j, "deleted");
		missing = cJSON_AddArrayToObject(j, "not_found");
	}

	for (int i = optind; i < argc; i++) {
		ragdb_status st = ragdb_delete(db, argv[i]);
		if (st == RAGDB_OK) {
			if (json)
				cJSON_AddItemToArray(deleted, cJSON_CreateString(argv[i]));
			else
				printf("deleted %s\n", argv[i]);
		} else if (st == RAGDB_ENOTFOUND) {
			failed++;
			fprintf(stderr, "ragdb delete: no document with id '%s'\n", argv[i]);
			if (json)
				cJSON_AddItemToArray(missing, cJSON_CreateString(argv[i]));
		} else {
			failed++;
			rc = cli_api_error(ctx, db, st);
		}
	}
	for (size_t i = 0; i < n_sources; i++) {
		uint64_t n = 0;
		ragdb_status st = ragdb_delete_source(db, sources[i], &n);
		if (st != RAGDB_OK) {
			failed++;
			rc = cli_api_error(ctx, db, st);
			continue;
		}
		by_source += n;
		if (!json)
			printf("deleted %llu document%s from %s\n", (unsigned long long)n,
			       n == 1 ? "" : "s", sources[i]);
	}
	if (json) {
		cJSON_AddNumberToObject(j, "deleted_by_source", (double)by_source);
		rc = cli_json_print(ctx, j, 1);
		j = NULL;
	}
	if (failed)
		rc = CLI_EXIT_ERROR;
	cJSON_Delete(j);
	ragdb_close(db);
out_free_sources:
	free(sources);
	return rc;
}
