/*
 * ucase: Python's str case conversions with the full Unicode mappings of
 * the Python that is gpuci's oracle (tools/gen_ucase.py writes the table):
 * "ß".upper() is "SS", "İ".lower() is "i̇", "ǅ".lower() is "ǆ", and a
 * capital sigma lowers to ς at the end of a word, as CPython does it.
 * Strings are UTF-8; results are appended to out.
 */
#ifndef GPUCI_VALUE_UCASE_H
#define GPUCI_VALUE_UCASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/strbuf.h"

void ucase_lower(const char *s, size_t len, struct strbuf *out);
void ucase_upper(const char *s, size_t len, struct strbuf *out);
/* str.capitalize(): the first character in title case, the rest lowered. */
void ucase_capitalize(const char *s, size_t len, struct strbuf *out);
/* str.title(): title case after an uncased character, lower case after a cased one. */
void ucase_title(const char *s, size_t len, struct strbuf *out);
/* str.islower(), str.isupper(). */
bool ucase_islower(const char *s, size_t len);
bool ucase_isupper(const char *s, size_t len);
/* Unicode's Cased: Lowercase, Uppercase or titlecase (Lt). */
bool ucase_is_cased(uint32_t c);

#endif
