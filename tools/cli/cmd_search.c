/*
 * tools/cli/cmd_search.c — `ragdb search`: one query (a ranked list on a
 * terminal, or --json), or --batch: a JSONL file of queries answered in
 * blocks through ragdb_search_batch(), one JSON line out per line in, in
 * input order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "search_opts.h"
#include "vecfile.h"

enum { OPT_BATCH = CLI_OPT_FIRST_COMMAND_OPT, OPT_NO_TEXT, OPT_THREADS, OPT_VECTORS,
       OPT_OVERSAMPLE, OPT_NPROBE, OPT_EXACT };

/* Queries per ragdb_search_batch() call: big enough for the matrix product
 * to pay off, small enough that results stream out and memory stays flat. */
#define BATCH_BLOCK 1000
/* Longest queries-file line accepted. */
#define BATCH_MAX_LINE (1u << 20)

static void print_plain(const cli_ctx *ctx, const ragdb_results *r)
{
	if (r->n == 0) {
		printf("no results\n");
		return;
	}
	for (size_t i = 0; i < r->n; i++) {
		const ragdb_hit *h = &r->hits[i];
		printf("%2u. %.3f  %s%s%s", (unsigned)h->rank, (double)h->score, cli_bold(ctx), h->id,
		       cli_reset(ctx));
		if (h->heading && *h->heading)
			printf("  \xE2\x80\x94 %s", h->heading);
		else if (h->title && *h->title)
			printf("  \xE2\x80\x94 %s", h->title);
		putchar('\n');
		cli_print_snippet(stdout, h->text, h->text_len, 240, 76, 3, "    ");
		if (i + 1 < r->n)
			putchar('\n');
	}
}

static cJSON *results_array(const ragdb_results *r, int with_text)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; a && i < r->n; i++) {
		cJSON *h = cli_hit_json(&r->hits[i], with_text);
		if (!h || !cJSON_AddItemToArray(a, h)) {
			cJSON_Delete(h);
			cJSON_Delete(a);
			return NULL;
		}
	}
	return a;
}

/* One block of parsed queries; strings are owned. */
typedef struct batch_block {
	char *ids[BATCH_BLOCK];
	char *texts[BATCH_BLOCK];
	size_t n;
} batch_block;

static void block_clear(batch_block *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->ids[i]);
		free(b->texts[i]);
	}
	b->n = 0;
}

/* The string or number in @p o's field @p a or, failing that, @p b. */
static char *field_text(const cJSON *o, const char *a, const char *b, int allow_number)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
	char num[64];

	if (!v)
		v = cJSON_GetObjectItemCaseSensitive(o, b);
	if (cJSON_IsString(v) && v->valuestring)
		return strdup(v->valuestring);
	if (allow_number && cJSON_IsNumber(v)) {
		snprintf(num, sizeof num, "%.17g", v->valuedouble);
		return strdup(num);
	}
	return NULL;
}

static int run_block(const cli_ctx *ctx, ragdb *db, batch_block *b,
                     const ragdb_search_options *so, int with_text)
{
	ragdb_results *res = NULL;
	ragdb_status st;
	int rc = 0;

	if (b->n == 0)
		return 0;
	st = ragdb_search_batch(db, (const char *const *)b->texts, (const char *const *)b->ids, b->n,
	                        so, &res);
	if (st != RAGDB_OK)
		return cli_api_error(ctx, db, st);
	for (size_t i = 0; i < b->n && !rc; i++) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "query_id", b->ids[i]);
		cJSON_AddItemToObject(j, "results", results_array(&res[i], with_text));
		rc = cli_json_print(ctx, j, 0);
	}
	ragdb_results_free_array(res, b->n);
	block_clear(b);
	if (!rc && fflush(stdout) != 0)
		rc = cli_error(ctx, "writing the results failed: %s", strerror(errno));
	return rc;
}

static int run_batch(const cli_ctx *ctx, ragdb *db, const char *path,
                     const ragdb_search_options *so, int with_text)
{
	FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	const char *name = in == stdin ? "<stdin>" : path;
	batch_block *b = calloc(1, sizeof *b);
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t len;
	int rc = 0;

	if (!in) {
		rc = cli_error(ctx, "cannot open queries file %s: %s", path, strerror(errno));
		goto out_free;
	}
	if (!b) {
		rc = cli_error(ctx, "out of memory");
		goto out_close;
	}
	cli_interrupt_install(db);
	while ((len = getline(&line, &cap, in)) != -1) {
		cJSON *o;
		char *id, *text;
		size_t k = 0;

		lineno++;
		if (cli_interrupted()) {
			rc = CLI_EXIT_INTERRUPTED;
			fprintf(stderr, "ragdb search: interrupted at %s line %zu\n", name, lineno);
			break;
		}
		if ((size_t)len > BATCH_MAX_LINE) {
			rc = cli_error(ctx, "%s line %zu: longer than %u bytes; split the query", name,
			               lineno, BATCH_MAX_LINE);
			break;
		}
		while (k < (size_t)len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\n' ||
		                           line[k] == '\r'))
			k++;
		if (k == (size_t)len)
			continue; /* blank line */
		o = cJSON_ParseWithLength(line, (size_t)len);
		if (!cJSON_IsObject(o)) {
			cJSON_Delete(o);
			rc = cli_error(ctx, "%s line %zu: expected a JSON object like "
			               "{\"_id\": \"q1\", \"text\": \"...\"}, found: %.60s", name, lineno,
			               line + k);
			break;
		}
		id = field_text(o, "_id", "id", 1);
		text = field_text(o, "text", "query", 0);
		cJSON_Delete(o);
		if (!id || !text || !*text) {
			free(id);
			free(text);
			rc = cli_error(ctx, "%s line %zu: expected an \"_id\" (or \"id\") and a non-empty "
			               "\"text\" (or \"query\") string", name, lineno);
			break;
		}
		b->ids[b->n] = id;
		b->texts[b->n] = text;
		b->n++;
		if (b->n == BATCH_BLOCK && (rc = run_block(ctx, db, b, so, with_text)))
			break;
	}
	if (!rc && cli_interrupted()) {
		fprintf(stderr, "ragdb search: interrupted at %s line %zu\n", name, lineno);
		rc = CLI_EXIT_INTERRUPTED;
	}
	if (!rc && ferror(in))
		rc = cli_error(ctx, "reading %s failed: %s", name, strerror(errno));
	if (!rc)
		rc = run_block(ctx, db, b, so, with_text);
	cli_interrupt_remove();
	block_clear(b);
out_close:
	if (in && in != stdin)
		fclose(in);
out_free:
	free(line);
	free(b);
	return rc;
}
/* --vectors FILE: one JSON line per query vector (query_id = its row
 * number), searched in blocks of BATCH_BLOCK rows in one snapshot each. */
static int run_vectors(const cli_ctx *ctx, ragdb *db, const char *path,
                       const ragdb_search_options *so, int with_text)
{
	float *vecs = NULL;
	size_t n = 0;
	uint32_t dim = 0;
	char msg[512];
	int rc = 0;

	if (cli_vecfile_read(path, &vecs, &n, &dim, msg, sizeof msg) != 0)
		return cli_error(ctx, "%s", msg);
	for (size_t i = 0; i < n && !rc; i += BATCH_BLOCK) {
		size_t m = n - i < BATCH_BLOCK ? n - i : BATCH_BLOCK;
		ragdb_results *res = NULL;
		ragdb_status st = ragdb_search_vectors(db, vecs + i * dim, m, dim, so, &res);
		if (st != RAGDB_OK) {
			rc = cli_api_error(ctx, db, st);
			break;
		}
		for (size_t q = 0; q < m && !rc; q++) {
			cJSON *j = cJSON_CreateObject();
			cJSON_AddNumberToObject(j, "query_id", (double)(i + q));
			cJSON_AddNumberToObject(j, "took_ms", cli_round6(res[q].took_ms));
			cJSON_AddItemToObject(j, "results", results_array(&res[q], with_text));
			rc = cli_json_print(ctx, j, 0);
		}
		ragdb_results_free_array(res, m);
		if (!rc && fflush(stdout) != 0)
			rc = cli_error(ctx, "writing the results failed: %s", strerror(errno));
	}
	free(vecs);
	return rc;
}

int cli_cmd_search(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		CLI_SEARCH_LONGOPTS,
		{ "json", no_argument, NULL, CLI_OPT_JSON },
		CLI_EMBEDDER_LONGOPT,
		{ "batch", required_argument, NULL, OPT_BATCH },
		{ "no-text", no_argument, NULL, OPT_NO_TEXT },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "vectors", required_argument, NULL, OPT_VECTORS },
		{ "oversample", required_argument, NULL, OPT_OVERSAMPLE },
		{ "nprobe", required_argument, NULL, OPT_NPROBE },
		{ "exact", no_argument, NULL, OPT_EXACT },
		{ NULL, 0, NULL, 0 },
	};
	ragdb_search_options so;
	ragdb_results *res = NULL;
	ragdb *db = NULL;
	ragdb_status st;
	const char *batch = NULL, *vectors = NULL;
	uint32_t threads = 0;
	int c, rc, json = 0, no_text = 0;

	cli_search_opts sopt;
	memset(&sopt, 0, sizeof sopt);
	memset(&so, 0, sizeof so);
	cli_getopt_begin();
	while ((c = getopt_long(argc, argv, ":hk:", longopts, NULL)) != -1) {
		if (cli_common_option(ctx, c, optarg, &rc)) {
			if (rc >= 0)
				return rc;
			continue;
		}
		if (cli_search_option(ctx, c, optarg, &sopt, &rc)) {
			if (rc)
				return rc;
			continue;
		}
		switch (c) {
		case 'k':
			if ((rc = cli_parse_u32(ctx, "-k", optarg, 1, 100000, &so.k)))
				return rc;
			break;
		case CLI_OPT_JSON: json = 1; break;
		case OPT_BATCH: batch = optarg; break;
		case OPT_NO_TEXT: no_text = 1; break;
		case OPT_THREADS:
			if ((rc = cli_parse_u32(ctx, "--threads", optarg, 0, 1024, &threads)))
				return rc;
			break;
		case OPT_VECTORS: vectors = optarg; break;
		case OPT_OVERSAMPLE:
			if ((rc = cli_parse_u32(ctx, "--oversample", optarg, 1, 1000, &so.oversample)))
				return rc;
			break;
		case OPT_NPROBE:
			if ((rc = cli_parse_u32(ctx, "--nprobe", optarg, 1, 1u << 20, &so.nprobe)))
				return rc;
			break;
		case OPT_EXACT: so.exact = 1; break;
		default:
			return cli_getopt_error(ctx, c, argv);
		}
	}
	if (so.exact && so.nprobe)
		return cli_usage_error(ctx, "--exact ignores the IVF index and --nprobe sets how it is "
		                       "searched; give one of them");
	so.threads = (int)threads;
	so.mode = sopt.mode;
	so.filters = sopt.filters;
	so.n_filters = sopt.n_filters;
	so.mmr_lambda = sopt.mmr;
	so.bm25_k1 = sopt.k1;
	so.bm25_b = sopt.b;
	so.expand = sopt.expand;
	if (batch && vectors)
		return cli_usage_error(ctx, "give either --batch FILE or --vectors FILE, not both");
	if (batch || vectors) {
		if (optind < argc)
			return cli_usage_error(ctx, "give either a QUERY or --%s FILE, not both",
			                       batch ? "batch" : "vectors");
	} else {
		if (optind >= argc)
			return cli_usage_error(ctx, "what to search for? give a QUERY");
		if (optind + 1 < argc)
			return cli_usage_error(ctx, "give the query as one argument, in quotes "
			                       "(unexpected '%s')", argv[optind + 1]);
		if (!argv[optind][0])
			return cli_usage_error(ctx, "the query is empty");
	}

	if ((rc = cli_open_db(ctx, RAGDB_RDONLY, &db)))
		return rc;
	if (batch) {
		rc = run_batch(ctx, db, batch, &so, !no_text);
		goto out_close;
	}
	if (vectors) {
		rc = run_vectors(ctx, db, vectors, &so, !no_text);
		goto out_close;
	}
	st = ragdb_search(db, argv[optind], &so, &res);
	if (st != RAGDB_OK) {
		rc = cli_api_error(ctx, db, st);
		goto out_close;
	}
	if (json) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "query", argv[optind]);
		cJSON_AddNumberToObject(j, "took_ms", cli_round6(res->took_ms));
		cJSON_AddItemToObject(j, "results", results_array(res, 1));
		rc = cli_json_print(ctx, j, 1);
	} else {
		print_plain(ctx, res);
		rc = CLI_EXIT_OK;
	}
	ragdb_results_free(res);
out_close:
	ragdb_close(db);
	return rc;
}
