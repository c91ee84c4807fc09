/*
 * tools/cli/query_compare.h — `ragdb query "..." --compare M1,M2[,...]`:
 * the same question to several models, answers side by side.
 */
#ifndef RAGDB_CLI_QUERY_COMPARE_H
#define RAGDB_CLI_QUERY_COMPARE_H

#include "cli.h"

/* Ask @p question of every model in @p models (comma-separated: configured
 * names, provider:model, or "extractive") with the options in @p qo (its
 * model, conversation_id, on_delta and ctx must be unset), and print one
 * section per model, then the sources once (--json: an array, one object
 * per model). Opens the knowledge base itself. Returns CLI_EXIT_OK, or
 * CLI_EXIT_ERROR when any model failed (the others are still printed),
 * CLI_EXIT_USAGE for a bad list. */
int cli_query_compare(cli_ctx *ctx, const char *question, const ragdb_query_options *qo,
                      const char *models, int json);

#endif
