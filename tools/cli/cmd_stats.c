/*
 * tools/cli/cmd_stats.c — `ragdb stats`: the knowledge base's settings
 * (schema, embedder, dimension, chunking, kernel) and sizes.
 */
#include <string.h>

#include "cli.h"
#include "model_stats.h"

enum { OPT_MODELS = CLI_OPT_FIRST_COMMAND_OPT };

/* `stats --models`: the counters of every model called through this
 * knowledge base's directory by earlier commands (model_stats.h). */
static int print_models(cli_ctx *ctx, int json)
{
	cJSON *arr = cli_model_stats_load(ctx), *m;
	if (!arr) {
		fprintf(stderr, "ragdb %s: out of memory\n", ctx->cmd);
		return CLI_EXIT_ERROR;
	}
	cJSON_ArrayForEach(m, arr) {
		double hits = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(m, "cache_hits"));
		double miss = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(m, "cache_misses"));
		double calls = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(m, "calls"));
		double sum = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(m, "latency_sum_ms"));
		cJSON_AddNumberToObject(m, "cache_hit_rate", hits + miss > 0 ? cli_round6(hits / (hits + miss)) : 0);
		cJSON_AddNumberToObject(m, "latency_mean_ms", calls > 0 ? cli_round6(sum / calls) : 0);
	}
	if (json) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "db", ctx->db_dir);
		if (!cJSON_AddItemToObject(j, "models", arr))
			cJSON_Delete(arr);
		return cli_json_print(ctx, j, 1);
	}
	if (cJSON_GetArraySize(arr) == 0)
		printf("no model has been called through %s yet (the built-in embedder and answerer are "
		       "not counted)\n", ctx->db_dir);
	cJSON_ArrayForEach(m, arr) {
#define N(k) cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(m, k))
		cJSON *lat = cJSON_GetObjectItemCaseSensitive(m, "latency_ms"), *e;
		printf("%s%s%s (%s)\n", cli_bold(ctx), cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "model")),
		       cli_reset(ctx), cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "kind")));
		printf("  requests      %.0f, errors %.0f", N("requests"), N("errors"));
		int first = 1;
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(m, "errors_by_kind")) {
			if (cJSON_GetNumberValue(e) > 0) {
				printf("%s%s %.0f", first ? " (" : ", ", e->string, cJSON_GetNumberValue(e));
				first = 0;
			}
		}
		printf("%s\n", first ? "" : ")");
		printf("  latency       mean %.1f ms", N("latency_mean_ms"));
		if (cJSON_IsObject(lat))
			printf(", last run p50 %.1f / p95 %.1f / p99 %.1f ms",
			       cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(lat, "p50")),
			       cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(lat, "p95")),
			       cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(lat, "p99")));
		printf("\n  tokens        %.0f input, %.0f output; cost %.4f\n", N("input_tokens"),
		       N("output_tokens"), N("cost"));
		if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "kind")), "llm") == 0)
			printf("  answer cache  %.0f hits, %.0f misses (hit rate %.0f%%)\n", N("cache_hits"),
			       N("cache_misses"), 100 * N("cache_hit_rate"));
#undef N
	}
	cJSON_Delete(arr);
	return CLI_EXIT_OK;
}

int cli_cmd_stats(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{ "json", no_argument, NULL, CLI_OPT_JSON },
		{ "models", no_argument, NULL, OPT_MODELS },
		{ NULL, 0, NULL, 0 },
	};
	ragdb_stats s;
	ragdb *db = NULL;
	ragdb_status st;
	int c, rc, json = 0, models = 0;

	cli_getopt_begin();
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (cli_common_option(ctx, c, optarg, &rc)) {
			if (rc >= 0)
				return rc;
			continue;
		}
		if (c == CLI_OPT_JSON)
			json = 1;
		else if (c == OPT_MODELS)
			models = 1;
		else
			return cli_getopt_error(ctx, c, argv);
	}
	if (optind < argc)
		return cli_usage_error(ctx, "unexpected argument '%s'", argv[optind]);
	if (models)
		return print_models(ctx, json);
	if ((rc = cli_open_db(ctx, RAGDB_RDONLY, &db)))
		return rc;
	memset(&s, 0, sizeof s);
	st = ragdb_get_stats(db, &s);
	if (st != RAGDB_OK) {
		rc = cli_api_error(ctx, db, st);
		goto out_close;
	}
	ragdb_cache_info ci;
	if (ragdb_cache_stats(db, &ci) != RAGDB_OK)
		ci.enabled = 0;
	if (json) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "db", ctx->db_dir);
		cJSON_AddNumberToObject(j, "schema_version", s.schema_version);
		cJSON_AddStringToObject(j, "embedder", s.embedder);
		cJSON_AddStringToObject(j, "embedder_model", s.embedder_model);
		cJSON_AddNumberToObject(j, "dim", s.dim);
		cJSON_AddNumberToObject(j, "chunk_tokens", s.chunk_tokens);
		cJSON_AddNumberToObject(j, "chunk_overlap", s.chunk_overlap);
		cJSON_AddNumberToObject(j, "documents", (double)s.documents);
		cJSON_AddNumberToObject(j, "chunks", (double)s.chunks);
		cJSON_AddNumberToObject(j, "vectors_live", (double)s.vectors_live);
		cJSON_AddNumberToObject(j, "vectors_dead", (double)s.vectors_dead);
		cJSON_AddNumberToObject(j, "blocks", (double)s.blocks);
		cJSON_AddNumberToObject(j, "text_bytes", (double)s.text_bytes);
		cJSON_AddNumberToObject(j, "file_bytes", (double)s.file_bytes);
		cJSON_AddNumberToObject(j, "map_bytes", (double)s.map_bytes);
		cJSON_AddStringToObject(j, "kernel", s.kernel);
		cJSON_AddStringToObject(j, "quantize", s.quantize);
		cJSON_AddNumberToObject(j, "quantize_bytes", (double)s.quantize_bytes);
		if (s.unfinished_quantize[0]) {
			cJSON *u = cJSON_AddObjectToObject(j, "unfinished_quantize");
			cJSON_AddStringToObject(u, "to", s.unfinished_quantize);
			cJSON_AddNumberToObject(u, "bytes", (double)s.unfinished_bytes);
		} else {
			cJSON_AddNullToObject(j, "unfinished_quantize");
		}
		cJSON_AddNumberToObject(j, "unfinished_reembed_bytes",
		                        (double)s.unfinished_reembed_bytes);
		if (ci.enabled) {
			cJSON *cj = cJSON_AddObjectToObject(j, "cache");
			cJSON_AddStringToObject(cj, "dir", ci.dir);
			cJSON_AddNumberToObject(cj, "entries", (double)ci.entries);
			cJSON_AddNumberToObject(cj, "bytes", (double)ci.bytes);
			cJSON_AddNumberToObject(cj, "max_bytes", (double)ci.max_bytes);
		} else {
			cJSON_AddNullToObject(j, "cache");
		}
		rc = cli_json_print(ctx, j, 1);
	} else {
		char b1[32], b2[32], b3[32];
		printf("knowledge base  %s\n", ctx->db_dir);
		printf("schema          %u\n", (unsigned)s.schema_version);
		printf("embedder        %s%s%s, dim %u\n", s.embedder, s.embedder_model[0] ? "/" : "",
		       s.embedder_model, (unsigned)s.dim);
		printf("chunking        %u tokens, overlap %u\n", (unsigned)s.chunk_tokens,
		       (unsigned)s.chunk_overlap);
		printf("documents       %llu\n", (unsigned long long)s.documents);
		printf("chunks          %llu\n", (unsigned long long)s.chunks);
		printf("vectors         %llu live, %llu deleted (ragdb compact drops them), "
		       "%llu blocks\n",
		       (unsigned long long)s.vectors_live, (unsigned long long)s.vectors_dead,
		       (unsigned long long)s.blocks);
		printf("text            %s\n", cli_human_bytes(s.text_bytes, b1, sizeof b1));
		printf("data file       %s (map %s)\n", cli_human_bytes(s.file_bytes, b2, sizeof b2),
		       cli_human_bytes(s.map_bytes, b3, sizeof b3));
		printf("kernel          %s\n", s.kernel);
		if (strcmp(s.quantize, "f32") == 0)
			printf("quantize        f32 (the scan reads the vectors)\n");
		else
			printf("quantize        %s, %s of blocks the scan reads first (the f32 vectors "
			       "rescore)\n", s.quantize, cli_human_bytes(s.quantize_bytes, b1, sizeof b1));
		if (s.unfinished_quantize[0])
			printf("unfinished      a conversion to %s that did not finish left %s unused; "
			       "`ragdb compact` frees it, `ragdb quantize %s` starts over\n",
			       s.unfinished_quantize,
			       cli_human_bytes(s.unfinished_bytes, b1, sizeof b1), s.unfinished_quantize);
		if (s.unfinished_reembed_bytes)
			printf("unfinished      %s of vectors a re-embed or tune staged (running in "
			       "another process, or stopped); `ragdb compact` frees them\n",
			       cli_human_bytes(s.unfinished_reembed_bytes, b1, sizeof b1));
		if (ci.enabled)
			printf("cache           %s: %llu entries, %s of %s\n", ci.dir,
			       (unsigned long long)ci.entries, cli_human_bytes(ci.bytes, b1, sizeof b1),
			       cli_human_bytes(ci.max_bytes, b2, sizeof b2));
		else
			printf("cache           off\n");
		rc = CLI_EXIT_OK;
	}
out_close:
	ragdb_close(db);
	return rc;
}
