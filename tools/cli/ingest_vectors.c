/*
 * tools/cli/ingest_vectors.c — JSONL records with their own vectors: each
 * line is a JSON object with an id, optional text and title, the vector
 * under --embedding-field, and any other fields as metadata. Records go to
 * ragdb_add_vectors() in batches (one write transaction per batch).
 */
#include "ingest_vectors.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VEC_BATCH 1000
#define VEC_MAX_LINE ((size_t)64 << 20)

typedef struct vbatch {
	ragdb_vector_record r[VEC_BATCH];
	char *own[VEC_BATCH][4]; /* id, text, title, meta */
	float *vecs;             /* VEC_BATCH x dim */
	size_t n;
} vbatch;

static void vbatch_clear(vbatch *b)
{
	for (size_t i = 0; i < b->n; i++)
		for (int k = 0; k < 4; k++) {
			free(b->own[i][k]);
			b->own[i][k] = NULL;
		}
	b->n = 0;
}

static char *str_or_num(const cJSON *v)
{
	if (cJSON_IsString(v))
		return strdup(v->valuestring);
	if (cJSON_IsNumber(v)) {
		char b[64];
		snprintf(b, sizeof b, "%.17g", v->valuedouble);
		return strdup(b);
	}
	return NULL;
}

/* Parse one line into batch slot b->n; 0 or a message in msg. */
static int parse_record(const char *line, const cli_vec_fields *f, uint32_t dim, vbatch *b,
                        char *msg, size_t cap)
{
	cJSON *j = cJSON_Parse(line);
	int rc = -1;
	size_t i = b->n;
	if (!cJSON_IsObject(j)) {
		snprintf(msg, cap, "not a JSON object");
		goto out;
	}
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, f->id);
	const cJSON *emb = cJSON_GetObjectItemCaseSensitive(j, f->embedding);
	const cJSON *text = cJSON_GetObjectItemCaseSensitive(j, f->text);
	const cJSON *title = cJSON_GetObjectItemCaseSensitive(j, f->title);
	if (!(b->own[i][0] = str_or_num(id))) {
		snprintf(msg, cap, "no \"%s\" field (a string or number); give each record an id "
		         "(or --id-field)", f->id);
		goto out;
	}
	if (!cJSON_IsArray(emb)) {
		snprintf(msg, cap, "record %s: no \"%s\" field holding an array of numbers",
		         b->own[i][0], f->embedding);
		goto out;
	}
	int len = cJSON_GetArraySize(emb);
	if (len != (int)dim) {
		snprintf(msg, cap, "record %s: its vector has dimension %d; the knowledge base holds "
		         "vectors of dimension %u", b->own[i][0], len, dim);
		goto out;
	}
	float *v = b->vecs + i * dim;
	int k = 0;
	const cJSON *x;
	cJSON_ArrayForEach(x, emb) {
		if (!cJSON_IsNumber(x)) {
			snprintf(msg, cap, "record %s: element %d of \"%s\" is not a number",
			         b->own[i][0], k, f->embedding);
			goto out;
		}
		v[k++] = (float)x->valuedouble;
	}
	if (text && !cJSON_IsNull(text) && !(b->own[i][1] = str_or_num(text))) {
		snprintf(msg, cap, "record %s: \"%s\" is not a string", b->own[i][0], f->text);
		goto out;
	}
	if (title && !cJSON_IsNull(title))
		b->own[i][2] = str_or_num(title);
	/* Metadata: every other field. */
	cJSON_DeleteItemFromObjectCaseSensitive(j, f->id);
	cJSON_DeleteItemFromObjectCaseSensitive(j, f->embedding);
	cJSON_DeleteItemFromObjectCaseSensitive(j, f->text);
	cJSON_DeleteItemFromObjectCaseSensitive(j, f->title);
	if (j->child)
		b->own[i][3] = cJSON_PrintUnformatted(j);
	b->r[i] = (ragdb_vector_record){ b->own[i][0], b->own[i][1], b->own[i][2], NULL,
	                                 b->own[i][3], v };
	rc = 0;
out:
	if (rc)
		for (int q = 0; q < 4; q++) {
			free(b->own[i][q]);
			b->own[i][q] = NULL;
		}
	cJSON_Delete(j);
	return rc;
}

/* Store the batch; on a failure of the whole batch, retry record by record
 * so only the bad ones fail. */
static void flush(const cli_ctx *ctx, ragdb *db, vbatch *b, uint32_t dim, const char *source,
                  size_t *added, size_t *failed)
{
	if (b->n == 0)
		return;
	for (size_t i = 0; i < b->n; i++)
		b->r[i].source = source;
	if (ragdb_add_vectors(db, b->r, b->n, dim) == RAGDB_OK) {
		*added += b->n;
	} else {
		for (size_t i = 0; i < b->n; i++) {
			ragdb_status st = ragdb_add_vectors(db, &b->r[i], 1, dim);
			if (st == RAGDB_OK) {
				(*added)++;
			} else {
				(*failed)++;
				fprintf(stderr, "ragdb %s: %s: %s\n", ctx->cmd, source, cli_errmsg(db, st));
			}
		}
	}
	vbatch_clear(b);
}

int cli_ingest_embedded(const cli_ctx *ctx, ragdb *db, char **paths, size_t n_paths,
                        const cli_vec_fields *fin, int json)
{
	cli_vec_fields f = { fin->id ? fin->id : "id", fin->text ? fin->text : "text",
	                     fin->title ? fin->title : "title", fin->embedding };
	ragdb_stats s;
	ragdb_status st = ragdb_get_stats(db, &s);
	if (st != RAGDB_OK)
		return cli_api_error(ctx, db, st);
	uint32_t dim = (uint32_t)s.dim;
	vbatch *b = calloc(1, sizeof *b);
	char *line = NULL;
	size_t lcap = 0, added = 0, failed = 0;
	int rc = CLI_EXIT_OK;
	if (!b || !(b->vecs = malloc((size_t)VEC_BATCH * dim * sizeof(float)))) {
		rc = cli_error(ctx, "out of memory");
		goto out;
	}
	for (size_t p = 0; p < n_paths; p++) {
		FILE *in = fopen(paths[p], "rb");
		if (!in) {
			fprintf(stderr, "ragdb %s: cannot open %s: %s\n", ctx->cmd, paths[p],
			        strerror(errno));
			failed++;
			continue;
		}
		ssize_t len;
		size_t lineno = 0;
		while ((len = getline(&line, &lcap, in)) != -1) {
			lineno++;
			if ((size_t)len > VEC_MAX_LINE) {
				fprintf(stderr, "ragdb %s: %s:%zu: line longer than %zu bytes\n", ctx->cmd,
				        paths[p], lineno, VEC_MAX_LINE);
				failed++;
				continue;
			}
			size_t l = (size_t)len;
			while (l && (line[l - 1] == '\n' || line[l - 1] == '\r' || line[l - 1] == ' '))
				line[--l] = 0;
			if (l == 0)
				continue;
			char msg[512];
			if (parse_record(line, &f, dim, b, msg, sizeof msg) != 0) {
				fprintf(stderr, "ragdb %s: %s:%zu: %s\n", ctx->cmd, paths[p], lineno, msg);
				failed++;
				continue;
			}
			if (++b->n == VEC_BATCH)
				flush(ctx, db, b, dim, paths[p], &added, &failed);
		}
		flush(ctx, db, b, dim, paths[p], &added, &failed);
		fclose(in);
	}
	if (json) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddNumberToObject(j, "added", (double)added);
		cJSON_AddNumberToObject(j, "failed", (double)failed);
		if (cli_json_print(ctx, j, 1))
			rc = CLI_EXIT_ERROR;
	} else {
		printf("stored %zu records with their vectors%s", added, failed ? "" : "\n");
		if (failed)
			printf(", %zu failed (see above)\n", failed);
		if (added)
			cli_ivf_hint(db);
	}
	if (failed)
		rc = CLI_EXIT_ERROR;
out:
	free(line);
	if (b) {
		vbatch_clear(b);
		free(b->vecs);
	}
	free(b);
	return rc;
}
