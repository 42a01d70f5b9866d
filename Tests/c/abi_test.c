/*
 * abi_test.c: exercises every entry point of include/parley.h from C (status
 * codes, ownership rules, both JSON faces, handles, callbacks, the pull queue,
 * background jobs) against libparley.so. The last line printed is
 * "N passed, M failed"; the exit status is 1 on any failure.
 * Run with `make -C Tests/c test` (or `valgrind`, `asan`, `all`).
 */
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw, nanosleep, clock_gettime */
#include "parley.h"       /* first: the header must stand on its own */

#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- Checks ------------------------------------------------------------- */

static int passed, failed;
/* Jobs' own threads never CHECK (callbacks count into their own structs), but
 * the canceller thread does: keep the counters consistent anyway. */
static pthread_mutex_t check_lock = PTHREAD_MUTEX_INITIALIZER;

/* `quiet`: count only failures (checks in loops that run a varying number of
 * times, so that the passed count is the same on every run). */
static int check_(int ok, int quiet, const char *what, int line)
{
    pthread_mutex_lock(&check_lock);
    if (ok)
        passed += !quiet;
    else {
        failed++;
        fprintf(stderr, "abi_test.c:%d: FAILED: %s\n", line, what);
    }
    pthread_mutex_unlock(&check_lock);
    return ok;
}
#define CHECK(cond) check_((cond) != 0, 0, #cond, __LINE__)

#define ANY_ERROR (-1) /* `want` for a failure whose code the header leaves open */

/* Checks a status. When `err` is given, the header's rule is checked too: a
 * failure sets *err to a message, a success leaves it untouched (NULL here).
 * The message is printed on a mismatch, then freed. */
static int expect_(int rc, int want, char **err, int quiet, const char *what, int line)
{
    int ok = want == ANY_ERROR ? rc != PARLEY_OK : rc == want;
    const char *msg = err && *err ? *err : "";
    if (!ok)
        fprintf(stderr, "abi_test.c:%d: %s returned %d (%s), expected %d %s\n", line, what, rc,
                parley_status_name(rc), want, msg);
    if (ok && err && rc != PARLEY_OK && !*err) {
        fprintf(stderr, "abi_test.c:%d: %s failed (%d) without an error message\n", line, what, rc);
        ok = 0;
    }
    if (ok && err && rc == PARLEY_OK && *err) {
        fprintf(stderr, "abi_test.c:%d: %s succeeded but set *error: %s\n", line, what, *err);
        ok = 0;
    }
    check_(ok, quiet, what, line);
    if (err) {
        parley_string_free(*err);
        *err = NULL;
    }
    return ok;
}
/* For calls that take `&err` (a local `char *err = NULL`). */
#define EXPECT(want, call) expect_((call), (want), &err, 0, #call, __LINE__)
#define EXPECT_QUIET(want, call) expect_((call), (want), &err, 1, #call, __LINE__)
/* For calls without an error out-parameter, or passed NULL for it. */
#define EXPECT_RC(want, call) expect_((call), (want), NULL, 0, #call, __LINE__)

/* Handles that never came from the library: must be reported, not dereferenced. */
#define BOGUS_ENGINE ((parley_engine *)(uintptr_t)0xdeadbeef)
#define BOGUS_JOB ((parley_job *)(uintptr_t)0xdeadbeef)

/* ---- Helpers ------------------------------------------------------------ */

static char tmp_root[] = "/tmp/parley-abi-XXXXXX";

/* A path in the test's temporary directory (a static buffer: main thread only). */
static const char *tmp_path(const char *name)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", tmp_root, name);
    return buf;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

/* Parses JSON text the library returned, and frees the text. */
static json_t *take_json(char *text)
{
    json_error_t e;
    json_t *v = text ? json_loads(text, 0, &e) : NULL;
    if (!v)
        fprintf(stderr, "not JSON from the library: %s\n", text ? e.text : "(null)");
    parley_string_free(text);
    return v;
}

static json_int_t get_int(const json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(obj, key));
}

static const char *get_str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

static json_int_t summary_int(const json_t *result, const char *key)
{
    return get_int(json_object_get(result, "summary"), key);
}

/* Whether `needle` occurs in the JSON text of `v`. */
static int json_mentions(const json_t *v, const char *needle)
{
    char *s = v ? json_dumps(v, 0) : NULL;
    int found = s && strstr(s, needle) != NULL;
    free(s);
    return found;
}

/* Whether the text file at `path` contains `needle`. */
static int file_mentions(const char *path, const char *needle)
{
    char buf[1 << 16];
    size_t n;
    FILE *f = path && *path ? fopen(path, "r") : NULL;
    if (!f)
        return 0;
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strstr(buf, needle) != NULL;
}

/* A failure message shows up in the result's summary or its failures file. */
static int result_mentions(const json_t *result, const char *needle)
{
    return json_mentions(json_object_get(result, "summary"), needle) ||
           file_mentions(get_str(json_object_get(result, "files"), "failures"), needle);
}

/* A job over question seeds (`questions`, or "question i?" when NULL) into the
 * temporary directory `out`. */
static json_t *job_new(const char *out, const char *const *questions, int n)
{
    json_t *seeds = json_array();
    char q[64];
    int i;
    for (i = 0; i < n; i++) {
        snprintf(q, sizeof q, "question %d?", i);
        json_array_append_new(seeds, json_pack("{s:s}", "question", questions ? questions[i] : q));
    }
    return json_pack("{s:o, s:s}", "seeds", seeds, "out", tmp_path(out));
}

/* The same as text, freed with free(). */
static char *job_text(const char *out, const char *const *questions, int n)
{
    json_t *job = job_new(out, questions, n);
    char *s = json_dumps(job, 0);
    json_decref(job);
    return s;
}

/* Lines of a file under the test's directory (0 if it does not exist). */
static int file_lines(const char *name)
{
    FILE *f = fopen(tmp_path(name), "r");
    int c, n = 0;
    if (!f) return 0;
    while ((c = fgetc(f)) != EOF) n += c == '\n';
    fclose(f);
    return n;
}

static void sleep_ms(long ms)
{
    struct timespec t;
    t.tv_sec = ms / 1000;
    t.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&t, NULL);
}

/* ---- Configs ------------------------------------------------------------ */

/* Deterministic and fast; the completion asker gets "prompt" requests. */
static const char SCRIPTED[] =
    "{\"backends\": {\"fake\": {\"type\": \"scripted\", \"words\": [3, 6]}},"
    " \"roles\": {\"asker\": {\"backend\": \"fake\", \"endpoint\": \"completion\", \"max_tokens\": 32},"
    "            \"assistant\": {\"backend\": \"fake\", \"max_tokens\": 32}},"
    " \"turns\": {\"max\": 2}, \"run\": {\"seed\": 3, \"concurrency\": 8}}";

/* Slow enough (50 ms a message, 2 at a time) to cancel a job mid-way. */
static const char SLOW[] =
    "{\"backends\": {\"fake\": {\"type\": \"scripted\", \"words\": [3, 6], \"latency_ms\": 50}},"
    " \"roles\": {\"asker\": {\"backend\": \"fake\", \"endpoint\": \"completion\", \"max_tokens\": 32},"
    "            \"assistant\": {\"backend\": \"fake\", \"max_tokens\": 32}},"
    " \"turns\": {\"max\": 2}, \"run\": {\"seed\": 3, \"concurrency\": 2}}";

/* Both roles on the host backend "model" (asker: completion, assistant: chat),
 * with quick retries; "fake" is there to be a backend that is not "host". */
static const char HOST[] =
    "{\"backends\": {\"model\": {\"type\": \"host\", \"max_retries\": 2, \"backoff_base_seconds\": 0.01,"
    "                          \"backoff_max_seconds\": 0.05},"
    "              \"fake\": {\"type\": \"scripted\"}},"
    " \"roles\": {\"asker\": {\"backend\": \"model\", \"endpoint\": \"completion\", \"max_tokens\": 32},"
    "            \"assistant\": {\"backend\": \"model\", \"max_tokens\": 32}},"
    " \"turns\": {\"max\": 2}, \"run\": {\"seed\": 5, \"concurrency\": 4}}";
/* The same, with a callback promised never to block: called inline, not on the pool. */
static const char NONBLOCKING_HOST[] =
    "{\"backends\": {\"model\": {\"type\": \"host\", \"blocking\": false, \"max_retries\": 2,"
    "                          \"backoff_base_seconds\": 0.01, \"backoff_max_seconds\": 0.05},"
    "              \"fake\": {\"type\": \"scripted\"}},"
    " \"roles\": {\"asker\": {\"backend\": \"model\", \"endpoint\": \"completion\", \"max_tokens\": 32},"
    "            \"assistant\": {\"backend\": \"model\", \"max_tokens\": 32}},"
    " \"turns\": {\"max\": 2}, \"run\": {\"seed\": 5, \"concurrency\": 4}}";

/* ---- Version and strings ------------------------------------------------ */

static void test_version(void)
{
    static const char *const names[] = {
        "PARLEY_OK",          "PARLEY_ERR_ARGUMENT", "PARLEY_ERR_JSON",      "PARLEY_ERR_CONFIG",
        "PARLEY_ERR_HANDLE",  "PARLEY_ERR_IO",       "PARLEY_ERR_TIMEOUT",   "PARLEY_ERR_CANCELLED",
        "PARLEY_ERR_STATE",   "PARLEY_ERR_INTERNAL",
    };
    int i;
    CHECK(strcmp(parley_version(), PARLEY_VERSION) == 0);
    CHECK(parley_abi_version() == PARLEY_ABI_VERSION);
    for (i = 0; i <= PARLEY_ERR_INTERNAL; i++) {
        const char *name = parley_status_name(i);
        if (!CHECK(name && strncmp(name, names[i], strlen(names[i])) == 0))
            fprintf(stderr, "  status %d is named \"%s\"\n", i, name ? name : "(null)");
    }
    CHECK(parley_status_name(42) != NULL);
    CHECK(parley_status_name(-1) != NULL);
    parley_string_free(NULL); /* ignored */
}

/* ---- Configs ------------------------------------------------------------ */

static void test_config(void)
{
    static char sentinel[] = "untouched";
    const char *bad =
        "{\"backends\": {\"fake\": {\"type\": \"scripted\", \"max_concurency\": 4}},"
        " \"roles\": {\"asker\": {\"backend\": \"fake\", \"max_tokens\": \"ten\"},"
        "            \"assistant\": {\"backend\": \"fake\"}}}";
    char *err = sentinel;
    json_t *cfg, *badcfg, *num;
    int rc;

    /* Success leaves *error untouched. */
    CHECK(parley_config_validate(SCRIPTED, &err) == PARLEY_OK);
    CHECK(err == sentinel);
    err = NULL;
    EXPECT_RC(PARLEY_OK, parley_config_validate(SCRIPTED, NULL));

    EXPECT(PARLEY_ERR_JSON, parley_config_validate("{\"roles\": {", &err));
    EXPECT_RC(PARLEY_ERR_JSON, parley_config_validate("{\"roles\": {", NULL)); /* no error wanted */
    EXPECT(PARLEY_ERR_JSON, parley_config_validate("[1, 2]", &err));          /* not an object */
    EXPECT(PARLEY_ERR_ARGUMENT, parley_config_validate(NULL, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_config_validate("{\"recipe\": \"\xff\xfe\"}", &err));

    /* Every problem, with its path, one per line. */
    rc = parley_config_validate(bad, &err);
    CHECK(rc == PARLEY_ERR_CONFIG);
    CHECK(err && strstr(err, "roles.asker.max_tokens") != NULL);
    CHECK(err && strstr(err, "backends.fake.max_concurency") != NULL);
    CHECK(err && strchr(err, '\n') != NULL);
    parley_string_free(err);
    err = NULL;

    /* The json_t face borrows its argument: the refcount stays 1. */
    cfg = json_loads(SCRIPTED, 0, NULL);
    badcfg = json_loads(bad, 0, NULL);
    num = json_integer(3);
    EXPECT(PARLEY_OK, parley_config_validate_json(cfg, &err));
    CHECK(cfg->refcount == 1);
    rc = parley_config_validate_json(badcfg, &err);
    CHECK(rc == PARLEY_ERR_CONFIG && err && strstr(err, "roles.asker.max_tokens") != NULL);
    parley_string_free(err);
    err = NULL;
    CHECK(badcfg->refcount == 1);
    EXPECT(PARLEY_ERR_JSON, parley_config_validate_json(num, &err));
    CHECK(num->refcount == 1);
    EXPECT(PARLEY_ERR_ARGUMENT, parley_config_validate_json(NULL, &err));
    json_decref(cfg);
    json_decref(badcfg);
    json_decref(num);
}

/* ---- Engines ------------------------------------------------------------ */

static void test_engines(void)
{
    parley_engine *eng = NULL, *eng2 = NULL;
    parley_job *job = NULL;
    char *err = NULL, *text = NULL;
    json_t *cfg = json_loads(SCRIPTED, 0, NULL);

    EXPECT(PARLEY_OK, parley_engine_new(SCRIPTED, &eng, &err));
    CHECK(eng != NULL);
    EXPECT(PARLEY_OK, parley_engine_new_json(cfg, &eng2, &err));
    CHECK(eng2 != NULL && eng2 != eng);
    CHECK(cfg->refcount == 1);
    EXPECT_RC(PARLEY_OK, parley_engine_free(eng2));

    /* Freed and made-up handles are reported everywhere, never dereferenced. */
    EXPECT_RC(PARLEY_ERR_HANDLE, parley_engine_free(eng2));
    EXPECT_RC(PARLEY_ERR_HANDLE, parley_engine_free(BOGUS_ENGINE));
    EXPECT(PARLEY_ERR_HANDLE, parley_run(eng2, "{\"seeds\": []}", &text, &err));
    EXPECT(PARLEY_ERR_HANDLE, parley_job_start(eng2, "{\"seeds\": []}", &job, &err));
    EXPECT(PARLEY_ERR_HANDLE, parley_engine_use_pull(BOGUS_ENGINE, "model", &err));
    EXPECT(PARLEY_ERR_HANDLE, parley_pull_take(eng2, "model", 1, 0, &text, &err));
    EXPECT(PARLEY_ERR_HANDLE, parley_pull_submit(BOGUS_ENGINE, "model", "[]", &err));

    /* Bad configs and NULLs. */
    EXPECT(PARLEY_ERR_CONFIG, parley_engine_new("{\"roles\": {}}", &eng2, &err));
    EXPECT(PARLEY_ERR_JSON, parley_engine_new("{", &eng2, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_engine_new(NULL, &eng2, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_engine_new(SCRIPTED, NULL, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_engine_new_json(NULL, &eng2, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_engine_new_json(cfg, NULL, &err));
    EXPECT_RC(PARLEY_ERR_ARGUMENT, parley_engine_free(NULL));

    EXPECT_RC(PARLEY_OK, parley_engine_free(eng));
    json_decref(cfg);
}

/* ---- Blocking runs on a scripted backend -------------------------------- */

static void test_run(void)
{
    parley_engine *eng = NULL;
    char *err = NULL, *text = NULL, *job, missing[512];
    json_t *result, *jobj, *rows;
    FILE *f;

    EXPECT(PARLEY_OK, parley_engine_new(SCRIPTED, &eng, &err));

    job = job_text("run", NULL, 3);
    EXPECT(PARLEY_OK, parley_run(eng, job, &text, &err));
    result = take_json(text);
    rows = json_object_get(result, "dialogues");
    CHECK(json_is_object(json_object_get(result, "summary")));
    CHECK(summary_int(result, "finished") == 3);
    CHECK(json_array_size(rows) == 3);
    CHECK(json_array_size(json_object_get(json_array_get(rows, 0), "conversations")) >= 2);
    CHECK(strcmp(get_str(result, "out"), tmp_path("run")) == 0);
    f = fopen(get_str(json_object_get(result, "files"), "dialogues"), "r");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    json_decref(result);

    /* Running again on the same "out" resumes: nothing is redone or repeated. */
    EXPECT(PARLEY_OK, parley_run(eng, job, &text, &err));
    result = take_json(text);
    CHECK(json_array_size(json_object_get(result, "dialogues")) == 3);
    json_decref(result);
    free(job);

    /* The json_t face: the job is borrowed, the result a new reference. */
    jobj = job_new("run-json", NULL, 2);
    json_object_set_new(jobj, "return", json_string("summary"));
    result = NULL;
    EXPECT(PARLEY_OK, parley_run_json(eng, jobj, &result, &err));
    CHECK(jobj->refcount == 1);
    CHECK(result && result->refcount == 1);
    CHECK(summary_int(result, "finished") == 2);
    CHECK(json_object_get(result, "dialogues") == NULL); /* "return": "summary" */
    json_decref(result);

    /* Bad jobs. */
    f = fopen(tmp_path("a-file"), "w");
    if (f)
        fclose(f);
    json_object_set_new(jobj, "out", json_string(tmp_path("a-file/run")));
    EXPECT(PARLEY_ERR_IO, parley_run_json(eng, jobj, &result, &err));
    snprintf(missing, sizeof missing, "{\"seeds_file\": \"/nonexistent/seeds.jsonl\", \"out\": \"%s\"}",
             tmp_path("missing-seeds"));
    EXPECT(PARLEY_ERR_IO, parley_run(eng, missing, &text, &err));
    EXPECT(PARLEY_ERR_JSON, parley_run(eng, "{\"seeds\": ", &text, &err));
    EXPECT(PARLEY_ERR_CONFIG, parley_run(eng, "{\"seeds\": 5}", &text, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_run(eng, "{\"seeds\": [{\"question\": \"\xc3\"}]}", &text, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_run(NULL, "{\"seeds\": []}", &text, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_run(eng, NULL, &text, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_run(eng, "{\"seeds\": []}", NULL, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_run_json(eng, NULL, &result, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_run_json(eng, jobj, NULL, &err));
    EXPECT(PARLEY_ERR_HANDLE, parley_run_json(BOGUS_ENGINE, jobj, &result, &err));
    json_decref(jobj);

    EXPECT_RC(PARLEY_OK, parley_engine_free(eng));
}

/* ---- A callback host backend -------------------------------------------- */

#define MODEL_MAGIC 0x5eed

/* The host's "model": deterministic text, plus tallies the main thread checks. */
struct model {
    int magic;
    pthread_mutex_t lock;
    int calls;
    int bad_requests;    /* a request without the fields the header lists */
    int bad_reply_calls; /* a parley_reply_* misuse that was not ARGUMENT */
    int flaky_failures;
    int on_main_thread;
};
static int bad_user_data; /* user_data did not arrive untouched */
static pthread_t main_thread; /* callbacks never run on the thread that started the job */

static int is_request(const json_t *req)
{
    return json_is_integer(json_object_get(req, "ticket")) && json_is_string(json_object_get(req, "dialogue_id")) &&
           json_is_integer(json_object_get(req, "turn")) && json_is_string(json_object_get(req, "role")) &&
           json_is_integer(json_object_get(req, "attempt")) && json_object_get(req, "max_tokens") &&
           json_is_array(json_object_get(req, "stop")) &&
           (json_is_array(json_object_get(req, "messages")) || json_is_string(json_object_get(req, "prompt")));
}

static int generate(const char *request_json, parley_reply *reply, void *user_data)
{
    struct model *m = user_data;
    json_t *req;
    char text[256];
    int first, fail_flaky = 0, bad = 0;

    if (!m || m->magic != MODEL_MAGIC) {
        bad_user_data++;
        return 1;
    }
    req = json_loads(request_json, 0, NULL);
    pthread_mutex_lock(&m->lock);
    first = m->calls++ == 0;
    m->on_main_thread += pthread_equal(pthread_self(), main_thread) != 0;
    if (!is_request(req))
        m->bad_requests++;
    if (strstr(request_json, "flaky") && m->flaky_failures == 0)
        fail_flaky = ++m->flaky_failures;
    pthread_mutex_unlock(&m->lock);

    if (first) { /* misuse of the reply is an ARGUMENT error, never a crash */
        bad += parley_reply_set_text(NULL, "x", NULL) != PARLEY_ERR_ARGUMENT;
        bad += parley_reply_set_text(reply, NULL, NULL) != PARLEY_ERR_ARGUMENT;
        bad += parley_reply_set_text(reply, "\xff oops", NULL) != PARLEY_ERR_ARGUMENT;
        bad += parley_reply_set_error(NULL, "x", 0) != PARLEY_ERR_ARGUMENT;
        bad += parley_reply_set_error(reply, NULL, 0) != PARLEY_ERR_ARGUMENT;
        bad += parley_reply_set_usage(NULL, 1, 1) != PARLEY_ERR_ARGUMENT;
        pthread_mutex_lock(&m->lock);
        m->bad_reply_calls += bad;
        pthread_mutex_unlock(&m->lock);
    }

    if (strstr(request_json, "please fail")) {
        parley_reply_set_error(reply, "model exploded", 0);
    } else if (strstr(request_json, "return three")) {
        json_decref(req);
        return 3; /* no error set: "callback returned 3" */
    } else if (fail_flaky) {
        parley_reply_set_error(reply, "flaky, try again", 1);
    } else {
        snprintf(text, sizeof text, "%s says hello at turn %d.", get_str(req, "role"), (int)get_int(req, "turn"));
        parley_reply_set_text(reply, text, "stop");
        parley_reply_set_usage(reply, 10, -1); /* negative: unknown */
    }
    json_decref(req);
    return 0;
}

/* Whether `rows` holds a row with the id and conversation of `row`. */
static int same_conversation(const json_t *row, const json_t *rows)
{
    size_t i;
    json_t *other;
    json_array_foreach(rows, i, other) {
        if (strcmp(get_str(row, "id"), get_str(other, "id")) == 0)
            return json_equal(json_object_get(row, "conversations"), json_object_get(other, "conversations"));
    }
    return 0;
}

/* Runs the callback model under `config` (HOST or NONBLOCKING_HOST): the same answers
 * either way. `name` names the jobs' output directories (a name reused would resume). */
static void test_callback(const char *config, const char *name)
{
    static const char *const questions[] = {"hello there", "please fail", "return three", "flaky network"};
    struct model m;
    parley_engine *eng = NULL;
    parley_job *unserved = NULL;
    char *err = NULL, *text = NULL, *job, out[64];
    json_t *result, *again, *rows;
    size_t i;

    memset(&m, 0, sizeof m);
    m.magic = MODEL_MAGIC;
    pthread_mutex_init(&m.lock, NULL);
    EXPECT(PARLEY_OK, parley_engine_new(config, &eng, &err));

    EXPECT(PARLEY_ERR_ARGUMENT, parley_engine_set_callback(NULL, "model", generate, &m, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_engine_set_callback(eng, NULL, generate, &m, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_engine_set_callback(eng, "model", NULL, &m, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_engine_set_callback(eng, "mod\xe9l", generate, &m, &err));
    EXPECT(PARLEY_ERR_HANDLE, parley_engine_set_callback(BOGUS_ENGINE, "model", generate, &m, &err));
    EXPECT(PARLEY_ERR_CONFIG, parley_engine_set_callback(eng, "nope", generate, &m, &err));
    EXPECT(PARLEY_ERR_CONFIG, parley_engine_set_callback(eng, "fake", generate, &m, &err)); /* not "host" */

    /* Starting a job before the host backend is served fails (checked with
     * job_start, so that a job that would wait forever cannot hang the test). */
    snprintf(out, sizeof out, "%s-unserved", name);
    job = job_text(out, questions, 1);
    if (!EXPECT(PARLEY_ERR_CONFIG, parley_job_start(eng, job, &unserved, &err)))
        parley_job_free(unserved);
    free(job);

    EXPECT(PARLEY_OK, parley_engine_set_callback(eng, "model", generate, &m, &err));
    EXPECT(PARLEY_ERR_STATE, parley_engine_set_callback(eng, "model", generate, &m, &err));
    EXPECT(PARLEY_ERR_STATE, parley_engine_use_pull(eng, "model", &err));

    job = job_text(name, questions, 4);
    EXPECT(PARLEY_OK, parley_run(eng, job, &text, &err));
    free(job);
    result = take_json(text);
    rows = json_object_get(result, "dialogues");
    CHECK(summary_int(result, "finished") == 2); /* "hello there" and, after a retry, "flaky network" */
    CHECK(summary_int(result, "failed") == 2);
    CHECK(result_mentions(result, "model exploded"));
    CHECK(result_mentions(result, "callback returned 3"));
    CHECK(json_array_size(rows) == 2);
    CHECK(json_mentions(rows, "assistant says hello at turn 1."));
    CHECK(m.calls > 0);
    CHECK(bad_user_data == 0);
    CHECK(m.bad_requests == 0);
    CHECK(m.bad_reply_calls == 0);
    CHECK(m.flaky_failures == 1);
    CHECK(m.on_main_thread == 0);

    /* The same seeds and model give the same conversations (rows come in the
     * order dialogues ended, so match them by id). */
    m.flaky_failures = 0;
    snprintf(out, sizeof out, "%s-again", name);
    job = job_text(out, questions, 4);
    EXPECT(PARLEY_OK, parley_run(eng, job, &text, &err));
    free(job);
    again = take_json(text);
    CHECK(json_array_size(json_object_get(again, "dialogues")) == json_array_size(rows));
    for (i = 0; i < json_array_size(rows); i++)
        CHECK(same_conversation(json_array_get(rows, i), json_object_get(again, "dialogues")));
    json_decref(again);
    json_decref(result);

    EXPECT_RC(PARLEY_OK, parley_engine_free(eng));
    pthread_mutex_destroy(&m.lock);
}

/* ---- A callback that calls back into the library ------------------------ */

struct reentry {
    pthread_mutex_t lock;
    pthread_cond_t published;
    parley_job *job; /* set once parley_job_start has returned it */
    int calls, failures;
};

static int reenter(const char *request_json, parley_reply *reply, void *user_data)
{
    struct reentry *r = user_data;
    parley_job *job;
    char *progress = NULL, *err = NULL;
    int bad = 0;
    (void)request_json;

    /* Callbacks may block: wait until the main thread has the job handle. */
    pthread_mutex_lock(&r->lock);
    while (!r->job)
        pthread_cond_wait(&r->published, &r->lock);
    job = r->job;
    pthread_mutex_unlock(&r->lock);

    bad += strcmp(parley_version(), PARLEY_VERSION) != 0;
    bad += parley_config_validate(SCRIPTED, &err) != PARLEY_OK;
    bad += parley_job_progress(job, &progress, &err) != PARLEY_OK;
    bad += progress == NULL || strstr(progress, "\"running\"") == NULL;
    parley_string_free(progress);
    parley_string_free(err);

    pthread_mutex_lock(&r->lock);
    r->calls++;
    r->failures += bad;
    pthread_mutex_unlock(&r->lock);
    return parley_reply_set_text(reply, "fine, thanks.", NULL);
}

static void test_reentrant_callback(void)
{
    struct reentry r;
    parley_engine *eng = NULL;
    parley_job *job = NULL;
    char *err = NULL, *text = NULL, *spec;
    json_t *result;

    memset(&r, 0, sizeof r);
    pthread_mutex_init(&r.lock, NULL);
    pthread_cond_init(&r.published, NULL);
    EXPECT(PARLEY_OK, parley_engine_new(HOST, &eng, &err));
    EXPECT(PARLEY_OK, parley_engine_set_callback(eng, "model", reenter, &r, &err));
    spec = job_text("reentrant", NULL, 3);
    EXPECT(PARLEY_OK, parley_job_start(eng, spec, &job, &err));
    free(spec);
    pthread_mutex_lock(&r.lock);
    r.job = job;
    pthread_cond_broadcast(&r.published);
    pthread_mutex_unlock(&r.lock);

    /* A deadlock shows up as a timeout here. */
    if (EXPECT(PARLEY_OK, parley_job_wait(job, 120, &text, &err))) {
        result = take_json(text);
        CHECK(summary_int(result, "finished") == 3);
        json_decref(result);
    }
    CHECK(r.calls > 0);
    CHECK(r.failures == 0);
    EXPECT_RC(PARLEY_OK, parley_job_free(job));
    EXPECT_RC(PARLEY_OK, parley_engine_free(eng));
    pthread_cond_destroy(&r.published);
    pthread_mutex_destroy(&r.lock);
}

/* ---- Callbacks that block, several at once ------------------------------ */

struct crowd {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int active, most;
};

/* Blocks until 4 calls are in at once (or 2 s pass): with a pool that did not
 * grow while its threads are busy, this would be slow and `most` would stay 1. */
static int wait_for_company(const char *request_json, parley_reply *reply, void *user_data)
{
    struct crowd *c = user_data;
    struct timespec deadline;
    (void)request_json;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 2;
    pthread_mutex_lock(&c->lock);
    if (++c->active > c->most)
        c->most = c->active;
    pthread_cond_broadcast(&c->changed);
    while (c->most < 4 && pthread_cond_timedwait(&c->changed, &c->lock, &deadline) == 0)
        ;
    c->active--;
    pthread_mutex_unlock(&c->lock);
    return parley_reply_set_text(reply, "together.", NULL);
}

static void test_parallel_callbacks(void)
{
    struct crowd c;
    parley_engine *eng = NULL;
    char *err = NULL, *text = NULL, *spec;
    json_t *result;

    memset(&c, 0, sizeof c);
    pthread_mutex_init(&c.lock, NULL);
    pthread_cond_init(&c.changed, NULL);
    EXPECT(PARLEY_OK, parley_engine_new(HOST, &eng, &err)); /* run.concurrency 4 */
    EXPECT(PARLEY_OK, parley_engine_set_callback(eng, "model", wait_for_company, &c, &err));
    spec = job_text("parallel", NULL, 4);
    EXPECT(PARLEY_OK, parley_run(eng, spec, &text, &err));
    free(spec);
    result = take_json(text);
    CHECK(summary_int(result, "finished") == 4);
    CHECK(c.most == 4);
    json_decref(result);
    EXPECT_RC(PARLEY_OK, parley_engine_free(eng));
    pthread_cond_destroy(&c.changed);
    pthread_mutex_destroy(&c.lock);
}

/* ---- The pull API ------------------------------------------------------- */

/* Answers for a batch of requests: text, or an error for the "pull-fail" seed. */
static json_t *answers_for(const json_t *requests)
{
    json_t *answers = json_array(), *req;
    size_t i;
    json_array_foreach(requests, i, req) {
        json_t *ticket = json_object_get(req, "ticket");
        if (json_mentions(req, "pull-fail"))
            json_array_append_new(answers, json_pack("{s:O, s:s, s:b}", "ticket", ticket, "error", "pull says no",
                                                     "retryable", 0));
        else
            json_array_append_new(answers, json_pack("{s:O, s:s, s:s, s:i, s:i}", "ticket", ticket, "text",
                                                     "pulled answer.", "finish_reason", "stop", "prompt_tokens", 3,
                                                     "completion_tokens", 2));
    }
    return answers;
}

/* Polls a job once: 1 while it runs; else 0, with its status in *rc, its result in
 * *result and, on failure, its error in *err. */
static int still_running(parley_job *job, json_t **result, int *rc, char **err)
{
    *rc = parley_job_wait_json(job, 0, result, err);
    if (*rc != PARLEY_ERR_TIMEOUT)
        return 0;
    parley_string_free(*err);
    *err = NULL;
    return 1;
}

static void test_pull(void)
{
    static const char *const questions[] = {"alpha?", "beta?", "gamma?", "pull-fail"};
    parley_engine *eng = NULL;
    parley_job *job = NULL;
    char *err = NULL, *text = NULL, *spec;
    json_t *requests = NULL, *answers, *result = NULL, *bad;
    int rc, round, checked_bad_tickets = 0, taken = 0, all_requests_ok = 1, borrowed_ok = 1;
    time_t deadline;

    EXPECT(PARLEY_OK, parley_engine_new(HOST, &eng, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_engine_use_pull(NULL, "model", &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_engine_use_pull(eng, NULL, &err));
    EXPECT(PARLEY_ERR_CONFIG, parley_engine_use_pull(eng, "nope", &err));
    EXPECT(PARLEY_ERR_CONFIG, parley_engine_use_pull(eng, "fake", &err));
    EXPECT(PARLEY_OK, parley_engine_use_pull(eng, "model", &err));
    EXPECT(PARLEY_ERR_STATE, parley_engine_use_pull(eng, "model", &err));
    EXPECT(PARLEY_ERR_STATE, parley_engine_set_callback(eng, "model", generate, NULL, &err));

    /* Nothing waiting: an empty array, at once or after the timeout. */
    if (EXPECT(PARLEY_OK, parley_pull_take(eng, "model", 8, 0, &text, &err)))
        CHECK(text && strcmp(text, "[]") == 0);
    parley_string_free(text);
    text = NULL;
    if (EXPECT(PARLEY_OK, parley_pull_take_json(eng, "model", 8, 0.05, &requests, &err)))
        CHECK(json_is_array(requests) && json_array_size(requests) == 0);
    json_decref(requests);
    requests = NULL;

    EXPECT(PARLEY_ERR_ARGUMENT, parley_pull_take(NULL, "model", 8, 0, &text, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_pull_take(eng, NULL, 8, 0, &text, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_pull_take(eng, "model", 8, 0, NULL, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_pull_take(eng, "model", -1, 0, &text, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_pull_take(eng, "model", 8, NAN, &text, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_pull_take_json(eng, "model", 8, 0, NULL, &err));
    EXPECT(PARLEY_ERR_STATE, parley_pull_take(eng, "nope", 8, 0, &text, &err));
    EXPECT(PARLEY_ERR_HANDLE, parley_pull_take_json(BOGUS_ENGINE, "model", 8, 0, &requests, &err));

    EXPECT(PARLEY_ERR_ARGUMENT, parley_pull_submit(NULL, "model", "[]", &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_pull_submit(eng, NULL, "[]", &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_pull_submit(eng, "model", NULL, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_pull_submit_json(eng, "model", NULL, &err));
    EXPECT(PARLEY_ERR_JSON, parley_pull_submit(eng, "model", "[", &err));
    { /* Invalid UTF-8 (jansson's _nocheck lets a host make it) is an error, not a repaired answer. */
        json_t *bad_utf8 = json_pack("[{s:i, s:o}]", "ticket", 1, "text", json_stringn_nocheck("\xff", 1));
        EXPECT(PARLEY_ERR_JSON, parley_pull_submit_json(eng, "model", bad_utf8, &err));
        json_decref(bad_utf8);
    }
    EXPECT(PARLEY_ERR_JSON, parley_pull_submit(eng, "model", "{\"ticket\": 1}", &err)); /* not an array */
    EXPECT(PARLEY_ERR_ARGUMENT, parley_pull_submit(eng, "model", "[{\"ticket\": 999999999, \"text\": \"x\"}]", &err));

    spec = job_text("pull", questions, 4);
    EXPECT(PARLEY_OK, parley_job_start(eng, spec, &job, &err));
    free(spec);
    deadline = time(NULL) + 120;
    for (round = 0; time(NULL) < deadline; round++) {
        /* Alternate the two faces. */
        if (round % 2 == 0) {
            rc = parley_pull_take(eng, "model", 3, 0.05, &text, &err);
            requests = rc == PARLEY_OK ? take_json(text) : NULL;
        } else {
            rc = parley_pull_take_json(eng, "model", 3, 0.05, &requests, &err);
        }
        if (!EXPECT_QUIET(PARLEY_OK, rc))
            break;
        if (json_array_size(requests) > 0) {
            size_t i;
            json_t *req;
            taken += (int)json_array_size(requests);
            json_array_foreach(requests, i, req) all_requests_ok &= is_request(req);
            answers = answers_for(requests);
            if (!checked_bad_tickets) {
                /* One bad ticket fails the whole batch and delivers nothing. */
                char *good_and_bad;
                bad = json_pack("[O, {s:i, s:s}]", json_array_get(answers, 0), "ticket", 999999999, "text", "x");
                good_and_bad = json_dumps(bad, 0);
                EXPECT(PARLEY_ERR_ARGUMENT, parley_pull_submit(eng, "model", good_and_bad, &err));
                free(good_and_bad);
                json_decref(bad);
            }
            if (round % 2 == 0) {
                char *s = json_dumps(answers, 0);
                EXPECT_QUIET(PARLEY_OK, parley_pull_submit(eng, "model", s, &err));
                free(s);
            } else {
                EXPECT_QUIET(PARLEY_OK, parley_pull_submit_json(eng, "model", answers, &err));
                borrowed_ok &= answers->refcount == 1;
            }
            if (!checked_bad_tickets) /* already answered */
                EXPECT(PARLEY_ERR_ARGUMENT, parley_pull_submit_json(eng, "model", answers, &err));
            checked_bad_tickets = 1;
            json_decref(answers);
        }
        json_decref(requests);
        requests = NULL;
        if (!still_running(job, &result, &rc, &err))
            break;
    }
    EXPECT(PARLEY_OK, rc);
    CHECK(taken >= 4);
    CHECK(all_requests_ok);
    CHECK(borrowed_ok);
    CHECK(summary_int(result, "finished") == 3);
    CHECK(summary_int(result, "failed") == 1);
    CHECK(result_mentions(result, "pull says no"));
    json_decref(result);
    EXPECT_RC(PARLEY_OK, parley_job_free(job));
    EXPECT_RC(PARLEY_OK, parley_engine_free(eng));
}

/* The batch face: texts borrowed from the batch, answers through its replies. The first
 * request taken is left unanswered when its batch is freed: it fails retryably and comes
 * back as attempt 2. Requests of the second batch are delivered early with
 * parley_batch_submit(), after which their replies cannot change. */
static void test_pull_batches(void)
{
    static const char *const questions[] = {"alpha?", "beta?", "gamma?", "pull-fail"};
    parley_engine *eng = NULL;
    parley_job *job = NULL;
    parley_batch *batch = NULL, *held = NULL;
    parley_reply *freed_reply = NULL;
    json_t *result = NULL;
    char *err = NULL, *spec, left_unanswered[128] = "";
    int rc = PARLEY_OK, batches = 0, taken = 0, all_requests_ok = 1, asked_again = 0;
    time_t deadline;

    EXPECT(PARLEY_OK, parley_engine_new(HOST, &eng, &err));
    EXPECT(PARLEY_ERR_STATE, parley_pull_take_batch(eng, "model", 8, 0, &batch, &err)); /* not served yet */
    EXPECT(PARLEY_OK, parley_engine_use_pull(eng, "model", &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_pull_take_batch(NULL, "model", 8, 0, &batch, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_pull_take_batch(eng, NULL, 8, 0, &batch, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_pull_take_batch(eng, "model", 8, 0, NULL, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_pull_take_batch(eng, "model", -1, 0, &batch, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_pull_take_batch(eng, "model", 8, INFINITY, &batch, &err));
    EXPECT(PARLEY_ERR_HANDLE, parley_pull_take_batch(BOGUS_ENGINE, "model", 8, 0, &batch, &err));

    /* Nothing waiting: an empty batch, with no request or reply at any index. */
    if (EXPECT(PARLEY_OK, parley_pull_take_batch(eng, "model", 8, 0.02, &batch, &err))) {
        CHECK(parley_batch_size(batch) == 0);
        CHECK(parley_batch_request(batch, 0) == NULL && parley_batch_reply(batch, 0) == NULL);
        EXPECT_RC(PARLEY_OK, parley_batch_submit(batch));
        EXPECT_RC(PARLEY_OK, parley_batch_free(batch));
        /* Freed: found out, not dereferenced. */
        CHECK(parley_batch_size(batch) == -1);
        CHECK(parley_batch_request(batch, 0) == NULL && parley_batch_reply(batch, 0) == NULL);
        EXPECT_RC(PARLEY_ERR_HANDLE, parley_batch_submit(batch));
        EXPECT_RC(PARLEY_ERR_HANDLE, parley_batch_free(batch));
    }
    CHECK(parley_batch_size(NULL) == -1 && parley_batch_request(NULL, 0) == NULL);
    EXPECT_RC(PARLEY_ERR_ARGUMENT, parley_batch_free(NULL));

    spec = job_text("pull-batches", questions, 4);
    EXPECT(PARLEY_OK, parley_job_start(eng, spec, &job, &err));
    free(spec);
    deadline = time(NULL) + 120;
    while (time(NULL) < deadline) {
        int i, n;
        if (!EXPECT_QUIET(PARLEY_OK, parley_pull_take_batch(eng, "model", 3, 0.05, &batch, &err)))
            break;
        n = parley_batch_size(batch);
        CHECK(parley_batch_request(batch, n) == NULL && parley_batch_reply(batch, -1) == NULL);
        for (i = 0; i < n; i++) {
            json_error_t e;
            json_t *req = json_loads(parley_batch_request(batch, i), 0, &e);
            parley_reply *reply = parley_batch_reply(batch, i);
            char key[128];
            all_requests_ok &= req != NULL && is_request(req) && reply != NULL;
            snprintf(key, sizeof key, "%s/%" JSON_INTEGER_FORMAT "/%s", get_str(req, "dialogue_id"),
                     get_int(req, "turn"), get_str(req, "role"));
            if (taken == 0 && i == 0) {
                snprintf(left_unanswered, sizeof left_unanswered, "%s", key);
                freed_reply = reply;
            } else if (strcmp(key, left_unanswered) == 0) {
                asked_again += get_int(req, "attempt") == 2;
            }
            if (taken > 0 || i > 0) {
                if (json_mentions(req, "pull-fail")) {
                    EXPECT_RC(PARLEY_OK, parley_reply_set_error(reply, "pull says no", 0));
                } else {
                    EXPECT_RC(PARLEY_OK, parley_reply_set_usage(reply, 3, 2));
                    EXPECT_RC(PARLEY_OK, parley_reply_set_text(reply, "batched answer.", "stop"));
                }
            }
            json_decref(req);
        }
        taken += n;
        if (n > 0 && ++batches == 2) {
            /* Delivered early: the replies are spent, the batch lives on until freed. */
            EXPECT_RC(PARLEY_OK, parley_batch_submit(batch));
            EXPECT_RC(PARLEY_ERR_STATE, parley_reply_set_text(parley_batch_reply(batch, 0), "again.", NULL));
            held = batch;
        }
        EXPECT_RC(PARLEY_OK, parley_batch_free(batch));
        if (held) {
            CHECK(parley_batch_reply(held, 0) == NULL);
            held = NULL;
        }
        if (!still_running(job, &result, &rc, &err))
            break;
    }
    EXPECT(PARLEY_OK, rc);
    EXPECT_RC(PARLEY_ERR_HANDLE, parley_reply_set_text(freed_reply, "too late.", NULL));
    CHECK(taken >= 5);
    CHECK(all_requests_ok);
    CHECK(asked_again == 1);
    CHECK(summary_int(result, "finished") == 3);
    CHECK(summary_int(result, "failed") == 1);
    CHECK(summary_int(result, "completion_tokens") > 0);
    CHECK(result_mentions(result, "pull says no"));
    json_decref(result);
    EXPECT_RC(PARLEY_OK, parley_job_free(job));
    EXPECT_RC(PARLEY_OK, parley_engine_free(eng));
}

/* The json_t face builds its requests in place and the batch face writes each request's
 * text on its own; they must equal the text face's, parsed (number types included). Three
 * engines run the same job, one served through each face; each request is compared with
 * its counterpart by dialogue, turn, role and attempt. */
enum face { TEXT_FACE, JSON_FACE, BATCH_FACE };

static const char FACES[] =
    "{\"backends\": {\"model\": {\"type\": \"host\"}},"
    " \"roles\": {\"asker\": {\"backend\": \"model\", \"endpoint\": \"completion\", \"max_tokens\": 32,"
    "                       \"temperature\": 1, \"stop\": [\"\\n\\n\", \"Q:\"]},"
    "            \"assistant\": {\"backend\": \"model\", \"model\": \"m-1\", \"max_tokens\": 32, \"temperature\": 0.7,"
    "                           \"top_p\": 0.9, \"params\": {\"extra\": [1, 2.5, true, null, {\"k\": \"v\\u00e9\"}]}}},"
    " \"turns\": {\"max\": 3}, \"run\": {\"seed\": 5, \"concurrency\": 4}}";

static json_t *requests_served(enum face face)
{
    static const char *const questions[] = {"alpha?", "beta \"quoted\"\ttab?", "gamma\xc3\xa9?"};
    parley_engine *eng = NULL;
    parley_job *job = NULL;
    static const char *const names[] = {"faces-text", "faces-json", "faces-batch"};
    parley_batch *batch = NULL;
    char *err = NULL, *text = NULL, *spec, key[256];
    json_t *all = json_object(), *requests = NULL, *req, *result = NULL;
    time_t deadline = time(NULL) + 120;
    int rc = PARLEY_OK;
    size_t i;

    EXPECT(PARLEY_OK, parley_engine_new(FACES, &eng, &err));
    EXPECT(PARLEY_OK, parley_engine_use_pull(eng, "model", &err));
    spec = job_text(names[face], questions, 3);
    EXPECT(PARLEY_OK, parley_job_start(eng, spec, &job, &err));
    free(spec);
    while (time(NULL) < deadline) {
        if (face == JSON_FACE) {
            rc = parley_pull_take_json(eng, "model", 8, 0.05, &requests, &err);
        } else if (face == TEXT_FACE) {
            rc = parley_pull_take(eng, "model", 8, 0.05, &text, &err);
            requests = rc == PARLEY_OK ? take_json(text) : NULL;
        } else if ((rc = parley_pull_take_batch(eng, "model", 8, 0.05, &batch, &err)) == PARLEY_OK) {
            int n = parley_batch_size(batch), k;
            requests = json_array();
            for (k = 0; k < n; k++)
                json_array_append_new(requests, json_loads(parley_batch_request(batch, k), 0, NULL));
        }
        if (!EXPECT_QUIET(PARLEY_OK, rc))
            break;
        json_array_foreach(requests, i, req) {
            json_t *copy = json_deep_copy(req), *answer;
            char reply[300];
            snprintf(key, sizeof key, "%s/%" JSON_INTEGER_FORMAT "/%s/%" JSON_INTEGER_FORMAT,
                     get_str(req, "dialogue_id"), json_integer_value(json_object_get(req, "turn")),
                     get_str(req, "role"), json_integer_value(json_object_get(req, "attempt")));
            json_object_del(copy, "ticket");
            json_object_set_new(all, key, copy);
            snprintf(reply, sizeof reply, "answer to %s.", key);
            answer = json_pack("[{s:O, s:s, s:s, s:i, s:i}]", "ticket", json_object_get(req, "ticket"), "text", reply,
                               "finish_reason", "stop", "prompt_tokens", 5, "completion_tokens", 2);
            if (face == BATCH_FACE) {
                parley_reply *r = parley_batch_reply(batch, (int)i);
                EXPECT_RC(PARLEY_OK, parley_reply_set_usage(r, 5, 2));
                EXPECT_RC(PARLEY_OK, parley_reply_set_text(r, reply, "stop"));
            } else if (face == JSON_FACE) {
                EXPECT_QUIET(PARLEY_OK, parley_pull_submit_json(eng, "model", answer, &err));
            } else {
                char *answer_text = json_dumps(answer, 0);
                EXPECT_QUIET(PARLEY_OK, parley_pull_submit(eng, "model", answer_text, &err));
                free(answer_text);
            }
            json_decref(answer);
        }
        json_decref(requests);
        requests = NULL;
        if (batch)
            EXPECT_RC(PARLEY_OK, parley_batch_free(batch));
        batch = NULL;
        if (!still_running(job, &result, &rc, &err))
            break;
    }
    EXPECT(PARLEY_OK, rc);
    json_object_set_new(all, "usage", json_pack("[I, I]", (json_int_t)summary_int(result, "prompt_tokens"),
                                                (json_int_t)summary_int(result, "completion_tokens")));
    json_decref(result);
    EXPECT_RC(PARLEY_OK, parley_job_free(job));
    EXPECT_RC(PARLEY_OK, parley_engine_free(eng));
    return all;
}

static void test_pull_faces_agree(void)
{
    json_t *text_face = requests_served(TEXT_FACE), *json_face = requests_served(JSON_FACE);
    json_t *batch_face = requests_served(BATCH_FACE), *req;
    const char *key;
    int askers = 0, assistants = 0, typed = 1;
    CHECK(json_object_size(text_face) >= 12);
    CHECK(json_equal(text_face, json_face));
    CHECK(json_equal(text_face, batch_face));
    /* Answers submitted through each face carried the same usage. */
    CHECK(json_integer_value(json_array_get(json_object_get(json_face, "usage"), 0)) > 0);
    json_object_del(json_face, "usage");
    /* The types a host reads with json_integer_value or json_real_value. */
    json_object_foreach(json_face, key, req) {
        if (strcmp(get_str(req, "role"), "assistant") == 0) {
            assistants++;
            typed &= json_is_real(json_object_get(req, "temperature")) && json_is_string(json_object_get(req, "model"));
            typed &= json_is_array(json_object_get(json_object_get(req, "params"), "extra"));
            typed &= json_is_array(json_object_get(req, "messages"));
        } else {
            askers++;
            typed &= json_is_integer(json_object_get(req, "temperature")) && json_is_null(json_object_get(req, "model"));
            typed &= json_is_string(json_object_get(req, "prompt")) && json_array_size(json_object_get(req, "stop")) >= 2;
        }
    }
    CHECK(askers > 0 && assistants > 0 && typed);
    json_decref(text_face);
    json_decref(json_face);
    json_decref(batch_face);
}

/* ---- Background jobs ---------------------------------------------------- */

/* What a job's event stream held, up to and including job_ended. */
struct tally {
    int started, messages, ended, malformed;
    char final_state[32]; /* job_ended's "state" */
};

static void drain_events(parley_job *job, struct tally *t)
{
    char *text = NULL, *err = NULL;
    int rc = PARLEY_OK;
    memset(t, 0, sizeof *t);
    while (!t->final_state[0] && (rc = parley_job_next_event(job, 60, &text, &err)) == PARLEY_OK) {
        json_t *ev = take_json(text);
        const char *kind = get_str(ev, "event");
        text = NULL;
        if (strcmp(kind, "dialogue_started") == 0) {
            t->started++;
            t->malformed += !json_is_string(json_object_get(ev, "id")) || !json_is_boolean(json_object_get(ev, "resumed"));
        } else if (strcmp(kind, "message") == 0) {
            t->messages++;
            t->malformed += !json_is_integer(json_object_get(ev, "index")) || !json_is_string(json_object_get(ev, "role"));
        } else if (strcmp(kind, "dialogue_ended") == 0) {
            t->ended++;
            t->malformed += !json_is_string(json_object_get(ev, "status")) ||
                            !json_is_string(json_object_get(ev, "end_reason"));
        } else if (strcmp(kind, "job_ended") == 0) {
            snprintf(t->final_state, sizeof t->final_state, "%s", get_str(ev, "state"));
        } else {
            t->malformed++;
        }
        json_decref(ev);
    }
    if (!t->final_state[0])
        EXPECT(PARLEY_OK, rc); /* reports why the stream stopped short */
    /* job_ended is the last event. */
    EXPECT(PARLEY_ERR_TIMEOUT, parley_job_next_event(job, 0, &text, &err));
}

static void test_job_events(void)
{
    parley_engine *eng = NULL;
    parley_job *job = NULL, *other = NULL;
    char *err = NULL, *text = NULL, *spec;
    json_t *jobj, *progress, *result = NULL;
    struct tally t;

    EXPECT(PARLEY_OK, parley_engine_new(SCRIPTED, &eng, &err));
    jobj = job_new("events", NULL, 4);
    EXPECT(PARLEY_OK, parley_job_start_json(eng, jobj, &job, &err));
    CHECK(jobj->refcount == 1);
    json_decref(jobj);

    /* An engine runs several jobs at once. */
    spec = job_text("events-other", NULL, 2);
    EXPECT(PARLEY_OK, parley_job_start(eng, spec, &other, &err));
    free(spec);

    EXPECT(PARLEY_OK, parley_job_progress(job, &text, &err));
    progress = take_json(text);
    CHECK(json_is_string(json_object_get(progress, "state")));
    CHECK(json_object_get(progress, "ended") && json_object_get(progress, "failed") &&
          json_object_get(progress, "messages") && json_object_get(progress, "tokens") &&
          json_object_get(progress, "in_flight"));
    json_decref(progress);

    /* A job's handle is no engine, and an engine's no job. */
    EXPECT_RC(PARLEY_ERR_HANDLE, parley_engine_free((parley_engine *)job));
    EXPECT_RC(PARLEY_ERR_HANDLE, parley_job_free((parley_job *)eng));

    drain_events(job, &t);
    CHECK(strcmp(t.final_state, "done") == 0);
    CHECK(t.started == 4 && t.ended == 4);
    CHECK(t.messages >= 4);
    CHECK(t.malformed == 0);

    EXPECT(PARLEY_OK, parley_job_wait(job, -1, &text, &err));
    result = take_json(text);
    CHECK(summary_int(result, "finished") == 4);
    CHECK(json_array_size(json_object_get(result, "dialogues")) == 4);
    json_decref(result);
    result = NULL;
    EXPECT(PARLEY_OK, parley_job_wait_json(job, 0, &result, &err)); /* again: the same result */
    CHECK(result && result->refcount == 1 && summary_int(result, "finished") == 4);
    json_decref(result);

    EXPECT(PARLEY_OK, parley_job_progress(job, &text, &err));
    progress = take_json(text);
    text = NULL;
    CHECK(strcmp(get_str(progress, "state"), "done") == 0);
    CHECK(get_int(progress, "seeds") == 4 && get_int(progress, "ended") == 4);
    json_decref(progress);
    EXPECT_RC(PARLEY_OK, parley_job_cancel(job)); /* a finished job: nothing happens */
    /* A bad timeout is an error (checked on an ended job, so that a NaN taken
     * for "forever" cannot hang the test). */
    EXPECT(PARLEY_ERR_ARGUMENT, parley_job_wait(job, NAN, &text, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_job_next_event(job, NAN, &text, &err));
    parley_string_free(text); /* set only if a check above failed */
    text = NULL;

    EXPECT(PARLEY_OK, parley_job_wait(other, -1, &text, &err));
    parley_string_free(text);
    text = NULL;

    EXPECT_RC(PARLEY_OK, parley_job_free(job));
    EXPECT_RC(PARLEY_OK, parley_job_free(other));
    /* Freed and made-up jobs. */
    EXPECT_RC(PARLEY_ERR_HANDLE, parley_job_free(job));
    EXPECT_RC(PARLEY_ERR_HANDLE, parley_job_free(BOGUS_JOB));
    EXPECT_RC(PARLEY_ERR_HANDLE, parley_job_cancel(job));
    EXPECT(PARLEY_ERR_HANDLE, parley_job_progress(job, &text, &err));
    EXPECT(PARLEY_ERR_HANDLE, parley_job_wait(BOGUS_JOB, 0, &text, &err));
    EXPECT(PARLEY_ERR_HANDLE, parley_job_wait_json(job, 0, &result, &err));
    EXPECT(PARLEY_ERR_HANDLE, parley_job_next_event(job, 0, &text, &err));

    /* NULLs and bad numbers. */
    EXPECT(PARLEY_ERR_ARGUMENT, parley_job_start(NULL, "{\"seeds\": []}", &job, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_job_start(eng, NULL, &job, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_job_start(eng, "{\"seeds\": []}", NULL, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_job_start_json(eng, NULL, &job, &err));
    EXPECT(PARLEY_ERR_HANDLE, parley_job_start_json(BOGUS_ENGINE, json_null(), &job, &err));
    EXPECT(PARLEY_ERR_JSON, parley_job_start(eng, "{\"seeds\": [", &job, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_job_progress(NULL, &text, &err));
    EXPECT_RC(PARLEY_ERR_ARGUMENT, parley_job_cancel(NULL));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_job_wait(NULL, 0, &text, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_job_wait_json(NULL, 0, &result, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_job_next_event(NULL, 0, &text, &err));
    EXPECT_RC(PARLEY_ERR_ARGUMENT, parley_job_free(NULL));

    EXPECT_RC(PARLEY_OK, parley_engine_free(eng));
}

static void *cancel_later(void *job)
{
    sleep_ms(50);
    EXPECT_RC(PARLEY_OK, parley_job_cancel(job));
    return NULL;
}

static void test_job_cancel(void)
{
    parley_engine *eng = NULL;
    parley_job *job = NULL;
    char *err = NULL, *text = NULL, *spec;
    json_t *result, *progress;
    pthread_t canceller;
    struct tally t;

    EXPECT(PARLEY_OK, parley_engine_new(SLOW, &eng, &err));
    spec = job_text("cancel", NULL, 40);
    EXPECT(PARLEY_OK, parley_job_start(eng, spec, &job, &err));

    /* NULL out-parameters and bad timeouts on a live job. */
    EXPECT(PARLEY_ERR_ARGUMENT, parley_job_progress(job, NULL, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_job_wait(job, 0, NULL, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_job_wait_json(job, 0, NULL, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_job_next_event(job, 0, NULL, &err));
    EXPECT(PARLEY_ERR_TIMEOUT, parley_job_wait(job, 0, &text, &err));
    EXPECT(PARLEY_ERR_TIMEOUT, parley_job_wait(job, 0.01, &text, &err));

    /* Once it is under way, cancel it from another thread. */
    if (EXPECT(PARLEY_OK, parley_job_next_event(job, 30, &text, &err))) {
        parley_string_free(text);
        text = NULL;
    }
    CHECK(pthread_create(&canceller, NULL, cancel_later, job) == 0);
    EXPECT(PARLEY_ERR_CANCELLED, parley_job_wait(job, -1, &text, &err));
    pthread_join(canceller, NULL);
    result = take_json(text); /* the result holds the summary so far */
    text = NULL;
    CHECK(json_is_object(json_object_get(result, "summary")));
    CHECK(summary_int(result, "finished") < 40);
    json_decref(result);

    EXPECT(PARLEY_OK, parley_job_progress(job, &text, &err));
    progress = take_json(text);
    CHECK(strcmp(get_str(progress, "state"), "cancelled") == 0);
    json_decref(progress);
    drain_events(job, &t);
    CHECK(strcmp(t.final_state, "cancelled") == 0);
    EXPECT_RC(PARLEY_OK, parley_job_free(job));

    /* It stays resumable: running the same job again finishes it. */
    EXPECT(PARLEY_OK, parley_run(eng, spec, &text, &err));
    result = take_json(text);
    CHECK(summary_int(result, "finished") == 40);
    CHECK(json_array_size(json_object_get(result, "dialogues")) == 40);
    json_decref(result);
    free(spec);

    /* Freeing a running job cancels it and waits. */
    spec = job_text("free-running", NULL, 40);
    EXPECT(PARLEY_OK, parley_job_start(eng, spec, &job, &err));
    free(spec);
    EXPECT_RC(PARLEY_OK, parley_job_free(job));
    CHECK(file_lines("free-running/dialogues.jsonl") < 40); /* cancelled, not run to the end */

    /* Freeing the engine leaves its running jobs to finish. */
    spec = job_text("orphan", NULL, 3);
    EXPECT(PARLEY_OK, parley_job_start(eng, spec, &job, &err));
    free(spec);
    EXPECT_RC(PARLEY_OK, parley_engine_free(eng));
    if (EXPECT(PARLEY_OK, parley_job_wait(job, -1, &text, &err))) {
        result = take_json(text);
        CHECK(summary_int(result, "finished") == 3);
        json_decref(result);
    }
    EXPECT_RC(PARLEY_OK, parley_job_free(job));
}

/* ---- Shards and merge ----------------------------------------------------- */

static void test_shards_and_merge(void)
{
    parley_engine *eng = NULL;
    char *err = NULL, *text = NULL, shard[16], request[1200], dirs[4][256];
    const char *names[] = {"shard-1", "shard-2", "shard-3", "merged"};
    json_int_t seeds = 0, finished = 0;
    json_t *result, *job;
    int k;

    EXPECT(PARLEY_OK, parley_engine_new(SCRIPTED, &eng, &err));
    for (k = 1; k <= 3; k++) {
        snprintf(shard, sizeof shard, "%d/3", k);
        snprintf(request, sizeof request, "shard-%d", k);
        job = job_new(request, NULL, 30);
        json_object_set_new(job, "shard", json_string(shard));
        json_object_set_new(job, "return", json_string("summary"));
        result = NULL;
        EXPECT(PARLEY_OK, parley_run_json(eng, job, &result, &err));
        CHECK(strcmp(get_str(json_object_get(result, "summary"), "shard"), shard) == 0);
        seeds += summary_int(result, "seeds");
        finished += summary_int(result, "finished");
        json_decref(result);
        json_decref(job);
    }
    CHECK(seeds == 30); /* the shards cover the seeds, each once */

    /* tmp_path() reuses one buffer: a request is built from copies. */
    for (k = 0; k < 4; k++)
        snprintf(dirs[k], sizeof dirs[k], "%s", tmp_path(names[k]));
    snprintf(request, sizeof request, "{\"dirs\": [\"%s\", \"%s\", \"%s\"], \"out\": \"%s\"}", dirs[0], dirs[1],
             dirs[2], dirs[3]);
    EXPECT(PARLEY_OK, parley_merge(request, &text, &err));
    result = take_json(text);
    CHECK(get_int(result, "seeds") == 30 && get_int(result, "finished") == finished);
    CHECK(json_array_size(json_object_get(result, "shards")) == 3);
    CHECK(file_lines("merged/dialogues.jsonl") == finished);
    json_decref(result);

    /* A missing shard is refused, naming it; bad requests are errors, not crashes. */
    snprintf(request, sizeof request, "{\"dirs\": [\"%s\", \"%s\"], \"out\": \"%s-2\"}", dirs[0], dirs[1], dirs[3]);
    text = NULL;
    CHECK(parley_merge(request, &text, &err) == PARLEY_ERR_STATE && text == NULL);
    CHECK(err && strstr(err, "shard 3/3 missing"));
    parley_string_free(err);
    err = NULL;
    EXPECT(PARLEY_ERR_JSON, parley_merge("{\"dirs\": ", &text, &err));
    EXPECT(PARLEY_ERR_CONFIG, parley_merge("{\"dirs\": [], \"out\": \"x\"}", &text, &err));
    EXPECT(PARLEY_ERR_CONFIG, parley_merge("{\"dirs\": [\"a\"]}", &text, &err));
    EXPECT(PARLEY_ERR_STATE, parley_merge("{\"dirs\": [\"/nonexistent/shard\"], \"out\": \"/tmp/x\"}", &text, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_merge(NULL, &text, &err));
    EXPECT(PARLEY_ERR_ARGUMENT, parley_merge(request, NULL, &err));
    job = job_new("bad-shard", NULL, 2);
    json_object_set_new(job, "shard", json_string("4/3"));
    EXPECT(PARLEY_ERR_CONFIG, parley_run_json(eng, job, &result, &err));
    json_decref(job);
    EXPECT_RC(PARLEY_OK, parley_engine_free(eng));
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    main_thread = pthread_self();
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        return 1;
    }
    test_version();
    test_config();
    test_engines();
    test_run();
    test_callback(HOST, "callback");
    test_callback(NONBLOCKING_HOST, "inline-callback");
    test_reentrant_callback();
    test_parallel_callbacks();
    test_pull();
    test_pull_batches();
    test_pull_faces_agree();
    test_job_events();
    test_job_cancel();
    test_shards_and_merge();
    nftw(tmp_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
