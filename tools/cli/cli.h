/*
 * tools/cli/cli.h — what the ragdb command-line tool's files share: the
 * per-run context, the command table entries, option-parsing helpers, error
 * reporting with the CLI's exit codes, JSON printing and terminal output.
 *
 * The CLI uses the public API (ragdb.h) only. Exit codes: 0 success, 1 a
 * runtime error (message on stderr), 2 a usage error, 130 interrupted.
 */
#ifndef RAGDB_CLI_H
#define RAGDB_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "ragdb.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_ERROR 1
#define CLI_EXIT_USAGE 2
#define CLI_EXIT_INTERRUPTED 130

/* Long-option values above the char range, shared by every command. */
enum {
	CLI_OPT_DB = 0x100,
	CLI_OPT_JSON,
	CLI_OPT_EMBEDDER,   /* --embedder NAME on ingest/search/query: must match the knowledge base */
	CLI_OPT_CONFIG,     /* --config FILE: provider configuration (sets $RAGDB_CONFIG) */
	CLI_OPT_ENDPOINT,   /* --endpoint URL: a remote embedder's endpoint ($RAGDB_EMBED_ENDPOINT) */
	CLI_OPT_FIRST_COMMAND_OPT /* commands number their own options from here */
};

/* The options every command accepts; put it first in a command's table. */
#define CLI_COMMON_LONGOPTS \
	{ "db", required_argument, NULL, CLI_OPT_DB }, \
	{ "config", required_argument, NULL, CLI_OPT_CONFIG }, \
	{ "endpoint", required_argument, NULL, CLI_OPT_ENDPOINT }, \
	{ "help", no_argument, NULL, 'h' }

/* One run of the tool. */
typedef struct cli_ctx {
	const char *cmd;        /* the command's name, for messages */
	const char *db_dir;     /* the knowledge base directory (resolved) */
	int db_given;           /* --db was on the command line */
	int stdout_tty;         /* stdout is a terminal */
	int stderr_tty;         /* stderr is a terminal */
	int color;              /* bold allowed on stdout (a TTY, NO_COLOR unset) */
	const char *embedder;   /* --embedder given to a command that opens the db, or NULL */
} cli_ctx;

/* The --embedder option of the commands that use the knowledge base's embedder. */
#define CLI_EMBEDDER_LONGOPT { "embedder", required_argument, NULL, CLI_OPT_EMBEDDER }

/* A command: argv[0] is the command's name; getopt starts at argv[1]. */
typedef struct cli_command {
	const char *name;
	const char *summary;   /* one line, for `ragdb help` */
	const char *usage;     /* the full --help text */
	int (*run)(cli_ctx *ctx, int argc, char **argv);
} cli_command;

/* The command table (main.c). */
const cli_command *cli_find_command(const char *name);
extern const cli_command cli_commands[];
extern const size_t cli_n_commands;

/* The commands (one file each). */
int cli_cmd_init(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_ingest(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_search(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_query(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_serve(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_list(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_show(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_delete(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_stats(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_check(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_compact(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_import_vectors(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_quantize(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_index(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_backup(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_restore(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_eval(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_tune(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_reembed(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_chat(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_conversations(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_export_finetune(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_models(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_help(cli_ctx *ctx, int argc, char **argv);

/* Usage text of the command ctx->cmd. */
void cli_print_help(FILE *out, const char *cmd);

/* ---------------------------------------------------------------- options */

/* Start a getopt_long scan of a command's argv (resets getopt's state and
 * silences its own messages; the caller reports through cli_getopt_error). */
void cli_getopt_begin(void);

/* Report what getopt_long returned '?' or ':' for (an unknown option or a
 * missing argument) and return CLI_EXIT_USAGE. */
int cli_getopt_error(const cli_ctx *ctx, int c, char **argv);

/* Handle an option every command accepts (--db, --help). Returns 1 when it
 * was one (*exit_now set to -1, or to the exit code when the command must
 * stop: --help prints the usage and gives 0), 0 otherwise. */
int cli_common_option(cli_ctx *ctx, int c, const char *arg, int *exit_now);

/* The whole option scan of a command whose only own option is --json
 * (sets *json): returns -1 to go on (positional arguments from optind), or
 * the exit code when the command must stop (--help, a usage error). */
int cli_parse_json_only(cli_ctx *ctx, int argc, char **argv, int *json);

/* Parse a decimal integer in [min, max] given to option @p opt; on failure
 * print a usage error and return CLI_EXIT_USAGE, else 0. */
int cli_parse_u32(const cli_ctx *ctx, const char *opt, const char *s, uint32_t min, uint32_t max,
                  uint32_t *out);

/* Print "ragdb CMD: MESSAGE" plus the --help hint; returns CLI_EXIT_USAGE. */
int cli_usage_error(const cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---------------------------------------------------------------- errors */

/* Print "ragdb CMD: <message>" for a failed call on @p db (its errmsg, or
 * the status's string when there is none) and return the exit code for
 * @p st: CLI_EXIT_INTERRUPTED for RAGDB_EINTR, else CLI_EXIT_ERROR. */
int cli_api_error(const cli_ctx *ctx, const ragdb *db, ragdb_status st);

/* Print "ragdb CMD: MESSAGE"; returns CLI_EXIT_ERROR. */
int cli_error(const cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The message for @p st on @p db, never NULL. */
const char *cli_errmsg(const ragdb *db, ragdb_status st);

/* Open ctx->db_dir. On failure print the message (the init hint when there
 * is no knowledge base) and return the exit code; 0 on success. */
int cli_open_db(const cli_ctx *ctx, unsigned flags, ragdb **db);
/* 0, or an error exit after saying why ctx->embedder differs from db's. */
int cli_check_embedder(const cli_ctx *ctx, ragdb *db);

/* ---------------------------------------------------------------- signals */

/* Route SIGINT/SIGTERM to ragdb_interrupt(db): the first one asks the
 * running call to stop at a safe point; the handler then restores the
 * default so a second Ctrl-C ends the process at once. */
void cli_interrupt_install(ragdb *db);
/* Back to the default handlers (before ragdb_close). */
void cli_interrupt_remove(void);
/* Whether a signal arrived since cli_interrupt_install. */
int cli_interrupted(void);

/* ---------------------------------------------------------------- output */

/* Print @p j to stdout (pretty when @p pretty, else one line) and a
 * newline, then free it. Returns 0, or CLI_EXIT_ERROR if out of memory. */
int cli_json_print(const cli_ctx *ctx, cJSON *j, int pretty);

/* A search hit as the JSON object documented in docs/cli.md. */
cJSON *cli_hit_json(const ragdb_hit *h, int with_text);

/* A document as the JSON object of list --json (no text); cmd_list.c. */
cJSON *cli_doc_json(const ragdb_doc_info *d);

/* A score rounded to 6 decimals, so JSON does not show float noise. */
double cli_round6(double x);
/* Add "score" to @p o as a number that always has a decimal point. */
cJSON *cli_json_add_score(cJSON *o, double score);

/* Write a snippet of @p text: whitespace collapsed, cut near @p max_bytes
 * at a word boundary (an ellipsis marks the cut), wrapped to @p width
 * columns, at most @p max_lines lines, each prefixed by @p indent. */
void cli_print_snippet(FILE *out, const char *text, size_t len, size_t max_bytes, size_t width,
                       int max_lines, const char *indent);

/* "1.2 MB" etc. into @p buf. */
const char *cli_human_bytes(uint64_t n, char *buf, size_t cap);
/* On stderr, when @p db holds 512 MiB of vectors or more
 * (RAGDB_IVF_HINT_BYTES) and no IVF index: what would make searches cheaper
 * (int8 blocks with the local embedder, else an IVF index; ivf_hint.c). */
void cli_ivf_hint(ragdb *db);

/* "2024-05-01 12:00:00" (UTC) into @p buf, or "-" for 0. */
const char *cli_time_str(int64_t t, char *buf, size_t cap);

/* Monotonic seconds. */
double cli_now(void);

/* The bold on/off sequences, or "" when colour is off. */
const char *cli_bold(const cli_ctx *ctx);
const char *cli_reset(const cli_ctx *ctx);

#endif
