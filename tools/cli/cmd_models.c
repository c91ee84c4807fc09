/*
 * tools/cli/cmd_models.c — `ragdb models list|check [--json]`: the language
 * models named in the configuration (ragdb.json "models"), and a health
 * check of each: one answer of one token past the answer cache (reachable,
 * key accepted, the model answers), with its latency.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct models_ctx {
	const cli_ctx *cli;
	ragdb *db;
	int check, json, failed, n;
	cJSON *arr;
} models_ctx;

static int one(void *ctx, const ragdb_model_info *m)
{
	models_ctx *mc = ctx;
	ragdb_status st = RAGDB_OK;
	double ms = 0;
	char msg[600] = "";
	mc->n++;
	if (mc->check) {
		double t0 = cli_now();
		st = ragdb_check_model(mc->db, m->name);
		ms = (cli_now() - t0) * 1000.0;
		if (st != RAGDB_OK) {
			mc->failed++;
			snprintf(msg, sizeof msg, "%s", cli_errmsg(mc->db, st));
		}
	}
	if (mc->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", m->name);
		cJSON_AddStringToObject(o, "provider", m->provider);
		cJSON_AddStringToObject(o, "model", m->model);
		cJSON_AddStringToObject(o, "endpoint", m->endpoint);
		cJSON_AddNumberToObject(o, "context_window", m->context_window);
		cJSON_AddNumberToObject(o, "price_input", m->price_input);
		cJSON_AddNumberToObject(o, "price_output", m->price_output);
		cJSON_AddBoolToObject(o, "default", m->is_default);
		cJSON_AddStringToObject(o, "fallback", m->fallback);
		if (mc->check) {
			cJSON_AddBoolToObject(o, "ok", st == RAGDB_OK);
			cJSON_AddNumberToObject(o, "latency_ms", cli_round6(ms));
			if (st != RAGDB_OK)
				cJSON_AddStringToObject(o, "error", msg);
		}
		cJSON_AddItemToArray(mc->arr, o);
	} else if (mc->check) {
		if (st == RAGDB_OK)
			printf("%-16s %s:%s  ok  %.0f ms\n", m->name, m->provider, m->model, ms);
		else
			printf("%-16s %s:%s  FAILED  %s\n", m->name, m->provider, m->model, msg);
	} else {
		printf("%-16s %s:%s%s\n", m->name, m->provider, m->model,
		       m->is_default ? "  (default)" : "");
		printf("    endpoint %s", m->endpoint[0] ? m->endpoint : "-");
		if (m->context_window)
			printf(", context %u tokens", (unsigned)m->context_window);
		if (m->price_input > 0 || m->price_output > 0)
			printf(", %.2f/%.2f per 1M tokens in/out", m->price_input, m->price_output);
		if (m->fallback[0])
			printf(", falls back to %s", m->fallback);
		putchar('\n');
	}
	return 0;
}

int cli_cmd_models(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{ "json", no_argument, NULL, CLI_OPT_JSON },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc, json = 0;
	ragdb *db = NULL;

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
	const char *sub = optind < argc ? argv[optind] : "list";
	if (strcmp(sub, "list") != 0 && strcmp(sub, "check") != 0)
		return cli_usage_error(ctx, "unknown subcommand '%s'; use list or check", sub);
	if (optind + 1 < argc)
		return cli_usage_error(ctx, "unexpected '%s'", argv[optind + 1]);
	if ((rc = cli_open_db(ctx, RAGDB_RDONLY, &db)))
		return rc;
	models_ctx mc = {.cli = ctx, .db = db, .check = strcmp(sub, "check") == 0, .json = json};
	if (json)
		mc.arr = cJSON_CreateArray();
	ragdb_status st = ragdb_configured_models(db, one, &mc);
	if (st != RAGDB_OK) {
		cJSON_Delete(mc.arr);
		rc = cli_api_error(ctx, db, st);
	} else if (json) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddItemToObject(j, "models", mc.arr);
		rc = cli_json_print(ctx, j, 1);
	} else {
		if (mc.n == 0)
			printf("no models configured; name them in ragdb.json \"models\" "
			       "(docs/providers.md)\n");
		rc = CLI_EXIT_OK;
	}
	if (rc == CLI_EXIT_OK && mc.failed)
		rc = CLI_EXIT_ERROR;
	ragdb_close(db);
	return rc;
}
