/*
 * engine/providers/embedder.c — opening an embedder by provider name.
 *
 * The one place that knows which embedders exist; remote providers are
 * added to the table in embedder_open as they are built.
 */
#include "engine/providers/embedder.h"

#include <string.h>

ragdb_status rdb_embedder_open(const char *name, uint32_t dim, rdb_embedder **out, rdb_err *err)
{
	if (!name || !*name || strcmp(name, "local") == 0)
		return rdb_local_embedder_open(dim, out, err);
	return rdb_err_set(err, RAGDB_EINVAL,
	                   "unknown embedder \"%s\"; known: local (remote providers are not built yet)",
	                   name);
}
