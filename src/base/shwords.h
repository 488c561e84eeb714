/*
 * shwords: a POSIX shell script read as sh reads its simple commands, into
 * words, without expanding anything.
 *
 * Quotes ('...', "...", bash's $'...'), backslash escapes, backslash-newline
 * continuations and comments are removed as sh removes them; commands are
 * split at unquoted newlines, ';', ';;', '&&', '||', '|', '|&', '&', '(' and
 * ')'; the reserved words that open or close a compound command (if then
 * elif else fi, while until do done, '{' '}', '!', esac) are dropped where
 * they stand in command position, so that the commands inside an `if ...;
 * then ... fi` body come out as commands of their own (`depth` says how
 * deep). Redirections ([n]< > >> <& >& <> >| &> &>> << <<-) go to `redirs`,
 * not to the words; a here-document's body is skipped.
 *
 * Nothing is expanded: a parameter ($NAME, ${...}), a command substitution
 * ($(...), `...`, bash's <(...) and >(...)) or an arithmetic one ($((...)))
 * that is unquoted or inside double quotes is kept in `text` as written and
 * the word is flagged SHW_EXPAND, so that a caller can refuse it or keep it.
 * A GitHub expression `${{ ... }}` is one unit wherever it stands (GitHub
 * substitutes it before the shell runs, inside single quotes too): kept as
 * written and flagged SHW_GHA.
 */
#ifndef GPUCI_BASE_SHWORDS_H
#define GPUCI_BASE_SHWORDS_H

#include <stddef.h>

#include "base/arena.h"
#include "base/diag.h"
#include "base/strbuf.h"

enum sh_word_flag {
	SHW_QUOTED = 1 << 0, /* some of it was quoted or backslash-escaped */
	SHW_EXPAND = 1 << 1, /* holds an unquoted or double-quoted expansion */
	SHW_GHA = 1 << 2,    /* holds a GitHub expression ${{ ... }} */
	SHW_GLOB = 1 << 3,   /* holds an unquoted '*', '?' or '[' */
	SHW_ASSIGN = 1 << 4  /* starts with an unquoted NAME= */
};

struct sh_word {
	const char *text; /* quotes removed, expansions as written */
	const char *raw;  /* as in the script: quotes, escapes, continuations */
	size_t off;       /* of raw in the script */
	unsigned line, col;
	unsigned flags; /* enum sh_word_flag */
};

struct sh_cmd {
	struct sh_word *words;
	size_t nwords;
	/* Pairs: the operator (text "2>", ">>", "<<", ...) then its target. */
	struct sh_word *redirs;
	size_t nredirs;
	unsigned line, col; /* of its first word or redirection */
	unsigned depth;     /* compound commands around it (if, while, {, ...) */
	const char *sep;    /* what ended it: "\n", ";", "&&", "|", ... or "" */
};

struct sh_script {
	struct sh_cmd *cmds; /* commands with at least one word or redirection */
	size_t ncmds;
	struct arena arena;
};

/*
 * Reads text[0..len) as a shell script placed in file name (kept, not
 * copied) at line:col (its first byte; later lines start at column 1), so
 * that a script found inside another (`bash -lc '...'`) is placed where it
 * stands. Fails with DIAG_INPUT at the place of an unterminated quote,
 * expansion, backtick or here-document, or a NUL byte.
 */
int sh_parse(const char *text, size_t len, const char *name, unsigned line, unsigned col,
             struct sh_script **out, struct diag *d);
void sh_script_free(struct sh_script *s);

/*
 * The index of the command name in c: the first word after the leading
 * assignments (SHW_ASSIGN words); c->nwords when there is none.
 */
size_t sh_cmd_name_index(const struct sh_cmd *c);

/*
 * Appends s as one shell word that reads back as s (sh_parse, any POSIX
 * shell): as is when it holds only safe characters, else single-quoted
 * with each ' written '\''.
 */
void sh_quote(struct strbuf *out, const char *s);

#endif
