/*
 * dockerrun: an Execute step's docker run, read (see dockerrun.h).
 */
#include "docker/dockerrun.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"
#include "base/xalloc.h"

/*
 * docker 20.10 `docker run --help`: long name, shorthand, whether it takes
 * a value, and why gpuci drops it (NULL: kept).
 */
struct opt_spec {
	const char *name;
	char shorthand;
	bool value;
	const char *drop;
};

static const char WHY_GPUS[] = "gpuci leases the GPUs and gives --gpus itself";
static const char WHY_RM[] = "gpuci removes its containers itself";
static const char WHY_NAME[] = "gpuci names its containers per run and test";
static const char WHY_TTY[] = "gpuci runs tests without a terminal or stdin";

static const struct opt_spec specs[] = {
    {"add-host", 0, true, NULL},
    {"attach", 'a', true, "gpuci attaches stdout and stderr itself"},
    {"blkio-weight", 0, true, NULL},
    {"blkio-weight-device", 0, true, NULL},
    {"cap-add", 0, true, NULL},
    {"cap-drop", 0, true, NULL},
    {"cgroup-parent", 0, true, NULL},
    {"cgroupns", 0, true, NULL},
    {"cidfile", 0, true, "gpuci writes its own cidfile to find the container"},
    {"cpu-period", 0, true, NULL},
    {"cpu-quota", 0, true, NULL},
    {"cpu-rt-period", 0, true, NULL},
    {"cpu-rt-runtime", 0, true, NULL},
    {"cpu-shares", 'c', true, NULL},
    {"cpus", 0, true, NULL},
    {"cpuset-cpus", 0, true, NULL},
    {"cpuset-mems", 0, true, NULL},
    {"detach", 'd', false, "gpuci waits for the test in the foreground"},
    {"detach-keys", 0, true, WHY_TTY},
    {"device", 0, true, NULL},
    {"device-cgroup-rule", 0, true, NULL},
    {"device-read-bps", 0, true, NULL},
    {"device-read-iops", 0, true, NULL},
    {"device-write-bps", 0, true, NULL},
    {"device-write-iops", 0, true, NULL},
    {"disable-content-trust", 0, false, NULL},
    {"dns", 0, true, NULL},
    {"dns-option", 0, true, NULL},
    {"dns-search", 0, true, NULL},
    {"domainname", 0, true, NULL},
    {"entrypoint", 0, true, NULL},
    {"env", 'e', true, NULL},
    {"env-file", 0, true, NULL},
    {"expose", 0, true, NULL},
    {"gpus", 0, true, WHY_GPUS},
    {"group-add", 0, true, NULL},
    {"health-cmd", 0, true, NULL},
    {"health-interval", 0, true, NULL},
    {"health-retries", 0, true, NULL},
    {"health-start-period", 0, true, NULL},
    {"health-timeout", 0, true, NULL},
    {"help", 0, false, "not an option of a container"},
    {"hostname", 'h', true, NULL},
    {"init", 0, false, "gpuci adds --init itself"},
    {"interactive", 'i', false, WHY_TTY},
    {"ip", 0, true, NULL},
    {"ip6", 0, true, NULL},
    {"ipc", 0, true, NULL},
    {"isolation", 0, true, NULL},
    {"kernel-memory", 0, true, NULL},
    {"label", 'l', true, NULL},
    {"label-file", 0, true, NULL},
    {"link", 0, true, NULL},
    {"link-local-ip", 0, true, NULL},
    {"log-driver", 0, true, NULL},
    {"log-opt", 0, true, NULL},
    {"mac-address", 0, true, NULL},
    {"memory", 'm', true, NULL},
    {"memory-reservation", 0, true, NULL},
    {"memory-swap", 0, true, NULL},
    {"memory-swappiness", 0, true, NULL},
    {"mount", 0, true, NULL},
    {"name", 0, true, WHY_NAME},
    {"network", 0, true, NULL},
    {"network-alias", 0, true, NULL},
    {"no-healthcheck", 0, false, NULL},
    {"oom-kill-disable", 0, false, NULL},
    {"oom-score-adj", 0, true, NULL},
    {"pid", 0, true, NULL},
    {"pids-limit", 0, true, NULL},
    {"platform", 0, true, NULL},
    {"privileged", 0, false, NULL},
    {"publish", 'p', true, NULL},
    {"publish-all", 'P', false, NULL},
    {"pull", 0, true, "gpuci runs the image the engine has (pull it before the run)"},
    {"read-only", 0, false, NULL},
    {"restart", 0, true, WHY_RM},
    {"rm", 0, false, WHY_RM},
    {"runtime", 0, true, NULL},
    {"security-opt", 0, true, NULL},
    {"shm-size", 0, true, NULL},
    {"sig-proxy", 0, false, "gpuci signals the container itself"},
    {"stop-signal", 0, true, NULL},
    {"stop-timeout", 0, true, NULL},
    {"storage-opt", 0, true, NULL},
    {"sysctl", 0, true, NULL},
    {"tmpfs", 0, true, NULL},
    {"tty", 't', false, WHY_TTY},
    {"ulimit", 0, true, NULL},
    {"user", 'u', true, NULL},
    {"userns", 0, true, NULL},
    {"uts", 0, true, NULL},
    {"volume", 'v', true, NULL},
    {"volume-driver", 0, true, NULL},
    {"volumes-from", 0, true, NULL},
    {"workdir", 'w', true, NULL},
};

static const struct opt_spec *spec_long(const char *name, size_t len)
{
	for (size_t k = 0; k < sizeof(specs) / sizeof(*specs); k++)
		if (strlen(specs[k].name) == len && !memcmp(specs[k].name, name, len))
			return &specs[k];
	return NULL;
}

static const struct opt_spec *spec_short(char c)
{
	for (size_t k = 0; k < sizeof(specs) / sizeof(*specs); k++)
		if (specs[k].shorthand == c)
			return &specs[k];
	return NULL;
}

struct reader {
	struct dockerrun *dr;
	const char *name;
	struct diag *d;
	size_t akeep, adrop, asetup;
};

__attribute__((format(printf, 4, 5))) static int refuse(struct reader *r, unsigned line,
                                                        unsigned col, const char *fmt, ...)
{
	struct strbuf msg = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&msg, fmt, ap);
	va_end(ap);
	diag_set(r->d, DIAG_INPUT, "%s", msg.buf);
	strbuf_release(&msg);
	r->d->loc = (struct srcloc){r->name, line, col};
	return -1;
}

static void add_opt(struct reader *r, const struct opt_spec *sp, const char *value, unsigned wflags,
                    const struct sh_word *at)
{
	struct dockerrun *dr = r->dr;
	struct strbuf name = STRBUF_INIT;
	strbuf_addf(&name, "--%s", sp->name);
	struct dr_opt o = {
	    .name = arena_strndup(&dr->arena_, name.buf, name.len),
	    .value = value ? arena_strndup(&dr->arena_, value, strlen(value)) : NULL,
	    .why = sp->drop,
	    .line = at->line,
	    .col = at->col,
	};
	strbuf_release(&name);
	if (value && (wflags & SHW_EXPAND))
		o.flags |= DR_EXPAND;
	if (value && (wflags & SHW_GHA))
		o.flags |= DR_GHA;
	if (value && !strcmp(sp->name, "env")) {
		const char *eq = strchr(value, '=');
		o.env_name =
		    arena_strndup(&dr->arena_, value, eq ? (size_t)(eq - value) : strlen(value));
		if (eq && strstr(eq, "${{") && strstr(eq, "matrix."))
			o.flags |= DR_MATRIX;
	}
	struct dr_opt **v = sp->drop ? &dr->drop : &dr->keep;
	size_t *n = sp->drop ? &dr->ndrop : &dr->nkeep;
	size_t *a = sp->drop ? &r->adrop : &r->akeep;
	if (*n == *a) {
		*a = *a ? *a * 2 : 16;
		*v = xrealloc(*v, *a * sizeof(**v));
	}
	(*v)[(*n)++] = o;
}

/* Reads the options from words[k]; leaves k at the image. */
static int read_opts(struct reader *r, const struct sh_cmd *c, size_t *k)
{
	while (*k < c->nwords) {
		const struct sh_word *w = &c->words[*k];
		const char *t = w->text;
		if (t[0] != '-' || !t[1])
			return 0;
		(*k)++;
		if (!strcmp(t, "--"))
			return 0;
		if (t[1] == '-') {
			const char *eq = strchr(t + 2, '=');
			size_t len = eq ? (size_t)(eq - t - 2) : strlen(t + 2);
			const struct opt_spec *sp = spec_long(t + 2, len);
			if (!sp)
				return refuse(
				    r, w->line, w->col,
				    "unknown docker run option '%s' (not in docker 20.10's "
				    "docker run --help)",
				    t);
			const char *value = eq ? eq + 1 : NULL;
			unsigned flags = w->flags;
			if (sp->value && !value) {
				if (*k >= c->nwords)
					return refuse(r, w->line, w->col,
					              "docker run option '%s' without its value",
					              t);
				value = c->words[*k].text;
				flags = c->words[*k].flags;
				(*k)++;
			}
			add_opt(r, sp, value, flags, w);
			continue;
		}
		/* shorthands, combined as pflag allows: -it, -eNAME=x, -v/a:/b */
		for (const char *p = t + 1; *p; p++) {
			const struct opt_spec *sp = spec_short(*p);
			if (!sp) {
				char one[3] = {'-', *p, 0};
				return refuse(
				    r, w->line, w->col,
				    "unknown docker run option '%s' (not in docker 20.10's "
				    "docker run --help)",
				    one);
			}
			if (!sp->value) {
				add_opt(r, sp, NULL, 0, w);
				continue;
			}
			const char *value = p[1] ? p + 1 + (p[1] == '=') : NULL;
			unsigned flags = w->flags;
			if (!value) {
				if (*k >= c->nwords)
					return refuse(r, w->line, w->col,
					              "docker run option '%s' without its value",
					              t);
				value = c->words[*k].text;
				flags = c->words[*k].flags;
				(*k)++;
			}
			add_opt(r, sp, value, flags, w);
			break;
		}
	}
	return 0;
}

static bool is_docker_run(const struct sh_cmd *c, size_t *after)
{
	size_t k = sh_cmd_name_index(c);
	if (k + 1 >= c->nwords || strcmp(c->words[k].text, "docker") != 0)
		return false;
	if (!strcmp(c->words[k + 1].text, "run")) {
		*after = k + 2;
		return true;
	}
	if (k + 2 < c->nwords && !strcmp(c->words[k + 1].text, "container") &&
	    !strcmp(c->words[k + 2].text, "run")) {
		*after = k + 3;
		return true;
	}
	return false;
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

static bool is_test_cmd(const struct sh_cmd *c)
{
	static const char *const runners[] = {"python", "python3", "pytest", "torchrun", NULL};
	if (c->depth > 0)
		return true;
	size_t k = sh_cmd_name_index(c);
	if (k >= c->nwords)
		return false;
	const char *n = base_name(c->words[k].text);
	for (size_t j = 0; runners[j]; j++)
		if (!strcmp(n, runners[j]))
			return true;
	for (size_t j = k; j < c->nwords; j++)
		if (strstr(c->words[j].text, "gpu_lock_exec"))
			return true;
	return false;
}

/* The source text of c in s: from its first byte to the end of its last word. */
static const char *cmd_text(struct dockerrun *dr, const char *s, const struct sh_cmd *c)
{
	size_t b = (size_t)-1, e = 0;
	for (size_t k = 0; k < c->nwords; k++) {
		b = c->words[k].off < b ? c->words[k].off : b;
		size_t end = c->words[k].off + strlen(c->words[k].raw);
		e = end > e ? end : e;
	}
	for (size_t k = 0; k < c->nredirs; k++) {
		b = c->redirs[k].off < b ? c->redirs[k].off : b;
		size_t end = c->redirs[k].off + strlen(c->redirs[k].raw);
		e = end > e ? end : e;
	}
	return arena_strndup(&dr->arena_, s + b, e - b);
}

static int read_inner(struct reader *r)
{
	struct dockerrun *dr = r->dr;
	if (dr->ncmd < 3)
		return 0;
	const char *sh = base_name(dr->cmd[0].text);
	if (strcmp(sh, "bash") != 0 && strcmp(sh, "sh") != 0 && strcmp(sh, "dash") != 0)
		return 0;
	size_t k = 1;
	while (k < dr->ncmd && dr->cmd[k].text[0] == '-' && !strchr(dr->cmd[k].text, 'c') &&
	       strcmp(dr->cmd[k].text, "--") != 0)
		k++;
	if (k + 1 >= dr->ncmd || dr->cmd[k].text[0] != '-' || dr->cmd[k].text[1] == '-' ||
	    !strchr(dr->cmd[k].text, 'c'))
		return 0;
	const struct sh_word *w = &dr->cmd[k + 1];
	dr->inner = w->text;
	dr->inner_line = w->line;
	dr->inner_col = w->col + (w->raw[0] == '\'' || w->raw[0] == '"');
	if (sh_parse(dr->inner, strlen(dr->inner), r->name, dr->inner_line, dr->inner_col,
	             &dr->inner_, r->d) < 0)
		return -1;
	for (size_t j = 0; j < dr->inner_->ncmds; j++) {
		const struct sh_cmd *c = &dr->inner_->cmds[j];
		if (is_test_cmd(c)) {
			dr->test = cmd_text(dr, dr->inner, c);
			dr->test_line = c->line;
			dr->test_col = c->col;
			break;
		}
		size_t n = sh_cmd_name_index(c);
		if (n >= c->nwords || !strcmp(c->words[n].text, "set"))
			continue;
		if (dr->nsetup == r->asetup) {
			r->asetup = r->asetup ? r->asetup * 2 : 4;
			dr->setup = xrealloc(dr->setup, r->asetup * sizeof(*dr->setup));
		}
		dr->setup[dr->nsetup++] =
		    (struct dr_setup){cmd_text(dr, dr->inner, c), c->line, c->col};
	}
	return 0;
}

int dockerrun_read(const char *text, size_t len, const char *name, unsigned line, unsigned col,
                   struct dockerrun **out, struct diag *d)
{
	struct dockerrun *dr = xcalloc(1, sizeof(*dr));
	struct reader r = {.dr = dr, .name = name, .d = d};
	*out = NULL;
	if (sh_parse(text, len, name, line, col, &dr->outer_, d) < 0)
		goto fail;
	const struct sh_cmd *found = NULL;
	size_t after = 0;
	for (size_t k = 0; k < dr->outer_->ncmds; k++) {
		const struct sh_cmd *c = &dr->outer_->cmds[k];
		size_t a;
		if (!is_docker_run(c, &a))
			continue;
		if (found) {
			struct strbuf at = STRBUF_INIT;
			strbuf_addf(&at, "%u:%u", found->line, found->col);
			refuse(&r, c->line, c->col,
			       "several docker run commands in the step (the first at %s): give "
			       "--docker IMAGE",
			       at.buf);
			strbuf_release(&at);
			goto fail;
		}
		found = c;
		after = a;
	}
	if (!found) {
		refuse(&r, line, col, "%s", "no docker run command in the step");
		goto fail;
	}
	dr->line = found->line;
	dr->col = found->col;
	size_t k = after;
	if (read_opts(&r, found, &k) < 0)
		goto fail;
	if (k >= found->nwords) {
		refuse(&r, found->line, found->col, "%s", "docker run without an image");
		goto fail;
	}
	const struct sh_word *img = &found->words[k];
	if (img->flags & (SHW_EXPAND | SHW_GHA)) {
		refuse(
		    &r, img->line, img->col,
		    "the image '%s' is an expression only known at run time: give --docker IMAGE",
		    img->text);
		goto fail;
	}
	if (!img->text[0] || img->text[0] == '-') {
		refuse(&r, img->line, img->col, "'%s' is not an image name", img->text);
		goto fail;
	}
	dr->image = img->text;
	dr->image_line = img->line;
	dr->image_col = img->col;
	dr->cmd = found->words + k + 1;
	dr->ncmd = found->nwords - k - 1;
	if (read_inner(&r) < 0)
		goto fail;
	*out = dr;
	return 0;
fail:
	dockerrun_free(dr);
	return -1;
}

int dockerrun_read_opts(const char *const *args, size_t n, const char *name, struct dockerrun **out,
                        struct diag *d)
{
	struct dockerrun *dr = xcalloc(1, sizeof(*dr));
	struct reader r = {.dr = dr, .name = name, .d = d};
	*out = NULL;
	struct sh_word *w = xcalloc(n ? n : 1, sizeof(*w));
	for (size_t i = 0; i < n; i++) {
		unsigned flags = 0;
		if (strchr(args[i], '$') || strchr(args[i], '`'))
			flags |= SHW_EXPAND;
		w[i] = (struct sh_word){.text = args[i],
		                        .raw = args[i],
		                        .line = 1,
		                        .col = (unsigned)i + 1,
		                        .flags = flags};
	}
	struct sh_cmd c = {.words = w, .nwords = n, .line = 1, .col = 1};
	size_t k = 0;
	int rc = read_opts(&r, &c, &k);
	if (!rc && k < n)
		rc = refuse(&r, 1, (unsigned)k + 1,
		            "'%s' is not a docker run option (each %s is one argument: %s "
		            "--shm-size=8g, or %s -v %s /data:/data)",
		            args[k], name, name, name, name);
	for (size_t i = 0; !rc && i < dr->ndrop; i++)
		rc = refuse(&r, dr->drop[i].line, dr->drop[i].col, "%s: %s", dr->drop[i].name,
		            dr->drop[i].why);
	for (size_t i = 0; !rc && i < dr->nkeep; i++)
		if (dr->keep[i].flags & DR_EXPAND)
			rc = refuse(&r, dr->keep[i].line, dr->keep[i].col,
			            "%s=%s: a shell expansion that gpuci does not make (let your "
			            "shell expand it)",
			            dr->keep[i].name, dr->keep[i].value);
	free(w);
	if (rc < 0) {
		/* The place is the argument's number, for people: "--docker-opt #2". */
		unsigned at = d->loc.col;
		d->loc = (struct srcloc){0};
		struct strbuf m = STRBUF_INIT;
		const char *arg = at && at <= n ? args[at - 1] : "";
		strbuf_addf(&m, "%s '%s': %s", name, arg, d->msg.buf ? d->msg.buf : "");
		if (strpbrk(arg, " \t") && !strstr(m.buf, "one argument"))
			strbuf_addf(&m, "; each %s is one argument: %s --shm-size=8g", name, name);
		diag_set(d, DIAG_USAGE, "%s", m.buf);
		strbuf_release(&m);
		dockerrun_free(dr);
		return -1;
	}
	*out = dr;
	return 0;
}

void dockerrun_free(struct dockerrun *dr)
{
	if (!dr)
		return;
	free(dr->keep);
	free(dr->drop);
	free(dr->setup);
	sh_script_free(dr->outer_);
	sh_script_free(dr->inner_);
	arena_release(&dr->arena_);
	free(dr);
}

void dockerrun_gpus_arg(const unsigned *gpus, size_t n, struct strbuf *out)
{
	if (!n)
		return;
	strbuf_adds(out, "\"device=");
	for (size_t k = 0; k < n; k++)
		strbuf_addf(out, "%s%u", k ? "," : "", gpus[k]);
	strbuf_addch(out, '"');
}
