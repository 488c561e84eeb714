/*
 * libFuzzer target: arbitrary bytes as a shell script (base/shwords.h) and
 * as an Execute step (docker/dockerrun.h). Any crash, leak, sanitizer
 * report or hang is a bug; refusals are fine but must be well formed, and
 * every word must be the bytes of the script it says it is.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "docker/dockerrun.h"
#include "fuzz.h"

static unsigned count_lines(const char *s, size_t n)
{
	unsigned lines = 1;
	for (size_t i = 0; i < n; i++)
		lines += s[i] == '\n';
	return lines;
}

static void check_word(const struct sh_word *w, const char *s, size_t n, unsigned lines)
{
	size_t len = strlen(w->raw);
	CHECK(w->off <= n && len <= n - w->off && !memcmp(s + w->off, w->raw, len));
	CHECK(w->line >= 1 && w->line <= lines && w->col >= 1);
	CHECK(strlen(w->text) <= len + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	unsigned lines = count_lines(s, size);
	struct diag d = DIAG_INIT;
	struct sh_script *sc;
	if (sh_parse(s, size, "f.sh", 1, 1, &sc, &d) == 0) {
		for (size_t c = 0; c < sc->ncmds; c++) {
			const struct sh_cmd *cmd = &sc->cmds[c];
			CHECK(cmd->nwords + cmd->nredirs > 0 && cmd->nredirs % 2 == 0);
			CHECK(sh_cmd_name_index(cmd) <= cmd->nwords);
			for (size_t w = 0; w < cmd->nwords; w++)
				check_word(&cmd->words[w], s, size, lines);
			for (size_t w = 0; w < cmd->nredirs; w++)
				check_word(&cmd->redirs[w], s, size, lines);
		}
		sh_script_free(sc);
	} else {
		CHECK(d.code == DIAG_INPUT && d.msg.len > 0 && sc == NULL);
		CHECK(d.loc.line >= 1 && d.loc.line <= lines && d.loc.col >= 1);
	}
	diag_release(&d);
	diag_init(&d);
	struct dockerrun *dr;
	if (dockerrun_read(s, size, "f.sh", 1, 1, &dr, &d) == 0) {
		CHECK(dr->image && dr->image[0] != '-');
		for (size_t k = 0; k < dr->nkeep; k++)
			CHECK(dr->keep[k].name[0] == '-' && !dr->keep[k].why);
		for (size_t k = 0; k < dr->ndrop; k++)
			CHECK(dr->drop[k].why != NULL);
		for (size_t k = 0; k < dr->nsetup; k++)
			CHECK(dr->setup[k].text[0] != '\0');
		dockerrun_free(dr);
	} else {
		CHECK(d.code == DIAG_INPUT && d.msg.len > 0 && dr == NULL);
	}
	diag_release(&d);
	return 0;
}
