/*
 * bench.c: the per-request cost of a host backend's round trip, from C.
 *
 * Each job is N dialogues of 8 exchanges on question seeds: 15 generation
 * requests per dialogue (the first question is given), so the per-dialogue work
 * (seeds, dataset rows) weighs little beside the requests. The same job runs on
 *   - a "scripted" backend at zero latency: the baseline (the engine's own work:
 *     scheduling, journal, dataset files),
 *   - a "host" backend served by a callback that answers at once, run on the
 *     callback pool (the default) and, with "blocking": false, inline,
 *   - a "host" backend served through the pull queue by one host thread looping
 *     take/answer/free over pull batches (parley_pull_take_batch), with batches
 *     of 1, 64 and 512: a host that answers at once
 *     takes whatever is queued, so its batches are small (the "batch" column is
 *     the mean it took) and it pays a thread hand-off each way per batch; and one
 *     whose model takes 1 ms per batch (a sleep: no CPU), as a batching inference
 *     engine does, which takes full batches of 64; and, to compare faces, the same
 *     taken as json_t trees and answered by ticket (parley_pull_take_json),
 * and the overhead is (median time - median baseline time) / requests: what the
 * host round trip adds to each request, in wall time and in CPU time of all the
 * process's threads (the fairer figure on a small machine). Medians of 3 runs.
 *
 *   make -C benchmarks/c run               (N = 2000; `make run N=500` for fewer)
 *   .build-c/bench N PATH                   only the path named PATH (and the baseline),
 *                                           e.g. "pull batch 64": to profile one or count
 *                                           its instructions (benchmarks/callgrind)
 */
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw, clock_gettime, nanosleep */
#include <ftw.h>
#include <jansson.h>
#include <parley.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUNS 3

/* High limits everywhere, so that the engine, not a cap, sets the pace. */
static const char CONFIG_FMT[] =
    "{\"backends\": {\"b\": %s},"
    " \"roles\": {\"asker\": {\"backend\": \"b\"}, \"assistant\": {\"backend\": \"b\"}},"
    " \"turns\": {\"max\": 8}, \"run\": {\"seed\": 1, \"concurrency\": 1024}}";
static const char SCRIPTED[] = "{\"type\": \"scripted\", \"words\": [1, 1], \"max_concurrency\": 1024}";
static const char HOST[] = "{\"type\": \"host\", \"max_concurrency\": 1024}";
static const char NONBLOCKING_HOST[] = "{\"type\": \"host\", \"max_concurrency\": 1024, \"blocking\": false}";

static char root[] = "/tmp/parley-bench-XXXXXX";
static int dialogues = 2000;
#define REQUESTS_PER_DIALOGUE 15
static json_t *job; /* the seeds; "out" is set per run */
static const char *only = NULL; /* run only the path of this name (NULL: all) */

static double seconds(clockid_t clock)
{
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Wall and CPU (every thread of the process) seconds of one run, and the mean
 * batch a pull host took. */
struct timing {
    double wall, cpu, batch;
};

static void die(const char *what, int status, char *error)
{
    fprintf(stderr, "bench: %s: %s: %s\n", what, parley_status_name(status), error ? error : "");
    exit(1);
}

static parley_engine *engine_with(const char *backend)
{
    char config[1024];
    char *error = NULL;
    parley_engine *engine = NULL;
    int status;
    snprintf(config, sizeof config, CONFIG_FMT, backend);
    if ((status = parley_engine_new(config, &engine, &error)) != PARLEY_OK)
        die("engine", status, error);
    return engine;
}

/* The callback model: a numbered answer, at once (numbered, because a dialogue that
 * repeats an answer ends as degenerate). */
static int numbered(const char *request_json, parley_reply *reply, void *user_data)
{
    static unsigned long answered;
    char text[32];
    (void)request_json, (void)user_data;
    snprintf(text, sizeof text, "ok %lu.", __atomic_add_fetch(&answered, 1, __ATOMIC_RELAXED));
    return parley_reply_set_text(reply, text, "stop");
}

/* How a pull host serves: none (batch 0), or batches of up to `batch`, each taking its model
 * `step_us`, through parley_pull_take_batch() or (json_face) the json_t face. */
struct host {
    int batch, step_us, json_face;
};

/* A host thread serving the pull queue until told to stop. */
struct puller {
    parley_engine *engine;
    struct host host;
    unsigned long takes, taken;
    pthread_mutex_t lock;
    int stop;
};

static void step(const struct puller *p, size_t taken)
{
    if (taken > 0 && p->host.step_us > 0) {
        struct timespec t = {p->host.step_us / 1000000, (long)(p->host.step_us % 1000000) * 1000};
        nanosleep(&t, NULL);
    }
}

/* One take and its answers through parley_pull_take_batch(); returns how many were taken. */
static size_t serve_batch(struct puller *p)
{
    parley_batch *batch = NULL;
    char *error = NULL;
    int i, n, status;
    if ((status = parley_pull_take_batch(p->engine, "b", p->host.batch, 0.01, &batch, &error)) != PARLEY_OK)
        die("pull_take_batch", status, error);
    n = parley_batch_size(batch);
    step(p, (size_t)n);
    for (i = 0; i < n; i++) {
        static unsigned long answered;
        char text[32];
        snprintf(text, sizeof text, "ok %lu.", ++answered);
        if ((status = parley_reply_set_text(parley_batch_reply(batch, i), text, "stop")) != PARLEY_OK)
            die("reply_set_text", status, NULL);
    }
    if ((status = parley_batch_free(batch)) != PARLEY_OK)
        die("batch_free", status, NULL);
    return (size_t)n;
}

/* One take and its answers through the json_t face: a tree per request, answers by ticket. */
static size_t serve_json(struct puller *p)
{
    json_t *requests = NULL, *answers, *req;
    char *error = NULL;
    size_t i, n;
    int status;
    if ((status = parley_pull_take_json(p->engine, "b", p->host.batch, 0.01, &requests, &error)) != PARLEY_OK)
        die("pull_take", status, error);
    n = json_array_size(requests);
    step(p, n);
    answers = json_array();
    json_array_foreach(requests, i, req) {
        json_t *ticket = json_object_get(req, "ticket");
        char text[32];
        snprintf(text, sizeof text, "ok %" JSON_INTEGER_FORMAT ".", json_integer_value(ticket));
        json_array_append_new(answers, json_pack("{s:O, s:s}", "ticket", ticket, "text", text));
    }
    if (n > 0 && (status = parley_pull_submit_json(p->engine, "b", answers, &error)) != PARLEY_OK)
        die("pull_submit", status, error);
    json_decref(answers);
    json_decref(requests);
    return n;
}

static void *pull_loop(void *arg)
{
    struct puller *p = arg;
    for (;;) {
        size_t n = p->host.json_face ? serve_json(p) : serve_batch(p);
        int stop;
        if (n > 0) {
            p->takes++;
            p->taken += n;
        }
        pthread_mutex_lock(&p->lock);
        stop = p->stop;
        pthread_mutex_unlock(&p->lock);
        if (stop)
            return NULL;
    }
}

/* Runs the job once into a fresh directory; returns its wall and CPU time.
 * With `host.batch` > 0 the engine is served by a pull thread. */
static struct timing run_once(parley_engine *engine, const char *name, int run, struct host host)
{
    char out[512], *error = NULL;
    json_t *result = NULL;
    parley_job *handle = NULL;
    struct puller p;
    pthread_t thread;
    struct timing start, elapsed;
    int status;

    snprintf(out, sizeof out, "%s/%s-%d", root, name, run);
    json_object_set_new(job, "out", json_string(out));
    memset(&p, 0, sizeof p);
    p.engine = engine;
    p.host = host;
    pthread_mutex_init(&p.lock, NULL);

    start.wall = seconds(CLOCK_MONOTONIC);
    start.cpu = seconds(CLOCK_PROCESS_CPUTIME_ID);
    if (host.batch > 0 && pthread_create(&thread, NULL, pull_loop, &p) != 0)
        die("pthread_create", 0, NULL);
    if ((status = parley_job_start_json(engine, job, &handle, &error)) != PARLEY_OK)
        die(name, status, error);
    if ((status = parley_job_wait_json(handle, -1, &result, &error)) != PARLEY_OK)
        die(name, status, error);
    elapsed.wall = seconds(CLOCK_MONOTONIC) - start.wall;
    elapsed.cpu = seconds(CLOCK_PROCESS_CPUTIME_ID) - start.cpu;
    elapsed.batch = 0;
    if (host.batch > 0) {
        pthread_mutex_lock(&p.lock);
        p.stop = 1;
        pthread_mutex_unlock(&p.lock);
        pthread_join(thread, NULL);
        elapsed.batch = (double)p.taken / (double)(p.takes ? p.takes : 1);
    }
    pthread_mutex_destroy(&p.lock);

    /* Exactly the planned requests, or the figure means nothing. */
    json_t *summary = json_object_get(result, "summary");
    if (json_integer_value(json_object_get(summary, "finished")) != dialogues ||
        json_integer_value(json_object_get(summary, "generated_messages")) != dialogues * REQUESTS_PER_DIALOGUE) {
        char *s = json_dumps(summary, 0);
        fprintf(stderr, "bench: %s: expected %d dialogues of %d generated messages: %s\n", name, dialogues,
                REQUESTS_PER_DIALOGUE, s);
        exit(1);
    }
    json_decref(result);
    parley_job_free(handle);
    return elapsed;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The medians of wall and of CPU time, each over RUNS runs, and the mean batch. */
static struct timing median_time(parley_engine *engine, const char *name, struct host host)
{
    double wall[RUNS], cpu[RUNS], batches = 0;
    struct timing t;
    int i;
    for (i = 0; i < RUNS; i++) {
        t = run_once(engine, name, i, host);
        wall[i] = t.wall;
        cpu[i] = t.cpu;
        batches += t.batch;
    }
    qsort(wall, RUNS, sizeof wall[0], by_value);
    qsort(cpu, RUNS, sizeof cpu[0], by_value);
    t.wall = wall[RUNS / 2];
    t.cpu = cpu[RUNS / 2];
    t.batch = batches / RUNS;
    return t;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

/* Whether the path named `name` runs (see `only`). */
static int chosen(const char *name)
{
    return only == NULL || strcmp(name, only) == 0;
}

/* Per request: wall and CPU microseconds, and what each adds to the baseline's;
 * for a pull host, the mean batch it took. */
static void report(const char *name, struct timing t, struct timing baseline)
{
    double per = 1e6 / (dialogues * REQUESTS_PER_DIALOGUE);
    printf("%-24s %9.3f %10.2f %10.2f %10.2f %10.2f", name, t.wall, t.wall * per, (t.wall - baseline.wall) * per,
           t.cpu * per, (t.cpu - baseline.cpu) * per);
    if (t.batch > 0)
        printf(" %8.1f", t.batch);
    printf("\n");
}

int main(int argc, char **argv)
{
    static const int batches[] = {1, 64, 512};
    static const struct host none = {0, 0, 0};
    parley_engine *scripted, *callback, *inline_callback, *pull;
    char *error = NULL, name[32];
    json_t *seeds = json_array();
    struct timing baseline;
    int i, status;

    if (argc > 1)
        dialogues = atoi(argv[1]);
    if (argc > 2)
        only = argv[2];
    if (dialogues <= 0 || !mkdtemp(root)) {
        fprintf(stderr, "usage: bench [dialogues [path]]\n");
        return 1;
    }
    for (i = 0; i < dialogues; i++) {
        char q[32];
        snprintf(q, sizeof q, "question %d?", i);
        json_array_append_new(seeds, json_pack("{s:s}", "question", q));
    }
    job = json_pack("{s:o, s:s}", "seeds", seeds, "return", "summary");

    scripted = engine_with(SCRIPTED);
    callback = engine_with(HOST);
    inline_callback = engine_with(NONBLOCKING_HOST);
    pull = engine_with(HOST);
    if ((status = parley_engine_set_callback(callback, "b", numbered, NULL, &error)) != PARLEY_OK ||
        (status = parley_engine_set_callback(inline_callback, "b", numbered, NULL, &error)) != PARLEY_OK ||
        (status = parley_engine_use_pull(pull, "b", &error)) != PARLEY_OK)
        die("host backend", status, error);

    run_once(scripted, "warmup", 0, none); /* first-use costs stay out of the figures */
    printf("Parley %s: %d dialogues x %d requests, median of %d runs\n", parley_version(), dialogues,
           REQUESTS_PER_DIALOGUE, RUNS);
    printf("%-24s %9s %10s %10s %10s %10s %8s\n", "path", "seconds", "wall us", "+wall us", "CPU us", "+CPU us",
           "batch");
    baseline = median_time(scripted, "scripted", none);
    report("scripted (baseline)", baseline, baseline);
    if (chosen("callback"))
        report("callback", median_time(callback, "callback", none), baseline);
    if (chosen("callback, inline"))
        report("callback, inline", median_time(inline_callback, "inline", none), baseline);
    for (i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "pull batch %d", batches[i]);
        if (chosen(name))
            report(name, median_time(pull, name, (struct host){batches[i], 0, 0}), baseline);
    }
    /* The wall time of this one is the model's: 1 ms per 64 requests. */
    if (chosen("pull batch 64, 1 ms step"))
        report("pull batch 64, 1 ms step", median_time(pull, "stepped", (struct host){64, 1000, 0}), baseline);
    if (chosen("pull json_t, 1 ms step"))
        report("pull json_t, 1 ms step", median_time(pull, "json_t", (struct host){64, 1000, 1}), baseline);

    parley_engine_free(scripted);
    parley_engine_free(callback);
    parley_engine_free(inline_callback);
    parley_engine_free(pull);
    json_decref(job);
    nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
