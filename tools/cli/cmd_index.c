/*
 * tools/cli/cmd_index.c — `ragdb index build|stats|drop`: the IVF index
 * (ragdb_index_build, ragdb_index_stats_get, ragdb_index_drop). The
 * benchmark scripts parse `build --json` and `stats --json`: keep the keys.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum { OPT_IVF = CLI_OPT_FIRST_COMMAND_OPT, OPT_RECALL, OPT_SAMPLE, OPT_ITERS, OPT_THREADS };

static cJSON *stats_json(const ragdb_index_stats *s)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "type", "ivf");
	cJSON_AddNumberToObject(j, "nlist", s->nlist);
	cJSON_AddNumberToObject(j, "nprobe", s->nprobe);
	cJSON_AddNumberToObject(j, "vectors", (double)s->vectors);
	cJSON_AddNumberToObject(j, "built", (double)s->built);
	cJSON_AddNumberToObject(j, "added", (double)s->added);
	cJSON_AddNumberToObject(j, "deleted", (double)s->dead);
	cJSON_AddNumberToObject(j, "list_min", (double)s->list_min);
	cJSON_AddNumberToObject(j, "list_median", (double)s->list_median);
	cJSON_AddNumberToObject(j, "list_max", (double)s->list_max);
	cJSON_AddNumberToObject(j, "imbalance", cli_round6(s->imbalance));
	cJSON_AddNumberToObject(j, "bytes", (double)s->bytes);
	cJSON_AddNumberToObject(j, "sample", s->sample);
	cJSON_AddNumberToObject(j, "iters", s->iters);
	cJSON_AddNumberToObject(j, "recall_target", cli_round6(s->recall_target));
	cJSON_AddNumberToObject(j, "recall", cli_round6(s->recall));
	cJSON_AddNumberToObject(j, "build_seconds", cli_round6(s->build_seconds));
	cJSON_AddNumberToObject(j, "created", (double)s->created);
	cJSON_AddNumberToObject(j, "unfinished_bytes", (double)s->unfinished_bytes);
	return j;
}

static void stats_print(const ragdb_index_stats *s)
{
	printf("index:          IVF, %u lists\n", s->nlist);
	printf("default nprobe: %u (recall@10 %.3f on held-out vectors, target %.3f)\n", s->nprobe,
	       (double)s->recall, (double)s->recall_target);
	printf("vectors:        %llu (built with %llu; %llu added since, %llu deleted)\n",
	       (unsigned long long)s->vectors, (unsigned long long)s->built,
	       (unsigned long long)s->added, (unsigned long long)s->dead);
	printf("list sizes:     min %llu, median %llu, max %llu; imbalance (max/mean) %.2f\n",
	       (unsigned long long)s->list_min, (unsigned long long)s->list_median,
	       (unsigned long long)s->list_max, s->imbalance);
	printf("bytes:          %llu\n", (unsigned long long)s->bytes);
	printf("trained on:     %u vectors, %u k-means iterations, %.2f s\n", s->sample, s->iters,
	       s->build_seconds);
	if (s->unfinished_bytes)
		printf("unfinished:     %llu bytes of lists from a build or quantize that did not "
		       "finish (or is running in another process); `ragdb compact` frees them\n",
		       (unsigned long long)s->unfinished_bytes);
}

/* A progress line on a terminal, redrawn at most ten times a second. */
typedef struct build_line {
	double t0, last;
	int shown;
} build_line;

static void on_progress(void *ctx, const char *stage, uint64_t done, uint64_t total)
{
	build_line *l = ctx;
	double now = cli_now();
	if (l->shown && done < total && now - l->last < 0.1)
		return;
	l->last = now;
	l->shown = 1;
	fprintf(stderr, "\r\033[Kindex build: %s %llu/%llu (%.0f s)", stage, (unsigned long long)done,
	        (unsigned long long)total, now - l->t0);
	fflush(stderr);
}

static int parse_recall(const cli_ctx *ctx, const char *arg, float *out)
{
	char *end;
	errno = 0;
	double v = strtod(arg, &end);
	if (errno || end == arg || *end || !(v > 0 && v <= 1))
		return cli_usage_error(ctx, "--recall-target '%s' is not in (0,1]; give e.g. 0.95", arg);
	*out = (float)v;
	return 0;
}

int cli_cmd_index(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{ "json", no_argument, NULL, CLI_OPT_JSON },
		{ "ivf", required_argument, NULL, OPT_IVF },
		{ "recall-target", required_argument, NULL, OPT_RECALL },
		{ "sample", required_argument, NULL, OPT_SAMPLE },
		{ "iters", required_argument, NULL, OPT_ITERS },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ NULL, 0, NULL, 0 },
	};
	ragdb_index_options o;
	memset(&o, 0, sizeof o);
	ragdb *db = NULL;
	int c, rc, json = 0, have_ivf = 0;
	uint32_t threads = 0;

	cli_getopt_begin();
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (cli_common_option(ctx, c, optarg, &rc)) {
			if (rc >= 0)
				return rc;
			continue;
		}
		switch (c) {
		case CLI_OPT_JSON: json = 1; break;
		case OPT_IVF:
			if ((rc = cli_parse_u32(ctx, "--ivf", optarg, 1, 1u << 20, &o.nlist)))
				return rc;
			have_ivf = 1;
			break;
		case OPT_RECALL:
			if ((rc = parse_recall(ctx, optarg, &o.recall_target)))
				return rc;
			break;
		case OPT_SAMPLE:
			if ((rc = cli_parse_u32(ctx, "--sample", optarg, 1, UINT32_MAX, &o.sample)))
				return rc;
			break;
		case OPT_ITERS:
			if ((rc = cli_parse_u32(ctx, "--iters", optarg, 1, 1000, &o.iters)))
				return rc;
			break;
		case OPT_THREADS:
			if ((rc = cli_parse_u32(ctx, "--threads", optarg, 0, 1024, &threads)))
				return rc;
			break;
		default:
			return cli_getopt_error(ctx, c, argv);
		}
	}
	o.threads = (int)threads;
	if (optind >= argc)
		return cli_usage_error(ctx, "which action? give build, stats or drop");
	if (optind + 1 < argc)
		return cli_usage_error(ctx, "give one action (unexpected '%s')", argv[optind + 1]);
	const char *act = argv[optind];
	int build = !strcmp(act, "build"), stats = !strcmp(act, "stats"), drop = !strcmp(act, "drop");
	if (!build && !stats && !drop)
		return cli_usage_error(ctx, "unknown action '%s'; use build, stats or drop", act);
	if (build && !have_ivf)
		return cli_usage_error(ctx, "index build needs --ivf NLIST (the number of lists, e.g. "
		                       "4 x sqrt(vectors))");
	if (!build && (have_ivf || o.recall_target > 0 || o.sample || o.iters))
		return cli_usage_error(ctx, "--ivf, --recall-target, --sample and --iters belong to "
		                       "index build");
	if ((rc = cli_open_db(ctx, stats ? RAGDB_RDONLY : 0, &db)))
		return rc;
	ragdb_index_stats s;
	double t0 = cli_now();
	build_line line = { .t0 = t0 };
	if (build && ctx->stderr_tty && !json) {
		o.on_progress = on_progress;
		o.ctx = &line;
	}
	/* Ctrl-C stops a build at a safe point: the old index stays. */
	if (build)
		cli_interrupt_install(db);
	ragdb_status st = build ? ragdb_index_build(db, &o, &s)
	                  : stats ? ragdb_index_stats_get(db, &s) : ragdb_index_drop(db);
	if (build)
		cli_interrupt_remove();
	if (line.shown) {
		fprintf(stderr, "\r\033[K");
		fflush(stderr);
	}
	if (st != RAGDB_OK) {
		rc = cli_api_error(ctx, db, st);
		goto out_close;
	}
	if (drop) {
		if (json) {
			cJSON *j = cJSON_CreateObject();
			cJSON_AddBoolToObject(j, "dropped", 1);
			rc = cli_json_print(ctx, j, 1);
		} else {
			printf("index dropped\n");
			rc = CLI_EXIT_OK;
		}
		goto out_close;
	}
	if (json) {
		cJSON *j = stats_json(&s);
		if (build)
			cJSON_AddNumberToObject(j, "took_ms", cli_round6((cli_now() - t0) * 1000));
		rc = cli_json_print(ctx, j, 1);
	} else {
		stats_print(&s);
		rc = CLI_EXIT_OK;
	}
out_close:
	ragdb_close(db);
	return rc;
}
