#ifndef BABYMONITOR_CMOSQUITTO_H
#define BABYMONITOR_CMOSQUITTO_H
// libmosquitto's API, loaded on first use instead of linked (issue 15): a daemon with
// `[mqtt] enabled = false` never maps libmosquitto, libssl and libcrypto (1.8 MB of
// resident memory). The mosquitto_* functions the programs call are defined in
// mosquitto_loader.c; each calls the library's own function, found with dlsym.
#include <stddef.h>
#include <mosquitto.h>

/// Loads libmosquitto.so.1 and its functions once (thread-safe). Returns 0, or -1 with the
/// reason (dlerror's text) in `error`. Call it, and have it succeed, before any mosquitto_*
/// call other than mosquitto_strerror and mosquitto_connack_string.
int babymonitor_mosquitto_load(char *error, size_t size);

#endif
