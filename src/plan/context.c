/*
 * plan/context: the contexts a job's expressions see for an event (github,
 * inputs, vars, secrets, env), as GitHub builds them, with what only the
 * run knows left unknown.
 */
#include <stdlib.h>
#include <string.h>

#include "plan/plan_int.h"
#include "base/banned.h"

/* ---- contexts ------------------------------------------------------------- */

/* Sets the inputs of a workflow_dispatch from the defaults and K=V pairs. */
static int make_inputs(const struct wf *w, const struct plan_opts *o, struct arena *a,
                       struct value *inputs, struct value *event_inputs, struct diag *d)
{
	const struct wf_node *cfg = NULL;
	wf_on(w, "workflow_dispatch", &cfg);
	const struct wf_node *decl = wf_get(cfg, "inputs");
	*inputs = value_dict(a);
	*event_inputs = value_dict(a);
	if (decl && decl->kind == WF_MAP) {
		for (size_t i = 0; i < decl->len; i++) {
			const char *name = decl->kv[2 * i]->s;
			const struct wf_node *spec = decl->kv[2 * i + 1];
			const char *type = wf_str(wf_get(spec, "type"));
			struct value def = wf_value(wf_get(spec, "default"), a);
			if (type && !strcmp(type, "boolean") && def.kind == V_NONE)
				def = value_bool(false);
			if (def.kind == V_NONE)
				def = value_str_static("");
			put(a, *inputs, name, def);
		}
	}
	for (size_t i = 0; i < o->ninputs; i++) {
		const char *kv = o->inputs[i];
		const char *eq = strchr(kv, '=');
		if (!eq || eq == kv)
			return diag_set(d, DIAG_USAGE, "--input wants KEY=VALUE, not '%s'", kv);
		char *key = arena_strndup(a, kv, (size_t)(eq - kv));
		const struct wf_node *spec = wf_get(decl, key);
		if (!spec) {
			struct strbuf names = STRBUF_INIT;
			for (size_t k = 0; decl && decl->kind == WF_MAP && k < decl->len; k++)
				strbuf_addf(&names, "%s%s", k ? ", " : "", decl->kv[2 * k]->s);
			diag_set(d, DIAG_USAGE,
			         "the workflow's workflow_dispatch has no input '%s'%s%s%s", key,
			         names.len ? " (inputs: " : "", names.buf, names.len ? ")" : "");
			strbuf_release(&names);
			return -1;
		}
		const char *val = eq + 1;
		const char *type = wf_str(wf_get(spec, "type"));
		struct value v = str_of(a, val);
		if (type && !strcmp(type, "boolean")) {
			if (strcmp(val, "true") != 0 && strcmp(val, "false") != 0)
				return diag_set(d, DIAG_USAGE,
				                "input '%s' is a boolean: true or false, not '%s'",
				                key, val);
			v = value_bool(!strcmp(val, "true"));
		} else if (type && !strcmp(type, "number")) {
			char *end;
			double f = strtod(val, &end);
			if (!*val || *end)
				return diag_set(d, DIAG_USAGE, "input '%s' is a number, not '%s'",
				                key, val);
			v = f == (double)(int64_t)f ? value_int((int64_t)f) : value_float(f);
		} else if (type && !strcmp(type, "choice")) {
			const struct wf_node *opts = wf_get(spec, "options");
			bool ok = false;
			for (size_t k = 0; opts && opts->kind == WF_SEQ && k < opts->len; k++)
				ok = ok || (wf_str(opts->kv[k]) && !strcmp(opts->kv[k]->s, val));
			if (!ok)
				return diag_set(
				    d, DIAG_USAGE,
				    "input '%s' is a choice; '%s' is not among its options", key,
				    val);
		}
		put(a, *inputs, key, v);
	}
	/* github.event.inputs holds every input as a string. */
	for (size_t i = 0; i < inputs->dict->n; i++) {
		struct strbuf s = STRBUF_INIT;
		struct value v = inputs->dict->vals[i];
		if (v.kind == V_BOOL)
			strbuf_adds(&s, v.b ? "true" : "false");
		else
			value_str_into(v, &s);
		vdict_set(a, event_inputs->dict, inputs->dict->keys[i], value_strbuf(a, &s));
		strbuf_release(&s);
	}
	return 0;
}

/*
 * What the payload of other events holds that only the event can tell: the
 * text people write (a comment, an issue, a commit message) and whether an
 * issue is a pull request. A job gated on it is undetermined, not skipped.
 */
static void event_payload(struct arena *a, const char *event, struct value ev)
{
	if (!strcmp(event, "issue_comment") || !strcmp(event, "issues")) {
		struct value issue = value_dict(a), user = value_dict(a);
		put(a, issue, "number", value_int(1));
		put(a, issue, "title", value_undef("the issue's title"));
		put(a, issue, "body", value_undef("the issue's text"));
		put(a, issue, "pull_request",
		    value_undef(
		        "whether the issue is a pull request (github.event.issue.pull_request)"));
		put(a, user, "login", value_undef("the issue's author"));
		put(a, issue, "user", user);
		put(a, ev, "issue", issue);
		put(a, ev, "action", value_undef("the event's action"));
	}
	if (!strcmp(event, "issue_comment") || !strcmp(event, "pull_request_review_comment") ||
	    !strcmp(event, "discussion_comment")) {
		struct value comment = value_dict(a), user = value_dict(a);
		put(a, comment, "id", value_int(1));
		put(a, comment, "body", value_undef("the comment's text"));
		put(a, user, "login", value_undef("the comment's author"));
		put(a, comment, "user", user);
		put(a, ev, "comment", comment);
	}
	if (!strcmp(event, "pull_request_review")) {
		struct value review = value_dict(a);
		put(a, review, "body", value_undef("the review's text"));
		put(a, review, "state", value_undef("the review's state"));
		put(a, ev, "review", review);
	}
	if (!strcmp(event, "push")) {
		struct value head = value_dict(a);
		put(a, head, "message", value_undef("the pushed commit's message"));
		put(a, ev, "head_commit", head);
		put(a, ev, "commits", value_undef("the pushed commits"));
	}
}

/* The contexts every job-level expression sees, for the event. */
int plan__contexts(const struct wf *w, const struct plan_opts *o, struct arena *a,
                   struct value *out, struct diag *d)
{
	const char *event = o->event ? o->event : "pull_request";
	struct value github = value_dict(a), ev = value_dict(a);
	struct value inputs, event_inputs;
	if (make_inputs(w, o, a, &inputs, &event_inputs, d) < 0)
		return -1;
	bool pr = !strcmp(event, "pull_request") || !strcmp(event, "pull_request_target");
	put(a, github, "event_name", str_of(a, event));
	const char *wname = wf_str(wf_get(wf_root(w), "name"));
	put(a, github, "workflow", str_of(a, wname ? wname : wf_name(w)));
	/* A job gated on the repository (not on forks) depends on where it runs. */
	put(a, github, "repository", value_undef("the repository it runs in (owner/name)"));
	put(a, github, "repository_owner", value_undef("the repository's owner"));
	put(a, github, "actor", value_undef("who triggered the run (github.actor)"));
	put(a, github, "triggering_actor", value_undef("who triggered the run"));
	put(a, github, "sha", value_str_static("0000000000000000000000000000000000000000"));
	put(a, github, "run_id", str_of(a, o->run_id ? o->run_id : "1"));
	put(a, github, "run_number", value_str_static("1"));
	put(a, github, "run_attempt", value_str_static("1"));
	put(a, github, "server_url", value_str_static("https://github.com"));
	if (pr) {
		bool add = o->added;
		for (size_t i = 0; add && i < o->nlabels; i++)
			add = strcmp(o->labels[i], o->added) != 0;
		size_t nl = o->nlabels + add;
		struct value pull = value_dict(a), labels = value_list(a, nl);
		for (size_t i = 0; i < nl; i++) {
			labels.list->items[i] = value_dict(a);
			put(a, labels.list->items[i], "name",
			    str_of(a, i < o->nlabels ? o->labels[i] : o->added));
		}
		struct value head = value_dict(a), base = value_dict(a);
		put(a, head, "ref", value_str_static("pr-branch"));
		put(a, base, "ref", value_str_static("main"));
		put(a, pull, "number", value_int(1));
		/* What the PR's author writes is known only when it runs. */
		put(a, pull, "title", value_undef("the pull request's title"));
		put(a, pull, "body", value_undef("the pull request's description"));
		put(a, head, "label", value_undef("the pull request's head branch"));
		struct value user = value_dict(a);
		put(a, user, "login", value_undef("the pull request's author"));
		put(a, pull, "user", user);
		put(a, pull, "labels", labels);
		put(a, pull, "head", head);
		put(a, pull, "base", base);
		put(a, pull, "draft", value_bool(false));
		const char *action = o->action ? o->action : o->added ? "labeled" : "synchronize";
		put(a, ev, "action", str_of(a, action));
		if (!strcmp(action, "labeled") || !strcmp(action, "unlabeled")) {
			/* The label just added (or removed): --added, else the last one. */
			const char *name = o->added     ? o->added
			                   : o->nlabels ? o->labels[o->nlabels - 1]
			                                : NULL;
			if (name) {
				struct value added = value_dict(a);
				put(a, added, "name", str_of(a, name));
				put(a, ev, "label", added);
			}
		}
		put(a, ev, "number", value_int(1));
		put(a, ev, "pull_request", pull);
		put(a, github, "ref", value_str_static("refs/pull/1/merge"));
		put(a, github, "head_ref", value_str_static("pr-branch"));
		put(a, github, "base_ref", value_str_static("main"));
	} else {
		put(a, github, "ref", value_str_static("refs/heads/main"));
		put(a, github, "ref_name", value_str_static("main"));
		put(a, github, "head_ref", value_str_static(""));
		put(a, github, "base_ref", value_str_static(""));
		put(a, ev, "ref", value_str_static("refs/heads/main"));
		event_payload(a, event, ev);
	}
	if (!strcmp(event, "workflow_dispatch"))
		put(a, ev, "inputs", event_inputs);
	put(a, github, "event", ev);

	struct value ctx = value_dict(a);
	put(a, ctx, "github", github);
	put(a, ctx, "inputs", !strcmp(event, "workflow_dispatch") ? inputs : value_dict(a));
	put(a, ctx, "vars", value_dict(a));
	put(a, ctx, "secrets", value_dict(a));
	put(a, ctx, "env", wf_value(wf_env(w), a));
	if (get(ctx, "env")->kind != V_DICT)
		put(a, ctx, "env", value_dict(a));
	*out = ctx;
	return 0;
}
