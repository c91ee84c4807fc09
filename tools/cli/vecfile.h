/*
 * tools/cli/vecfile.h — reading vector files: .fvecs (each row: int32 d,
 * then d float32) and .fbin (int32 n, int32 d, then n x d float32), all
 * little-endian, and id lists (one id per line).
 */
#ifndef CLI_VECFILE_H
#define CLI_VECFILE_H

#include <stddef.h>
#include <stdint.h>

/* Largest file read at once (the vectors are held in memory). */
#define CLI_VECFILE_MAX_BYTES ((size_t)16 << 30)

/* Read @p path (format from its extension: .fvecs or .fbin) into *vecs
 * (n x dim floats, malloc'd). 0 on success; else -1 with a message in
 * @p msg (what was expected, what was found). */
int cli_vecfile_read(const char *path, float **vecs, size_t *n, uint32_t *dim, char *msg,
                     size_t msg_cap);

/* Read @p n ids, one per line (no empty lines), into *ids (an array of
 * pointers into one malloc'd block *blob). 0 or -1 with @p msg. */
int cli_idfile_read(const char *path, size_t n, char ***ids, char **blob, char *msg,
                    size_t msg_cap);

#endif
