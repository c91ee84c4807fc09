/*
 * tools/cli/cmd_check.c — `ragdb check`: run the store's invariant checks,
 * print every problem, exit 1 when there is any; `--repair` first makes the
 * safe repairs (meta counters) and reports each.
 */
#include <string.h>

#include "cli.h"

/* Problems kept for --json; more are counted but not listed. */
#define CHECK_MAX_LISTED 10000

typedef struct check_run {
	int json;
	cJSON *problems;
	size_t n_listed;
} check_run;

static void on_problem(void *vctx, const char *problem)
{
	check_run *r = vctx;

	if (!r->json) {
		printf("problem: %s\n", problem);
		return;
	}
	if (r->n_listed < CHECK_MAX_LISTED &&
	    cJSON_AddItemToArray(r->problems, cJSON_CreateString(problem)))
		r->n_listed++;
}

static void on_repaired(void *vctx, const char *what)
{
	(void)vctx;
	printf("repaired: %s\n", what);
}

int cli_cmd_check(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{ "json", no_argument, NULL, CLI_OPT_JSON },
		{ "repair", no_argument, NULL, CLI_OPT_FIRST_COMMAND_OPT },
		{ NULL, 0, NULL, 0 },
	};
	check_run run;
	ragdb_stats s;
	uint64_t n_problems = 0;
	ragdb *db = NULL;
	ragdb_status st;
	int c, rc, repair = 0;
	uint64_t n_repaired = 0;

	memset(&run, 0, sizeof run);
	cli_getopt_begin();
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (cli_common_option(ctx, c, optarg, &rc)) {
			if (rc >= 0)
				return rc;
			continue;
		}
		if (c == CLI_OPT_JSON)
			run.json = 1;
		else if (c == CLI_OPT_FIRST_COMMAND_OPT)
			repair = 1;
		else
			return cli_getopt_error(ctx, c, argv);
	}
	if (optind < argc)
		return cli_usage_error(ctx, "unexpected argument '%s'", argv[optind]);
	if ((rc = cli_open_db(ctx, repair ? 0 : RAGDB_RDONLY, &db)))
		return rc;
	/* --repair: the safe repairs first (counters), then the check reports
	 * what is left, which has no safe repair. */
	if (repair) {
		st = ragdb_repair(db, run.json ? NULL : on_repaired, NULL, &n_repaired);
		if (st != RAGDB_OK) {
			rc = cli_api_error(ctx, db, st);
			goto out_close;
		}
	}
	if (run.json && !(run.problems = cJSON_CreateArray())) {
		rc = cli_error(ctx, "out of memory");
		goto out_close;
	}
	st = ragdb_check(db, on_problem, &run, &n_problems);
	if (st != RAGDB_OK) {
		rc = cli_api_error(ctx, db, st);
		goto out_free_problems;
	}
	memset(&s, 0, sizeof s);
	if (ragdb_get_stats(db, &s) != RAGDB_OK)
		memset(&s, 0, sizeof s);
	if (run.json) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddBoolToObject(j, "ok", n_problems == 0);
		cJSON_AddNumberToObject(j, "documents", (double)s.documents);
		cJSON_AddNumberToObject(j, "chunks", (double)s.chunks);
		cJSON_AddNumberToObject(j, "n_problems", (double)n_problems);
		if (repair)
			cJSON_AddNumberToObject(j, "n_repaired", (double)n_repaired);
		cJSON_AddItemToObject(j, "problems", run.problems);
		run.problems = NULL;
		if (cli_json_print(ctx, j, 1))
			rc = CLI_EXIT_ERROR;
	} else if (n_problems == 0) {
		printf("ok: %llu documents, %llu chunks, invariants hold\n",
		       (unsigned long long)s.documents, (unsigned long long)s.chunks);
	}
	if (n_problems > 0) {
		fprintf(stderr, "ragdb check: %llu problem%s found%s\n", (unsigned long long)n_problems,
		        n_problems == 1 ? "" : "s",
		        repair ? " with no safe repair: restore a backup (ragdb restore)" : "");
		rc = CLI_EXIT_ERROR;
	}
out_free_problems:
	cJSON_Delete(run.problems);
out_close:
	ragdb_close(db);
	return rc;
}
