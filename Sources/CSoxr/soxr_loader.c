// libsoxr through dlopen: see include/CSoxr.h for why.
//
// The definitions below have libsoxr's names and prototypes, so the Swift code calls
// soxr_create(...) as if the library were linked. They are hidden (not exported), so the
// library, once loaded, binds to its own functions, never to these.
#pragma GCC visibility push(hidden)
#include "CSoxr.h"
#pragma GCC visibility pop

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

// The soname of libsoxr 0.1.x (Debian: libsoxr0).
#define LIBSOXR "libsoxr.so.0"

#define EACH_FUNCTION(X) \
    X(soxr_create) X(soxr_process) X(soxr_delete) X(soxr_clear) X(soxr_delay) X(soxr_io_spec) \
    X(soxr_quality_spec)

static struct {
#define FIELD(name) __typeof__(name) *name;
    EACH_FUNCTION(FIELD)
#undef FIELD
} api;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char load_error[512];
static int loaded;

static void load(void) {
    void *library = dlopen(LIBSOXR, RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        snprintf(load_error, sizeof load_error, "cannot load %s: %s", LIBSOXR, dlerror());
        return;
    }
#define LOOKUP(name) \
    *(void **)&api.name = dlsym(library, #name); \
    if (!api.name) { \
        snprintf(load_error, sizeof load_error, "%s has no %s", LIBSOXR, #name); \
        return; \
    }
    EACH_FUNCTION(LOOKUP)
#undef LOOKUP
    loaded = 1;
}

int babymonitor_soxr_load(char *error, size_t size) {
    pthread_once(&once, load);
    if (loaded) return 0;
    if (error && size > 0) snprintf(error, size, "%s", load_error);
    return -1;
}

// A call before a successful babymonitor_soxr_load is a programming error: stop with a
// message rather than jump to address 0.
static void require(void *function, const char *name) {
    if (function) return;
    fprintf(stderr, "%s called before libsoxr was loaded\n", name);
    abort();
}
#define CALL(name, ...) (require((void *)api.name, #name), api.name(__VA_ARGS__))

soxr_t soxr_create(double input_rate, double output_rate, unsigned num_channels, soxr_error_t *error,
                   soxr_io_spec_t const *io, soxr_quality_spec_t const *quality, soxr_runtime_spec_t const *runtime) {
    return CALL(soxr_create, input_rate, output_rate, num_channels, error, io, quality, runtime);
}
soxr_error_t soxr_process(soxr_t resampler, soxr_in_t in, size_t ilen, size_t *idone, soxr_out_t out, size_t olen,
                          size_t *odone) {
    return CALL(soxr_process, resampler, in, ilen, idone, out, olen, odone);
}
void soxr_delete(soxr_t resampler) { CALL(soxr_delete, resampler); }
soxr_error_t soxr_clear(soxr_t resampler) { return CALL(soxr_clear, resampler); }
double soxr_delay(soxr_t resampler) { return CALL(soxr_delay, resampler); }
soxr_io_spec_t soxr_io_spec(soxr_datatype_t itype, soxr_datatype_t otype) { return CALL(soxr_io_spec, itype, otype); }
soxr_quality_spec_t soxr_quality_spec(unsigned long recipe, unsigned long flags) { return CALL(soxr_quality_spec, recipe, flags); }
