/* tests/unit/testutil.h — helpers shared by the Check suites. */
#ifndef RDB_TESTUTIL_H
#define RDB_TESTUTIL_H

#include <check.h>
#include <stddef.h>

/* A fresh empty directory under $RAGDB_TEST_TMP (or /tmp); malloc'd path. */
char *tu_tmpdir(const char *tag);
/* rm -rf @p dir (and free nothing). */
void tu_rmrf(const char *dir);
/* Write @p len bytes to @p path (created with parent dirs); 0 on success. */
int tu_write_file(const char *path, const char *data, size_t len);
/* Run a suite; returns the process exit status (0 when all passed). */
int tu_run(Suite *s);

#endif
