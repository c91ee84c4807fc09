/*
 * tools/cli/model_stats.h — per-model counters kept across CLI runs: each
 * command adds its process's model metrics (ragdb_model_metrics_get) to
 * <db>/model-stats.json when it ends, and `ragdb stats --models` shows the
 * sum. A file beside the data file rather than an LMDB db: a read-only
 * query must not open a write transaction, and losing this file loses
 * nothing but statistics.
 */
#ifndef RAGDB_CLI_MODEL_STATS_H
#define RAGDB_CLI_MODEL_STATS_H

#include <cjson/cJSON.h>

#include "cli.h"

#define CLI_MODEL_STATS_FILE "model-stats.json"
#define CLI_MODEL_STATS_MAX_BYTES (4u << 20)

/* Add this process's counters to the file in ctx->db_dir (when the
 * directory exists and any model was called). Errors are ignored: a
 * read-only directory simply keeps no history. */
void cli_model_stats_save(const cli_ctx *ctx);

/* The file's counters plus this process's, as a JSON array of model
 * objects (see docs/providers.md); never NULL unless out of memory. */
cJSON *cli_model_stats_load(const cli_ctx *ctx);

#endif
