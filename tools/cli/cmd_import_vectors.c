/*
 * tools/cli/cmd_import_vectors.c — `ragdb import-vectors FILE`: vectors
 * from a .fvecs or .fbin file, each stored as a document of one empty chunk
 * (so list, delete, check and compact treat them like any other), ids the
 * row numbers or the lines of --ids FILE. One write transaction per batch.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vecfile.h"

enum { OPT_IDS = CLI_OPT_FIRST_COMMAND_OPT, OPT_BATCH_SIZE, OPT_SOURCE };

int cli_cmd_import_vectors(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{ "json", no_argument, NULL, CLI_OPT_JSON },
		{ "ids", required_argument, NULL, OPT_IDS },
		{ "batch-size", required_argument, NULL, OPT_BATCH_SIZE },
		{ "source", required_argument, NULL, OPT_SOURCE },
		{ NULL, 0, NULL, 0 },
	};
	const char *ids_path = NULL, *source = NULL;
	uint32_t bs = 10000;
	int c, rc, json = 0;

	cli_getopt_begin();
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (cli_common_option(ctx, c, optarg, &rc)) {
			if (rc >= 0)
				return rc;
			continue;
		}
		switch (c) {
		case CLI_OPT_JSON: json = 1; break;
		case OPT_IDS: ids_path = optarg; break;
		case OPT_SOURCE: source = optarg; break;
		case OPT_BATCH_SIZE:
			if ((rc = cli_parse_u32(ctx, "--batch-size", optarg, 1, 1000000, &bs)))
				return rc;
			break;
		default:
			return cli_getopt_error(ctx, c, argv);
		}
	}
	if (optind >= argc)
		return cli_usage_error(ctx, "which file? give a .fvecs or .fbin FILE");
	if (optind + 1 < argc)
		return cli_usage_error(ctx, "give one FILE (unexpected '%s')", argv[optind + 1]);
	const char *path = argv[optind];

	float *vecs = NULL;
	size_t n = 0, added = 0;
	uint32_t dim = 0;
	char msg[512], **ids = NULL, *blob = NULL, num[32];
	char (*nums)[24] = NULL;
	ragdb_vector_record *recs = NULL;
	ragdb *db = NULL;
	double t0 = cli_now();
	if (cli_vecfile_read(path, &vecs, &n, &dim, msg, sizeof msg) != 0)
		return cli_error(ctx, "%s", msg);
	if (ids_path && cli_idfile_read(ids_path, n, &ids, &blob, msg, sizeof msg) != 0) {
		rc = cli_error(ctx, "%s", msg);
		goto out_free;
	}
	recs = calloc(bs, sizeof *recs);
	nums = calloc(bs, sizeof *nums);
	if (!recs || !nums) {
		rc = cli_error(ctx, "out of memory");
		goto out_free;
	}
	if ((rc = cli_open_db(ctx, 0, &db)))
		goto out_free;
	cli_interrupt_install(db);
	for (size_t i = 0; i < n; i += bs) {
		size_t m = n - i < bs ? n - i : bs;
		for (size_t r = 0; r < m; r++) {
			if (!ids)
				snprintf(nums[r], sizeof nums[r], "%zu", i + r);
			recs[r] = (ragdb_vector_record){ ids ? ids[i + r] : nums[r], NULL, NULL,
			                                 source ? source : path, NULL,
			                                 vecs + (i + r) * dim };
		}
		ragdb_status st = ragdb_add_vectors(db, recs, m, dim);
		if (st != RAGDB_OK) {
			rc = cli_api_error(ctx, db, st);
			fprintf(stderr, "ragdb %s: %zu vectors were stored before this failure; importing "
			        "again replaces them\n", ctx->cmd, added);
			goto out_remove;
		}
		added += m;
	}
	(void)num;
	if (json) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddNumberToObject(j, "imported", (double)added);
		cJSON_AddNumberToObject(j, "dim", dim);
		cJSON_AddNumberToObject(j, "took_ms", cli_round6((cli_now() - t0) * 1000));
		rc = cli_json_print(ctx, j, 1);
	} else {
		printf("imported %zu vectors of dimension %u from %s\n", added, dim, path);
		if (added)
			cli_ivf_hint(db);
		rc = CLI_EXIT_OK;
	}
out_remove:
	cli_interrupt_remove();
	ragdb_close(db);
out_free:
	free(nums);
	free(recs);
	free(ids);
	free(blob);
	free(vecs);
	return rc;
}
