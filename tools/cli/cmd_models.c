/*
 * tools/cli/cmd_models.c — `ragdb models list|check [--json]`: the models
 * named in the configuration (ragdb.json "models") with their endpoints and
 * balancing policy, and a health check of each. A language model is asked
 * for one answer of one token past the answer cache (reachable, key
 * accepted, the model answers); an embedding model embeds one short text
 * past the vector caches (reachable, key accepted, the dimension it returns
 * and whether that is the knowledge base's). `check` starts with the
 * knowledge base's own embedder, whose dimension must match (a mismatch
 * fails the check; in --json it is "embedder", beside "models"); latency
 * is measured around each call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct models_ctx {
	const cli_ctx *cli;
	ragdb *db;
	int check, json, failed, n;
	ragdb_stats stats;
	cJSON *arr;
	cJSON *kb;   /* --json check: the knowledge base's embedder */
} models_ctx;

/* The knowledge base's embedder, "provider:model". */
static void kb_embedder(const models_ctx *mc, char *out, size_t cap)
{
	snprintf(out, cap, "%s:%s", mc->stats.embedder, mc->stats.embedder_model);
}

/* One check: the status, its latency, the message, the dimension. */
typedef struct check_res {
	ragdb_status st;
	double ms;
	uint32_t dim;
	char msg[600];
} check_res;

static void run_check(models_ctx *mc, const char *name, int embedder, check_res *r)
{
	memset(r, 0, sizeof *r);
	double t0 = cli_now();
	r->st = embedder ? ragdb_check_embedder(mc->db, name, &r->dim) : ragdb_check_model(mc->db, name);
	r->ms = (cli_now() - t0) * 1000.0;
	if (r->st != RAGDB_OK) {
		mc->failed++;
		snprintf(r->msg, sizeof r->msg, "%s", cli_errmsg(mc->db, r->st));
	}
}

static void json_check(cJSON *o, const check_res *r, int embedder, uint32_t kb_dim)
{
	cJSON_AddBoolToObject(o, "ok", r->st == RAGDB_OK);
	cJSON_AddNumberToObject(o, "latency_ms", cli_round6(r->ms));
	if (embedder && r->st == RAGDB_OK) {
		cJSON_AddNumberToObject(o, "dim", r->dim);
		cJSON_AddBoolToObject(o, "dim_matches", r->dim == kb_dim);
	}
	if (r->st != RAGDB_OK)
		cJSON_AddStringToObject(o, "error", r->msg);
}

static void print_check(const char *label, const char *prov_model, const check_res *r, int embedder,
                        uint32_t kb_dim)
{
	if (r->st != RAGDB_OK)
		printf("%-16s %s  FAILED  %s\n", label, prov_model, r->msg);
	else if (embedder)
		printf("%-16s %s  ok  %.0f ms  dim %u%s\n", label, prov_model, r->ms, (unsigned)r->dim,
		       r->dim == kb_dim ? " (the knowledge base's)" : "  (the knowledge base has another)");
	else
		printf("%-16s %s  ok  %.0f ms\n", label, prov_model, r->ms);
}

/* `check` first: the knowledge base's own embedder; its dimension must be
 * the stored one. */
static void check_kb_embedder(models_ctx *mc)
{
	char pm[160];
	kb_embedder(mc, pm, sizeof pm);
	check_res r;
	run_check(mc, NULL, 1, &r);
	if (r.st == RAGDB_OK && r.dim != mc->stats.dim) {
		mc->failed++;
		r.st = RAGDB_EEMBEDDER;
		snprintf(r.msg, sizeof r.msg,
		         "returns vectors of %u dimensions, the knowledge base holds %u: the endpoint serves another model",
		         (unsigned)r.dim, (unsigned)mc->stats.dim);
	}
	if (mc->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "provider", mc->stats.embedder);
		cJSON_AddStringToObject(o, "model", mc->stats.embedder_model);
		cJSON_AddNumberToObject(o, "kb_dim", mc->stats.dim);
		json_check(o, &r, 1, mc->stats.dim);
		mc->kb = o;
	} else {
		print_check("(kb embedder)", pm, &r, 1, mc->stats.dim);
	}
}

static int one(void *ctx, const ragdb_model_info *m)
{
	models_ctx *mc = ctx;
	check_res r = {0};
	char pm[300], kb[160];
	snprintf(pm, sizeof pm, "%s:%s", m->provider, m->model);
	kb_embedder(mc, kb, sizeof kb);
	/* The knowledge base's embedder was checked first. */
	int same_as_kb = m->embedder && strcmp(pm, kb) == 0;
	mc->n++;
	int checked = mc->check && !same_as_kb;
	if (checked)
		run_check(mc, m->name, m->embedder, &r);
	if (mc->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", m->name);
		cJSON_AddStringToObject(o, "provider", m->provider);
		cJSON_AddStringToObject(o, "model", m->model);
		cJSON_AddStringToObject(o, "endpoint", m->endpoint);
		cJSON *eps = cJSON_AddArrayToObject(o, "endpoints");
		for (size_t i = 0; i < m->n_endpoints; i++)
			cJSON_AddItemToArray(eps, cJSON_CreateString(m->endpoints[i]));
		if (m->balance && m->balance[0])
			cJSON_AddStringToObject(o, "balance", m->balance);
		cJSON_AddBoolToObject(o, "embedder", m->embedder);
		cJSON_AddNumberToObject(o, "context_window", m->context_window);
		cJSON_AddNumberToObject(o, "price_input", m->price_input);
		cJSON_AddNumberToObject(o, "price_output", m->price_output);
		cJSON_AddBoolToObject(o, "default", m->is_default);
		cJSON_AddStringToObject(o, "fallback", m->fallback);
		if (checked)
			json_check(o, &r, m->embedder, mc->stats.dim);
		else if (mc->check)
			cJSON_AddStringToObject(o, "checked_as", "embedder");
		cJSON_AddItemToArray(mc->arr, o);
	} else if (mc->check) {
		if (checked)
			print_check(m->name, pm, &r, m->embedder, mc->stats.dim);
		else
			printf("%-16s %s  the knowledge base's embedder (above)\n", m->name, pm);
	} else {
		printf("%-16s %s%s%s\n", m->name, pm, m->embedder ? "  (embedding)" : "",
		       m->is_default ? "  (default)" : "");
		if (m->n_endpoints > 1) {
			printf("    endpoints");
			for (size_t i = 0; i < m->n_endpoints; i++)
				printf("%s %s", i ? "," : "", m->endpoints[i]);
			printf(" (%s)", m->balance);
		} else {
			printf("    endpoint %s", m->endpoint[0] ? m->endpoint : "-");
		}
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
	int rc, json = 0;
	ragdb *db = NULL;

	if ((rc = cli_parse_json_only(ctx, argc, argv, &json)) >= 0)
		return rc;
	const char *sub = optind < argc ? argv[optind] : "list";
	if (strcmp(sub, "list") != 0 && strcmp(sub, "check") != 0)
		return cli_usage_error(ctx, "unknown subcommand '%s'; use list or check", sub);
	if (optind + 1 < argc)
		return cli_usage_error(ctx, "unexpected '%s'", argv[optind + 1]);
	if ((rc = cli_open_db(ctx, RAGDB_RDONLY, &db)))
		return rc;
	models_ctx mc = {.cli = ctx, .db = db, .check = strcmp(sub, "check") == 0, .json = json};
	ragdb_status st = ragdb_get_stats(db, &mc.stats);
	if (st != RAGDB_OK) {
		rc = cli_api_error(ctx, db, st);
		ragdb_close(db);
		return rc;
	}
	if (json)
		mc.arr = cJSON_CreateArray();
	if (mc.check)
		check_kb_embedder(&mc);
	st = ragdb_configured_models(db, one, &mc);
	if (st != RAGDB_OK) {
		cJSON_Delete(mc.arr);
		cJSON_Delete(mc.kb);
		rc = cli_api_error(ctx, db, st);
	} else if (json) {
		cJSON *j = cJSON_CreateObject();
		if (mc.kb)
			cJSON_AddItemToObject(j, "embedder", mc.kb);
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
