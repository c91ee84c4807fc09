/*
 * tools/cli/lineedit.c — line editing for interactive input (lineedit.h):
 * libedit's readline interface when the build defines RAGDB_HAVE_LIBEDIT
 * (CMakeLists.txt finds libedit with pkg-config), else nothing.
 *
 * The history file is written only at close, capped at CLI_HISTORY_MAX
 * lines, with mode 0600: questions may be private.
 */
#include "lineedit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef RAGDB_HAVE_LIBEDIT
#include <editline/readline.h>

struct cli_lineedit {
	char path[4096]; /* "" = no history file */
};

/* $XDG_STATE_HOME/ragdb/history, creating the directory; "" if none. */
static void history_path(char *out, size_t cap)
{
	const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char dir[4000];
	out[0] = 0;
	if (state && *state)
		snprintf(dir, sizeof dir, "%s/ragdb", state);
	else if (home && *home)
		snprintf(dir, sizeof dir, "%s/.local/state/ragdb", home);
	else
		return;
	/* mkdir -p: the parent of ragdb/ may not exist yet either. */
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		mkdir(dir, 0700);
		*p = '/';
	}
	if (mkdir(dir, 0700) != 0 && access(dir, W_OK) != 0)
		return;
	snprintf(out, cap, "%s/history", dir);
}

cli_lineedit *cli_lineedit_open(void)
{
	if (!isatty(STDIN_FILENO))
		return NULL;
	cli_lineedit *le = calloc(1, sizeof *le);
	if (!le)
		return NULL;
	history_path(le->path, sizeof le->path);
	using_history();
	stifle_history(CLI_HISTORY_MAX);
	if (le->path[0])
		read_history(le->path);
	return le;
}

char *cli_lineedit_read(cli_lineedit *le, const char *prompt)
{
	(void)le;
	char *line = readline(prompt);
	if (line && line[0] && line[0] != ' ')
		add_history(line);
	return line;
}

void cli_lineedit_close(cli_lineedit *le)
{
	if (!le)
		return;
	if (le->path[0]) {
		mode_t old = umask(077);
		write_history(le->path);
		umask(old);
	}
	free(le);
}

#else

cli_lineedit *cli_lineedit_open(void)
{
	return NULL;
}

char *cli_lineedit_read(cli_lineedit *le, const char *prompt)
{
	(void)le;
	(void)prompt;
	return NULL;
}

void cli_lineedit_close(cli_lineedit *le)
{
	(void)le;
}

#endif
