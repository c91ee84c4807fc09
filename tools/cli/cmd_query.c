/*
 * tools/cli/cmd_query.c — `ragdb query "QUESTION"` (also `rag-query`):
 * retrieve, answer with [n] citations, list the numbered sources. Plain
 * output is the answer, a blank line and the Sources list; --json gives
 * the whole answer structure. --agentic lets the language model search
 * again before it answers; each search it makes is shown on stderr.
 */
#include <string.h>

#include "cli.h"
#include "query_compare.h"
#include "search_opts.h"

enum { OPT_CONTEXT_TOKENS = CLI_OPT_FIRST_COMMAND_OPT, OPT_MAX_SENTENCES, OPT_MODEL, OPT_NO_STREAM,
       OPT_CONVERSATION };

/* Apart from the list above so that options added there do not collide. */
enum { OPT_NO_CACHE = CLI_OPT_FIRST_COMMAND_OPT + 64 };
enum { OPT_COMPARE = CLI_OPT_FIRST_COMMAND_OPT + 80 }; /* query_compare.c */
enum { OPT_AGENTIC = CLI_OPT_FIRST_COMMAND_OPT + 72, OPT_MAX_TOOL_CALLS };

/* Streaming: each piece of the answer goes to the terminal as it arrives. */
typedef struct stream_out {
	size_t bytes;
	char last;
} stream_out;

static void on_delta(void *ctx, const char *text, size_t len)
{
	stream_out *so = ctx;
	if (len == 0)
		return;
	fwrite(text, 1, len, stdout);
	fflush(stdout);
	so->bytes += len;
	so->last = text[len - 1];
}

/* --agentic: each search the model asks for, on stderr (not part of the
 * answer on stdout). */
static void on_tool_call(void *ctx, const char *query)
{
	(void)ctx;
	fprintf(stderr, "searching: %s\n", query);
	fflush(stderr);
}

static void print_answer(const cli_ctx *ctx, const ragdb_answer *a, const stream_out *so)
{
	const char *ans = a->answer ? a->answer : "";
	size_t len = strlen(ans);

	if (so && so->bytes > 0) {
		if (so->last != '\n')
			putchar('\n');
	} else {
		fputs(ans, stdout);
		if (len == 0 || ans[len - 1] != '\n')
			putchar('\n');
	}
	if (a->n_sources > 0) {
		printf("\nSources:\n");
		for (size_t i = 0; i < a->n_sources; i++) {
			const ragdb_source *s = &a->sources[i];
			const char *label = (s->heading && *s->heading) ? s->heading
			                  : (s->title && *s->title) ? s->title : NULL;
			printf("[%u] %s%s%s", (unsigned)s->n, cli_bold(ctx), s->id ? s->id : "",
			       cli_reset(ctx));
			if (label)
				printf(" \xE2\x80\x94 %s", label);
			printf(" (%s, bytes %llu\xE2\x80\x93%llu)\n", s->source ? s->source : "",
			       (unsigned long long)s->start, (unsigned long long)s->end);
		}
	}
	/* The built-in answerer says it is extractive in its answer; say it
	 * here only if the answer does not. */
	if (a->extractive && !strcasestr(ans, "extractive"))
		printf("\n(extractive answer: sentences quoted from the sources; no language model "
		       "was used)\n");
	if (!a->extractive) {
		if (a->cached)
			printf("\n(%s: from the answer cache, no call made", a->model ? a->model : "model");
		else
			printf("\n(%s: %llu input + %llu output tokens", a->model ? a->model : "model",
			       (unsigned long long)a->input_tokens, (unsigned long long)a->output_tokens);
		if (a->tool_calls)
			printf(", %u tool call%s", (unsigned)a->tool_calls, a->tool_calls == 1 ? "" : "s");
		if (a->cost > 0)
			printf(", cost %.4f", a->cost);
		printf(", %.1f s)\n", a->took_ms / 1000.0);
	}
}

static cJSON *answer_json(const char *question, const ragdb_answer *a)
{
	cJSON *j = cJSON_CreateObject(), *arr;

	cJSON_AddStringToObject(j, "question", question);
	cJSON_AddStringToObject(j, "search_query", a->search_query ? a->search_query : question);
	cJSON_AddStringToObject(j, "answer", a->answer ? a->answer : "");
	cJSON_AddStringToObject(j, "model", a->model ? a->model : "");
	cJSON_AddBoolToObject(j, "extractive", a->extractive != 0);
	cJSON_AddNumberToObject(j, "took_ms", cli_round6(a->took_ms));
	arr = cJSON_AddArrayToObject(j, "sources");
	for (size_t i = 0; arr && i < a->n_sources; i++) {
		const ragdb_source *s = &a->sources[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "n", s->n);
		cJSON_AddStringToObject(o, "id", s->id ? s->id : "");
		cJSON_AddStringToObject(o, "source", s->source ? s->source : "");
		cJSON_AddStringToObject(o, "title", s->title ? s->title : "");
		cJSON_AddStringToObject(o, "heading", s->heading ? s->heading : "");
		cJSON_AddNumberToObject(o, "start", (double)s->start);
		cJSON_AddNumberToObject(o, "end", (double)s->end);
		cli_json_add_score(o, s->score);
		cJSON_AddStringToObject(o, "text", s->text ? s->text : "");
		if (!cJSON_AddItemToArray(arr, o))
			cJSON_Delete(o);
	}
	cJSON_AddNumberToObject(j, "context_tokens", a->context_tokens);
	cJSON_AddNumberToObject(j, "input_tokens", (double)a->input_tokens);
	cJSON_AddNumberToObject(j, "output_tokens", (double)a->output_tokens);
	cJSON_AddNumberToObject(j, "cost", a->cost);
	cJSON_AddBoolToObject(j, "cached", a->cached != 0);
	cJSON_AddNumberToObject(j, "tool_calls", a->tool_calls);
	return j;
}

int cli_cmd_query(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		CLI_SEARCH_LONGOPTS,
		{ "json", no_argument, NULL, CLI_OPT_JSON },
		CLI_EMBEDDER_LONGOPT,
		{ "context-tokens", required_argument, NULL, OPT_CONTEXT_TOKENS },
		{ "max-sentences", required_argument, NULL, OPT_MAX_SENTENCES },
		{ "model", required_argument, NULL, OPT_MODEL },
		{ "no-stream", no_argument, NULL, OPT_NO_STREAM },
		{ "no-cache", no_argument, NULL, OPT_NO_CACHE },
		{ "compare", required_argument, NULL, OPT_COMPARE },
		{ "conversation", required_argument, NULL, OPT_CONVERSATION },
		{ "agentic", no_argument, NULL, OPT_AGENTIC },
		{ "max-tool-calls", required_argument, NULL, OPT_MAX_TOOL_CALLS },
		{ NULL, 0, NULL, 0 },
	};
	ragdb_query_options qo;
	ragdb_answer *ans = NULL;
	ragdb *db = NULL;
	ragdb_status st;
	int c, rc, json = 0, no_stream = 0;
	const char *compare = NULL;
	stream_out so = {0, 0};

	cli_search_opts sopt;
	memset(&sopt, 0, sizeof sopt);
	memset(&qo, 0, sizeof qo);
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
			if ((rc = cli_parse_u32(ctx, "-k", optarg, 1, 1000, &qo.k)))
				return rc;
			break;
		case CLI_OPT_JSON: json = 1; break;
		case OPT_CONTEXT_TOKENS:
			if ((rc = cli_parse_u32(ctx, "--context-tokens", optarg, 1, 1u << 24,
			                        &qo.context_tokens)))
				return rc;
			break;
		case OPT_MAX_SENTENCES:
			if ((rc = cli_parse_u32(ctx, "--max-sentences", optarg, 1, 100, &qo.max_sentences)))
				return rc;
			break;
		case OPT_MODEL:
			if (!optarg[0])
				return cli_usage_error(ctx, "--model needs provider:model (e.g. anthropic:claude-sonnet-4-5)");
			qo.model = optarg;
			break;
		case OPT_NO_STREAM:
			no_stream = 1;
			break;
		case OPT_NO_CACHE:
			qo.no_cache = 1;
			break;
		case OPT_COMPARE:
			compare = optarg;
			break;
		case OPT_AGENTIC:
			qo.agentic = 1;
			break;
		case OPT_MAX_TOOL_CALLS:
			if ((rc = cli_parse_u32(ctx, "--max-tool-calls", optarg, 1, 16, &qo.max_tool_calls)))
				return rc;
			break;
		case OPT_CONVERSATION:
			if (!optarg[0])
				return cli_usage_error(ctx, "--conversation needs an id (see `ragdb "
				                       "conversations list`)");
			qo.conversation_id = optarg;
			break;
		default:
			return cli_getopt_error(ctx, c, argv);
		}
	}
	if (sopt.k1 > 0 || sopt.b > 0 || sopt.expand)
		return cli_usage_error(ctx, "--bm25-k1, --bm25-b and --expand apply to `ragdb search` "
		                       "only");
	qo.mode = sopt.mode;
	qo.filters = sopt.filters;
	qo.n_filters = sopt.n_filters;
	qo.mmr_lambda = sopt.mmr;
	if (qo.max_tool_calls && !qo.agentic)
		return cli_usage_error(ctx, "--max-tool-calls applies with --agentic");
	if (optind >= argc)
		return cli_usage_error(ctx, "what is the question? give a QUESTION");
	if (optind + 1 < argc)
		return cli_usage_error(ctx, "give the question as one argument, in quotes "
		                       "(unexpected '%s')", argv[optind + 1]);
	if (!argv[optind][0])
		return cli_usage_error(ctx, "the question is empty");

	if (compare)
		return cli_query_compare(ctx, argv[optind], &qo, compare, json);
	/* Asking within a conversation stores the turns. */
	if ((rc = cli_open_db(ctx, qo.conversation_id ? 0 : RAGDB_RDONLY, &db)))
		return rc;
	if (!json && !no_stream) {
		qo.on_delta = on_delta;
		qo.ctx = &so;
	}
	if (!json)
		qo.on_tool_call = on_tool_call;
	st = ragdb_query(db, argv[optind], &qo, &ans);
	if (st != RAGDB_OK) {
		if (so.bytes > 0) {
			/* Part of an answer is on the screen: say it is not the answer. */
			if (so.last != '\n')
				putchar('\n');
			fflush(stdout);
			fprintf(stderr, "ragdb %s: the answer above is incomplete\n", ctx->cmd);
		}
		rc = cli_api_error(ctx, db, st);
		goto out_close;
	}
	if (json) {
		cJSON *j = answer_json(argv[optind], ans);
		if (qo.conversation_id)
			cJSON_AddStringToObject(j, "conversation", qo.conversation_id);
		rc = cli_json_print(ctx, j, 1);
	} else {
		print_answer(ctx, ans, &so);
		rc = CLI_EXIT_OK;
	}
	ragdb_answer_free(ans);
out_close:
	ragdb_close(db);
	return rc;
}
