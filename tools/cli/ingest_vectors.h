/*
 * tools/cli/ingest_vectors.h — `ragdb ingest --embedding-field F` (JSONL
 * records that bring their vectors) and the batch writer shared with
 * `ragdb import-vectors`.
 */
#ifndef CLI_INGEST_VECTORS_H
#define CLI_INGEST_VECTORS_H

#include "cli.h"

typedef struct cli_vec_fields {
	const char *id, *text, *title, *embedding; /* NULL: "id", "text", "title" */
} cli_vec_fields;

/* Ingest the JSONL files @p paths with their vectors in field
 * f->embedding. A record that cannot be stored (no such field, not an
 * array of numbers, wrong dimension, zero vector, no id) fails alone with
 * a message on stderr; the others are stored. Prints a summary (plain or
 * --json). Returns CLI_EXIT_OK, or CLI_EXIT_ERROR when any record failed. */
int cli_ingest_embedded(const cli_ctx *ctx, ragdb *db, char **paths, size_t n_paths,
                        const cli_vec_fields *f, int json);

#endif
