/*
 * shwords: shell words without expansion (see shwords.h).
 *
 * One pass over the bytes, no recursion: an expansion is scanned to its end
 * with a depth counter and copied as written, so the input's nesting costs
 * no stack.
 */
#include "base/shwords.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"
#include "base/xalloc.h"

struct heredoc {
	char *delim;
	bool strip_tabs;
};

struct lexer {
	const char *s;
	size_t len, i;
	unsigned line, col;
	const char *name;
	struct diag *d;
	struct sh_script *out;

	/* the command being built */
	struct sh_cmd cmd;
	size_t walloc, ralloc;
	size_t calloc_;
	bool want_target; /* the next word is a redirection's target */
	bool target_heredoc, heredoc_strip;
	unsigned depth;

	/* the word being built */
	struct strbuf text;
	size_t wstart;
	unsigned wline, wcol, wflags;
	bool inword;

	struct heredoc *hd;
	size_t nhd, hdalloc;
};

static int peek(const struct lexer *lx, size_t k)
{
	return lx->i + k < lx->len ? (unsigned char)lx->s[lx->i + k] : -1;
}

static void adv(struct lexer *lx)
{
	if (lx->s[lx->i] == '\n') {
		lx->line++;
		lx->col = 1;
	} else {
		lx->col++;
	}
	lx->i++;
}

static int fail_at(struct lexer *lx, unsigned line, unsigned col, const char *what)
{
	diag_set(lx->d, DIAG_INPUT, "%s", what);
	lx->d->loc = (struct srcloc){lx->name, line, col};
	return -1;
}

static void word_begin(struct lexer *lx)
{
	if (lx->inword)
		return;
	lx->inword = true;
	lx->wstart = lx->i;
	lx->wline = lx->line;
	lx->wcol = lx->col;
	lx->wflags = 0;
	strbuf_reset(&lx->text);
}

static void push_word(struct sh_word **v, size_t *n, size_t *alloc, struct sh_word w)
{
	if (*n == *alloc) {
		*alloc = *alloc ? *alloc * 2 : 8;
		*v = xrealloc(*v, *alloc * sizeof(**v));
	}
	(*v)[(*n)++] = w;
}

static void cmd_place(struct lexer *lx, unsigned line, unsigned col)
{
	if (lx->cmd.nwords == 0 && lx->cmd.nredirs == 0) {
		lx->cmd.line = line;
		lx->cmd.col = col;
	}
}

static bool is_name_start(int c)
{
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_name_char(int c)
{
	return is_name_start(c) || (c >= '0' && c <= '9');
}

/* An unquoted reserved word in command position: opens, closes or passes. */
static bool reserved(struct lexer *lx, const char *t)
{
	static const char *const open[] = {"if", "while", "until", "{", NULL};
	static const char *const pass[] = {"then", "else", "elif", "do", "!", NULL};
	static const char *const close[] = {"fi", "done", "}", "esac", NULL};
	for (size_t k = 0; open[k]; k++)
		if (!strcmp(t, open[k])) {
			lx->depth++;
			return true;
		}
	for (size_t k = 0; pass[k]; k++)
		if (!strcmp(t, pass[k]))
			return true;
	for (size_t k = 0; close[k]; k++)
		if (!strcmp(t, close[k])) {
			if (lx->depth)
				lx->depth--;
			return true;
		}
	return false;
}

static void word_end(struct lexer *lx)
{
	if (!lx->inword)
		return;
	lx->inword = false;
	struct arena *a = &lx->out->arena;
	struct sh_word w = {
	    .text = arena_strndup(a, lx->text.buf, lx->text.len),
	    .raw = arena_strndup(a, lx->s + lx->wstart, lx->i - lx->wstart),
	    .off = lx->wstart,
	    .line = lx->wline,
	    .col = lx->wcol,
	    .flags = lx->wflags,
	};
	if (lx->want_target) {
		lx->want_target = false;
		push_word(&lx->cmd.redirs, &lx->cmd.nredirs, &lx->ralloc, w);
		if (lx->target_heredoc) {
			if (lx->nhd == lx->hdalloc) {
				lx->hdalloc = lx->hdalloc ? lx->hdalloc * 2 : 4;
				lx->hd = xrealloc(lx->hd, lx->hdalloc * sizeof(*lx->hd));
			}
			lx->hd[lx->nhd++] = (struct heredoc){xstrdup(w.text), lx->heredoc_strip};
		}
		return;
	}
	if (lx->cmd.nwords == 0 && lx->cmd.nredirs == 0 && w.flags == 0 && reserved(lx, w.text))
		return;
	cmd_place(lx, w.line, w.col);
	if (lx->cmd.nwords == 0)
		lx->cmd.depth = lx->depth;
	push_word(&lx->cmd.words, &lx->cmd.nwords, &lx->walloc, w);
}

static void cmd_end(struct lexer *lx, const char *sep)
{
	word_end(lx);
	if (lx->cmd.nwords == 0 && lx->cmd.nredirs == 0)
		return;
	struct sh_script *o = lx->out;
	if (o->ncmds == lx->calloc_) {
		lx->calloc_ = lx->calloc_ ? lx->calloc_ * 2 : 8;
		o->cmds = xrealloc(o->cmds, lx->calloc_ * sizeof(*o->cmds));
	}
	lx->cmd.sep = sep;
	o->cmds[o->ncmds++] = lx->cmd;
	lx->cmd = (struct sh_cmd){0};
	lx->walloc = lx->ralloc = 0;
}

/*
 * Copies an expansion that starts at lx->i ('$' or '`' or '<('/'>(') into
 * the word as written. Returns 1 when it was one, 0 when the '$' is a
 * literal, -1 on an unterminated one.
 */
static int expansion(struct lexer *lx, bool in_dq)
{
	size_t start = lx->i;
	unsigned line = lx->line, col = lx->col;
	int c = peek(lx, 0), c1 = peek(lx, 1);
	const char *what = NULL;
	if (c == '$' && c1 == '{' && peek(lx, 2) == '{') {
		/* ${{ ... }}: to the first "}}" */
		adv(lx), adv(lx), adv(lx);
		while (lx->i < lx->len && !(peek(lx, 0) == '}' && peek(lx, 1) == '}'))
			adv(lx);
		if (lx->i >= lx->len)
			return fail_at(lx, line, col, "unterminated GitHub expression '${{'");
		adv(lx), adv(lx);
		lx->wflags |= SHW_GHA;
		strbuf_add(&lx->text, lx->s + start, lx->i - start);
		return 1;
	}
	if (c == '$' && (c1 == '{' || c1 == '(')) {
		int open = c1, close = c1 == '{' ? '}' : ')';
		unsigned depth = 0;
		what = c1 == '{' ? "unterminated '${'" : "unterminated '$('";
		adv(lx);
		while (lx->i < lx->len) {
			int ch = peek(lx, 0);
			if (ch == '\\' && lx->i + 1 < lx->len) {
				adv(lx);
			} else if ((ch == '\'' || ch == '"') && open == '(') {
				adv(lx);
				while (lx->i < lx->len && peek(lx, 0) != ch) {
					if (ch == '"' && peek(lx, 0) == '\\' && lx->i + 1 < lx->len)
						adv(lx);
					adv(lx);
				}
				if (lx->i >= lx->len)
					break;
			} else if (ch == open) {
				depth++;
			} else if (ch == close) {
				if (--depth == 0)
					break;
			}
			adv(lx);
		}
		if (lx->i >= lx->len)
			return fail_at(lx, line, col, what);
		adv(lx);
	} else if (c == '$' && c1 == '\'' && !in_dq) {
		/* bash's $'...': C escapes; kept as written */
		adv(lx), adv(lx);
		while (lx->i < lx->len && peek(lx, 0) != '\'') {
			if (peek(lx, 0) == '\\' && lx->i + 1 < lx->len)
				adv(lx);
			adv(lx);
		}
		if (lx->i >= lx->len)
			return fail_at(lx, line, col, "unterminated quote \"$'\"");
		adv(lx);
	} else if (c == '$' && is_name_start(c1)) {
		adv(lx);
		while (lx->i < lx->len && is_name_char(peek(lx, 0)))
			adv(lx);
	} else if (c == '$' && c1 >= 0 && strchr("0123456789@*#?$!-", c1)) {
		adv(lx), adv(lx);
	} else if (c == '`') {
		adv(lx);
		while (lx->i < lx->len && peek(lx, 0) != '`') {
			if (peek(lx, 0) == '\\' && lx->i + 1 < lx->len)
				adv(lx);
			adv(lx);
		}
		if (lx->i >= lx->len)
			return fail_at(lx, line, col, "unterminated '`'");
		adv(lx);
	} else if ((c == '<' || c == '>') && c1 == '(') {
		unsigned depth = 0;
		adv(lx);
		while (lx->i < lx->len) {
			int ch = peek(lx, 0);
			if (ch == '\\' && lx->i + 1 < lx->len)
				adv(lx);
			else if (ch == '(')
				depth++;
			else if (ch == ')' && --depth == 0)
				break;
			adv(lx);
		}
		if (lx->i >= lx->len)
			return fail_at(lx, line, col, "unterminated process substitution");
		adv(lx);
	} else {
		return 0;
	}
	lx->wflags |= SHW_EXPAND;
	strbuf_add(&lx->text, lx->s + start, lx->i - start);
	return 1;
}

static int single_quoted(struct lexer *lx)
{
	unsigned line = lx->line, col = lx->col;
	lx->wflags |= SHW_QUOTED;
	adv(lx);
	while (lx->i < lx->len && peek(lx, 0) != '\'') {
		if (peek(lx, 0) == '$' && peek(lx, 1) == '{' && peek(lx, 2) == '{') {
			int r = expansion(lx, true);
			if (r < 0)
				return r;
			continue;
		}
		strbuf_addch(&lx->text, lx->s[lx->i]);
		adv(lx);
	}
	if (lx->i >= lx->len)
		return fail_at(lx, line, col, "unterminated single quote");
	adv(lx);
	return 0;
}

static int double_quoted(struct lexer *lx)
{
	unsigned line = lx->line, col = lx->col;
	lx->wflags |= SHW_QUOTED;
	adv(lx);
	while (lx->i < lx->len && peek(lx, 0) != '"') {
		int c = peek(lx, 0), c1 = peek(lx, 1);
		if (c == '\\' && c1 == '\n') {
			adv(lx), adv(lx);
		} else if (c == '\\' && c1 >= 0 && strchr("$`\"\\", c1)) {
			adv(lx);
			strbuf_addch(&lx->text, lx->s[lx->i]);
			adv(lx);
		} else if (c == '$' || c == '`') {
			int r = expansion(lx, true);
			if (r < 0)
				return r;
			if (r == 0) {
				strbuf_addch(&lx->text, '$');
				adv(lx);
			}
		} else {
			strbuf_addch(&lx->text, lx->s[lx->i]);
			adv(lx);
		}
	}
	if (lx->i >= lx->len)
		return fail_at(lx, line, col, "unterminated double quote");
	adv(lx);
	return 0;
}

/* At a newline operator: skips the bodies of the here-documents pending. */
static int heredoc_bodies(struct lexer *lx, unsigned line, unsigned col)
{
	for (size_t k = 0; k < lx->nhd; k++) {
		const char *delim = lx->hd[k].delim;
		size_t dl = strlen(delim);
		bool found = false;
		while (lx->i < lx->len) {
			size_t b = lx->i;
			if (lx->hd[k].strip_tabs)
				while (b < lx->len && lx->s[b] == '\t')
					b++;
			const char *nl = memchr(lx->s + b, '\n', lx->len - b);
			size_t e = nl ? (size_t)(nl - lx->s) : lx->len;
			bool match = e - b == dl && !memcmp(lx->s + b, delim, dl);
			while (lx->i < e)
				adv(lx);
			if (lx->i < lx->len)
				adv(lx);
			if (match) {
				found = true;
				break;
			}
		}
		if (!found)
			return fail_at(lx, line, col, "here-document not terminated");
	}
	for (size_t k = 0; k < lx->nhd; k++)
		free(lx->hd[k].delim);
	lx->nhd = 0;
	return 0;
}

/* A redirection operator at lx->i (after an IO number if digits). */
static size_t redir_len(const struct lexer *lx, bool *heredoc, bool *strip)
{
	static const char *const ops[] = {"&>>", "<<-", "<<", ">>", "<&", ">&",
	                                  "<>",  ">|",  "&>", "<",  ">",  NULL};
	*heredoc = *strip = false;
	for (size_t k = 0; ops[k]; k++) {
		size_t n = strlen(ops[k]);
		if (lx->i + n <= lx->len && !memcmp(lx->s + lx->i, ops[k], n)) {
			*heredoc = ops[k][0] == '<' && ops[k][1] == '<';
			*strip = n == 3 && ops[k][2] == '-';
			return n;
		}
	}
	return 0;
}

static bool all_digits(const struct strbuf *sb)
{
	if (!sb->len)
		return false;
	for (size_t k = 0; k < sb->len; k++)
		if (sb->buf[k] < '0' || sb->buf[k] > '9')
			return false;
	return true;
}

static int operator(struct lexer *lx, bool *done)
{
	static const char *const ops[] = {"&&", "||", ";;", "|&", ";", "|", "&", "(", ")", NULL};
	int c = peek(lx, 0);
	*done = true;
	if (c == '\n') {
		unsigned line = lx->line, col = lx->col;
		cmd_end(lx, "\n");
		adv(lx);
		if (lx->want_target)
			return fail_at(lx, line, col, "redirection without a target");
		return lx->nhd ? heredoc_bodies(lx, line, col) : 0;
	}
	/* a redirection, with the IO number just read as its word */
	bool hd, strip;
	if (!((c == '<' || c == '>') && peek(lx, 1) == '(')) {
		size_t n = redir_len(lx, &hd, &strip);
		if (n && !(lx->s[lx->i] == '&' && lx->inword)) {
			bool ionum = lx->inword && !lx->want_target && lx->wflags == 0 &&
			             all_digits(&lx->text) && lx->s[lx->i] != '&';
			if (lx->inword && !ionum)
				word_end(lx);
			if (lx->want_target)
				return fail_at(lx, lx->line, lx->col,
				               "redirection without a target");
			size_t start = ionum ? lx->wstart : lx->i;
			unsigned line = ionum ? lx->wline : lx->line;
			unsigned col = ionum ? lx->wcol : lx->col;
			lx->inword = false;
			for (size_t k = 0; k < n; k++)
				adv(lx);
			const char *op =
			    arena_strndup(&lx->out->arena, lx->s + start, lx->i - start);
			cmd_place(lx, line, col);
			push_word(&lx->cmd.redirs, &lx->cmd.nredirs, &lx->ralloc,
			          (struct sh_word){op, op, start, line, col, 0});
			lx->want_target = true;
			lx->target_heredoc = hd;
			lx->heredoc_strip = strip;
			return 0;
		}
	}
	for (size_t k = 0; ops[k]; k++) {
		size_t n = strlen(ops[k]);
		if (lx->i + n <= lx->len && !memcmp(lx->s + lx->i, ops[k], n)) {
			if (lx->want_target && lx->inword)
				word_end(lx);
			if (lx->want_target)
				return fail_at(lx, lx->line, lx->col,
				               "redirection without a target");
			cmd_end(lx, ops[k]);
			for (size_t j = 0; j < n; j++)
				adv(lx);
			return 0;
		}
	}
	*done = false;
	return 0;
}

static int lex(struct lexer *lx)
{
	while (lx->i < lx->len) {
		int c = peek(lx, 0), c1 = peek(lx, 1);
		if (c == 0)
			return fail_at(lx, lx->line, lx->col, "NUL byte in a shell script");
		if (c == '\\' && c1 == '\n') {
			adv(lx), adv(lx);
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\r') {
			word_end(lx);
			adv(lx);
			continue;
		}
		if (c == '#' && !lx->inword) {
			while (lx->i < lx->len && peek(lx, 0) != '\n')
				adv(lx);
			continue;
		}
		if (!((c == '<' || c == '>') && c1 == '(') && strchr("\n;&|()<>", c)) {
			bool done;
			if (operator(lx, &done) < 0)
				return -1;
			if (done)
				continue;
		}
		word_begin(lx);
		if (c == '\\') {
			lx->wflags |= SHW_QUOTED;
			adv(lx);
			if (lx->i < lx->len) {
				strbuf_addch(&lx->text, lx->s[lx->i]);
				adv(lx);
			} else {
				strbuf_addch(&lx->text, '\\'); /* sh keeps a last backslash */
			}
		} else if (c == '\'') {
			if (single_quoted(lx) < 0)
				return -1;
		} else if (c == '"') {
			if (double_quoted(lx) < 0)
				return -1;
		} else if (c == '$' || c == '`' || c == '<' || c == '>') {
			int r = expansion(lx, false);
			if (r < 0)
				return -1;
			if (r == 0) {
				strbuf_addch(&lx->text, (char)c);
				adv(lx);
			}
		} else {
			if (c == '=' && !(lx->wflags & ~SHW_ASSIGN) && lx->text.len &&
			    is_name_start((unsigned char)lx->text.buf[0])) {
				bool name = true;
				for (size_t k = 1; k < lx->text.len; k++)
					name = name && is_name_char((unsigned char)lx->text.buf[k]);
				if (name && !memchr(lx->text.buf, '=', lx->text.len))
					lx->wflags |= SHW_ASSIGN;
			}
			if (c == '*' || c == '?' || c == '[')
				lx->wflags |= SHW_GLOB;
			strbuf_addch(&lx->text, (char)c);
			adv(lx);
		}
	}
	if (lx->want_target && lx->inword)
		word_end(lx);
	if (lx->want_target)
		return fail_at(lx, lx->line, lx->col, "redirection without a target");
	cmd_end(lx, "");
	if (lx->nhd)
		return heredoc_bodies(lx, lx->line, lx->col);
	return 0;
}

int sh_parse(const char *text, size_t len, const char *name, unsigned line, unsigned col,
             struct sh_script **out, struct diag *d)
{
	struct lexer lx = {
	    .s = text,
	    .len = len,
	    .line = line ? line : 1,
	    .col = col ? col : 1,
	    .name = name,
	    .d = d,
	    .text = STRBUF_INIT,
	};
	lx.out = xcalloc(1, sizeof(*lx.out));
	int r = lex(&lx);
	strbuf_release(&lx.text);
	free(lx.cmd.words);
	free(lx.cmd.redirs);
	for (size_t k = 0; k < lx.nhd; k++)
		free(lx.hd[k].delim);
	free(lx.hd);
	if (r < 0) {
		sh_script_free(lx.out);
		*out = NULL;
		return -1;
	}
	*out = lx.out;
	return 0;
}

void sh_script_free(struct sh_script *s)
{
	if (!s)
		return;
	for (size_t k = 0; k < s->ncmds; k++) {
		free(s->cmds[k].words);
		free(s->cmds[k].redirs);
	}
	free(s->cmds);
	arena_release(&s->arena);
	free(s);
}

size_t sh_cmd_name_index(const struct sh_cmd *c)
{
	size_t k = 0;
	while (k < c->nwords && (c->words[k].flags & SHW_ASSIGN))
		k++;
	return k;
}

void sh_quote(struct strbuf *out, const char *s)
{
	bool safe = *s != '\0', name = true; /* name: what came before is a NAME (NAME=v) */
	for (const char *p = s; *p && safe; p++) {
		bool word = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
		            (p != s && *p >= '0' && *p <= '9');
		safe = word || (*p >= '0' && *p <= '9') || strchr("-./,:+@%", *p) ||
		       (*p == '=' && !name);
		name = name && word;
	}
	if (safe) {
		strbuf_adds(out, s);
		return;
	}
	strbuf_addch(out, '\'');
	for (const char *p = s; *p; p++)
		if (*p == '\'')
			strbuf_adds(out, "'\\''");
		else
			strbuf_addch(out, *p);
	strbuf_addch(out, '\'');
}
