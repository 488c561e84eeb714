/*
 * Functions that make buffer overflows easy. Each .c file of src/ includes
 * this header after all others, so a use is a compile error.
 */
#ifndef GPUCI_BASE_BANNED_H
#define GPUCI_BASE_BANNED_H

#define BANNED(func) sorry_##func##_is_banned_use_strbuf

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef gets
#define gets(x) BANNED(gets)

#endif
