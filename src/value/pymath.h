/*
 * pymath: the floating-point functions Python's float arithmetic uses, with
 * libm's own results, but without linking libm into gpuci. Every run of a
 * millisecond-long command pays for each shared library it loads; libm is
 * loaded (dlopen) only the first time a template does float ** or %,
 * floor division of floats, or round() to a negative precision.
 */
#ifndef GPUCI_VALUE_PYMATH_H
#define GPUCI_VALUE_PYMATH_H

double py_pow(double x, double y);
double py_fmod(double x, double y);
double py_nearbyint(double x);
/* Exact, without libm. */
double py_floor(double x);
double py_ceil(double x);

#endif
