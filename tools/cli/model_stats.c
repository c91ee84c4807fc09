/*
 * tools/cli/model_stats.c — per-model counters across CLI runs (see
 * model_stats.h). Concurrent commands serialise on an flock of
 * model-stats.json.lock;
 * the new contents are written to a temporary file and renamed in, so a
 * reader never sees half a file.
 */
#include "model_stats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


static void add_num(cJSON *o, const char *k, double d)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	if (cJSON_IsNumber(v))
		cJSON_SetNumberValue(v, v->valuedouble + d);
	else
		cJSON_AddNumberToObject(o, k, d);
}

static cJSON *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	cJSON *j = NULL;
	char *buf = NULL;
	if (!f)
		return NULL;
	buf = malloc(CLI_MODEL_STATS_MAX_BYTES + 1);
	if (buf) {
		size_t n = fread(buf, 1, CLI_MODEL_STATS_MAX_BYTES + 1, f);
		if (n <= CLI_MODEL_STATS_MAX_BYTES)
			j = cJSON_ParseWithLength(buf, n);
	}
	free(buf);
	fclose(f);
	if (j && !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "models"))) {
		cJSON_Delete(j);
		j = NULL;
	}
	return j;
}

static cJSON *find_model(cJSON *arr, const char *model, const char *kind)
{
	cJSON *m;
	cJSON_ArrayForEach(m, arr) {
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(m, "model");
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(m, "kind");
		if (cJSON_IsString(a) && cJSON_IsString(k) && strcmp(a->valuestring, model) == 0 &&
		    strcmp(k->valuestring, kind) == 0)
			return m;
	}
	return NULL;
}

/* Add one snapshot entry to the array @p arr (created entries included). */
static void merge(cJSON *arr, const ragdb_model_metrics *s)
{
	cJSON *m = find_model(arr, s->model, s->kind);
	if (!m) {
		m = cJSON_CreateObject();
		if (!m || !cJSON_AddItemToArray(arr, m)) {
			cJSON_Delete(m);
			return;
		}
		cJSON_AddStringToObject(m, "model", s->model);
		cJSON_AddStringToObject(m, "kind", s->kind);
	}
	add_num(m, "requests", (double)s->requests);
	add_num(m, "errors", (double)s->errors);
	cJSON *ek = cJSON_GetObjectItemCaseSensitive(m, "errors_by_kind");
	if (!cJSON_IsObject(ek)) {
		cJSON_DeleteItemFromObjectCaseSensitive(m, "errors_by_kind");
		ek = cJSON_AddObjectToObject(m, "errors_by_kind");
	}
	for (int k = 0; ek && k < RAGDB_MERR_COUNT; k++)
		add_num(ek, ragdb_model_error_name((ragdb_model_error)k), (double)s->errors_by_kind[k]);
	add_num(m, "calls", (double)s->calls);
	add_num(m, "latency_sum_ms", s->latency_sum_ms);
	add_num(m, "input_tokens", (double)s->input_tokens);
	add_num(m, "output_tokens", (double)s->output_tokens);
	add_num(m, "cost", s->cost);
	add_num(m, "cache_hits", (double)s->cache_hits);
	add_num(m, "cache_misses", (double)s->cache_misses);
	if (s->calls) {
		/* Percentiles do not add up across runs: keep the latest run's. */
		cJSON_DeleteItemFromObjectCaseSensitive(m, "latency_ms");
		cJSON *l = cJSON_AddObjectToObject(m, "latency_ms");
		if (l) {
			cJSON_AddNumberToObject(l, "p50", cli_round6(s->latency_p50_ms));
			cJSON_AddNumberToObject(l, "p95", cli_round6(s->latency_p95_ms));
			cJSON_AddNumberToObject(l, "p99", cli_round6(s->latency_p99_ms));
		}
	}
}

void cli_model_stats_save(const cli_ctx *ctx)
{
	ragdb_model_metrics *ms = NULL;
	size_t n = 0;
	char path[4096], tmp[4200];
	struct stat sb;
	cJSON *j = NULL, *arr;
	char *text = NULL;
	int fd = -1;
	if (!ctx || !ctx->db_dir || ragdb_model_metrics_get(&ms, &n) != RAGDB_OK || n == 0)
		goto out_free;
	if (stat(ctx->db_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
		goto out_free;
	if (snprintf(path, sizeof path, "%s/%s", ctx->db_dir, CLI_MODEL_STATS_FILE) >= (int)sizeof path)
		goto out_free;
	snprintf(tmp, sizeof tmp, "%s.lock", path);
	fd = open(tmp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || flock(fd, LOCK_EX) != 0)
		goto out_free;
	j = read_file(path);
	if (!j) {
		j = cJSON_CreateObject();
		if (!j || !cJSON_AddArrayToObject(j, "models"))
			goto out_free;
	}
	arr = cJSON_GetObjectItemCaseSensitive(j, "models");
	for (size_t i = 0; i < n; i++)
		merge(arr, &ms[i]);
	cJSON_DeleteItemFromObjectCaseSensitive(j, "updated");
	cJSON_AddNumberToObject(j, "updated", (double)time(NULL));
	snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
	text = cJSON_Print(j);
	if (!text)
		goto out_free;
	FILE *f = fopen(tmp, "wb");
	if (!f)
		goto out_free;
	size_t len = strlen(text);
	int ok = fwrite(text, 1, len, f) == len;
	ok = (fclose(f) == 0) && ok;
	/* The lock is a file of its own: the data file is replaced by rename,
	 * and a lock on a replaced inode would not exclude the next writer. */
	if (!ok || rename(tmp, path) != 0)
		unlink(tmp);
out_free:
	if (fd >= 0)
		close(fd);
	free(text);
	cJSON_Delete(j);
	ragdb_model_metrics_free(ms);
}

cJSON *cli_model_stats_load(const cli_ctx *ctx)
{
	char path[4096];
	ragdb_model_metrics *ms = NULL;
	size_t n = 0;
	cJSON *j = NULL, *arr;
	if (snprintf(path, sizeof path, "%s/%s", ctx->db_dir, CLI_MODEL_STATS_FILE) < (int)sizeof path)
		j = read_file(path);
	arr = j ? cJSON_DetachItemFromObjectCaseSensitive(j, "models") : cJSON_CreateArray();
	cJSON_Delete(j);
	if (!arr)
		return NULL;
	if (ragdb_model_metrics_get(&ms, &n) == RAGDB_OK)
		for (size_t i = 0; i < n; i++)
			merge(arr, &ms[i]);
	ragdb_model_metrics_free(ms);
	return arr;
}
