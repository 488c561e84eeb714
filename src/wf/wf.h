/*
 * wf: workflow files, the only user of libyaml: checking that a text
 * parses as YAML, and reading it as a tree of placed nodes (model.h).
 */
#ifndef GPUCI_WF_WF_H
#define GPUCI_WF_WF_H

#include <stddef.h>

#include "base/arena.h"
#include "base/diag.h"

/* A YAML document is at most this deep, aliases expanded. */
#define WF_MAX_DEPTH 256
/*
 * A document is at most this many nodes with its aliases expanded (each
 * use of an anchor counts the nodes under it again), so that an alias
 * bomb (billion laughs) is refused before anything walks it.
 */
#define WF_MAX_NODES 1000000

/*
 * Parses text[0..len) as a YAML stream. Fails with DIAG_INPUT, the place
 * (name, line and column counted from 1) and libyaml's problem, or when it
 * is nested deeper than WF_MAX_DEPTH.
 */
int wf_check_yaml(const char *text, size_t len, const char *name, struct diag *d);

struct wf_node;

/*
 * Reads the first document of text[0..len) as nodes in a, placed in file
 * name (kept, not copied): *root is NULL for a stream with no document.
 * Read from libyaml's events, so limits are met as the text is read: a
 * node deeper than WF_MAX_DEPTH, more than WF_MAX_NODES with aliases
 * expanded, a non-scalar or duplicate mapping key (found with a hash, so
 * a mapping of many keys costs linear time), an undefined alias. An alias
 * shares its anchor's node (the tree is a DAG; nothing has a cycle).
 * Fails with DIAG_INPUT at the node's place.
 */
int wf_load_nodes(const char *text, size_t len, const char *name, struct arena *a,
                  struct wf_node **root, struct diag *d);

#endif
