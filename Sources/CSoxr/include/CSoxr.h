#ifndef BABYMONITOR_CSOXR_H
#define BABYMONITOR_CSOXR_H
// libsoxr's API, loaded on first use instead of linked (issue 15): babymonitord resamples
// only a recording whose rate is not the models' (ALSA captures at that rate), so it
// usually never maps libsoxr nor the OpenMP runtime (libgomp) it needs. The soxr_*
// functions the programs call are defined in soxr_loader.c; each calls the library's own.
#include <stddef.h>
#include <soxr.h>

/// Loads libsoxr.so.0 and its functions once (thread-safe). Returns 0, or -1 with the
/// reason (dlerror's text) in `error`. Call it, and have it succeed, before any soxr_* call.
int babymonitor_soxr_load(char *error, size_t size);

#endif
