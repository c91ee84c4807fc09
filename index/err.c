/* index/err.c — rdb_err formatting and the public status strings. */
#include "index/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

ragdb_status rdb_err_set(rdb_err *err, ragdb_status status, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
		err->status = status;
	}
	return status;
}

void rdb_err_prefix(rdb_err *err, const char *fmt, ...)
{
	if (!err)
		return;
	char head[512], old[sizeof err->msg];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(head, sizeof head, fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof old);
	/* Truncation is fine: the head says where, the tail what. */
	size_t n = strlen(head);
	if (n > sizeof err->msg - 3)
		n = sizeof err->msg - 3;
	memcpy(err->msg, head, n);
	memcpy(err->msg + n, ": ", 2);
	size_t room = sizeof err->msg - n - 3;
	size_t m = strnlen(old, room);
	memcpy(err->msg + n + 2, old, m);
	err->msg[n + 2 + m] = 0;
}

/* A switch with no default: the compiler names any status left out. */
const char *ragdb_strerror(ragdb_status status)
{
	switch (status) {
	case RAGDB_OK: return "success";
	case RAGDB_EINVAL: return "invalid argument";
	case RAGDB_ENOTFOUND: return "not found";
	case RAGDB_EIO: return "input/output error";
	case RAGDB_ENOMEM: return "out of memory";
	case RAGDB_ESCHEMA: return "database schema version not supported";
	case RAGDB_EEMBEDDER: return "embedder mismatch or failure";
	case RAGDB_EMAPFULL: return "database map full";
	case RAGDB_ECORRUPT: return "stored record is corrupt";
	case RAGDB_EEXIST: return "already exists";
	case RAGDB_EINTR: return "interrupted";
	case RAGDB_EBUSY: return "database busy";
	case RAGDB_EUNSUPPORTED: return "not supported";
	case RAGDB_EPERM: return "permission denied";
	case RAGDB_EBADINPUT: return "malformed input";
	case RAGDB_ENOSPC: return "no space left on device";
	case RAGDB_EREADONLY: return "database opened read-only";
	}
	return "unknown status";
}
