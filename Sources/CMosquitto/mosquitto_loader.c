// libmosquitto through dlopen: see include/CMosquitto.h for why.
//
// The definitions below have libmosquitto's names and prototypes, so the Swift code calls
// mosquitto_new(...) as if the library were linked. They are hidden (not exported from
// the program), so the library, once loaded, binds to its own functions, never to these.
#pragma GCC visibility push(hidden)
#include "CMosquitto.h"
#pragma GCC visibility pop

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The soname of libmosquitto 1.x/2.x (Debian: libmosquitto1).
#define LIBMOSQUITTO "libmosquitto.so.1"

#define EACH_FUNCTION(X) \
    X(mosquitto_lib_init) X(mosquitto_new) X(mosquitto_destroy) X(mosquitto_user_data_set) \
    X(mosquitto_int_option) X(mosquitto_connect_callback_set) X(mosquitto_disconnect_callback_set) \
    X(mosquitto_publish_callback_set) X(mosquitto_subscribe_callback_set) \
    X(mosquitto_message_callback_set) X(mosquitto_log_callback_set) X(mosquitto_loop_start) \
    X(mosquitto_loop_stop) X(mosquitto_username_pw_set) X(mosquitto_tls_set) \
    X(mosquitto_tls_opts_set) X(mosquitto_tls_insecure_set) X(mosquitto_will_set) \
    X(mosquitto_reconnect_delay_set) X(mosquitto_max_inflight_messages_set) \
    X(mosquitto_connect_async) X(mosquitto_reconnect_async) X(mosquitto_publish) \
    X(mosquitto_subscribe_multiple) X(mosquitto_disconnect) X(mosquitto_strerror) \
    X(mosquitto_connack_string)

static struct {
#define FIELD(name) __typeof__(name) *name;
    EACH_FUNCTION(FIELD)
#undef FIELD
} api;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char load_error[512];
static int loaded;

static void load(void) {
    // RTLD_LOCAL: its symbols serve only the lookups below.
    void *library = dlopen(LIBMOSQUITTO, RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        snprintf(load_error, sizeof load_error, "cannot load %s: %s", LIBMOSQUITTO, dlerror());
        return;
    }
#define LOOKUP(name) \
    *(void **)&api.name = dlsym(library, #name); \
    if (!api.name) { \
        snprintf(load_error, sizeof load_error, "%s has no %s (libmosquitto 2.0 or later is needed)", LIBMOSQUITTO, #name); \
        return; \
    }
    EACH_FUNCTION(LOOKUP)
#undef LOOKUP
    api.mosquitto_lib_init();
    loaded = 1;
}

int babymonitor_mosquitto_load(char *error, size_t size) {
    pthread_once(&once, load);
    if (loaded) return 0;
    if (error && size > 0) snprintf(error, size, "%s", load_error);
    return -1;
}

// A call before a successful babymonitor_mosquitto_load is a programming error: stop
// with a message rather than jump to address 0.
static void require(void *function, const char *name) {
    if (function) return;
    fprintf(stderr, "%s called before libmosquitto was loaded\n", name);
    abort();
}
#define CALL(name, ...) (require((void *)api.name, #name), api.name(__VA_ARGS__))

int mosquitto_lib_init(void) { return babymonitor_mosquitto_load(NULL, 0) == 0 ? MOSQ_ERR_SUCCESS : MOSQ_ERR_NOT_SUPPORTED; }
struct mosquitto *mosquitto_new(const char *id, bool clean_session, void *obj) { return CALL(mosquitto_new, id, clean_session, obj); }
void mosquitto_destroy(struct mosquitto *mosq) { CALL(mosquitto_destroy, mosq); }
void mosquitto_user_data_set(struct mosquitto *mosq, void *obj) { CALL(mosquitto_user_data_set, mosq, obj); }
int mosquitto_int_option(struct mosquitto *mosq, enum mosq_opt_t option, int value) { return CALL(mosquitto_int_option, mosq, option, value); }
void mosquitto_connect_callback_set(struct mosquitto *mosq, void (*f)(struct mosquitto *, void *, int)) { CALL(mosquitto_connect_callback_set, mosq, f); }
void mosquitto_disconnect_callback_set(struct mosquitto *mosq, void (*f)(struct mosquitto *, void *, int)) { CALL(mosquitto_disconnect_callback_set, mosq, f); }
void mosquitto_publish_callback_set(struct mosquitto *mosq, void (*f)(struct mosquitto *, void *, int)) { CALL(mosquitto_publish_callback_set, mosq, f); }
void mosquitto_subscribe_callback_set(struct mosquitto *mosq, void (*f)(struct mosquitto *, void *, int, int, const int *)) { CALL(mosquitto_subscribe_callback_set, mosq, f); }
void mosquitto_message_callback_set(struct mosquitto *mosq, void (*f)(struct mosquitto *, void *, const struct mosquitto_message *)) { CALL(mosquitto_message_callback_set, mosq, f); }
void mosquitto_log_callback_set(struct mosquitto *mosq, void (*f)(struct mosquitto *, void *, int, const char *)) { CALL(mosquitto_log_callback_set, mosq, f); }
int mosquitto_loop_start(struct mosquitto *mosq) { return CALL(mosquitto_loop_start, mosq); }
int mosquitto_loop_stop(struct mosquitto *mosq, bool force) { return CALL(mosquitto_loop_stop, mosq, force); }
int mosquitto_username_pw_set(struct mosquitto *mosq, const char *username, const char *password) { return CALL(mosquitto_username_pw_set, mosq, username, password); }
int mosquitto_tls_set(struct mosquitto *mosq, const char *cafile, const char *capath, const char *certfile, const char *keyfile,
                      int (*pw_callback)(char *buf, int size, int rwflag, void *userdata)) {
    return CALL(mosquitto_tls_set, mosq, cafile, capath, certfile, keyfile, pw_callback);
}
int mosquitto_tls_opts_set(struct mosquitto *mosq, int cert_reqs, const char *tls_version, const char *ciphers) { return CALL(mosquitto_tls_opts_set, mosq, cert_reqs, tls_version, ciphers); }
int mosquitto_tls_insecure_set(struct mosquitto *mosq, bool value) { return CALL(mosquitto_tls_insecure_set, mosq, value); }
int mosquitto_will_set(struct mosquitto *mosq, const char *topic, int payloadlen, const void *payload, int qos, bool retain) {
    return CALL(mosquitto_will_set, mosq, topic, payloadlen, payload, qos, retain);
}
int mosquitto_reconnect_delay_set(struct mosquitto *mosq, unsigned int delay, unsigned int delay_max, bool exponential) {
    return CALL(mosquitto_reconnect_delay_set, mosq, delay, delay_max, exponential);
}
int mosquitto_max_inflight_messages_set(struct mosquitto *mosq, unsigned int n) { return CALL(mosquitto_max_inflight_messages_set, mosq, n); }
int mosquitto_connect_async(struct mosquitto *mosq, const char *host, int port, int keepalive) { return CALL(mosquitto_connect_async, mosq, host, port, keepalive); }
int mosquitto_reconnect_async(struct mosquitto *mosq) { return CALL(mosquitto_reconnect_async, mosq); }
int mosquitto_publish(struct mosquitto *mosq, int *mid, const char *topic, int payloadlen, const void *payload, int qos, bool retain) {
    return CALL(mosquitto_publish, mosq, mid, topic, payloadlen, payload, qos, retain);
}
int mosquitto_subscribe_multiple(struct mosquitto *mosq, int *mid, int sub_count, char *const *const sub, int qos, int options,
                                 const mosquitto_property *properties) {
    return CALL(mosquitto_subscribe_multiple, mosq, mid, sub_count, sub, qos, options, properties);
}
int mosquitto_disconnect(struct mosquitto *mosq) { return CALL(mosquitto_disconnect, mosq); }
// These two describe error codes and may be asked for whatever happened: answer even unloaded.
const char *mosquitto_strerror(int mosq_errno) { return api.mosquitto_strerror ? api.mosquitto_strerror(mosq_errno) : "libmosquitto is not loaded"; }
const char *mosquitto_connack_string(int code) { return api.mosquitto_connack_string ? api.mosquitto_connack_string(code) : "libmosquitto is not loaded"; }
