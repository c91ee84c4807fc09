/*
 * tools/cli/query_compare.c — `ragdb query "..." --compare M1,M2[,...]`:
 * asks every model the same question with the same context and prints the
 * answers side by side (one section per model: name, latency, tokens,
 * cost, answer), then the sources once.
 *
 * Each model runs ragdb_query() in its own thread on the one read-only
 * handle (reads may share a handle). Retrieval therefore runs once per
 * model, but gives every model the same numbered sources: it is
 * deterministic over one knowledge base, and a remote embedder embeds the
 * question once (the process's query-embedding cache). No public API
 * addition was needed for that; a local retrieval costs milliseconds next
 * to a language model's seconds. A model that fails shows its message in
 * its section; the others still print; the exit status is then 1.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query_compare.h"

#define COMPARE_MAX_MODELS 8

typedef struct cmp_job {
	ragdb *db;
	const char *question;
	ragdb_query_options qo;
	char model[256];
	ragdb_answer *ans;     /* on success */
	ragdb_status st;
	char err[1024];        /* the message, read on this job's thread */
	pthread_t th;
	int started;
} cmp_job;

static void *cmp_run(void *arg)
{
	cmp_job *j = arg;
	j->qo.model = j->model;
	j->st = ragdb_query(j->db, j->question, &j->qo, &j->ans);
	if (j->st != RAGDB_OK)
		snprintf(j->err, sizeof j->err, "%s", cli_errmsg(j->db, j->st));
	return NULL;
}

/* Split @p list at commas (spaces around names dropped). Returns the count,
 * or -1 with a usage message in @p why. */
static int split_models(const char *list, cmp_job *jobs, char *why, size_t wcap)
{
	int n = 0;
	const char *p = list;
	for (;;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		while (len > 0 && (*p == ' ' || *p == '\t'))
			p++, len--;
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0) {
			snprintf(why, wcap, "--compare needs model names separated by commas "
			         "(e.g. openai:gpt-4o-mini,anthropic:claude-sonnet-4-5,extractive); "
			         "an empty name in '%s'", list);
			return -1;
		}
		if (n >= COMPARE_MAX_MODELS) {
			snprintf(why, wcap, "--compare takes at most %d models", COMPARE_MAX_MODELS);
			return -1;
		}
		if (len >= sizeof jobs[n].model) {
			snprintf(why, wcap, "--compare: model name '%.40s...' is too long", p);
			return -1;
		}
		memcpy(jobs[n].model, p, len);
		jobs[n].model[len] = 0;
		n++;
		if (!e)
			break;
		p = e + 1;
	}
	return n;
}

static void print_sources(const cli_ctx *ctx, const ragdb_answer *a)
{
	if (!a || a->n_sources == 0)
		return;
	printf("Sources:\n");
	for (size_t i = 0; i < a->n_sources; i++) {
		const ragdb_source *s = &a->sources[i];
		const char *label = (s->heading && *s->heading) ? s->heading
		                  : (s->title && *s->title) ? s->title : NULL;
		printf("[%u] %s%s%s", (unsigned)s->n, cli_bold(ctx), s->id ? s->id : "", cli_reset(ctx));
		if (label)
			printf(" \xE2\x80\x94 %s", label);
		printf(" (%s, bytes %llu\xE2\x80\x93%llu)\n", s->source ? s->source : "",
		       (unsigned long long)s->start, (unsigned long long)s->end);
	}
}

static void print_section(const cli_ctx *ctx, const cmp_job *j)
{
	printf("%s== %s", cli_bold(ctx), j->model);
	if (j->st != RAGDB_OK) {
		printf(": FAILED ==%s\n%s\n\n", cli_reset(ctx), j->err);
		return;
	}
	const ragdb_answer *a = j->ans;
	if (a->model && strcmp(a->model, j->model) != 0)
		printf(" (%s)", a->model);
	printf(" == %s\n", cli_reset(ctx));
	if (a->extractive)
		printf("(%.2f s, extractive: no language model)\n", a->took_ms / 1000.0);
	else if (a->cached)
		printf("(%.2f s, from the answer cache: no call, 0 tokens)\n", a->took_ms / 1000.0);
	else
		printf("(%.2f s, %llu input + %llu output tokens, cost %.4f)\n", a->took_ms / 1000.0,
		       (unsigned long long)a->input_tokens, (unsigned long long)a->output_tokens, a->cost);
	const char *t = a->answer ? a->answer : "";
	size_t len = strlen(t);
	fputs(t, stdout);
	if (len == 0 || t[len - 1] != '\n')
		putchar('\n');
	putchar('\n');
}

static cJSON *job_json(const cmp_job *j)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "model", j->model);
	cJSON_AddBoolToObject(o, "ok", j->st == RAGDB_OK);
	if (j->st != RAGDB_OK) {
		cJSON_AddStringToObject(o, "error", j->err);
		return o;
	}
	const ragdb_answer *a = j->ans;
	cJSON_AddStringToObject(o, "answered_by", a->model ? a->model : "");
	cJSON_AddBoolToObject(o, "extractive", a->extractive != 0);
	cJSON_AddNumberToObject(o, "took_ms", cli_round6(a->took_ms));
	cJSON_AddNumberToObject(o, "input_tokens", (double)a->input_tokens);
	cJSON_AddNumberToObject(o, "output_tokens", (double)a->output_tokens);
	cJSON_AddNumberToObject(o, "cost", a->cost);
	cJSON_AddBoolToObject(o, "cached", a->cached != 0);
	cJSON_AddStringToObject(o, "answer", a->answer ? a->answer : "");
	cJSON *arr = cJSON_AddArrayToObject(o, "sources");
	for (size_t i = 0; arr && i < a->n_sources; i++) {
		const ragdb_source *s = &a->sources[i];
		cJSON *so = cJSON_CreateObject();
		cJSON_AddNumberToObject(so, "n", s->n);
		cJSON_AddStringToObject(so, "id", s->id ? s->id : "");
		cJSON_AddStringToObject(so, "source", s->source ? s->source : "");
		cJSON_AddStringToObject(so, "title", s->title ? s->title : "");
		cJSON_AddStringToObject(so, "heading", s->heading ? s->heading : "");
		cJSON_AddNumberToObject(so, "start", (double)s->start);
		cJSON_AddNumberToObject(so, "end", (double)s->end);
		cli_json_add_score(so, s->score);
		cJSON_AddStringToObject(so, "text", s->text ? s->text : "");
		cJSON_AddItemToArray(arr, so);
	}
	return o;
}

int cli_query_compare(cli_ctx *ctx, const char *question, const ragdb_query_options *qo,
                      const char *models, int json)
{
	cmp_job jobs[COMPARE_MAX_MODELS];
	char why[300];
	int rc;
	ragdb *db = NULL;
	memset(jobs, 0, sizeof jobs);
	if (qo->model)
		return cli_usage_error(ctx, "--compare names the models itself; drop --model");
	if (qo->conversation_id)
		return cli_usage_error(ctx, "--compare does not work within a conversation; drop "
		                       "--conversation");
	int n = split_models(models, jobs, why, sizeof why);
	if (n < 0)
		return cli_usage_error(ctx, "%s", why);
	if ((rc = cli_open_db(ctx, RAGDB_RDONLY, &db)))
		return rc;
	for (int i = 0; i < n; i++) {
		jobs[i].db = db;
		jobs[i].question = question;
		jobs[i].qo = *qo;
		jobs[i].qo.on_delta = NULL; /* answers print whole, in their sections */
		jobs[i].qo.ctx = NULL;
	}
	/* One thread per model; a model whose thread cannot start runs here. */
	for (int i = 0; i < n; i++)
		jobs[i].started = pthread_create(&jobs[i].th, NULL, cmp_run, &jobs[i]) == 0;
	for (int i = 0; i < n; i++) {
		if (jobs[i].started)
			pthread_join(jobs[i].th, NULL);
		else
			cmp_run(&jobs[i]);
	}
	int failed = 0;
	const ragdb_answer *first = NULL;
	for (int i = 0; i < n; i++) {
		failed += jobs[i].st != RAGDB_OK;
		if (!first && jobs[i].st == RAGDB_OK)
			first = jobs[i].ans;
	}
	if (json) {
		cJSON *arr = cJSON_CreateArray();
		for (int i = 0; i < n; i++)
			cJSON_AddItemToArray(arr, job_json(&jobs[i]));
		rc = cli_json_print(ctx, arr, 1);
	} else {
		for (int i = 0; i < n; i++)
			print_section(ctx, &jobs[i]);
		print_sources(ctx, first);
		rc = CLI_EXIT_OK;
	}
	if (failed) {
		fprintf(stderr, "ragdb %s: %d of %d models failed (see their sections)\n", ctx->cmd, failed,
		        n);
		if (rc == CLI_EXIT_OK)
			rc = CLI_EXIT_ERROR;
	}
	for (int i = 0; i < n; i++)
		ragdb_answer_free(jobs[i].ans);
	ragdb_close(db);
	return rc;
}
