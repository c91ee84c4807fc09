/*
 * tools/cli/lineedit.h — line editing and history for interactive input
 * (`ragdb chat` on a terminal), through libedit when the build found it.
 */
#ifndef CLI_LINEEDIT_H
#define CLI_LINEEDIT_H

typedef struct cli_lineedit cli_lineedit;

/* Line editing on standard input, with the history kept in
 * $XDG_STATE_HOME/ragdb/history (~/.local/state/ragdb/history), at most
 * CLI_HISTORY_MAX lines. NULL when stdin is not a terminal or the build has
 * no libedit: read with fgets then. */
#define CLI_HISTORY_MAX 1000
cli_lineedit *cli_lineedit_open(void);
/* One line without its newline (malloc'd), or NULL at end of input.
 * Non-empty lines are added to the history. */
char *cli_lineedit_read(cli_lineedit *le, const char *prompt);
/* Save the history and free; accepts NULL. */
void cli_lineedit_close(cli_lineedit *le);

#endif
