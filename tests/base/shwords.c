#include "harness.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/shwords.h"
#include "base/xalloc.h"

/* The commands of s as "w1 w2 ; w1 ..." with words in [brackets]. */
static char *shape(const char *s)
{
	struct sh_script *sc;
	struct diag d = DIAG_INIT;
	struct strbuf out = STRBUF_INIT;
	if (sh_parse(s, strlen(s), "t.sh", 1, 1, &sc, &d) < 0) {
		strbuf_addf(&out, "error %u:%u %s", d.loc.line, d.loc.col, d.msg.buf);
		diag_release(&d);
		return strbuf_detach(&out, NULL);
	}
	for (size_t c = 0; c < sc->ncmds; c++) {
		if (c)
			strbuf_adds(&out, " ; ");
		for (size_t w = 0; w < sc->cmds[c].nwords; w++)
			strbuf_addf(&out, "%s[%s]", w ? " " : "", sc->cmds[c].words[w].text);
	}
	sh_script_free(sc);
	diag_release(&d);
	return strbuf_detach(&out, NULL);
}

#define assert_shape(script, want)                                                                 \
	do {                                                                                       \
		char *got_ = shape(script);                                                        \
		assert_string_equal(got_, want);                                                   \
		free(got_);                                                                        \
	} while (0)

static void shwords__quotes_escapes_and_continuations(void **state)
{
	assert_shape("a 'b c' \"d e\" f\\ g", "[a] [b c] [d e] [f g]");
	assert_shape("a\"b\"'c'd", "[abcd]");
	assert_shape("echo \"a\\\"b\\\\c\\d\"", "[echo] [a\"b\\c\\d]");
	assert_shape("docker run \\\n  --rm \\\n  img", "[docker] [run] [--rm] [img]");
	assert_shape("a \"x\\\ny\"", "[a] [xy]");
	assert_shape("a '' \"\"", "[a] [] []");
	assert_shape("a # b c\nd", "[a] ; [d]");
	assert_shape("a#b", "[a#b]");
}

static void shwords__commands_split_at_operators(void **state)
{
	assert_shape("a; b && c || d | e & f\ng", "[a] ; [b] ; [c] ; [d] ; [e] ; [f] ; [g]");
	assert_shape("a ';' b", "[a] [;] [b]");
	assert_shape("(a); { b; }", "[a] ; [b]");
	assert_shape("\n\n  \n;", "");
}

static void shwords__finds_commands_inside_if_bodies(void **state)
{
	const char *s = "if [ \"$N\" = 0 ]; then\n  python t.py\nelse\n  docker run img x\nfi\n";
	assert_shape(s, "[[] [$N] [=] [0] []] ; [python] [t.py] ; [docker] [run] [img] [x]");
	struct sh_script *sc;
	struct diag d = DIAG_INIT;
	assert_int_equal(sh_parse(s, strlen(s), "t.sh", 1, 1, &sc, &d), 0);
	assert_int_equal(sc->ncmds, 3);
	assert_int_equal(sc->cmds[2].depth, 1);
	assert_int_equal(sc->cmds[2].line, 4);
	assert_int_equal(sc->cmds[2].col, 3);
	/* "then" as an argument is a word */
	sh_script_free(sc);
	assert_shape("echo then fi", "[echo] [then] [fi]");
	assert_shape("while true; do x; done", "[true] ; [x]");
	diag_release(&d);
}

static void shwords__expansions_are_kept_and_flagged(void **state)
{
	const char *s = "a $X \"${Y:-z}\" $(b \"c)\" d) `e` '$F' $((1+2)) \\$G <(h) ${{ m.x }}";
	assert_shape(s, "[a] [$X] [${Y:-z}] [$(b \"c)\" d)] [`e`] [$F] [$((1+2))] [$G] [<(h)] "
	                "[${{ m.x }}]");
	struct sh_script *sc;
	struct diag d = DIAG_INIT;
	assert_int_equal(sh_parse(s, strlen(s), "t.sh", 1, 1, &sc, &d), 0);
	const struct sh_word *w = sc->cmds[0].words;
	assert_int_equal(w[0].flags, 0);
	assert_int_equal(w[1].flags, SHW_EXPAND);
	assert_int_equal(w[2].flags, SHW_EXPAND | SHW_QUOTED);
	assert_int_equal(w[3].flags, SHW_EXPAND);
	assert_int_equal(w[4].flags, SHW_EXPAND);
	assert_int_equal(w[5].flags, SHW_QUOTED); /* single quotes: nothing expands */
	assert_int_equal(w[6].flags, SHW_EXPAND);
	assert_int_equal(w[7].flags, SHW_QUOTED);
	assert_int_equal(w[8].flags, SHW_EXPAND);
	assert_int_equal(w[9].flags, SHW_GHA);
	assert_string_equal(w[2].raw, "\"${Y:-z}\"");
	assert_int_equal(w[2].col, 6);
	sh_script_free(sc);
	/* a GitHub expression is substituted inside single quotes too */
	assert_int_equal(sh_parse("'${{ a }}' \"-${{ b || 'x y' }}\"", 31, "t", 1, 1, &sc, &d), 0);
	assert_int_equal(sc->cmds[0].words[0].flags, SHW_GHA | SHW_QUOTED);
	assert_string_equal(sc->cmds[0].words[1].text, "-${{ b || 'x y' }}");
	sh_script_free(sc);
	diag_release(&d);
}

static void shwords__assignments_redirections_heredocs(void **state)
{
	const char *s =
	    "A=1 B=\"x y\" cmd C=2 >out 2>&1 < <(p) <<EOF\nbody; not a command\nEOF\nnext";
	assert_shape(s, "[A=1] [B=x y] [cmd] [C=2] ; [next]");
	struct sh_script *sc;
	struct diag d = DIAG_INIT;
	assert_int_equal(sh_parse(s, strlen(s), "t.sh", 1, 1, &sc, &d), 0);
	const struct sh_cmd *c = &sc->cmds[0];
	assert_int_equal(sh_cmd_name_index(c), 2);
	assert_true(c->words[3].flags & SHW_ASSIGN);
	assert_int_equal(c->nredirs, 8);
	assert_string_equal(c->redirs[0].text, ">");
	assert_string_equal(c->redirs[1].text, "out");
	assert_string_equal(c->redirs[2].text, "2>&");
	assert_string_equal(c->redirs[3].text, "1");
	assert_string_equal(c->redirs[5].text, "<(p)");
	assert_string_equal(c->redirs[6].text, "<<");
	assert_int_equal(sc->cmds[1].line, 4);
	sh_script_free(sc);
	assert_shape("x=1", "[x=1]");
	assert_shape("cat <<-'E'\n\tq\n\tE\nz", "[cat] ; [z]");
	diag_release(&d);
}

static void shwords__errors_name_the_place(void **state)
{
	assert_shape("a\n  b 'c d\n", "error 2:5 unterminated single quote");
	assert_shape("a \"b", "error 1:3 unterminated double quote");
	assert_shape("x $(y", "error 1:3 unterminated '$('");
	assert_shape("x ${y", "error 1:3 unterminated '${'");
	assert_shape("x `y", "error 1:3 unterminated '`'");
	assert_shape("x ${{ y", "error 1:3 unterminated GitHub expression '${{'");
	assert_shape("cat <<E\nno end\n", "error 1:8 here-document not terminated");
	assert_shape("a >", "error 1:4 redirection without a target");
	/* placed where an inner script starts */
	struct sh_script *sc;
	struct diag d = DIAG_INIT;
	assert_int_equal(sh_parse("a\n'b", 4, "wf.yml", 10, 20, &sc, &d), -1);
	assert_int_equal(d.loc.line, 11);
	assert_int_equal(d.loc.col, 1);
	assert_int_equal(sh_parse("'b", 2, "wf.yml", 10, 20, &sc, &d), -1);
	assert_int_equal(d.loc.col, 20);
	diag_release(&d);
}

/* sh -c 'printf "%s\0" X WORDS': the words as sh splits them, "|"-joined. */
static int sh_words(const char *words, struct strbuf *out)
{
	struct strbuf cmd = STRBUF_INIT;
	strbuf_addf(&cmd, "printf '%%s\\0' X %s", words);
	int fd[2];
	if (pipe(fd) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		close(fd[1]);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 2);
		execl("/bin/sh", "sh", "-c", cmd.buf, (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	char buf[4096];
	ssize_t n;
	struct strbuf raw = STRBUF_INIT;
	while ((n = read(fd[0], buf, sizeof(buf))) > 0)
		strbuf_add(&raw, buf, (size_t)n);
	close(fd[0]);
	int st;
	waitpid(pid, &st, 0);
	strbuf_release(&cmd);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		strbuf_release(&raw);
		return 1;
	}
	/* skip "X\0" */
	for (size_t k = 2; k < raw.len; k++)
		strbuf_addch(out, raw.buf[k] ? raw.buf[k] : '|');
	strbuf_release(&raw);
	return 0;
}

static void shwords__splits_as_sh_does(void **state)
{
	static const char *const alphabet[] = {"a", "b",  " ", "  ", "'", "\"",   "\\",  "\\\n",
	                                       "#", "\t", "=", "-",  "é", "\\\\", "x\\'"};
	unsigned seed = 14;
	unsigned compared = 0;
	for (int round = 0; round < 600; round++) {
		struct strbuf in = STRBUF_INIT, ours = STRBUF_INIT, theirs = STRBUF_INIT;
		int n = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 12;
		for (int k = 0; k < n; k++) {
			seed = seed * 1103515245u + 12345u;
			strbuf_adds(
			    &in, alphabet[(seed >> 16) % (sizeof(alphabet) / sizeof(*alphabet))]);
		}
		struct strbuf script = STRBUF_INIT;
		strbuf_addf(&script, "X %s", in.buf);
		struct sh_script *sc;
		struct diag d = DIAG_INIT;
		int r = sh_parse(script.buf, script.len, "t", 1, 1, &sc, &d);
		if (r == 0 && sc->ncmds > 1) {
			/* an escaped backslash before a newline: two commands */
			sh_script_free(sc);
			diag_release(&d);
			strbuf_release(&script);
			strbuf_release(&in);
			continue;
		}
		if (r == 0) {
			for (size_t w = 1; sc->ncmds && w < sc->cmds[0].nwords; w++) {
				strbuf_adds(&ours, sc->cmds[0].words[w].text);
				strbuf_addch(&ours, '|');
			}
			sh_script_free(sc);
		}
		int s = sh_words(in.buf, &theirs);
		assert_true(s >= 0);
		if ((r == 0) != (s == 0))
			fail_msg("sh and sh_parse disagree on [%s]: ours %d, sh %d", in.buf, r, s);
		if (r == 0 && strcmp(ours.buf, theirs.buf) != 0)
			fail_msg("[%s]: ours [%s], sh [%s]", in.buf, ours.buf, theirs.buf);
		compared += r == 0;
		diag_release(&d);
		strbuf_release(&script);
		strbuf_release(&in);
		strbuf_release(&ours);
		strbuf_release(&theirs);
	}
	/* most random lines are well quoted: the comparison did compare */
	assert_true(compared > 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(shwords__quotes_escapes_and_continuations),
	    cmocka_unit_test(shwords__commands_split_at_operators),
	    cmocka_unit_test(shwords__finds_commands_inside_if_bodies),
	    cmocka_unit_test(shwords__expansions_are_kept_and_flagged),
	    cmocka_unit_test(shwords__assignments_redirections_heredocs),
	    cmocka_unit_test(shwords__errors_name_the_place),
	    cmocka_unit_test(shwords__splits_as_sh_does),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
