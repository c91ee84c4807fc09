/*
 * tools/cli/cmd_show.c — `ragdb show ID`: one document's metadata, then its
 * text as rebuilt from its chunks (or --json: the list object plus "text").
 */
#include <string.h>

#include "cli.h"

int cli_cmd_show(cli_ctx *ctx, int argc, char **argv)
{
	ragdb_doc_info *d = NULL;
	ragdb *db = NULL;
	ragdb_status st;
	int rc, json = 0;

	if ((rc = cli_parse_json_only(ctx, argc, argv, &json)) >= 0)
		return rc;
	if (optind >= argc)
		return cli_usage_error(ctx, "which document? give its ID (ragdb list shows them)");
	if (optind + 1 < argc)
		return cli_usage_error(ctx, "give one ID (unexpected '%s')", argv[optind + 1]);

	if ((rc = cli_open_db(ctx, RAGDB_RDONLY, &db)))
		return rc;
	st = ragdb_show(db, argv[optind], &d);
	if (st == RAGDB_ENOTFOUND) {
		rc = cli_error(ctx, "no document with id '%s'; ragdb list shows the ids", argv[optind]);
		goto out_close;
	}
	if (st != RAGDB_OK) {
		rc = cli_api_error(ctx, db, st);
		goto out_close;
	}
	if (json) {
		cJSON *j = cli_doc_json(d);
		cJSON_AddStringToObject(j, "text", d->text ? d->text : "");
		rc = cli_json_print(ctx, j, 1);
	} else {
		char b1[32], b2[48], b3[48];
		const char *text = d->text ? d->text : "";
		size_t len = strlen(text);
		printf("id:        %s%s%s\n", cli_bold(ctx), d->id, cli_reset(ctx));
		printf("source:    %s\n", d->source ? d->source : "");
		printf("title:     %s\n", d->title ? d->title : "");
		printf("chunks:    %u\n", (unsigned)d->n_chunks);
		printf("size:      %llu bytes (%s)\n", (unsigned long long)d->size,
		       cli_human_bytes(d->size, b1, sizeof b1));
		printf("hash:      %s\n", d->hash);
		printf("mtime:     %s\n", cli_time_str(d->mtime, b2, sizeof b2));
		printf("ingested:  %s\n", cli_time_str(d->ingested, b3, sizeof b3));
		printf("metadata:  %s\n", d->metadata_json ? d->metadata_json : "{}");
		putchar('\n');
		fwrite(text, 1, len, stdout);
		if (len == 0 || text[len - 1] != '\n')
			putchar('\n');
		rc = CLI_EXIT_OK;
	}
	ragdb_doc_info_free(d);
out_close:
	ragdb_close(db);
	return rc;
}
