/*
 * tools/cli/search_opts.c — parsing of the shared retrieval options (see
 * search_opts.h). Filter expressions are checked by the library, which
 * names the bad one.
 */
#include "search_opts.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int parse_float(const cli_ctx *ctx, const char *opt, const char *s, float lo, float hi,
                       float *out)
{
	char *end;
	double v = strtod(s, &end);
	if (!*s || *end || !isfinite(v) || v < lo || v > hi)
		return cli_usage_error(ctx, "%s expects a number in %g..%g, got \"%s\"", opt,
		                       (double)lo, (double)hi, s);
	*out = (float)v;
	return 0;
}

int cli_search_option(const cli_ctx *ctx, int c, const char *arg, cli_search_opts *o, int *rc)
{
	*rc = 0;
	switch (c) {
	case CLI_OPT_MODE:
		if (strcmp(arg, "vector") == 0)
			o->mode = RAGDB_MODE_VECTOR;
		else if (strcmp(arg, "bm25") == 0)
			o->mode = RAGDB_MODE_BM25;
		else if (strcmp(arg, "hybrid") == 0)
			o->mode = RAGDB_MODE_HYBRID;
		else
			*rc = cli_usage_error(ctx, "--mode expects vector, bm25 or hybrid, got \"%s\"", arg);
		return 1;
	case CLI_OPT_FILTER:
		if (o->n_filters == CLI_MAX_FILTERS)
			*rc = cli_usage_error(ctx, "at most %d --filter options", CLI_MAX_FILTERS);
		else
			o->filters[o->n_filters++] = arg;
		return 1;
	case CLI_OPT_MMR:
		*rc = parse_float(ctx, "--mmr", arg, 0, 1, &o->mmr);
		if (!*rc && o->mmr == 0)
			*rc = cli_usage_error(ctx, "--mmr expects a lambda in (0,1] (1 = relevance only)");
		return 1;
	case CLI_OPT_BM25_K1:
		*rc = parse_float(ctx, "--bm25-k1", arg, 0.01f, 100, &o->k1);
		return 1;
	case CLI_OPT_BM25_B:
		*rc = parse_float(ctx, "--bm25-b", arg, 0.0001f, 1, &o->b);
		return 1;
	case CLI_OPT_EXPAND:
		o->expand = 1;
		return 1;
	case CLI_OPT_NO_EXPAND:
		o->expand = -1;
		return 1;
	default:
		return 0;
	}
}
