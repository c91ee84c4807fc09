/*
 * tools/cli/cmd_chat.c — `ragdb chat [--conversation ID] [--model M]`: an
 * interactive loop over one stored conversation. Each line is a question
 * asked within the conversation (ragdb_query with conversation_id, so
 * follow-ups are rewritten and the turns stored); answers stream as they
 * arrive. /sources lists the last answer's sources, /new starts a new
 * conversation, /quit (or end of input) leaves. On a terminal, input is
 * read with line editing and history (lineedit.c, libedit); otherwise with
 * fgets, so a script can pipe questions in; a prompt is shown only on a
 * terminal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "lineedit.h"

enum { OPT_CONVERSATION = CLI_OPT_FIRST_COMMAND_OPT, OPT_MODEL, OPT_NO_STREAM };
enum { OPT_AGENTIC = CLI_OPT_FIRST_COMMAND_OPT + 72 };

#define CHAT_MAX_LINE 65536

typedef struct chat_out {
	size_t bytes;
	char last;
} chat_out;

static void on_delta(void *ctx, const char *text, size_t len)
{
	chat_out *co = ctx;
	if (len == 0)
		return;
	fwrite(text, 1, len, stdout);
	fflush(stdout);
	co->bytes += len;
	co->last = text[len - 1];
}

/* A fresh conversation id: "c-" and 16 hex digits from /dev/urandom (the
 * clock and pid when it cannot be read). */
static void new_id(char out[32])
{
	unsigned long long r = 0;
	FILE *f = fopen("/dev/urandom", "rb");
	if (!f || fread(&r, sizeof r, 1, f) != 1) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		r = (unsigned long long)ts.tv_sec * 1000000007ull ^ (unsigned long long)ts.tv_nsec ^
		    (unsigned long long)getpid() << 32;
	}
	if (f)
		fclose(f);
	snprintf(out, 32, "c-%016llx", r);
}

/* --agentic: each search the model asks for, on stderr. */
static void on_tool_call(void *ctx, const char *query)
{
	(void)ctx;
	fprintf(stderr, "searching: %s\n", query);
}

static void print_sources(const ragdb_answer *a)
{
	if (!a || a->n_sources == 0) {
		printf("(no sources)\n");
		return;
	}
	for (size_t i = 0; i < a->n_sources; i++) {
		const ragdb_source *s = &a->sources[i];
		printf("[%u] %s", (unsigned)s->n, s->id ? s->id : "");
		if (s->title && *s->title)
			printf(" \xE2\x80\x94 %s", s->title);
		printf(" (%s)\n", s->source ? s->source : "");
	}
}

int cli_cmd_chat(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		CLI_EMBEDDER_LONGOPT,
		{ "conversation", required_argument, NULL, OPT_CONVERSATION },
		{ "model", required_argument, NULL, OPT_MODEL },
		{ "no-stream", no_argument, NULL, OPT_NO_STREAM },
		{ "agentic", no_argument, NULL, OPT_AGENTIC },
		{ NULL, 0, NULL, 0 },
	};
	char id[256]; /* ids are at most 255 bytes */
	const char *model = NULL;
	int c, rc, no_stream = 0, agentic = 0;
	ragdb *db = NULL;
	ragdb_answer *last = NULL;
	char *line = NULL;
	cli_lineedit *le = NULL;

	id[0] = 0;
	cli_getopt_begin();
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (cli_common_option(ctx, c, optarg, &rc)) {
			if (rc >= 0)
				return rc;
			continue;
		}
		switch (c) {
		case OPT_CONVERSATION:
			if (!optarg[0] || strlen(optarg) >= sizeof id)
				return cli_usage_error(ctx, "--conversation needs an id of 1..%zu bytes",
				                       sizeof id - 1);
			snprintf(id, sizeof id, "%s", optarg);
			break;
		case OPT_MODEL:
			if (!optarg[0])
				return cli_usage_error(ctx, "--model needs provider:model (e.g. "
				                       "anthropic:claude-sonnet-4-5)");
			model = optarg;
			break;
		case OPT_NO_STREAM:
			no_stream = 1;
			break;
		case OPT_AGENTIC:
			agentic = 1;
			break;
		default:
			return cli_getopt_error(ctx, c, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error(ctx, "chat reads questions from its input (unexpected '%s')",
		                       argv[optind]);
	if (!id[0])
		new_id(id);
	if ((rc = cli_open_db(ctx, 0, &db)))
		return rc;
	line = malloc(CHAT_MAX_LINE);
	if (!line) {
		rc = cli_error(ctx, "out of memory");
		goto out;
	}
	int tty = isatty(0);
	le = tty ? cli_lineedit_open() : NULL;
	printf("conversation %s\n", id);
	if (tty)
		printf("Ask a question; /sources lists the last answer's sources, /new starts a new "
		       "conversation, /quit leaves.\n");
	rc = CLI_EXIT_OK;
	for (;;) {
		if (le) {
			fflush(stdout);
			char *l = cli_lineedit_read(le, "> ");
			if (!l)
				break;
			size_t ll = strlen(l);
			if (ll > CHAT_MAX_LINE - 2) {
				free(l);
				fprintf(stderr, "ragdb chat: a question is at most %d bytes; ask a shorter one\n",
				        CHAT_MAX_LINE - 2);
				continue;
			}
			memcpy(line, l, ll + 1);
			free(l);
		} else {
			if (tty) {
				printf("> ");
				fflush(stdout);
			}
			if (!fgets(line, CHAT_MAX_LINE, stdin))
				break;
		}
		size_t len = strlen(line);
		if (!le && len == CHAT_MAX_LINE - 1 && line[len - 1] != '\n') {
			/* Drop the rest of an overlong line rather than ask half of it. */
			int ch;
			while ((ch = getchar()) != EOF && ch != '\n')
				;
			fprintf(stderr, "ragdb chat: a question is at most %d bytes; ask a shorter one\n",
			        CHAT_MAX_LINE - 2);
			continue;
		}
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
		                   line[len - 1] == ' ' || line[len - 1] == '\t'))
			line[--len] = 0;
		char *q = line;
		while (*q == ' ' || *q == '\t')
			q++;
		if (!*q)
			continue;
		if (strcmp(q, "/quit") == 0 || strcmp(q, "/exit") == 0)
			break;
		if (strcmp(q, "/sources") == 0) {
			print_sources(last);
			continue;
		}
		if (strcmp(q, "/new") == 0) {
			new_id(id);
			ragdb_answer_free(last);
			last = NULL;
			printf("conversation %s\n", id);
			continue;
		}
		if (q[0] == '/') {
			printf("commands: /sources, /new, /quit (a question cannot start with '/')\n");
			continue;
		}
		chat_out co = {0, 0};
		ragdb_query_options qo = {.model = model, .conversation_id = id, .agentic = agentic,
		                          .on_tool_call = on_tool_call};
		if (!no_stream) {
			qo.on_delta = on_delta;
			qo.ctx = &co;
		}
		ragdb_answer *a = NULL;
		ragdb_status st = ragdb_query(db, q, &qo, &a);
		if (st != RAGDB_OK) {
			if (co.bytes > 0 && co.last != '\n')
				putchar('\n');
			fflush(stdout);
			if (co.bytes > 0)
				fprintf(stderr, "ragdb chat: the answer above is incomplete\n");
			rc = cli_api_error(ctx, db, st);
			continue;
		}
		rc = CLI_EXIT_OK;
		if (co.bytes == 0)
			fputs(a->answer ? a->answer : "", stdout);
		if (co.bytes > 0 ? co.last != '\n'
		                 : !a->answer || !*a->answer || a->answer[strlen(a->answer) - 1] != '\n')
			putchar('\n');
		if (!a->extractive)
			printf("(%s)\n", a->model ? a->model : "model");
		putchar('\n');
		fflush(stdout);
		ragdb_answer_free(last);
		last = a;
	}
out:
	cli_lineedit_close(le);
	free(line);
	ragdb_answer_free(last);
	ragdb_close(db);
	return rc;
}
