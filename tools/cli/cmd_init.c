/*
 * tools/cli/cmd_init.c — `ragdb init`: create an empty knowledge base with
 * its embedder, dimension and default chunking fixed from then on.
 */
#include <string.h>

#include "cli.h"

enum { OPT_EMBEDDER = CLI_OPT_FIRST_COMMAND_OPT, OPT_DIM, OPT_CHUNK_TOKENS, OPT_OVERLAP, OPT_LANGUAGE, OPT_QUANTIZE };

int cli_cmd_init(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{ "json", no_argument, NULL, CLI_OPT_JSON },
		{ "embedder", required_argument, NULL, OPT_EMBEDDER },
		{ "dim", required_argument, NULL, OPT_DIM },
		{ "chunk-tokens", required_argument, NULL, OPT_CHUNK_TOKENS },
		{ "overlap", required_argument, NULL, OPT_OVERLAP },
		{ "language", required_argument, NULL, OPT_LANGUAGE },
		{ "quantize", required_argument, NULL, OPT_QUANTIZE },
		{ NULL, 0, NULL, 0 },
	};
	ragdb_create_options o;
	ragdb_stats s;
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
		switch (c) {
		case CLI_OPT_JSON:
			json = 1;
			break;
		case OPT_EMBEDDER:
			o.embedder = optarg;
			break;
		case OPT_DIM:
			if ((rc = cli_parse_u32(ctx, "--dim", optarg, 1, 65536, &o.dim)))
				return rc;
			break;
		case OPT_CHUNK_TOKENS:
			if ((rc = cli_parse_u32(ctx, "--chunk-tokens", optarg, 1, 1u << 20, &o.chunk_tokens)))
				return rc;
			break;
		case OPT_OVERLAP:
			if ((rc = cli_parse_u32(ctx, "--overlap", optarg, 0, 1u << 20, &o.chunk_overlap)))
				return rc;
			/* On the command line 0 means "none"; in the API 0 is the default. */
			if (o.chunk_overlap == 0)
				o.chunk_overlap = UINT32_MAX;
			break;
		case OPT_LANGUAGE:
			o.language = optarg;
			break;
		case OPT_QUANTIZE:
			o.quantize = optarg;
			break;
		default:
			return cli_getopt_error(ctx, c, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error(ctx, "unexpected argument '%s'", argv[optind]);

	st = ragdb_create(ctx->db_dir, &o, &db);
	if (st == RAGDB_EEXIST) {
		rc = cli_error(ctx, "a knowledge base already exists in %s; use it as it is, or remove "
		               "the directory to start over", ctx->db_dir);
		goto out_close;
	}
	if (st != RAGDB_OK) {
		rc = cli_api_error(ctx, db, st);
		goto out_close;
	}
	st = ragdb_get_stats(db, &s);
	if (st != RAGDB_OK) {
		/* Created, but we cannot describe it: still a success. */
		printf("created knowledge base in %s\n", ctx->db_dir);
		rc = CLI_EXIT_OK;
		goto out_close;
	}
	if (json) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "db", ctx->db_dir);
		cJSON_AddStringToObject(j, "embedder", s.embedder);
		cJSON_AddStringToObject(j, "embedder_model", s.embedder_model);
		cJSON_AddNumberToObject(j, "dim", s.dim);
		cJSON_AddNumberToObject(j, "chunk_tokens", s.chunk_tokens);
		cJSON_AddNumberToObject(j, "chunk_overlap", s.chunk_overlap);
		cJSON_AddStringToObject(j, "quantize", ragdb_quantization(db));
		rc = cli_json_print(ctx, j, 1);
	} else {
		printf("created knowledge base in %s (embedder %s%s%s, dim %u, chunks of %u tokens, "
		       "overlap %u)\n",
		       ctx->db_dir, s.embedder, s.embedder_model[0] ? "/" : "", s.embedder_model,
		       (unsigned)s.dim, (unsigned)s.chunk_tokens, (unsigned)s.chunk_overlap);
		printf("next: ragdb%s%s ingest PATH...\n", ctx->db_given ? " --db " : "",
		       ctx->db_given ? ctx->db_dir : "");
		rc = CLI_EXIT_OK;
	}
out_close:
	ragdb_close(db);
	return rc;
}
