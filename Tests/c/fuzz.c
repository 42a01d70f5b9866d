/*
 * fuzz.c: throws malformed and mutated input at the text entry points of the C ABI
 * (configs, jobs, pull answers, takes and batches, handles, timeouts) and checks that each call returns
 * a known status code and a message, and that the process survives. Deterministic:
 * a fixed PRNG seed, so a failure reproduces. Built with ASan/UBSan by `make fuzz`.
 *   .build-c/fuzz [iterations]
 */
#define _XOPEN_SOURCE 700 /* mkdtemp, strdup */
#include <math.h>
#include <parley.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9E3779B97F4A7C15u;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int failures, calls;

/* Every status is one of the header's codes, and a failure carries a message.
 * (Call first, then check: C leaves the order of argument evaluation open.) */
static void check(int status, char *error, const char *what)
{
    calls++;
    if (status < PARLEY_OK || status >= PARLEY_ERR_INTERNAL ||
        (status != PARLEY_OK && !error)) {
        fprintf(stderr, "fuzz: %s returned %d (%s)\n", what, status, error ? error : "no message");
        failures++;
    }
    parley_string_free(error);
}

static const char *seeds[] = {
    "{\"backends\": {\"s\": {\"type\": \"scripted\"}, \"h\": {\"type\": \"host\"}, \"p\": {\"type\": \"host\"}},"
    " \"roles\": {\"asker\": {\"backend\": \"s\", \"endpoint\": \"completion\", \"max_tokens\": 8},"
    " \"assistant\": {\"backend\": \"h\", \"max_tokens\": 8}}, \"turns\": {\"max\": 2}}",
    "{\"seeds\": [{\"question\": \"q\"}, {\"topic\": \"t\"}, \"{}\"], \"fresh\": true, \"return\": \"summary\"}",
    "[{\"ticket\": 1, \"text\": \"a\"}, {\"ticket\": 2, \"error\": \"e\", \"retryable\": true}]",
};

/* A mutation of `text`: bytes flipped, cut, duplicated, or random bytes spliced in. */
static char *mutate(const char *text)
{
    size_t n = strlen(text), cap = n * 2 + 64, len = n;
    char *s = malloc(cap);
    memcpy(s, text, n + 1);
    int edits = 1 + (int)(next() % 6);
    while (edits--) {
        size_t at = len ? next() % len : 0;
        switch (next() % 5) {
        case 0: s[at] = (char)(next() % 256); break;                          /* any byte, invalid UTF-8 too */
        case 1: len = at; break;                                              /* cut */
        case 2: s[at] = "{}[]\",:\\0123456789eE-+.tfn"[next() % 27]; break; /* JSON punctuation */
        case 3:
            if (len + 8 < cap) { memmove(s + at + 4, s + at, len - at); memcpy(s + at, "\\u00", 4); len += 4; }
            break;
        default:
            if (2 * len < cap) { memcpy(s + len, s, len); len *= 2; } /* doubled */
        }
        s[len] = 0;
        for (size_t i = 0; i < len; i++)
            if (!s[i]) s[i] = 'x'; /* C strings end at the first NUL */
    }
    return s;
}

static int answer(const char *request, parley_reply *reply, void *user_data)
{
    (void)request, (void)user_data;
    return parley_reply_set_text(reply, "ok", NULL);
}

int main(int argc, char **argv)
{
    int iterations = argc > 1 ? atoi(argv[1]) : 1000;
    char root[] = "/tmp/parley-fuzz-XXXXXX", *error = NULL, *out = NULL, job[512];
    parley_engine *engine = NULL;
    if (!mkdtemp(root)) return 1;

    for (int i = 0; i < iterations; i++) {
        /* Some inputs unmutated, so that later calls see live engines and real runs. */
        char *config = i % 3 == 0 ? strdup(seeds[0]) : mutate(seeds[0]);
        int status = parley_config_validate(config, &error);
        check(status, error, "parley_config_validate");
        error = NULL;
        status = parley_engine_new(config, &engine, &error);
        check(status, error, "parley_engine_new");
        error = NULL;
        free(config);
        if (status != PARLEY_OK) continue;

        status = parley_engine_set_callback(engine, "h", answer, NULL, &error);
        check(status, error, "parley_engine_set_callback");
        error = NULL;
        status = parley_engine_use_pull(engine, "p", &error); /* the pull calls below reach its queue */
        check(status, error, "parley_engine_use_pull");
        error = NULL;
        char *spec = i % 2 == 0 ? strdup(seeds[1]) : mutate(seeds[1]);
        /* Most mutated jobs are rejected; some run, into this iteration's own directory. */
        snprintf(job, sizeof job, "{\"out\": \"%s/%d\", %s", root, i, spec[0] == '{' ? spec + 1 : spec);
        status = parley_run(engine, job, &out, &error);
        check(status, error, "parley_run");
        error = NULL;
        parley_string_free(out);
        out = NULL;
        free(spec);

        char *answers = mutate(seeds[2]);
        status = parley_pull_submit(engine, "p", answers, &error);
        check(status, error, "parley_pull_submit");
        error = NULL;
        free(answers);
        status = parley_pull_take(engine, "p", (int)(next() % 3) - 1, (next() % 2) ? NAN : -1.0, &out, &error);
        check(status, error, "parley_pull_take");
        error = NULL;
        parley_string_free(out);
        out = NULL;
        /* "p" serves no role: its batches are empty, and no index holds a request or a reply. */
        parley_batch *batch = NULL, *bogus = (parley_batch *)(uintptr_t)next();
        int index = (int)(next() % 4) - 1;
        status = parley_pull_take_batch(engine, "p", (int)(next() % 3) - 1, (next() % 2) ? NAN : 0, &batch, &error);
        check(status, error, "parley_pull_take_batch");
        error = NULL;
        if (status == PARLEY_OK) {
            calls++;
            if (parley_batch_size(batch) != 0 || parley_batch_request(batch, index) || parley_batch_reply(batch, index) ||
                parley_batch_free(batch) != PARLEY_OK) {
                fprintf(stderr, "fuzz: an empty batch held something\n");
                failures++;
            }
        }
        /* A made-up batch handle is found out, never dereferenced. */
        calls++;
        if (parley_batch_size(bogus) != -1 || parley_batch_request(bogus, index) || parley_batch_reply(bogus, index) ||
            parley_batch_submit(bogus) != PARLEY_ERR_HANDLE || parley_batch_free(bogus) != PARLEY_ERR_HANDLE) {
            fprintf(stderr, "fuzz: a made-up batch handle was accepted\n");
            failures++;
        }
        check(parley_engine_free(engine), NULL, "parley_engine_free");
        calls--; /* counted above; a second free must be refused */
        if (parley_engine_free(engine) != PARLEY_ERR_HANDLE) { fprintf(stderr, "fuzz: double free accepted\n"); failures++; }
    }
    printf("%d passed, %d failed\n", calls - failures, failures);
    return failures ? 1 : 0;
}
