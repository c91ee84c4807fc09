/*
 * tools/cli/search_opts.h — the retrieval options shared by `ragdb search`
 * and `ragdb query`: --mode, --filter (repeatable), --mmr, and for search
 * only --bm25-k1, --bm25-b, --expand / --no-expand.
 */
#ifndef RDB_CLI_SEARCH_OPTS_H
#define RDB_CLI_SEARCH_OPTS_H

#include <getopt.h>

#include "ragdb.h"
#include "cli.h"

#define CLI_MAX_FILTERS 64

enum {
	CLI_OPT_MODE = 0x200,
	CLI_OPT_FILTER,
	CLI_OPT_MMR,
	CLI_OPT_BM25_K1,
	CLI_OPT_BM25_B,
	CLI_OPT_EXPAND,
	CLI_OPT_NO_EXPAND,
};

#define CLI_SEARCH_LONGOPTS \
	{ "mode", required_argument, NULL, CLI_OPT_MODE }, \
	{ "filter", required_argument, NULL, CLI_OPT_FILTER }, \
	{ "mmr", required_argument, NULL, CLI_OPT_MMR }, \
	{ "bm25-k1", required_argument, NULL, CLI_OPT_BM25_K1 }, \
	{ "bm25-b", required_argument, NULL, CLI_OPT_BM25_B }, \
	{ "expand", no_argument, NULL, CLI_OPT_EXPAND }, \
	{ "no-expand", no_argument, NULL, CLI_OPT_NO_EXPAND }

typedef struct cli_search_opts {
	ragdb_search_mode mode;
	const char *filters[CLI_MAX_FILTERS];
	size_t n_filters;
	float mmr, k1, b;
	int expand; /* 0 default, 1 --expand, -1 --no-expand */
} cli_search_opts;

/* Handle option @p c if it is one of the above: returns 1 (and *rc = 0, or
 * a usage exit code for a bad value), else 0. */
int cli_search_option(const cli_ctx *ctx, int c, const char *arg, cli_search_opts *o, int *rc);

#endif
