/*
 * report/colour: the colour of each test status, one table for every
 * report gpuci draws (the run's timeline and legend, the trends page), so
 * that a status looks the same everywhere.
 */
#ifndef GPUCI_REPORT_COLOUR_H
#define GPUCI_REPORT_COLOUR_H

#include <stdbool.h>

#include "report/report.h"

/*
 * "#RRGGBB": passed green, flaky amber, failed red, timeout purple, crashed
 * dark red, not-runnable light grey, canceled grey. BUG() out of range.
 */
const char *report_status_colour(enum report_status s);

/*
 * The status named name, as report_status_name() spells it (the history's
 * spelling); "skipped", which the history also knows, reads as
 * not-runnable (neither ran). false for any other name.
 */
bool report_status_parse(const char *name, enum report_status *out);

#endif
