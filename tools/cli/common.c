/*
 * tools/cli/common.c — helpers every CLI command uses: option parsing and
 * usage errors, API error reporting, opening the knowledge base with the
 * "create one with ragdb init" hint, SIGINT routing to ragdb_interrupt(),
 * JSON printing and the terminal snippets of search results.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* ---------------------------------------------------------------- options */

void cli_getopt_begin(void)
{
	/* GNU getopt: optind = 0 re-initialises its internal state, so each
	 * scan starts fresh; opterr = 0 because we print our own messages. */
	optind = 0;
	opterr = 0;
}

int cli_usage_error(const cli_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ragdb %s: ", ctx->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nsee ragdb %s --help\n", ctx->cmd);
	return CLI_EXIT_USAGE;
}

int cli_getopt_error(const cli_ctx *ctx, int c, char **argv)
{
	/* getopt_long leaves optind past the offending word, except for a
	 * short option inside a cluster; argv[optind - 1] names it well enough. */
	const char *word = optind > 0 ? argv[optind - 1] : "?";

	if (c == ':') {
		if (optopt > 0 && optopt < 0x100)
			return cli_usage_error(ctx, "option -%c needs an argument", optopt);
		return cli_usage_error(ctx, "option '%s' needs an argument", word);
	}
	if (optopt > 0 && optopt < 0x100)
		return cli_usage_error(ctx, "unknown option -%c", optopt);
	return cli_usage_error(ctx, "unknown option '%s'", word);
}

int cli_parse_json_only(cli_ctx *ctx, int argc, char **argv, int *json)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{ "json", no_argument, NULL, CLI_OPT_JSON },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc;
	cli_getopt_begin();
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (cli_common_option(ctx, c, optarg, &rc)) {
			if (rc >= 0)
				return rc;
			continue;
		}
		if (c != CLI_OPT_JSON)
			return cli_getopt_error(ctx, c, argv);
		*json = 1;
	}
	return -1;
}

int cli_common_option(cli_ctx *ctx, int c, const char *arg, int *exit_now)
{
	*exit_now = -1;
	switch (c) {
	case CLI_OPT_DB:
		if (!arg || !*arg) {
			*exit_now = cli_usage_error(ctx, "--db needs a directory");
			return 1;
		}
		ctx->db_dir = arg;
		ctx->db_given = 1;
		return 1;
	case CLI_OPT_EMBEDDER:
		ctx->embedder = arg;
		return 1;
	case CLI_OPT_CONFIG:
	case CLI_OPT_ENDPOINT:
		/* The library reads these variables when it opens or creates a
		 * knowledge base; a flag overrides what the environment said. */
		if (!arg || !*arg) {
			*exit_now = cli_usage_error(ctx, "%s needs a value",
			                            c == CLI_OPT_CONFIG ? "--config" : "--endpoint");
			return 1;
		}
		setenv(c == CLI_OPT_CONFIG ? "RAGDB_CONFIG" : "RAGDB_EMBED_ENDPOINT", arg, 1);
		return 1;
	case 'h':
		cli_print_help(stdout, ctx->cmd);
		*exit_now = CLI_EXIT_OK;
		return 1;
	default:
		return 0;
	}
}

int cli_parse_u32(const cli_ctx *ctx, const char *opt, const char *s, uint32_t min, uint32_t max,
                  uint32_t *out)
{
	char *end = NULL;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == '+')
		goto bad;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		goto bad;
	*out = (uint32_t)v;
	return 0;
bad:
	return cli_usage_error(ctx, "%s expects a whole number from %u to %u, found '%s'", opt,
	                       (unsigned)min, (unsigned)max, s ? s : "");
}

/* ---------------------------------------------------------------- errors */

const char *cli_errmsg(const ragdb *db, ragdb_status st)
{
	const char *m = db ? ragdb_errmsg(db) : NULL;

	return (m && *m) ? m : ragdb_strerror(st);
}

int cli_api_error(const cli_ctx *ctx, const ragdb *db, ragdb_status st)
{
	fprintf(stderr, "ragdb %s: %s\n", ctx->cmd, cli_errmsg(db, st));
	return st == RAGDB_EINTR ? CLI_EXIT_INTERRUPTED : CLI_EXIT_ERROR;
}

int cli_error(const cli_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ragdb %s: ", ctx->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CLI_EXIT_ERROR;
}

/* An --embedder that names another embedder than the knowledge base's is
 * refused: vectors of two embedders are not comparable. NAME is "provider"
 * or "provider:model". */
int cli_check_embedder(const cli_ctx *ctx, ragdb *db)
{
	ragdb_stats s;
	char full[160];
	if (!ctx->embedder)
		return 0;
	if (ragdb_get_stats(db, &s) != RAGDB_OK)
		return cli_api_error(ctx, db, RAGDB_EIO);
	snprintf(full, sizeof full, "%s:%s", s.embedder, s.embedder_model);
	const char *want = ctx->embedder;
	int same = strchr(want, ':') ? strcmp(want, full) == 0 : strcmp(want, s.embedder) == 0;
	if (same)
		return 0;
	fprintf(stderr,
	        "ragdb %s: --embedder %s does not match this knowledge base, which was built with %s "
	        "(dim %u); vectors of different embedders cannot be compared: drop --embedder, or "
	        "create another knowledge base with `ragdb init --embedder %s`\n",
	        ctx->cmd, want, full, s.dim, want);
	return CLI_EXIT_ERROR;
}

int cli_open_db(const cli_ctx *ctx, unsigned flags, ragdb **db)
{
	ragdb *h = NULL;
	ragdb_status st = ragdb_open(ctx->db_dir, flags, &h);

	if (st == RAGDB_OK) {
		int rc = cli_check_embedder(ctx, h);
		if (rc) {
			ragdb_close(h);
			return rc;
		}
		*db = h;
		return 0;
	}
	if (st == RAGDB_ENOTFOUND) {
		fprintf(stderr, "ragdb: no knowledge base in %s\ncreate one with: ragdb init --db %s\n",
		        ctx->db_dir, ctx->db_dir);
	} else {
		fprintf(stderr, "ragdb %s: cannot open %s: %s\n", ctx->cmd, ctx->db_dir,
		        cli_errmsg(h, st));
	}
	ragdb_close(h);
	return CLI_EXIT_ERROR;
}

/* ---------------------------------------------------------------- signals */

/* The one piece of mutable global state: a signal handler can reach the
 * handle only through a global. Written before the handler is installed and
 * cleared after it is removed. */
static ragdb *volatile cli_sig_db;
static volatile sig_atomic_t cli_sig_count;

static void cli_on_signal(int sig)
{
	struct sigaction dfl;

	cli_sig_count = 1;
	if (cli_sig_db)
		ragdb_interrupt(cli_sig_db);
	/* A second signal takes the default action: the process ends now. */
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
}

void cli_interrupt_install(ragdb *db)
{
	struct sigaction sa;

	cli_sig_db = db;
	cli_sig_count = 0;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = cli_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

void cli_interrupt_remove(void)
{
	struct sigaction dfl;

	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGINT, &dfl, NULL);
	sigaction(SIGTERM, &dfl, NULL);
	cli_sig_db = NULL;
}

int cli_interrupted(void)
{
	return cli_sig_count != 0;
}

/* ---------------------------------------------------------------- output */

int cli_json_print(const cli_ctx *ctx, cJSON *j, int pretty)
{
	char *s = j ? (pretty ? cJSON_Print(j) : cJSON_PrintUnformatted(j)) : NULL;
	int rc = 0;

	if (!s) {
		rc = cli_error(ctx, "out of memory while writing JSON");
		goto out_free_json;
	}
	fputs(s, stdout);
	fputc('\n', stdout);
	cJSON_free(s);
out_free_json:
	cJSON_Delete(j);
	return rc;
}

double cli_round6(double x)
{
	return round(x * 1e6) / 1e6;
}

cJSON *cli_json_add_score(cJSON *o, double score)
{
	/* Always with a decimal point: a hybrid score can be exactly 1, and a
	 * JSON reader should see a float either way. */
	char b[48];
	snprintf(b, sizeof b, "%.6f", isfinite(score) ? score : 0.0);
	return cJSON_AddRawToObject(o, "score", b);
}

cJSON *cli_hit_json(const ragdb_hit *h, int with_text)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "rank", h->rank);
	cli_json_add_score(o, h->score);
	cJSON_AddStringToObject(o, "id", h->id ? h->id : "");
	cJSON_AddStringToObject(o, "source", h->source ? h->source : "");
	cJSON_AddNumberToObject(o, "chunk", h->chunk);
	cJSON_AddNumberToObject(o, "start", (double)h->start);
	cJSON_AddNumberToObject(o, "end", (double)h->end);
	if (with_text)
		cJSON_AddStringToObject(o, "text", h->text ? h->text : "");
	cJSON_AddStringToObject(o, "title", h->title ? h->title : "");
	cJSON_AddStringToObject(o, "heading", h->heading ? h->heading : "");
	return o;
}

static int cli_is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Display columns of s[0..n): one per UTF-8 lead byte (wide characters
 * count as one; close enough for a snippet). */
static size_t cli_columns(const char *s, size_t n)
{
	size_t cols = 0;

	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			cols++;
	return cols;
}

void cli_print_snippet(FILE *out, const char *text, size_t len, size_t max_bytes, size_t width,
                       int max_lines, const char *indent)
{
	/* Collapse whitespace into a bounded buffer: the snippet needs at most
	 * max_bytes plus one word, so longer texts are not copied whole. */
	size_t cap = max_bytes + 64;
	char *buf = malloc(cap + 4);
	size_t n = 0, cut;
	int truncated = 0, line = 0;
	const char *p;

	if (!buf || !text)
		goto out_free_buf;
	for (size_t i = 0; i < len && text[i]; i++) {
		unsigned char c = (unsigned char)text[i];
		if (cli_is_space(c)) {
			if (n > 0 && buf[n - 1] != ' ')
				buf[n++] = ' ';
		} else {
			buf[n++] = (char)c;
		}
		if (n >= cap) {
			truncated = 1;
			break;
		}
	}
	while (n > 0 && buf[n - 1] == ' ')
		n--;
	cut = n;
	if (n > max_bytes) {
		/* Cut at the last space before max_bytes; if a single word fills
		 * it, cut at a UTF-8 character boundary instead. */
		cut = max_bytes;
		while (cut > max_bytes / 2 && buf[cut] != ' ')
			cut--;
		if (buf[cut] != ' ') {
			cut = max_bytes;
			while (cut > 0 && ((unsigned char)buf[cut] & 0xC0) == 0x80)
				cut--;
		}
		while (cut > 0 && buf[cut - 1] == ' ')
			cut--;
		truncated = 1;
	}
	if (truncated) {
		memcpy(buf + cut, "\xE2\x80\xA6", 3); /* … */
		cut += 3;
	}
	buf[cut] = '\0';

	/* Greedy wrap at spaces. */
	p = buf;
	while (*p && line < max_lines) {
		size_t rest = strlen(p), take = rest;
		if (cli_columns(p, rest) > width) {
			size_t b = 0, cols = 0, last_space = 0;
			for (b = 0; b < rest; b++) {
				if (((unsigned char)p[b] & 0xC0) != 0x80) {
					if (cols == width)
						break;
					cols++;
				}
				if (p[b] == ' ')
					last_space = b;
			}
			take = last_space > 0 ? last_space : b;
		}
		if (line == max_lines - 1 && take < rest) {
			/* The last line allowed: show what fits and mark the rest. */
			fprintf(out, "%s%.*s \xE2\x80\xA6\n", indent, (int)take, p);
			line++;
			break;
		}
		fprintf(out, "%s%.*s\n", indent, (int)take, p);
		p += take;
		while (*p == ' ')
			p++;
		line++;
	}
out_free_buf:
	free(buf);
}

const char *cli_human_bytes(uint64_t n, char *buf, size_t cap)
{
	static const char *const units[] = { "B", "KB", "MB", "GB", "TB" };
	double v = (double)n;
	size_t u = 0;

	while (v >= 1024.0 && u + 1 < sizeof units / sizeof units[0]) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, cap, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, cap, "%.1f %s", v, units[u]);
	return buf;
}

const char *cli_time_str(int64_t t, char *buf, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0 || !gmtime_r(&tt, &tm)) {
		snprintf(buf, cap, "-");
		return buf;
	}
	strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm);
	return buf;
}

double cli_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *cli_bold(const cli_ctx *ctx)
{
	return ctx->color ? "\033[1m" : "";
}

const char *cli_reset(const cli_ctx *ctx)
{
	return ctx->color ? "\033[0m" : "";
}
