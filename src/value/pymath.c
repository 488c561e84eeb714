#include "value/pymath.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/banned.h"

typedef double (*fn2)(double, double);
typedef double (*fn1)(double);

/* Loaded once; a process-wide cache of addresses in a library that stays loaded. */
static fn2 libm_pow, libm_fmod;
static fn1 libm_nearbyint;

static void load(void)
{
	if (libm_pow)
		return;
	void *h = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
	fn2 p = h ? (fn2)dlsym(h, "pow") : NULL;
	fn2 m = h ? (fn2)dlsym(h, "fmod") : NULL;
	fn1 n = h ? (fn1)dlsym(h, "nearbyint") : NULL;
	if (!p || !m || !n) {
		fprintf(stderr, "gpuci: cannot load libm.so.6: %s\n", dlerror());
		abort();
	}
	libm_fmod = m;
	libm_nearbyint = n;
	libm_pow = p;
}

double py_pow(double x, double y)
{
	load();
	return libm_pow(x, y);
}

double py_fmod(double x, double y)
{
	load();
	return libm_fmod(x, y);
}

double py_nearbyint(double x)
{
	load();
	return libm_nearbyint(x);
}

/* Past 2**52 every double is an integer; below, truncation through int64 is exact. */
double py_floor(double x)
{
	if (!(x > -4503599627370496.0 && x < 4503599627370496.0))
		return x; /* integral, infinite or NaN */
	double t = (double)(long long)x;
	if (t > x)
		t -= 1.0;
	return t == 0 ? __builtin_copysign(0.0, x) : t;
}

double py_ceil(double x)
{
	if (!(x > -4503599627370496.0 && x < 4503599627370496.0))
		return x;
	double t = (double)(long long)x;
	if (t < x)
		t += 1.0;
	return t == 0 ? __builtin_copysign(0.0, x) : t;
}
