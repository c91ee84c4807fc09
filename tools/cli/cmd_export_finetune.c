/*
 * tools/cli/cmd_export_finetune.c — `ragdb export-finetune --format
 * jsonl|csv [--split 0.8] [--out PREFIX] [--no-extractive]`: the stored
 * conversations as fine-tuning data, in a training and a validation file.
 *
 * JSONL is OpenAI's chat format, one conversation per line:
 * {"messages":[{"role":"user","content":...},{"role":"assistant",...},...]}.
 * CSV has a header "input,output" and one row per question and answer
 * (RFC 4180 quoting). The split is by conversation, so no conversation is
 * in both files, and deterministic: conversations are ordered by a hash of
 * their id (FNV-1a 64, ties by id) and the first round(n x split) go to
 * training. Files: PREFIX-train.EXT and PREFIX-valid.EXT.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum { OPT_FORMAT = CLI_OPT_FIRST_COMMAND_OPT, OPT_SPLIT, OPT_OUT, OPT_NO_EXTRACTIVE };

typedef struct conv_ref {
	char *id;
	uint64_t hash;
} conv_ref;

typedef struct conv_list {
	conv_ref *v;
	size_t n, cap;
	int failed;
} conv_list;

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

static int collect(void *ctx, const ragdb_conversation_info *c)
{
	conv_list *l = ctx;
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 64;
		conv_ref *v = realloc(l->v, nc * sizeof *v);
		if (!v) {
			l->failed = 1;
			return 1;
		}
		l->v = v;
		l->cap = nc;
	}
	l->v[l->n].id = strdup(c->id);
	l->v[l->n].hash = fnv1a(c->id);
	if (!l->v[l->n].id) {
		l->failed = 1;
		return 1;
	}
	l->n++;
	return 0;
}

static int by_hash(const void *a, const void *b)
{
	const conv_ref *x = a, *y = b;
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return strcmp(x->id, y->id);
}

static void csv_field(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/* Write one conversation's question/answer pairs; returns the pairs written. */
static size_t write_conv(FILE *f, int csv, const ragdb_conversation *cv, int no_extractive)
{
	size_t pairs = 0;
	cJSON *j = csv ? NULL : cJSON_CreateObject();
	cJSON *msgs = j ? cJSON_AddArrayToObject(j, "messages") : NULL;
	for (size_t i = 0; i + 1 < cv->n_turns; i++) {
		const ragdb_turn *u = &cv->turns[i], *a = &cv->turns[i + 1];
		if (strcmp(u->role, "user") != 0 || strcmp(a->role, "assistant") != 0)
			continue;
		i++;
		if (no_extractive && strcmp(a->model, "extractive") == 0)
			continue;
		pairs++;
		if (csv) {
			csv_field(f, u->text);
			fputc(',', f);
			csv_field(f, a->text);
			fputs("\r\n", f);
		} else if (msgs) {
			cJSON *m = cJSON_CreateObject();
			cJSON_AddStringToObject(m, "role", "user");
			cJSON_AddStringToObject(m, "content", u->text);
			cJSON_AddItemToArray(msgs, m);
			m = cJSON_CreateObject();
			cJSON_AddStringToObject(m, "role", "assistant");
			cJSON_AddStringToObject(m, "content", a->text);
			cJSON_AddItemToArray(msgs, m);
		}
	}
	if (j && pairs > 0) {
		char *s = cJSON_PrintUnformatted(j);
		if (s) {
			fputs(s, f);
			fputc('\n', f);
			cJSON_free(s);
		}
	}
	cJSON_Delete(j);
	return pairs;
}

int cli_cmd_export_finetune(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{ "json", no_argument, NULL, CLI_OPT_JSON },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "split", required_argument, NULL, OPT_SPLIT },
		{ "out", required_argument, NULL, OPT_OUT },
		{ "no-extractive", no_argument, NULL, OPT_NO_EXTRACTIVE },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc, csv = 0, json = 0, no_extractive = 0;
	double split = 0.8;
	const char *prefix = "finetune";
	ragdb *db = NULL;
	conv_list l = {0};
	FILE *ft = NULL, *fv = NULL;
	char path_t[4096], path_v[4096];

	cli_getopt_begin();
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (cli_common_option(ctx, c, optarg, &rc)) {
			if (rc >= 0)
				return rc;
			continue;
		}
		switch (c) {
		case CLI_OPT_JSON: json = 1; break;
		case OPT_FORMAT:
			if (strcmp(optarg, "csv") == 0)
				csv = 1;
			else if (strcmp(optarg, "jsonl") == 0)
				csv = 0;
			else
				return cli_usage_error(ctx, "--format is jsonl or csv, not '%s'", optarg);
			break;
		case OPT_SPLIT: {
			char *end;
			errno = 0;
			split = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(split >= 0 && split <= 1))
				return cli_usage_error(ctx, "--split is the training fraction in [0,1] "
				                       "(e.g. 0.8), not '%s'", optarg);
			break;
		}
		case OPT_OUT:
			if (!optarg[0] || strlen(optarg) > 4000)
				return cli_usage_error(ctx, "--out needs a file name prefix");
			prefix = optarg;
			break;
		case OPT_NO_EXTRACTIVE: no_extractive = 1; break;
		default:
			return cli_getopt_error(ctx, c, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error(ctx, "unexpected '%s'", argv[optind]);
	if ((rc = cli_open_db(ctx, RAGDB_RDONLY, &db)))
		return rc;
	ragdb_status st = ragdb_conversation_list(db, collect, &l);
	if (st != RAGDB_OK || l.failed) {
		rc = l.failed ? cli_error(ctx, "out of memory listing conversations")
		              : cli_api_error(ctx, db, st);
		goto out;
	}
	if (l.n > 1)
		qsort(l.v, l.n, sizeof *l.v, by_hash);
	size_t n_train = (size_t)floor((double)l.n * split + 0.5);
	const char *ext = csv ? "csv" : "jsonl";
	snprintf(path_t, sizeof path_t, "%s-train.%s", prefix, ext);
	snprintf(path_v, sizeof path_v, "%s-valid.%s", prefix, ext);
	ft = fopen(path_t, "wb");
	fv = ft ? fopen(path_v, "wb") : NULL;
	if (!ft || !fv) {
		rc = cli_error(ctx, "cannot write %s: %s", ft ? path_v : path_t, strerror(errno));
		goto out;
	}
	if (csv) {
		fputs("input,output\r\n", ft);
		fputs("input,output\r\n", fv);
	}
	size_t pairs[2] = {0, 0}, convs[2] = {0, 0};
	for (size_t i = 0; i < l.n; i++) {
		ragdb_conversation *cv = NULL;
		if ((st = ragdb_conversation_get(db, l.v[i].id, &cv)) != RAGDB_OK) {
			rc = cli_api_error(ctx, db, st);
			goto out;
		}
		int valid = i >= n_train;
		size_t p = write_conv(valid ? fv : ft, csv, cv, no_extractive);
		pairs[valid] += p;
		convs[valid] += p > 0;
		ragdb_conversation_free(cv);
	}
	if (fclose(ft) != 0 || fclose(fv) != 0) {
		ft = fv = NULL;
		rc = cli_error(ctx, "cannot write the export files: %s", strerror(errno));
		goto out;
	}
	ft = fv = NULL;
	if (json) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "train", path_t);
		cJSON_AddStringToObject(j, "valid", path_v);
		cJSON_AddNumberToObject(j, "train_conversations", (double)convs[0]);
		cJSON_AddNumberToObject(j, "valid_conversations", (double)convs[1]);
		cJSON_AddNumberToObject(j, "train_pairs", (double)pairs[0]);
		cJSON_AddNumberToObject(j, "valid_pairs", (double)pairs[1]);
		rc = cli_json_print(ctx, j, 1);
	} else {
		printf("wrote %zu conversations (%zu question-answer pairs) to %s and %zu (%zu pairs) "
		       "to %s\n", convs[0], pairs[0], path_t, convs[1], pairs[1], path_v);
		rc = CLI_EXIT_OK;
	}
out:
	if (ft)
		fclose(ft);
	if (fv)
		fclose(fv);
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i].id);
	free(l.v);
	ragdb_close(db);
	return rc;
}
