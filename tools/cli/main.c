/*
 * tools/cli/main.c — entry point of the `ragdb` command-line tool: global
 * options before the command (--db, --version, --help), the default
 * knowledge base directory, and dispatch to the command's file. Called as
 * `rag-query` (the installed symlink) it behaves as `ragdb query`.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "model_stats.h"

static void cli_top_usage(FILE *out)
{
	cli_print_help(out, NULL);
}

static const char *cli_basename(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

int main(int argc, char **argv)
{
	cli_ctx ctx;
	const cli_command *cmd;
	const char *env_db = getenv("RAGDB_DB");
	const char *no_color = getenv("NO_COLOR");
	int i = 1;

	memset(&ctx, 0, sizeof ctx);
	ctx.cmd = "";
	ctx.db_dir = (env_db && *env_db) ? env_db : "./.ragdb";
	ctx.stdout_tty = isatty(STDOUT_FILENO);
	ctx.stderr_tty = isatty(STDERR_FILENO);
	/* https://no-color.org: present and not empty disables colour. */
	ctx.color = ctx.stdout_tty && !(no_color && *no_color);

	/* rag-query QUESTION... is ragdb query QUESTION... */
	if (argc > 0 && strcmp(cli_basename(argv[0]), "rag-query") == 0) {
		ctx.cmd = "query";
		argv[0] = (char *)"query";
		return cli_cmd_query(&ctx, argc, argv);
	}

	if (argc < 2) {
		cli_top_usage(stderr);
		return CLI_EXIT_USAGE;
	}

	/* Global options come before the command; --db may also follow it,
	 * where the command's own option parser takes it. */
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
			printf("ragdb %s\n", ragdb_version());
			return CLI_EXIT_OK;
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			cli_top_usage(stdout);
			return CLI_EXIT_OK;
		}
		if (strcmp(a, "--db") == 0) {
			if (i + 1 >= argc || !argv[i + 1][0]) {
				fprintf(stderr, "ragdb: option '--db' needs a directory\nsee ragdb --help\n");
				return CLI_EXIT_USAGE;
			}
			ctx.db_dir = argv[++i];
			ctx.db_given = 1;
			continue;
		}
		if (strncmp(a, "--db=", 5) == 0 && a[5]) {
			ctx.db_dir = a + 5;
			ctx.db_given = 1;
			continue;
		}
		fprintf(stderr, "ragdb: unknown option '%s'\nsee ragdb --help\n", a);
		return CLI_EXIT_USAGE;
	}
	if (i >= argc) {
		cli_top_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	cmd = cli_find_command(argv[i]);
	if (!cmd) {
		fprintf(stderr, "ragdb: unknown command '%s'\nsee ragdb --help\n", argv[i]);
		return CLI_EXIT_USAGE;
	}
	ctx.cmd = cmd->name;
	int rc = cmd->run(&ctx, argc - i, argv + i);
	cli_model_stats_save(&ctx); /* this run's model calls, for `ragdb stats --models` */
	return rc;
}
