/*
 * tools/cli/cmd_list.c — `ragdb list`: the stored documents in id order, as
 * an aligned table or (--json) a JSON array streamed one object per line.
 *
 * The table's column width comes from the first LIST_MEASURE rows, which
 * are held back; later rows stream with the same widths, so memory stays
 * bounded however many documents there are.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define LIST_MEASURE 1000

typedef struct list_row {
	char *id, *title;
	uint32_t chunks;
	uint64_t size;
} list_row;

typedef struct list_run {
	const cli_ctx *ctx;
	int json;
	size_t n;              /* rows seen */
	list_row *held;        /* the first LIST_MEASURE rows (table mode) */
	size_t n_held;
	int flushed;           /* held rows printed; widths fixed */
	int id_width;
	int oom;
} list_run;

static void print_row(const list_run *r, const char *id, uint32_t chunks, uint64_t size,
                      const char *title)
{
	char b[32];

	printf("%-*s  %6u  %9s  %s\n", r->id_width, id, (unsigned)chunks,
	       cli_human_bytes(size, b, sizeof b), title ? title : "");
}

static void flush_held(list_run *r)
{
	int w = 2; /* "id" */

	for (size_t i = 0; i < r->n_held; i++) {
		int l = (int)strlen(r->held[i].id);
		if (l > w)
			w = l;
	}
	r->id_width = w > 60 ? 60 : w;
	printf("%-*s  %6s  %9s  %s\n", r->id_width, "id", "chunks", "size", "title");
	for (size_t i = 0; i < r->n_held; i++) {
		print_row(r, r->held[i].id, r->held[i].chunks, r->held[i].size, r->held[i].title);
		free(r->held[i].id);
		free(r->held[i].title);
	}
	r->n_held = 0;
	r->flushed = 1;
}

cJSON *cli_doc_json(const ragdb_doc_info *d)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *meta = d->metadata_json ? cJSON_Parse(d->metadata_json) : NULL;

	cJSON_AddStringToObject(o, "id", d->id ? d->id : "");
	cJSON_AddStringToObject(o, "source", d->source ? d->source : "");
	cJSON_AddStringToObject(o, "title", d->title ? d->title : "");
	cJSON_AddNumberToObject(o, "chunks", d->n_chunks);
	cJSON_AddNumberToObject(o, "size", (double)d->size);
	cJSON_AddStringToObject(o, "hash", d->hash);
	cJSON_AddNumberToObject(o, "mtime", (double)d->mtime);
	cJSON_AddNumberToObject(o, "ingested", (double)d->ingested);
	if (!meta)
		meta = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "metadata", meta);
	return o;
}

static int on_doc(void *vctx, const ragdb_doc_info *d)
{
	list_run *r = vctx;

	if (r->json) {
		cJSON *o = cli_doc_json(d);
		char *s = o ? cJSON_PrintUnformatted(o) : NULL;
		cJSON_Delete(o);
		if (!s) {
			r->oom = 1;
			return 1;
		}
		printf("%s\n  %s", r->n == 0 ? "[" : ",", s);
		cJSON_free(s);
		r->n++;
		return 0;
	}
	r->n++;
	if (r->flushed) {
		print_row(r, d->id, d->n_chunks, d->size, d->title);
		return 0;
	}
	r->held[r->n_held].id = strdup(d->id ? d->id : "");
	r->held[r->n_held].title = strdup(d->title ? d->title : "");
	r->held[r->n_held].chunks = d->n_chunks;
	r->held[r->n_held].size = d->size;
	if (!r->held[r->n_held].id || !r->held[r->n_held].title) {
		free(r->held[r->n_held].id);
		free(r->held[r->n_held].title);
		r->oom = 1;
		return 1;
	}
	r->n_held++;
	if (r->n_held == LIST_MEASURE)
		flush_held(r);
	return 0;
}

int cli_cmd_list(cli_ctx *ctx, int argc, char **argv)
{
	list_run run;
	ragdb *db = NULL;
	ragdb_status st;
	int rc;

	memset(&run, 0, sizeof run);
	run.ctx = ctx;
	if ((rc = cli_parse_json_only(ctx, argc, argv, &run.json)) >= 0)
		return rc;
	if (optind < argc)
		return cli_usage_error(ctx, "unexpected argument '%s' (use ragdb show ID for one "
		                       "document)", argv[optind]);
	if (!run.json && !(run.held = calloc(LIST_MEASURE, sizeof *run.held)))
		return cli_error(ctx, "out of memory");
	if ((rc = cli_open_db(ctx, RAGDB_RDONLY, &db)))
		goto out_free_held;

	st = ragdb_list(db, on_doc, &run);
	if (run.json)
		fputs(run.n == 0 ? "[]\n" : "\n]\n", stdout);
	else if (!run.flushed && run.n_held > 0)
		flush_held(&run);
	else if (run.n == 0)
		printf("no documents; add some with: ragdb ingest PATH...\n");

	if (run.oom)
		rc = cli_error(ctx, "out of memory while listing");
	else if (st != RAGDB_OK)
		rc = cli_api_error(ctx, db, st);
	else
		rc = CLI_EXIT_OK;
	ragdb_close(db);
out_free_held:
	for (size_t i = 0; i < run.n_held; i++) {
		free(run.held[i].id);
		free(run.held[i].title);
	}
	free(run.held);
	return rc;
}
