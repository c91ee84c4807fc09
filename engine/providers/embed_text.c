/*
 * engine/providers/embed_text.c — the text an embedder sees for a chunk:
 * the document title and the chunk's heading path, each on its own line,
 * then the chunk text. Ingest and `ragdb tune` both build it here, so a
 * re-embedded chunk gets exactly the vector a fresh ingest would give it.
 */
#include <string.h>

#include "engine/providers/text.h"

size_t rdb_embed_text_size(const char *title, const char *heading, size_t text_len)
{
	return (title ? strlen(title) : 0) + (heading ? strlen(heading) : 0) + text_len + 3;
}

size_t rdb_embed_text_build(char *out, const char *title, const char *heading, const char *text,
                            size_t text_len)
{
	size_t tl = title ? strlen(title) : 0, hl = heading ? strlen(heading) : 0, n = 0;
	if (tl) {
		memcpy(out, title, tl);
		n += tl;
		out[n++] = '\n';
	}
	if (hl) {
		memcpy(out + n, heading, hl);
		n += hl;
		out[n++] = '\n';
	}
	memcpy(out + n, text, text_len);
	n += text_len;
	out[n] = 0;
	return n;
}
