/*
 * tools/cli/vecfile.c — .fvecs / .fbin vector files and id lists for
 * import-vectors and search --vectors. Every size read from a file is
 * checked against the file's length before anything is allocated.
 */
#include "vecfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && strcmp(s + a - b, suf) == 0;
}

int cli_vecfile_read(const char *path, float **vecs, size_t *n, uint32_t *dim, char *msg,
                     size_t msg_cap)
{
	int fvecs = ends_with(path, ".fvecs"), fbin = ends_with(path, ".fbin");
	if (!fvecs && !fbin) {
		snprintf(msg, msg_cap, "%s: expected a .fvecs or .fbin file (by its extension)", path);
		return -1;
	}
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(msg, msg_cap, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	int rc = -1;
	float *v = NULL;
	struct stat sb;
	if (fstat(fileno(f), &sb) != 0 || (uint64_t)sb.st_size > CLI_VECFILE_MAX_BYTES) {
		snprintf(msg, msg_cap, "%s: cannot read its size, or it is larger than %zu bytes", path,
		         CLI_VECFILE_MAX_BYTES);
		goto out_close;
	}
	size_t size = (size_t)sb.st_size, rows, d;
	int32_t hdr[2];
	if (fbin) {
		if (size < 8 || fread(hdr, 4, 2, f) != 2) {
			snprintf(msg, msg_cap, "%s: shorter than the 8-byte .fbin header (int32 n, int32 d)",
			         path);
			goto out_close;
		}
		if (hdr[0] < 0 || hdr[1] <= 0 || hdr[1] > 65536 ||
		    (size - 8) / 4 / (size_t)hdr[1] < (size_t)hdr[0] ||
		    (size_t)hdr[0] * (size_t)hdr[1] * 4 != size - 8) {
			snprintf(msg, msg_cap, "%s: the header says %d vectors of dimension %d, which needs "
			         "%lld bytes after it; the file has %zu", path, hdr[0], hdr[1],
			         (long long)hdr[0] * hdr[1] * 4, size - 8);
			goto out_close;
		}
		rows = (size_t)hdr[0];
		d = (size_t)hdr[1];
	} else {
		if (size < 4 || fread(hdr, 4, 1, f) != 1 || hdr[0] <= 0 || hdr[0] > 65536) {
			snprintf(msg, msg_cap, "%s: expected .fvecs rows of int32 d (1..65536) then d "
			         "float32; the first row's d is missing or out of range", path);
			goto out_close;
		}
		d = (size_t)hdr[0];
		if (size % (4 + 4 * d) != 0) {
			snprintf(msg, msg_cap, "%s: %zu bytes is not a whole number of rows of dimension "
			         "%zu (%zu bytes each)", path, size, d, 4 + 4 * d);
			goto out_close;
		}
		rows = size / (4 + 4 * d);
		rewind(f);
	}
	v = malloc(rows * d * 4 + 4);
	if (!v) {
		snprintf(msg, msg_cap, "out of memory for %zu vectors of %zu", rows, d);
		goto out_close;
	}
	if (fbin) {
		if (fread(v, 4 * d, rows, f) != rows) {
			snprintf(msg, msg_cap, "%s: read error", path);
			goto out_free;
		}
	} else {
		for (size_t i = 0; i < rows; i++) {
			int32_t rd;
			if (fread(&rd, 4, 1, f) != 1 || fread(v + i * d, 4, d, f) != d) {
				snprintf(msg, msg_cap, "%s: read error in row %zu", path, i);
				goto out_free;
			}
			if ((size_t)rd != d) {
				snprintf(msg, msg_cap, "%s: row %zu has dimension %d, the first row %zu; all "
				         "rows must have one dimension", path, i, rd, d);
				goto out_free;
			}
		}
	}
	*vecs = v;
	*n = rows;
	*dim = (uint32_t)d;
	v = NULL;
	rc = 0;
out_free:
	free(v);
out_close:
	fclose(f);
	return rc;
}

int cli_idfile_read(const char *path, size_t n, char ***ids, char **blob, char *msg,
                    size_t msg_cap)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(msg, msg_cap, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	int rc = -1;
	char *b = NULL, **v = NULL;
	struct stat sb;
	if (fstat(fileno(f), &sb) != 0 || (uint64_t)sb.st_size > ((size_t)1 << 32)) {
		snprintf(msg, msg_cap, "%s: cannot read its size, or it is over 4 GiB", path);
		goto out_close;
	}
	size_t size = (size_t)sb.st_size;
	b = malloc(size + 1);
	v = malloc((n ? n : 1) * sizeof *v);
	if (!b || !v || fread(b, 1, size, f) != size) {
		snprintf(msg, msg_cap, "%s: out of memory or read error", path);
		goto out_free;
	}
	b[size] = 0;
	size_t k = 0;
	for (char *p = b; *p && k <= n;) {
		char *e = strchr(p, '\n');
		if (e)
			*e = 0;
		size_t len = strlen(p);
		if (len && p[len - 1] == '\r')
			p[--len] = 0;
		if (len == 0 || len > 511) {
			snprintf(msg, msg_cap, "%s: line %zu is %s; give one id (1..511 bytes) per line",
			         path, k + 1, len == 0 ? "empty" : "too long");
			goto out_free;
		}
		if (k < n)
			v[k] = p;
		k++;
		if (!e)
			break;
		p = e + 1;
	}
	if (k != n) {
		snprintf(msg, msg_cap, "%s holds %s%zu ids; the vector file has %zu vectors: give one "
		         "id per vector", path, k > n ? "more than " : "", k > n ? n : k, n);
		goto out_free;
	}
	*ids = v;
	*blob = b;
	v = NULL;
	b = NULL;
	rc = 0;
out_free:
	free(v);
	free(b);
out_close:
	fclose(f);
	return rc;
}
