/*
 * ingest/xmlutil.h — the libxml2 reader helpers that the DOCX, ODT and EPUB
 * readers share (read_office.c): a reader on a memory buffer with safe
 * options (no network, no DTD loading, no entity substitution) whose first
 * error is kept for the message.
 */
#ifndef RDB_XMLUTIL_H
#define RDB_XMLUTIL_H

#include <libxml/xmlreader.h>

#include "index/err.h"

typedef struct rdb_xml_err {
	char msg[300];
	int set;
} rdb_xml_err;

/* NULL when out of memory (or the buffer is over 2 GiB). */
xmlTextReaderPtr rdb_xml_open(const char *data, size_t len, rdb_xml_err *xe);
/* RAGDB_EBADINPUT "corrupt XML in PART: line N: what". */
ragdb_status rdb_xml_failed(const rdb_xml_err *xe, const char *part, rdb_err *err);
/* The current element's attribute with this local name (any namespace),
 * malloc'd; NULL if absent. */
char *rdb_xml_attr(xmlTextReaderPtr r, const char *local);
/* The text inside the current element, whitespace collapsed, at most 1000
 * bytes; NULL if none. Leaves the reader on the element's end. */
char *rdb_xml_text(xmlTextReaderPtr r);

#endif
