/* report/colour: a colour per status (see colour.h). */
#include "report/colour.h"

#include <string.h>

#include "base/xalloc.h"
#include "base/banned.h"

static const char *const colours[] = {
    [REPORT_PASSED] = "#2da44e",   [REPORT_FLAKY] = "#d4a017",   [REPORT_FAILED] = "#cf222e",
    [REPORT_TIMEOUT] = "#8250df",  [REPORT_CRASHED] = "#82071e", [REPORT_NOT_RUNNABLE] = "#c8ccd1",
    [REPORT_CANCELED] = "#8c959f",
};

const char *report_status_colour(enum report_status s)
{
	if ((unsigned)s >= sizeof(colours) / sizeof(colours[0]) || !colours[s])
		BUG("report_status_colour(%d)", (int)s);
	return colours[s];
}

bool report_status_parse(const char *name, enum report_status *out)
{
	for (unsigned s = 0; s < sizeof(colours) / sizeof(colours[0]); s++)
		if (!strcmp(name, report_status_name((enum report_status)s))) {
			*out = (enum report_status)s;
			return true;
		}
	if (!strcmp(name, "skipped")) {
		*out = REPORT_NOT_RUNNABLE;
		return true;
	}
	return false;
}
