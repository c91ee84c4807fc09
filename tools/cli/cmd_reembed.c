/*
 * tools/cli/cmd_reembed.c — `ragdb reembed --embedder SPEC [--dim N]`:
 * re-embed every chunk with another embedder, replacing the vectors and
 * the recorded embedder (staged, switched to at the end); progress on stderr.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

enum { OPT_DIM = CLI_OPT_FIRST_COMMAND_OPT, OPT_EMBEDDER };

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
	(void)ctx;
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "\rre-embedding: %llu / %llu vectors", (unsigned long long)done,
		        (unsigned long long)total);
}

int cli_cmd_reembed(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{ "json", no_argument, NULL, CLI_OPT_JSON },
		{ "dim", required_argument, NULL, OPT_DIM },
		{ "embedder", required_argument, NULL, OPT_EMBEDDER },
		{ NULL, 0, NULL, 0 },
	};
	ragdb_reembed_options o;
	ragdb_reembed_summary sum;
	ragdb *db = NULL;
	ragdb_status st;
	int c, rc, json = 0;
	const char *spec = NULL;

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
		else if (c == OPT_EMBEDDER)
			spec = optarg;
		else if (c == OPT_DIM) {
			if ((rc = cli_parse_u32(ctx, "--dim", optarg, 1, 65536, &o.dim)))
				return rc;
		} else
			return cli_getopt_error(ctx, c, argv);
	}
	if (optind < argc)
		return cli_usage_error(ctx, "unexpected argument '%s'", argv[optind]);
	if (!spec || !*spec)
		return cli_usage_error(ctx, "reembed needs --embedder SPEC (e.g. "
		                       "openai:text-embedding-3-small, ollama:nomic-embed-text or local)");
	o.endpoint = getenv("RAGDB_EMBED_ENDPOINT");
	o.progress = on_progress;
	if ((rc = cli_open_db(ctx, 0, &db)))
		return rc;
	cli_interrupt_install(db);
	st = ragdb_reembed(db, spec, &o, &sum);
	cli_interrupt_remove();
	if (isatty(STDERR_FILENO))
		fputc('\n', stderr);
	if (st != RAGDB_OK) {
		rc = cli_api_error(ctx, db, st);
		goto out_close;
	}
	fprintf(stderr, "re-embedded %llu vectors: %s (dim %u) -> %s (dim %u) in %.2f s\n",
	        (unsigned long long)sum.vectors, sum.embedder_before, sum.dim_before, sum.embedder,
	        sum.dim, sum.seconds);
	if (sum.index_dropped)
		fprintf(stderr, "the IVF index was built from the old vectors and was dropped; "
		        "rebuild it with ragdb index build\n");
	if (sum.cache_needed) {
		char b[32];
		fprintf(stderr, "note: the provider was called inside the write transactions, which held "
		        "the writer lock meanwhile: the new vectors do not fit in half the "
		        "disk cache; with \"cache\": {\"embed_max_bytes\": %llu} (%s) in ragdb.json they "
		        "would be fetched first\n", (unsigned long long)sum.cache_needed,
		        cli_human_bytes(sum.cache_needed, b, sizeof b));
	}
	if (json) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "embedder_before", sum.embedder_before);
		cJSON_AddStringToObject(j, "embedder", sum.embedder);
		cJSON_AddNumberToObject(j, "dim_before", sum.dim_before);
		cJSON_AddNumberToObject(j, "dim", sum.dim);
		cJSON_AddNumberToObject(j, "vectors", (double)sum.vectors);
		cJSON_AddBoolToObject(j, "index_dropped", sum.index_dropped != 0);
		cJSON_AddNumberToObject(j, "cache_needed", (double)sum.cache_needed);
		cJSON_AddNumberToObject(j, "seconds", cli_round6(sum.seconds));
		rc = cli_json_print(ctx, j, 1);
	} else {
		rc = CLI_EXIT_OK;
	}
out_close:
	ragdb_close(db);
	return rc;
}
