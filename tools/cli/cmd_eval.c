/*
 * tools/cli/cmd_eval.c — `ragdb eval DIR`: retrieval quality on a BEIR-layout
 * set (corpus.jsonl, queries.jsonl, qrels.tsv or qrels/test.tsv).
 *
 * The corpus is ingested into a temporary knowledge base (removed at the
 * end) or into --db DIR (created if missing; an unchanged corpus is a no-op
 * re-ingest), every query runs through ragdb_search_batch() in each mode,
 * chunk hits are folded into documents (a document ranks where its best
 * chunk ranks) and nDCG@10, Recall@10, Recall@100 and MRR@10 are averaged
 * over the queries that have judgements (eval_metrics.h). The qrels are read
 * only for the metrics: queries, ingest and search never see them. A mode
 * the library does not build (RAGDB_EUNSUPPORTED) is reported as "not
 * built", not as a failure.
 *
 * Inputs are bounded: a line of at most EVAL_MAX_LINE bytes, at most
 * EVAL_MAX_QUERIES queries and EVAL_MAX_QRELS judgements.
 */
#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "eval_metrics.h"

enum {
	OPT_MODE = CLI_OPT_FIRST_COMMAND_OPT,
	OPT_CHUNK_TOKENS,
	OPT_OVERLAP,
	OPT_DIM,
	OPT_THREADS,
	OPT_TUNE,
};

#define EVAL_MAX_LINE (1u << 20)
#define EVAL_MAX_QUERIES 10000000u
#define EVAL_MAX_QRELS 100000000u
/* Queries per ragdb_search_batch() call (bounds the memory of the hits). */
#define EVAL_BLOCK 512
/* Chunks retrieved per query by default: enough that the top 100
 * documents are filled even when long documents hold many of the best
 * chunks (manpages: 200 chunks give >= 100 distinct pages for most
 * queries). */
#define EVAL_DEFAULT_K 200

typedef struct qrel {
	char *qid, *doc;
	int score;
} qrel;

typedef struct eval_set {
	char **qids, **texts;
	size_t n_queries;
	qrel *qrels;
	size_t n_qrels;
	char qrels_path[4096];
} eval_set;

typedef struct mode_result {
	const char *name;
	ragdb_search_mode mode;
	int built;           /* 0: the library refused the mode as not built */
	double ndcg10, recall10, recall100, mrr10;
	size_t judged;
	double seconds;
} mode_result;

static void set_free(eval_set *s)
{
	for (size_t i = 0; i < s->n_queries; i++) {
		free(s->qids[i]);
		free(s->texts[i]);
	}
	free(s->qids);
	free(s->texts);
	for (size_t i = 0; i < s->n_qrels; i++) {
		free(s->qrels[i].qid);
		free(s->qrels[i].doc);
	}
	free(s->qrels);
}

/* The string or number in @p o's field @p a, else @p b. */
static char *json_field(const cJSON *o, const char *a, const char *b, int allow_number)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
	char num[64];

	if (!v && b)
		v = cJSON_GetObjectItemCaseSensitive(o, b);
	if (cJSON_IsString(v) && v->valuestring)
		return strdup(v->valuestring);
	if (allow_number && cJSON_IsNumber(v)) {
		snprintf(num, sizeof num, "%.17g", v->valuedouble);
		return strdup(num);
	}
	return NULL;
}

/* Append to a doubling array of @p elem-byte items. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem, size_t max)
{
	if (n < *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 1024;
	if (nc > max)
		nc = max;
	if (n >= nc || nc > SIZE_MAX / elem)
		return -1;
	void *p = realloc(*arr, nc * elem);
	if (!p)
		return -1;
	*arr = p;
	*cap = nc;
	return 0;
}

static int load_queries(const cli_ctx *ctx, const char *dir, eval_set *s)
{
	char path[4096];
	FILE *f;
	char *line = NULL;
	size_t lcap = 0, qcap = 0, qcap2 = 0, lineno = 0;
	ssize_t len;
	int rc = 0;

	snprintf(path, sizeof path, "%s/queries.jsonl", dir);
	if (!(f = fopen(path, "r")))
		return cli_error(ctx, "cannot open %s: %s; a BEIR set has corpus.jsonl, queries.jsonl "
		                 "and qrels.tsv (or qrels/test.tsv)", path, strerror(errno));
	while ((len = getline(&line, &lcap, f)) != -1) {
		lineno++;
		if ((size_t)len > EVAL_MAX_LINE) {
			rc = cli_error(ctx, "%s line %zu is longer than %u bytes", path, lineno,
			               EVAL_MAX_LINE);
			break;
		}
		if (strspn(line, " \t\r\n") == (size_t)len)
			continue;
		cJSON *o = cJSON_ParseWithLength(line, (size_t)len);
		char *id = cJSON_IsObject(o) ? json_field(o, "_id", "id", 1) : NULL;
		char *text = cJSON_IsObject(o) ? json_field(o, "text", "query", 0) : NULL;
		cJSON_Delete(o);
		if (!id || !text || !*text) {
			free(id);
			free(text);
			rc = cli_error(ctx, "%s line %zu: expected a JSON object with \"_id\" and a "
			               "non-empty \"text\", like {\"_id\": \"q1\", \"text\": \"...\"}",
			               path, lineno);
			break;
		}
		if (grow((void **)&s->qids, &qcap, s->n_queries, sizeof *s->qids, EVAL_MAX_QUERIES) ||
		    grow((void **)&s->texts, &qcap2, s->n_queries, sizeof *s->texts, EVAL_MAX_QUERIES)) {
			free(id);
			free(text);
			rc = cli_error(ctx, "%s: more than %u queries, or out of memory", path,
			               EVAL_MAX_QUERIES);
			break;
		}
		s->qids[s->n_queries] = id;
		s->texts[s->n_queries++] = text;
	}
	if (!rc && ferror(f))
		rc = cli_error(ctx, "reading %s failed: %s", path, strerror(errno));
	if (!rc && s->n_queries == 0)
		rc = cli_error(ctx, "%s holds no queries", path);
	free(line);
	fclose(f);
	return rc;
}

static int is_int(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

static int qrel_cmp(const void *a, const void *b)
{
	return strcmp(((const qrel *)a)->qid, ((const qrel *)b)->qid);
}

/* qrels.tsv or qrels/test.tsv: "query-id corpus-id score" (tabs or
 * spaces; an optional header), or TREC's "query-id 0 corpus-id score".
 * Judgements with a score <= 0 are not relevant and are dropped. */
static int load_qrels(const cli_ctx *ctx, const char *dir, eval_set *s)
{
	FILE *f = NULL;
	char *line = NULL;
	size_t lcap = 0, cap = 0, lineno = 0;
	ssize_t len;
	int rc = 0;

	static const char *const names[] = { "qrels.tsv", "qrels/test.tsv" };
	for (size_t i = 0; i < 2 && !f; i++) {
		snprintf(s->qrels_path, sizeof s->qrels_path, "%s/%s", dir, names[i]);
		f = fopen(s->qrels_path, "r");
	}
	if (!f)
		return cli_error(ctx, "no qrels in %s: expected qrels.tsv or qrels/test.tsv", dir);
	while ((len = getline(&line, &lcap, f)) != -1) {
		char *tok[5], *save = NULL, *p;
		int nt = 0;
		lineno++;
		if ((size_t)len > EVAL_MAX_LINE) {
			rc = cli_error(ctx, "%s line %zu is longer than %u bytes", s->qrels_path, lineno,
			               EVAL_MAX_LINE);
			break;
		}
		for (p = strtok_r(line, " \t\r\n", &save); p && nt < 5; p = strtok_r(NULL, " \t\r\n", &save))
			tok[nt++] = p;
		if (nt == 0)
			continue;
		if (nt != 3 && nt != 4) {
			rc = cli_error(ctx, "%s line %zu: expected \"query-id corpus-id score\" or TREC's "
			               "\"query-id 0 corpus-id score\", found %d fields", s->qrels_path,
			               lineno, nt);
			break;
		}
		if (!is_int(tok[nt - 1])) {
			if (lineno == 1)
				continue; /* a header */
			rc = cli_error(ctx, "%s line %zu: the score '%s' is not a whole number",
			               s->qrels_path, lineno, tok[nt - 1]);
			break;
		}
		int score = atoi(tok[nt - 1]);
		if (score <= 0)
			continue;
		if (grow((void **)&s->qrels, &cap, s->n_qrels, sizeof *s->qrels, EVAL_MAX_QRELS)) {
			rc = cli_error(ctx, "%s: more than %u judgements, or out of memory", s->qrels_path,
			               EVAL_MAX_QRELS);
			break;
		}
		qrel *q = &s->qrels[s->n_qrels];
		q->qid = strdup(tok[0]);
		q->doc = strdup(tok[nt == 4 ? 2 : 1]);
		q->score = score;
		if (!q->qid || !q->doc) {
			free(q->qid);
			free(q->doc);
			rc = cli_error(ctx, "out of memory reading %s", s->qrels_path);
			break;
		}
		s->n_qrels++;
	}
	if (!rc && ferror(f))
		rc = cli_error(ctx, "reading %s failed: %s", s->qrels_path, strerror(errno));
	if (!rc && s->n_qrels == 0)
		rc = cli_error(ctx, "%s holds no judgements with a score above 0", s->qrels_path);
	free(line);
	fclose(f);
	if (!rc)
		qsort(s->qrels, s->n_qrels, sizeof *s->qrels, qrel_cmp);
	return rc;
}

/* The judgements of query @p qid: a run of s->qrels (sorted by query id). */
static size_t qrels_of(const eval_set *s, const char *qid, const qrel **first)
{
	size_t lo = 0, hi = s->n_qrels;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(s->qrels[mid].qid, qid) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t n = 0;
	while (lo + n < s->n_qrels && strcmp(s->qrels[lo + n].qid, qid) == 0)
		n++;
	*first = s->qrels + lo;
	return n;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Search every query in @p m's mode and average the metrics. */
static int run_mode(const cli_ctx *ctx, ragdb *db, const eval_set *s, uint32_t k, int threads,
                    mode_result *m)
{
	ragdb_search_options so;
	const char **ranked = malloc(sizeof *ranked * k), **hit_docs = malloc(sizeof *hit_docs * k);
	eval_rel *rels = NULL;
	size_t rels_cap = 0;
	double t0 = cli_now(), sum[4] = { 0 };
	int rc = 0;

	memset(&so, 0, sizeof so);
	so.k = k;
	so.threads = threads;
	so.mode = m->mode;
	m->built = 1;
	m->judged = 0;
	if (!ranked || !hit_docs) {
		rc = cli_error(ctx, "out of memory");
		goto out_free;
	}
	for (size_t b = 0; b < s->n_queries && !rc; b += EVAL_BLOCK) {
		size_t n = s->n_queries - b < EVAL_BLOCK ? s->n_queries - b : EVAL_BLOCK;
		ragdb_results *res = NULL;
		if (cli_interrupted()) {
			rc = CLI_EXIT_INTERRUPTED;
			break;
		}
		ragdb_status st = ragdb_search_batch(db, (const char *const *)s->texts + b,
		                                     (const char *const *)s->qids + b, n, &so, &res);
		if (st == RAGDB_EUNSUPPORTED && b == 0) {
			m->built = 0;
			goto out_free;
		}
		if (st != RAGDB_OK) {
			rc = cli_api_error(ctx, db, st);
			break;
		}
		for (size_t i = 0; i < n && !rc; i++) {
			const qrel *q;
			size_t nq = qrels_of(s, s->qids[b + i], &q);
			if (nq == 0)
				continue; /* no judgements: not scored, as in BEIR */
			if (nq > rels_cap) {
				eval_rel *r = realloc(rels, sizeof *r * nq);
				if (!r) {
					rc = cli_error(ctx, "out of memory");
					break;
				}
				rels = r;
				rels_cap = nq;
			}
			for (size_t j = 0; j < nq; j++) {
				rels[j].doc = q[j].doc;
				rels[j].gain = q[j].score;
			}
			for (size_t j = 0; j < res[i].n; j++)
				hit_docs[j] = res[i].hits[j].id;
			size_t nr = eval_fold(hit_docs, res[i].n, ranked);
			sum[0] += eval_ndcg(ranked, nr, rels, nq, 10);
			sum[1] += eval_recall(ranked, nr, rels, nq, 10);
			sum[2] += eval_recall(ranked, nr, rels, nq, 100);
			sum[3] += eval_mrr(ranked, nr, rels, nq, 10);
			m->judged++;
		}
		ragdb_results_free_array(res, n);
	}
	if (!rc) {
		double d = m->judged ? (double)m->judged : 1;
		m->ndcg10 = sum[0] / d;
		m->recall10 = sum[1] / d;
		m->recall100 = sum[2] / d;
		m->mrr10 = sum[3] / d;
		m->seconds = cli_now() - t0;
	}
out_free:
	free(rels);
	free(ranked);
	free(hit_docs);
	return rc;
}

static int parse_modes(const cli_ctx *ctx, const char *arg, mode_result *modes, size_t *n)
{
	static const struct { const char *name; ragdb_search_mode mode; } known[] = {
		{ "vector", RAGDB_MODE_VECTOR }, { "bm25", RAGDB_MODE_BM25 },
		{ "hybrid", RAGDB_MODE_HYBRID },
	};
	char buf[256], *save = NULL;
	*n = 0;
	if (snprintf(buf, sizeof buf, "%s", arg) >= (int)sizeof buf)
		return cli_usage_error(ctx, "--mode is too long");
	for (char *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		size_t i = 0;
		while (i < 3 && strcmp(known[i].name, p) != 0)
			i++;
		if (i == 3)
			return cli_usage_error(ctx, "--mode expects a comma-separated list of vector, "
			                       "bm25 and hybrid, found '%s'", p);
		for (size_t j = 0; j < *n; j++)
			if (modes[j].mode == known[i].mode)
				return cli_usage_error(ctx, "--mode names '%s' twice", p);
		modes[*n].name = known[i].name;
		modes[*n].mode = known[i].mode;
		(*n)++;
	}
	if (*n == 0)
		return cli_usage_error(ctx, "--mode is empty; give vector, bm25 and/or hybrid");
	return 0;
}

static const char *set_name(const char *dir, char *buf, size_t cap)
{
	size_t len = strlen(dir);
	while (len > 1 && dir[len - 1] == '/')
		len--;
	size_t start = len;
	while (start > 0 && dir[start - 1] != '/')
		start--;
	snprintf(buf, cap, "%.*s", (int)(len - start), dir + start);
	return buf;
}

/* Open --db DIR (creating it when it holds no knowledge base), or create a
 * knowledge base in a new temporary directory (*tmp receives its path). */
static int open_kb(const cli_ctx *ctx, const ragdb_create_options *co, char *tmp, size_t tmp_cap,
                   ragdb **db)
{
	ragdb_status st;
	const char *dir;
	char kb[4200];
	if (ctx->db_given) {
		st = ragdb_open(ctx->db_dir, 0, db);
		if (st != RAGDB_ENOTFOUND) {
			if (st != RAGDB_OK)
				return cli_api_error(ctx, *db, st);
			return 0;
		}
		ragdb_close(*db);
		*db = NULL;
		dir = ctx->db_dir;
	} else {
		const char *t = getenv("TMPDIR");
		snprintf(tmp, tmp_cap, "%s/ragdb-eval-XXXXXX", t && *t ? t : "/tmp");
		if (!mkdtemp(tmp)) {
			int e = errno;
			tmp[0] = 0;
			return cli_error(ctx, "cannot create a temporary directory: %s; set TMPDIR or "
			                 "give --db DIR", strerror(e));
		}
		snprintf(kb, sizeof kb, "%s/kb", tmp);
		dir = kb;
	}
	st = ragdb_create(dir, co, db);
	if (st != RAGDB_OK)
		return cli_api_error(ctx, *db, st);
	return 0;
}

static void print_table(const char *name, const ragdb_stats *stats, const eval_set *s,
                        size_t judged, double ingest_s, uint32_t k, const mode_result *modes,
                        size_t n_modes)
{
	printf("%s: %llu documents, %llu chunks, %zu queries (%zu judged); ingest %.1f s; "
	       "%u chunks per query\n",
	       name, (unsigned long long)stats->documents, (unsigned long long)stats->chunks,
	       s->n_queries, judged, ingest_s, (unsigned)k);
	printf("  mode     nDCG@10  Recall@10  Recall@100  MRR@10  search\n");
	for (size_t i = 0; i < n_modes; i++) {
		const mode_result *m = &modes[i];
		if (!m->built) {
			printf("  %-7s  not built\n", m->name);
			continue;
		}
		printf("  %-7s  %.4f   %.4f     %.4f      %.4f  %.2f s (%.2f ms/query)\n", m->name,
		       m->ndcg10, m->recall10, m->recall100, m->mrr10, m->seconds,
		       s->n_queries ? m->seconds * 1e3 / (double)s->n_queries : 0);
	}
}

static cJSON *result_json(const char *name, const char *dir, const ragdb_stats *stats,
                          const ragdb_ingest_summary *sum, const eval_set *s, size_t judged,
                          double ingest_s, uint32_t k,
                          const mode_result *modes, size_t n_modes)
{
	cJSON *j = cJSON_CreateObject(), *a = cJSON_CreateArray();
	cJSON_AddStringToObject(j, "set", name);
	cJSON_AddStringToObject(j, "dir", dir);
	cJSON_AddStringToObject(j, "embedder", stats->embedder);
	cJSON_AddStringToObject(j, "embedder_model", stats->embedder_model);
	cJSON_AddNumberToObject(j, "dim", stats->dim);
	cJSON_AddNumberToObject(j, "chunk_tokens", stats->chunk_tokens);
	cJSON_AddNumberToObject(j, "chunk_overlap", stats->chunk_overlap);
	cJSON_AddNumberToObject(j, "documents", (double)stats->documents);
	cJSON_AddNumberToObject(j, "chunks", (double)stats->chunks);
	cJSON_AddNumberToObject(j, "queries", (double)s->n_queries);
	cJSON_AddNumberToObject(j, "judged", (double)judged);
	cJSON_AddNumberToObject(j, "k", k);
	cJSON_AddNumberToObject(j, "ingest_s", cli_round6(ingest_s));
	cJSON_AddNumberToObject(j, "added", (double)(sum->added + sum->replaced));
	cJSON_AddNumberToObject(j, "unchanged", (double)sum->unchanged);
	for (size_t i = 0; i < n_modes; i++) {
		const mode_result *m = &modes[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "mode", m->name);
		cJSON_AddBoolToObject(o, "built", m->built);
		if (m->built) {
			cJSON_AddNumberToObject(o, "ndcg@10", cli_round6(m->ndcg10));
			cJSON_AddNumberToObject(o, "recall@10", cli_round6(m->recall10));
			cJSON_AddNumberToObject(o, "recall@100", cli_round6(m->recall100));
			cJSON_AddNumberToObject(o, "mrr@10", cli_round6(m->mrr10));
			cJSON_AddNumberToObject(o, "search_s", cli_round6(m->seconds));
		}
		cJSON_AddItemToArray(a, o);
	}
	cJSON_AddItemToObject(j, "modes", a);
	return j;
}

int cli_cmd_eval(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{ "json", no_argument, NULL, CLI_OPT_JSON },
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "chunk-tokens", required_argument, NULL, OPT_CHUNK_TOKENS },
		{ "overlap", required_argument, NULL, OPT_OVERLAP },
		{ "dim", required_argument, NULL, OPT_DIM },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "tune", no_argument, NULL, OPT_TUNE },
		{ NULL, 0, NULL, 0 },
	};
	mode_result modes[3] = {
		{ .name = "vector", .mode = RAGDB_MODE_VECTOR },
		{ .name = "bm25", .mode = RAGDB_MODE_BM25 },
		{ .name = "hybrid", .mode = RAGDB_MODE_HYBRID },
	};
	size_t n_modes = 3;
	ragdb_create_options co;
	ragdb_ingest_options io;
	ragdb_ingest_summary sum;
	ragdb_stats stats;
	eval_set set;
	ragdb *db = NULL;
	ragdb_status st;
	uint32_t k = EVAL_DEFAULT_K, threads = 0;
	char tmp[4096] = "", corpus[4200], name[256];
	int c, rc, json = 0, tune = 0;

	memset(&co, 0, sizeof co);
	memset(&io, 0, sizeof io);
	memset(&sum, 0, sizeof sum);
	memset(&set, 0, sizeof set);
	cli_getopt_begin();
	while ((c = getopt_long(argc, argv, ":hk:", longopts, NULL)) != -1) {
		if (cli_common_option(ctx, c, optarg, &rc)) {
			if (rc >= 0)
				return rc;
			continue;
		}
		rc = 0;
		switch (c) {
		case CLI_OPT_JSON: json = 1; break;
		case 'k': rc = cli_parse_u32(ctx, "-k", optarg, 1, 10000, &k); break;
		case OPT_MODE: rc = parse_modes(ctx, optarg, modes, &n_modes); break;
		case OPT_CHUNK_TOKENS:
			rc = cli_parse_u32(ctx, "--chunk-tokens", optarg, 1, 1u << 20, &co.chunk_tokens);
			io.chunk_tokens = co.chunk_tokens;
			break;
		case OPT_OVERLAP:
			rc = cli_parse_u32(ctx, "--overlap", optarg, 0, 1u << 20, &co.chunk_overlap);
			if (!rc && co.chunk_overlap == 0)
				co.chunk_overlap = UINT32_MAX; /* CLI 0 = none; API 0 = default */
			io.chunk_overlap = co.chunk_overlap;
			break;
		case OPT_DIM: rc = cli_parse_u32(ctx, "--dim", optarg, 1, 65536, &co.dim); break;
		case OPT_THREADS: rc = cli_parse_u32(ctx, "--threads", optarg, 0, 1024, &threads); break;
		case OPT_TUNE: tune = 1; break;
		default: rc = cli_getopt_error(ctx, c, argv); break;
		}
		if (rc)
			return rc;
	}
	if (optind >= argc)
		return cli_usage_error(ctx, "which set? give the directory of a BEIR-layout set");
	if (optind + 1 < argc)
		return cli_usage_error(ctx, "unexpected argument '%s'", argv[optind + 1]);
	const char *dir = argv[optind];
	set_name(dir, name, sizeof name);
	snprintf(corpus, sizeof corpus, "%s/corpus.jsonl", dir);
	if (access(corpus, R_OK) != 0)
		return cli_error(ctx, "cannot read %s: %s; a BEIR set has corpus.jsonl, queries.jsonl "
		                 "and qrels.tsv (or qrels/test.tsv)", corpus, strerror(errno));
	if ((rc = load_queries(ctx, dir, &set)) || (rc = load_qrels(ctx, dir, &set)))
		goto out_free_set;

	if ((rc = open_kb(ctx, &co, tmp, sizeof tmp, &db)))
		goto out_close;
	io.format = RAGDB_FORMAT_JSONL;
	io.id_field = "_id";
	io.text_field = "text";
	io.title_field = "title";
	io.threads = (int)threads;
	cli_interrupt_install(db);
	const char *paths[1] = { corpus };
	double t0 = cli_now();
	st = ragdb_ingest_paths(db, paths, 1, &io, &sum);
	double ingest_s = cli_now() - t0;
	if (st != RAGDB_OK) {
		rc = cli_api_error(ctx, db, st);
		goto out_uninstall;
	}
	if (sum.failed) {
		rc = cli_error(ctx, "%llu documents of %s failed to ingest", (unsigned long long)sum.failed,
		               corpus);
		goto out_uninstall;
	}
	/* --tune: fit the local embedder to the corpus (ragdb tune) before
	 * searching; it sees the chunks only, never the queries or qrels. */
	if (tune && (st = ragdb_tune(db, NULL, NULL)) != RAGDB_OK) {
		rc = cli_api_error(ctx, db, st);
		goto out_uninstall;
	}
	if ((st = ragdb_get_stats(db, &stats)) != RAGDB_OK) {
		rc = cli_api_error(ctx, db, st);
		goto out_uninstall;
	}
	size_t judged = 0;
	for (size_t i = 0; i < n_modes && !rc; i++) {
		rc = run_mode(ctx, db, &set, k, (int)threads, &modes[i]);
		if (modes[i].built)
			judged = modes[i].judged;
	}
	if (rc == CLI_EXIT_INTERRUPTED)
		fprintf(stderr, "ragdb eval: interrupted\n");
	if (rc)
		goto out_uninstall;
	if (json)
		rc = cli_json_print(ctx, result_json(name, dir, &stats, &sum, &set, judged, ingest_s, k,
		                                     modes, n_modes), 1);
	else
		print_table(name, &stats, &set, judged, ingest_s, k, modes, n_modes);
out_uninstall:
	cli_interrupt_remove();
out_close:
	ragdb_close(db);
	if (tmp[0] && nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "ragdb eval: could not remove the temporary knowledge base %s: %s\n", tmp,
		        strerror(errno));
out_free_set:
	set_free(&set);
	return rc;
}
