/* tools/cli/main.c — placeholder until the CLI lands. */
#include <stdio.h>
#include "ragdb.h"
int main(void) { fprintf(stderr, "ragdb %s: CLI not built yet\n", ragdb_version()); return 1; }
