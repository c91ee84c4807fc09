/*
 * ingest/reader.c — reading files whole, guessing their format from the
 * name, and the small Markdown line grammar (headings, fences, tables,
 * front matter) that the title finder and the chunker share.
 */
#include "ingest/ingest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Formats -------------------------------------------------------------- */

static const char *const k_markdown_ext[] = { "md", "markdown", "mdx", "mkd", "mdown", "mkdn" };
static const char *const k_jsonl_ext[] = { "jsonl", "ndjson", "json" };
static const char *const k_code_ext[] = {
	"c", "h", "cc", "cpp", "cxx", "c++", "hpp", "hh", "hxx", "inl", "m", "mm",
	"py", "pyi", "pyx", "js", "mjs", "cjs", "jsx", "ts", "tsx", "vue", "svelte",
	"go", "rs", "java", "kt", "kts", "scala", "groovy", "gradle", "cs", "fs", "fsx", "swift",
	"rb", "php", "pl", "pm", "lua", "r", "jl", "dart", "zig", "nim", "hs", "ml", "mli",
	"clj", "cljs", "ex", "exs", "erl", "hrl", "elm", "el", "lisp", "scm", "rkt", "v", "sv",
	"vhd", "vhdl", "sh", "bash", "zsh", "fish", "ps1", "bat", "cmd", "awk", "sed", "vim",
	"sql", "proto", "thrift", "graphql", "tf", "hcl", "nix", "cmake", "mk", "make",
	"asm", "s", "css", "scss", "sass", "less", "yaml", "yml", "toml", "ini", "cfg", "conf",
	"xml", "xsd", "xsl", "json5",
};
static const struct {
	const char *ext;
	ragdb_format fmt;
} k_rich_ext[] = {
	{ "html", RAGDB_FORMAT_HTML }, { "htm", RAGDB_FORMAT_HTML }, { "xhtml", RAGDB_FORMAT_HTML },
	{ "pdf", RAGDB_FORMAT_PDF }, { "docx", RAGDB_FORMAT_DOCX }, { "odt", RAGDB_FORMAT_ODT },
	{ "epub", RAGDB_FORMAT_EPUB }, { "csv", RAGDB_FORMAT_CSV }, { "tsv", RAGDB_FORMAT_CSV },
};
static const char *const k_code_names[] = {
	"Makefile", "makefile", "GNUmakefile", "Dockerfile", "Containerfile", "CMakeLists.txt",
	"Rakefile", "Gemfile", "Vagrantfile", "Jenkinsfile", "meson.build", "BUILD", "WORKSPACE",
};

static int ext_in(const char *ext, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(ext, list[i]) == 0)
			return 1;
	return 0;
}

#define N_OF(a) (sizeof(a) / sizeof *(a))

ragdb_format rdb_format_from_path(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	for (size_t i = 0; i < N_OF(k_code_names); i++)
		if (strcmp(base, k_code_names[i]) == 0)
			return RAGDB_FORMAT_CODE;
	const char *dot = strrchr(base, '.');
	if (!dot || dot == base)
		return RAGDB_FORMAT_TEXT;
	const char *ext = dot + 1;
	if (ext_in(ext, k_markdown_ext, N_OF(k_markdown_ext)))
		return RAGDB_FORMAT_MARKDOWN;
	if (ext_in(ext, k_jsonl_ext, N_OF(k_jsonl_ext)))
		return RAGDB_FORMAT_JSONL;
	if (ext_in(ext, k_code_ext, N_OF(k_code_ext)))
		return RAGDB_FORMAT_CODE;
	for (size_t i = 0; i < N_OF(k_rich_ext); i++)
		if (strcasecmp(ext, k_rich_ext[i].ext) == 0)
			return k_rich_ext[i].fmt;
	return RAGDB_FORMAT_TEXT;
}

/* Reading -------------------------------------------------------------- */

static ragdb_status errno_status(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
		return RAGDB_ENOTFOUND;
	case EACCES:
	case EPERM:
		return RAGDB_EPERM;
	case ENOMEM:
		return RAGDB_ENOMEM;
	default:
		return RAGDB_EIO;
	}
}

ragdb_status rdb_read_file(const char *path, char **out, size_t *len, rdb_err *err)
{
	ragdb_status st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		return rdb_err_set(err, errno_status(e), "%s: %s", path, strerror(e));
	}
	struct stat sb;
	if (fstat(fd, &sb) != 0) {
		int e = errno;
		st = rdb_err_set(err, errno_status(e), "%s: %s", path, strerror(e));
		goto out_close;
	}
	if (S_ISDIR(sb.st_mode)) {
		st = rdb_err_set(err, RAGDB_EIO, "%s: is a directory, expected a file", path);
		goto out_close;
	}
	/* st_size is a hint: files in /proc say 0, a growing log says less. */
	size_t cap = 4096;
	if (S_ISREG(sb.st_mode) && sb.st_size > 0) {
		if ((uint64_t)sb.st_size >= (uint64_t)SIZE_MAX - 1) {
			st = rdb_err_set(err, RAGDB_ENOMEM, "%s: too large to read into memory", path);
			goto out_close;
		}
		cap = (size_t)sb.st_size + 1;
	}
	char *buf = malloc(cap);
	if (!buf) {
		st = rdb_err_set(err, RAGDB_ENOMEM, "%s: out of memory reading %zu bytes", path, cap);
		goto out_close;
	}
	size_t n = 0;
	for (;;) {
		if (n + 1 >= cap) {
			if (cap > SIZE_MAX / 2) {
				st = rdb_err_set(err, RAGDB_ENOMEM, "%s: too large to read into memory", path);
				goto out_free_buf;
			}
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				st = rdb_err_set(err, RAGDB_ENOMEM, "%s: out of memory reading %zu bytes",
				                 path, cap * 2);
				goto out_free_buf;
			}
			buf = nb;
			cap *= 2;
		}
		size_t want = cap - 1 - n;
		if (want > (1u << 30))
			want = 1u << 30;
		ssize_t r = read(fd, buf + n, want);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			st = rdb_err_set(err, errno_status(e) == RAGDB_ENOMEM ? RAGDB_ENOMEM : RAGDB_EIO,
			                 "%s: read failed: %s", path, strerror(e));
			goto out_free_buf;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = 0;
	*out = buf;
	*len = n;
	close(fd);
	return RAGDB_OK;

out_free_buf:
	free(buf);
out_close:
	close(fd);
	return st;
}

/* Markdown lines -------------------------------------------------------- */

/* Strip up to 3 spaces of indentation; NULL when indented 4 or more
 * (an indented code block, not a heading or a fence). */
static const char *md_indent(const char *line, size_t n, size_t *rest)
{
	size_t i = 0;
	while (i < n && i < 4 && line[i] == ' ')
		i++;
	if (i == 4)
		return NULL;
	*rest = n - i;
	return line + i;
}

static int sp(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

int rdb_md_atx(const char *line, size_t n, const char **txt, size_t *tlen)
{
	const char *p = md_indent(line, n, &n);
	if (!p)
		return 0;
	size_t lvl = 0;
	while (lvl < n && p[lvl] == '#')
		lvl++;
	if (lvl == 0 || lvl > 6 || (lvl < n && !sp(p[lvl])))
		return 0;
	size_t a = lvl, b = n;
	while (a < b && sp(p[a]))
		a++;
	while (b > a && sp(p[b - 1]))
		b--;
	/* a closing run of #s, if preceded by a space (or it is all there is) */
	size_t c = b;
	while (c > a && p[c - 1] == '#')
		c--;
	if (c < b && (c == a || sp(p[c - 1]))) {
		b = c;
		while (b > a && sp(p[b - 1]))
			b--;
	}
	*txt = p + a;
	*tlen = b - a;
	return (int)lvl;
}

int rdb_md_fence_open(const char *line, size_t n, size_t *flen)
{
	const char *p = md_indent(line, n, &n);
	if (!p || n < 3 || (p[0] != '`' && p[0] != '~'))
		return 0;
	size_t k = 0;
	while (k < n && p[k] == p[0])
		k++;
	if (k < 3)
		return 0;
	if (p[0] == '`' && memchr(p + k, '`', n - k))
		return 0; /* inline code, not a fence */
	*flen = k;
	return p[0];
}

int rdb_md_fence_close(const char *line, size_t n, int ch, size_t flen)
{
	const char *p = md_indent(line, n, &n);
	if (!p)
		return 0;
	size_t k = 0;
	while (k < n && p[k] == ch)
		k++;
	if (k < flen)
		return 0;
	while (k < n && sp(p[k]))
		k++;
	return k == n;
}

int rdb_md_setext(const char *line, size_t n)
{
	const char *p = md_indent(line, n, &n);
	if (!p || n < 3 || (p[0] != '=' && p[0] != '-'))
		return 0;
	size_t k = 0;
	while (k < n && p[k] == p[0])
		k++;
	if (k < 3)
		return 0;
	size_t m = k;
	while (m < n && sp(p[m]))
		m++;
	return m == n ? (p[0] == '=' ? 1 : 2) : 0;
}

int rdb_md_table_row(const char *line, size_t n)
{
	const char *p = md_indent(line, n, &n);
	return p && n > 0 && p[0] == '|';
}

/* Whether the line is only the three-char marker @p m (plus spaces). */
static int marker_line(const char *p, size_t n, const char *m)
{
	if (n < 3 || memcmp(p, m, 3) != 0)
		return 0;
	for (size_t i = 3; i < n; i++)
		if (!sp(p[i]))
			return 0;
	return 1;
}

size_t rdb_md_front_matter(const char *text, size_t len)
{
	const char *nl = memchr(text, '\n', len);
	if (!nl || !marker_line(text, (size_t)(nl - text), "---"))
		return 0;
	size_t pos = (size_t)(nl - text) + 1;
	while (pos < len) {
		const char *e = memchr(text + pos, '\n', len - pos);
		size_t n = e ? (size_t)(e - (text + pos)) : len - pos;
		if (marker_line(text + pos, n, "---") || marker_line(text + pos, n, "..."))
			return e ? pos + n + 1 : len;
		pos += n + 1;
	}
	return 0; /* never closed: not front matter, just a rule */
}

/* Whether a line may be the text of a setext heading (a paragraph line). */
static int paragraph_line(const char *line, size_t n)
{
	const char *t;
	size_t tl, fl;
	size_t i = 0;
	while (i < n && sp(line[i]))
		i++;
	if (i == n)
		return 0;
	return md_indent(line, n, &tl) && !rdb_md_atx(line, n, &t, &tl) &&
	       !rdb_md_fence_open(line, n, &fl) && !rdb_md_setext(line, n) &&
	       !rdb_md_table_row(line, n);
}

/* Any ASCII white space: a title ends neither in a tab nor in a stray
 * vertical tab or form feed. */
static int ws(char c)
{
	return sp(c) || c == '\n' || c == '\v' || c == '\f';
}

static char *trimmed_dup(const char *p, size_t n)
{
	while (n > 0 && ws(*p)) {
		p++;
		n--;
	}
	while (n > 0 && ws(p[n - 1]))
		n--;
	if (n == 0)
		return NULL;
	char *r = malloc(n + 1);
	if (r) {
		memcpy(r, p, n);
		r[n] = 0;
	}
	return r;
}

char *rdb_markdown_title(const char *text, size_t len)
{
	size_t pos = rdb_md_front_matter(text, len);
	const char *first = NULL, *prev = NULL;
	size_t first_n = 0, prev_n = 0, flen = 0;
	int fence = 0;

	while (pos < len) {
		const char *line = text + pos;
		const char *e = memchr(line, '\n', len - pos);
		size_t n = e ? (size_t)(e - line) : len - pos;
		pos += n + 1;
		const char *t;
		size_t tl;
		int lvl;
		if (fence) {
			if (rdb_md_fence_close(line, n, fence, flen))
				fence = 0;
			prev = NULL;
			continue;
		}
		if ((fence = rdb_md_fence_open(line, n, &flen)) != 0) {
			prev = NULL;
			continue;
		}
		if ((lvl = rdb_md_atx(line, n, &t, &tl)) != 0) {
			if (lvl == 1 && tl > 0)
				return trimmed_dup(t, tl);
			if (!first && tl > 0) {
				first = t;
				first_n = tl;
			}
			prev = NULL;
			continue;
		}
		if (prev && (lvl = rdb_md_setext(line, n)) != 0) {
			if (lvl == 1)
				return trimmed_dup(prev, prev_n);
			if (!first) {
				first = prev;
				first_n = prev_n;
			}
			prev = NULL;
			continue;
		}
		if (paragraph_line(line, n)) {
			prev = line;
			prev_n = n;
		} else {
			prev = NULL;
		}
	}
	return first ? trimmed_dup(first, first_n) : NULL;
}
