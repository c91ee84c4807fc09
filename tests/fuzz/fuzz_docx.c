/*
 * tests/fuzz/fuzz_docx.c — the DOCX reader on arbitrary bytes.
 * Property: no crash, no leak, no sanitizer report; the input is converted
 * or refused with a message (EBADINPUT/ENOMEM); converted text is valid
 * UTF-8 without NULs, the title non-empty valid UTF-8, and the text chunks
 * within the chunker's invariants (fuzz_util.h).
 */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_convert_check(RAGDB_FORMAT_DOCX, data, size);
	return 0;
}
