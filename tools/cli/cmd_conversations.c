/*
 * tools/cli/cmd_conversations.c — `ragdb conversations list|show ID|delete
 * ID [--json]`: the conversations stored by `ragdb chat` and `ragdb query
 * --conversation`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int list_plain(void *ctx, const ragdb_conversation_info *c)
{
	char t[32];
	int *n = ctx;
	if ((*n)++ == 0)
		printf("%-20s %5s  %-23s  %s\n", "ID", "TURNS", "UPDATED", "FIRST QUESTION");
	printf("%-20s %5u  %-23s  %s\n", c->id, (unsigned)c->n_turns,
	       cli_time_str(c->updated_ms / 1000, t, sizeof t), c->title);
	return 0;
}

static cJSON *info_json(const ragdb_conversation_info *c)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", c->id);
	cJSON_AddStringToObject(o, "title", c->title);
	cJSON_AddNumberToObject(o, "turns", c->n_turns);
	cJSON_AddNumberToObject(o, "created_ms", (double)c->created_ms);
	cJSON_AddNumberToObject(o, "updated_ms", (double)c->updated_ms);
	return o;
}

static int list_json(void *ctx, const ragdb_conversation_info *c)
{
	cJSON_AddItemToArray(ctx, info_json(c));
	return 0;
}

static int show(const cli_ctx *ctx, ragdb *db, const char *id, int json)
{
	ragdb_conversation *cv = NULL;
	ragdb_status st = ragdb_conversation_get(db, id, &cv);
	if (st != RAGDB_OK)
		return cli_api_error(ctx, db, st);
	if (json) {
		cJSON *j = info_json(&cv->info), *arr = cJSON_AddArrayToObject(j, "turns");
		for (size_t i = 0; i < cv->n_turns; i++) {
			const ragdb_turn *t = &cv->turns[i];
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "role", t->role);
			cJSON_AddStringToObject(o, "text", t->text);
			cJSON_AddNumberToObject(o, "time_ms", (double)t->time_ms);
			if (strcmp(t->role, "user") == 0) {
				cJSON_AddStringToObject(o, "search_query", t->search_query);
			} else {
				cJSON_AddStringToObject(o, "model", t->model);
				cJSON *src = cJSON_Parse(t->sources_json);
				cJSON_AddItemToObject(o, "sources", src ? src : cJSON_CreateArray());
				cJSON_AddNumberToObject(o, "input_tokens", (double)t->input_tokens);
				cJSON_AddNumberToObject(o, "output_tokens", (double)t->output_tokens);
			}
			cJSON_AddItemToArray(arr, o);
		}
		ragdb_conversation_free(cv);
		return cli_json_print(ctx, j, 1);
	}
	printf("conversation %s (%u turns)\n", cv->info.id, (unsigned)cv->info.n_turns);
	for (size_t i = 0; i < cv->n_turns; i++) {
		const ragdb_turn *t = &cv->turns[i];
		char ts[32];
		cli_time_str(t->time_ms / 1000, ts, sizeof ts);
		if (strcmp(t->role, "user") == 0) {
			printf("\n%s[%s] user:%s %s\n", cli_bold(ctx), ts, cli_reset(ctx), t->text);
			if (t->search_query[0] && strcmp(t->search_query, t->text) != 0)
				printf("  (searched for: %s)\n", t->search_query);
		} else {
			printf("\n%s[%s] assistant (%s):%s\n%s", cli_bold(ctx), ts, t->model,
			       cli_reset(ctx), t->text);
			size_t l = strlen(t->text);
			if (l == 0 || t->text[l - 1] != '\n')
				putchar('\n');
			cJSON *src = cJSON_Parse(t->sources_json);
			cJSON *s;
			cJSON_ArrayForEach(s, src) {
				cJSON *n = cJSON_GetObjectItem(s, "n"), *sid = cJSON_GetObjectItem(s, "id");
				printf("  [%d] %s\n", cJSON_IsNumber(n) ? n->valueint : 0,
				       cJSON_IsString(sid) ? sid->valuestring : "");
			}
			cJSON_Delete(src);
		}
	}
	ragdb_conversation_free(cv);
	return CLI_EXIT_OK;
}

int cli_cmd_conversations(cli_ctx *ctx, int argc, char **argv)
{
	int rc, json = 0;
	ragdb *db = NULL;

	if ((rc = cli_parse_json_only(ctx, argc, argv, &json)) >= 0)
		return rc;
	const char *sub = optind < argc ? argv[optind] : "list";
	int want_id = strcmp(sub, "show") == 0 || strcmp(sub, "delete") == 0;
	if (!want_id && strcmp(sub, "list") != 0)
		return cli_usage_error(ctx, "unknown subcommand '%s'; use list, show ID or delete ID",
		                       sub);
	if (want_id && optind + 1 >= argc)
		return cli_usage_error(ctx, "%s needs a conversation ID (see `ragdb conversations "
		                       "list`)", sub);
	if (optind + (want_id ? 2 : 1) < argc)
		return cli_usage_error(ctx, "unexpected '%s'", argv[optind + (want_id ? 2 : 1)]);
	int write = strcmp(sub, "delete") == 0;
	if ((rc = cli_open_db(ctx, write ? 0 : RAGDB_RDONLY, &db)))
		return rc;
	if (strcmp(sub, "list") == 0) {
		ragdb_status st;
		if (json) {
			cJSON *arr = cJSON_CreateArray();
			st = ragdb_conversation_list(db, list_json, arr);
			if (st == RAGDB_OK) {
				cJSON *j = cJSON_CreateObject();
				cJSON_AddItemToObject(j, "conversations", arr);
				rc = cli_json_print(ctx, j, 1);
			} else {
				cJSON_Delete(arr);
				rc = cli_api_error(ctx, db, st);
			}
		} else {
			int n = 0;
			st = ragdb_conversation_list(db, list_plain, &n);
			if (st != RAGDB_OK)
				rc = cli_api_error(ctx, db, st);
			else if (n == 0)
				printf("no conversations; start one with `ragdb chat`\n");
		}
	} else if (strcmp(sub, "show") == 0) {
		rc = show(ctx, db, argv[optind + 1], json);
	} else {
		ragdb_status st = ragdb_conversation_delete(db, argv[optind + 1]);
		if (st != RAGDB_OK) {
			rc = cli_api_error(ctx, db, st);
		} else if (json) {
			cJSON *j = cJSON_CreateObject();
			cJSON_AddStringToObject(j, "deleted", argv[optind + 1]);
			rc = cli_json_print(ctx, j, 1);
		} else {
			printf("deleted conversation %s\n", argv[optind + 1]);
		}
	}
	ragdb_close(db);
	return rc;
}
