/* dl: see dl.h. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/dl.h"
#include "base/banned.h"

void *dl_open_first(const char *env_var, const char *const *names, size_t n, char *err,
                    size_t errlen)
{
	const char *env = getenv(env_var);
	if (env && *env) {
		void *h = dlopen(env, RTLD_NOW | RTLD_LOCAL);
		if (!h)
			snprintf(err, errlen, "%s=%s: %s", env_var, env, dlerror());
		return h;
	}
	for (size_t i = 0; i < n; i++) {
		void *h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
		if (h)
			return h;
		if (i == 0)
			snprintf(err, errlen, "%s", dlerror());
	}
	return NULL;
}
