/*
 * tools/cli/cmd_ingest.c — `ragdb ingest PATH...`: walk files and JSONL
 * corpora into the knowledge base, with a progress line on a terminal,
 * per-file warnings and skips on stderr, a summary (plain or --json), and
 * Ctrl-C handled as "stop at the next commit; what is committed stays".
 *
 * The library may call on_item/on_progress from its worker threads, so the
 * callbacks serialise on a mutex; they only print and append to the item
 * list, which is capped.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ingest_vectors.h"

enum {
	OPT_GLOB = CLI_OPT_FIRST_COMMAND_OPT,
	OPT_EXCLUDE,
	OPT_FORMAT,
	OPT_ID_FIELD,
	OPT_TEXT_FIELD,
	OPT_TITLE_FIELD,
	OPT_CHUNK_TOKENS,
	OPT_OVERLAP,
	OPT_SYNC,
	OPT_SKIP_BAD,
	OPT_THREADS,
	OPT_META,
	OPT_EMBEDDING_FIELD,
};

/* Items kept for the --json summary; past this, "items_truncated" is set
 * (a --sync over a big tree can remove or replace millions). */
#define INGEST_MAX_ITEMS 100000

typedef struct ingest_run {
	const cli_ctx *ctx;
	int json, quiet, progress;
	pthread_mutex_t mu;
	int line_shown;        /* a progress line is on stderr, to clear first */
	double last_draw;
	double t0;             /* when the ingest started (cli_now) */
	cJSON *items;
	size_t n_items;
	int items_truncated;
} ingest_run;

static const char *action_name(ragdb_ingest_action a)
{
	switch (a) {
	case RAGDB_ADDED: return "added";
	case RAGDB_REPLACED: return "replaced";
	case RAGDB_UNCHANGED: return "unchanged";
	case RAGDB_REMOVED: return "removed";
	case RAGDB_SKIPPED: return "skipped";
	case RAGDB_FAILED: return "failed";
	}
	return "unknown";
}

static void clear_line(ingest_run *r)
{
	if (r->line_shown) {
		fputs("\r\033[K", stderr);
		r->line_shown = 0;
	}
}

/* "FILE" for files; "FILE [id ID]" when the id is not the file's own
 * (a JSONL record). */
static void print_subject(const char *id, const char *source)
{
	size_t ls, li;

	if (!source || !*source) {
		fputs(id ? id : "?", stderr);
		return;
	}
	fputs(source, stderr);
	if (!id || !*id)
		return;
	ls = strlen(source);
	li = strlen(id);
	if (li <= ls && strcmp(source + ls - li, id) == 0)
		return;
	fprintf(stderr, " [id %s]", id);
}

static void on_item(void *vctx, ragdb_ingest_action action, const char *id, const char *source,
                    const char *reason)
{
	ingest_run *r = vctx;

	pthread_mutex_lock(&r->mu);
	if (action == RAGDB_FAILED || (!r->quiet && (action == RAGDB_SKIPPED || reason))) {
		clear_line(r);
		if (action == RAGDB_FAILED || action == RAGDB_SKIPPED)
			fprintf(stderr, "%s ", action_name(action));
		else
			fputs("warning: ", stderr);
		print_subject(id, source);
		fprintf(stderr, ": %s\n", reason ? reason : "no reason given");
	}
	if (r->json && action != RAGDB_ADDED && action != RAGDB_UNCHANGED) {
		if (r->n_items >= INGEST_MAX_ITEMS) {
			r->items_truncated = 1;
		} else {
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "action", action_name(action));
			cJSON_AddStringToObject(o, "id", id ? id : "");
			cJSON_AddStringToObject(o, "source", source ? source : "");
			if (reason)
				cJSON_AddStringToObject(o, "reason", reason);
			else
				cJSON_AddNullToObject(o, "reason");
			if (cJSON_AddItemToArray(r->items, o))
				r->n_items++;
			else
				cJSON_Delete(o);
		}
	}
	pthread_mutex_unlock(&r->mu);
}

static void on_progress(void *vctx, const ragdb_ingest_summary *s)
{
	ingest_run *r = vctx;
	double now, rate, eta = -1;
	char eta_s[32];

	if (!r->progress)
		return;
	pthread_mutex_lock(&r->mu);
	now = cli_now();
	if (r->line_shown && now - r->last_draw < 0.1)
		goto out_unlock;
	r->last_draw = now;
	/* Our own clock: the library's running totals may not carry time. */
	rate = now > r->t0 ? (double)s->bytes / (now - r->t0) : 0;
	if (rate > 0 && s->bytes_total > s->bytes)
		eta = (double)(s->bytes_total - s->bytes) / rate;
	if (eta >= 0)
		snprintf(eta_s, sizeof eta_s, ", ETA %d:%02d", (int)(eta / 60), (int)eta % 60);
	else
		eta_s[0] = '\0';
	fprintf(stderr, "\r\033[Kingest: %llu/%llu files, %llu chunks, %.1f MB/s%s",
	        (unsigned long long)s->files_seen, (unsigned long long)s->files_total,
	        (unsigned long long)s->chunks, rate / 1e6, eta_s);
	fflush(stderr);
	r->line_shown = 1;
out_unlock:
	pthread_mutex_unlock(&r->mu);
}

static cJSON *summary_json(const ragdb_ingest_summary *s, ingest_run *r)
{
	cJSON *j = cJSON_CreateObject();

	cJSON_AddNumberToObject(j, "added", (double)s->added);
	cJSON_AddNumberToObject(j, "replaced", (double)s->replaced);
	cJSON_AddNumberToObject(j, "unchanged", (double)s->unchanged);
	cJSON_AddNumberToObject(j, "removed", (double)s->removed);
	cJSON_AddNumberToObject(j, "skipped", (double)s->skipped);
	cJSON_AddNumberToObject(j, "failed", (double)s->failed);
	cJSON_AddNumberToObject(j, "chunks", (double)s->chunks);
	cJSON_AddNumberToObject(j, "embeddings", (double)s->embeddings);
	cJSON_AddNumberToObject(j, "bytes", (double)s->bytes);
	cJSON_AddNumberToObject(j, "seconds", cli_round6(s->seconds));
	cJSON_AddItemToObject(j, "items", r->items);
	r->items = NULL; /* owned by j now */
	cJSON_AddNumberToObject(j, "warnings", (double)s->warnings);
	cJSON_AddNumberToObject(j, "files_seen", (double)s->files_seen);
	if (r->items_truncated)
		cJSON_AddTrueToObject(j, "items_truncated");
	return j;
}

static int parse_format(const char *s, ragdb_format *f)
{
	static const struct { const char *name; ragdb_format f; } names[] = {
		{ "auto", RAGDB_FORMAT_AUTO }, { "text", RAGDB_FORMAT_TEXT },
		{ "markdown", RAGDB_FORMAT_MARKDOWN }, { "md", RAGDB_FORMAT_MARKDOWN },
		{ "code", RAGDB_FORMAT_CODE }, { "jsonl", RAGDB_FORMAT_JSONL },
		{ "html", RAGDB_FORMAT_HTML }, { "pdf", RAGDB_FORMAT_PDF },
		{ "docx", RAGDB_FORMAT_DOCX }, { "odt", RAGDB_FORMAT_ODT },
		{ "epub", RAGDB_FORMAT_EPUB }, { "csv", RAGDB_FORMAT_CSV }, { "tsv", RAGDB_FORMAT_CSV },
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (strcmp(s, names[i].name) == 0) {
			*f = names[i].f;
			return 0;
		}
	}
	return -1;
}

int cli_cmd_ingest(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{ "json", no_argument, NULL, CLI_OPT_JSON },
		CLI_EMBEDDER_LONGOPT,
		{ "quiet", no_argument, NULL, 'q' },
		{ "glob", required_argument, NULL, OPT_GLOB },
		{ "exclude", required_argument, NULL, OPT_EXCLUDE },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "id-field", required_argument, NULL, OPT_ID_FIELD },
		{ "text-field", required_argument, NULL, OPT_TEXT_FIELD },
		{ "title-field", required_argument, NULL, OPT_TITLE_FIELD },
		{ "chunk-tokens", required_argument, NULL, OPT_CHUNK_TOKENS },
		{ "overlap", required_argument, NULL, OPT_OVERLAP },
		{ "sync", no_argument, NULL, OPT_SYNC },
		{ "skip-bad-records", no_argument, NULL, OPT_SKIP_BAD },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "meta", required_argument, NULL, OPT_META },
		{ "embedding-field", required_argument, NULL, OPT_EMBEDDING_FIELD },
		{ "jobs", required_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	ragdb_ingest_options o;
	ragdb_ingest_summary sum;
	ingest_run run;
	ragdb *db = NULL;
	ragdb_status st;
	const char **globs, **excludes, **metas;
	size_t n_globs = 0, n_excludes = 0, n_metas = 0;
	uint32_t threads = 0;
	const char *emb_field = NULL;
	int c, rc;

	memset(&o, 0, sizeof o);
	memset(&sum, 0, sizeof sum);
	memset(&run, 0, sizeof run);
	run.ctx = ctx;
	/* There can be no more patterns than arguments. */
	globs = calloc((size_t)argc + 1, sizeof *globs);
	excludes = calloc((size_t)argc + 1, sizeof *excludes);
	metas = calloc((size_t)argc + 1, sizeof *metas);
	if (!globs || !excludes || !metas) {
		rc = cli_error(ctx, "out of memory");
		goto out_free_lists;
	}

	cli_getopt_begin();
	while ((c = getopt_long(argc, argv, ":hqj:", longopts, NULL)) != -1) {
		if (cli_common_option(ctx, c, optarg, &rc)) {
			if (rc >= 0)
				goto out_free_lists;
			continue;
		}
		rc = 0;
		switch (c) {
		case CLI_OPT_JSON: run.json = 1; break;
		case 'q': run.quiet = 1; break;
		case OPT_GLOB: globs[n_globs++] = optarg; break;
		case OPT_EXCLUDE: excludes[n_excludes++] = optarg; break;
		case OPT_FORMAT:
			if (parse_format(optarg, &o.format))
				rc = cli_usage_error(ctx, "--format expects auto, text, markdown, code, "
				                     "jsonl, html, pdf, docx, odt, epub or csv, found '%s'",
				                     optarg);
			break;
		case OPT_ID_FIELD: o.id_field = optarg; break;
		case OPT_TEXT_FIELD: o.text_field = optarg; break;
		case OPT_TITLE_FIELD: o.title_field = optarg; break;
		case OPT_CHUNK_TOKENS:
			rc = cli_parse_u32(ctx, "--chunk-tokens", optarg, 1, 1u << 20, &o.chunk_tokens);
			break;
		case OPT_OVERLAP:
			rc = cli_parse_u32(ctx, "--overlap", optarg, 0, 1u << 20, &o.chunk_overlap);
			if (!rc && o.chunk_overlap == 0)
				o.chunk_overlap = UINT32_MAX; /* CLI 0 = none; API 0 = default */
			break;
		case OPT_SYNC: o.sync = 1; break;
		case OPT_META: metas[n_metas++] = optarg; break;
		case OPT_EMBEDDING_FIELD: emb_field = optarg; break;
		case OPT_SKIP_BAD: o.skip_bad_records = 1; break;
		case OPT_THREADS:
			rc = cli_parse_u32(ctx, "--threads", optarg, 0, 1024, &threads);
			break;
		case 'j':
			/* Documents embedded at once: with a remote embedder each
			 * worker has its requests in flight (the pipeline allows 64). */
			rc = cli_parse_u32(ctx, "--jobs", optarg, 1, 64, &threads);
			break;
		default:
			rc = cli_getopt_error(ctx, c, argv);
			break;
		}
		if (rc)
			goto out_free_lists;
	}
	if (optind >= argc) {
		rc = cli_usage_error(ctx, "which files or directories? give at least one PATH");
		goto out_free_lists;
	}
	o.globs = globs;
	o.n_globs = n_globs;
	o.excludes = excludes;
	o.n_excludes = n_excludes;
	o.meta = metas;
	o.n_meta = n_metas;
	o.threads = (int)threads;
	o.on_item = on_item;
	o.on_progress = on_progress;
	o.ctx = &run;
	run.progress = ctx->stderr_tty && !run.quiet && !run.json;

	if ((rc = cli_open_db(ctx, 0, &db)))
		goto out_free_lists;
	if (emb_field) {
		cli_vec_fields vf = { o.id_field, o.text_field, o.title_field, emb_field };
		cli_interrupt_install(db);
		rc = cli_ingest_embedded(ctx, db, argv + optind, (size_t)(argc - optind), &vf, run.json);
		cli_interrupt_remove();
		goto out_close;
	}
	if (pthread_mutex_init(&run.mu, NULL)) {
		rc = cli_error(ctx, "cannot create a mutex");
		goto out_close;
	}
	if (run.json && !(run.items = cJSON_CreateArray())) {
		rc = cli_error(ctx, "out of memory");
		goto out_destroy_mutex;
	}

	cli_interrupt_install(db);
	run.t0 = cli_now();
	st = ragdb_ingest_paths(db, (const char *const *)(argv + optind), (size_t)(argc - optind), &o,
	                        &sum);
	cli_interrupt_remove();
	/* The library may have returned after a signal without reporting
	 * RAGDB_EINTR (it had just finished); that is a normal success. */

	pthread_mutex_lock(&run.mu);
	clear_line(&run);
	pthread_mutex_unlock(&run.mu);

	if (run.json) {
		cJSON *j = summary_json(&sum, &run);
		if (st != RAGDB_OK) {
			cJSON_AddStringToObject(j, "error", cli_errmsg(db, st));
			if (st == RAGDB_EINTR)
				cJSON_AddTrueToObject(j, "interrupted");
		}
		if (cli_json_print(ctx, j, 1)) {
			rc = CLI_EXIT_ERROR;
			goto out_free_items;
		}
	} else if (!run.quiet && st != RAGDB_EINTR && (st == RAGDB_OK || sum.files_seen > 0)) {
		/* (A call that failed before looking at any file gets no summary:
		 * the error message says it all.) */
		char b[32];
		fprintf(stderr,
		        "added %llu, replaced %llu, unchanged %llu, removed %llu, skipped %llu, failed %llu"
		        " — %llu chunks, %llu embeddings, %s in %.2f s\n",
		        (unsigned long long)sum.added, (unsigned long long)sum.replaced,
		        (unsigned long long)sum.unchanged, (unsigned long long)sum.removed,
		        (unsigned long long)sum.skipped, (unsigned long long)sum.failed,
		        (unsigned long long)sum.chunks, (unsigned long long)sum.embeddings,
		        cli_human_bytes(sum.bytes, b, sizeof b), sum.seconds);
		if (st == RAGDB_OK && sum.added + sum.replaced > 0)
			cli_ivf_hint(db);
	}

	if (st == RAGDB_EINTR) {
		fprintf(stderr,
		        "interrupted: %llu documents committed; run the same command again to continue\n",
		        (unsigned long long)(sum.added + sum.replaced + sum.removed));
		rc = CLI_EXIT_INTERRUPTED;
	} else if (st != RAGDB_OK) {
		rc = cli_api_error(ctx, db, st);
	} else if (sum.failed > 0) {
		fprintf(stderr, "ragdb ingest: %llu document%s failed; see the messages above\n",
		        (unsigned long long)sum.failed, sum.failed == 1 ? "" : "s");
		rc = CLI_EXIT_ERROR;
	} else {
		rc = CLI_EXIT_OK;
	}

out_free_items:
	cJSON_Delete(run.items);
out_destroy_mutex:
	pthread_mutex_destroy(&run.mu);
out_close:
	ragdb_close(db);
out_free_lists:
	free(globs);
	free(excludes);
	free(metas);
	return rc;
}
