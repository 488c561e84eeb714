#include <stdbool.h>
#include <yaml.h>

#include "wf/wf.h"
#include "base/banned.h"

int wf_check_yaml(const char *text, size_t len, const char *name, struct diag *d)
{
	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser))
		return diag_set(d, DIAG_SYSTEM, "cannot start the YAML parser");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	int rc = 0;
	for (;;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&parser, &ev)) {
			/* libyaml's marks count from 0. */
			yaml_mark_t m = parser.problem_mark;
			diag_set(d, DIAG_INPUT, "not valid YAML: %s%s%s",
			         parser.problem ? parser.problem : "parse error",
			         parser.context ? " " : "", parser.context ? parser.context : "");
			d->loc =
			    (struct srcloc){name, (unsigned)m.line + 1, (unsigned)m.column + 1};
			rc = -1;
			break;
		}
		bool end = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
		if (end)
			break;
	}
	yaml_parser_delete(&parser);
	return rc;
}
