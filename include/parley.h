/*
 * parley.h -- the C ABI of Parley, an engine for synthesising and evaluating
 * multi-turn dialogue data with language models.
 *
 * Configuration, jobs, requests and results are JSON. Every JSON entry point has
 * two faces: one takes and returns `const char *` text (for ctypes and any FFI),
 * the other `json_t *` values of jansson (for C hosts that use jansson). The
 * config schema is the one of `parley synth --config` (see README.md).
 *
 * Return values
 *   Every function that can fail returns an `int` status: PARLEY_OK (0) or one
 *   of the PARLEY_ERR_* codes below. Functions that take a `char **error` set it,
 *   on failure only and when it is not NULL, to a new string saying what went
 *   wrong (for config errors: every problem with its path, one per line). Free
 *   it with parley_string_free(). On success `*error` is left untouched.
 *
 * Ownership
 *   - Strings the library returns through `char **` are the caller's: free each
 *     with parley_string_free() (never with free()).
 *   - Strings the caller passes are borrowed for the duration of the call only;
 *     the library copies what it keeps.
 *   - `json_t *` arguments are borrowed (their reference count is unchanged);
 *     `json_t **` results are new references the caller must json_decref().
 *   - Handles (parley_engine, parley_job, parley_batch) come from
 *     parley_engine_new(), parley_job_start() and parley_pull_take_batch() and
 *     are released by the matching _free function. A
 *     freed or unknown handle is detected and reported as PARLEY_ERR_HANDLE,
 *     not a crash: handles are ids, never reused.
 *   - parley_version() returns a static string: do not free it.
 *
 * Thread safety
 *   - Every function may be called from any thread, concurrently.
 *   - An engine may run several jobs at once; its host backends serve them all.
 *   - Host callbacks run on Parley's own threads, several at once: a pool that
 *     starts with one thread and grows while requests wait, doubling (up to one
 *     thread per waiting request) when no callback has started for 10 ms (its
 *     threads are blocked), by one up to the CPU count when its threads stay busy
 *     with callbacks of a millisecond or more. They may block, and they may call
 *     back into the library. They never run on the thread that started the job.
 *     A backend configured "blocking": false promises a callback that answers at
 *     once (no I/O, no waiting, no blocking parley_ call): it is then called on
 *     Parley's worker threads directly, which saves two thread hand-offs per
 *     request.
 *   - Functions marked "Blocks" wait on the calling thread. Call them from host
 *     threads (or from callbacks), as you would any blocking I/O.
 *
 * Inputs are checked: NULL pointers, invalid UTF-8, malformed JSON, values of the
 * wrong type and unknown handles are reported with an error code. Nothing that
 * crosses this ABI can make the library abort the host process.
 */
#ifndef PARLEY_H
#define PARLEY_H

#ifdef __cplusplus
extern "C" {
#endif

/* The library version, as text and as numbers. */
#define PARLEY_VERSION "0.1.0"
#define PARLEY_VERSION_MAJOR 0
#define PARLEY_VERSION_MINOR 1
#define PARLEY_VERSION_PATCH 0

/* The version of the ABI and of its JSON shapes (jobs, requests, results,
 * events). It changes whenever either changes incompatibly. */
#define PARLEY_ABI_VERSION 1

/* Status codes. */
#define PARLEY_OK 0
#define PARLEY_ERR_ARGUMENT 1   /* a NULL pointer, invalid UTF-8, a bad number  */
#define PARLEY_ERR_JSON 2       /* malformed JSON, or not the kind of value asked
                                   for (an array where an object belongs)      */
#define PARLEY_ERR_CONFIG 3     /* a config, job or answer list that parses but
                                   is invalid:
                                   every problem with its path in the message  */
#define PARLEY_ERR_HANDLE 4     /* an unknown or already freed handle            */
#define PARLEY_ERR_IO 5         /* files: seeds, run directory                   */
#define PARLEY_ERR_TIMEOUT 6    /* nothing happened within the timeout           */
#define PARLEY_ERR_CANCELLED 7  /* the job was cancelled                         */
#define PARLEY_ERR_STATE 8      /* not possible now (e.g. a backend in use)      */
#define PARLEY_ERR_INTERNAL 9   /* a bug in Parley: please report it             */

/* Opaque handles. */
typedef struct parley_engine parley_engine;
typedef struct parley_job parley_job;
/* The answer to one generation request, filled in by a host callback or for a
 * request of a pull batch. */
typedef struct parley_reply parley_reply;
/* Requests taken from a pull queue together, answered in place. */
typedef struct parley_batch parley_batch;

/* jansson's value type. Include <jansson.h> to use the json_t faces. */
struct json_t;

/* ------------------------------------------------------------------------- */
/* Version and strings                                                        */

/* The library's version, e.g. "0.1.0". Static: do not free. */
const char *parley_version(void);

/* The ABI version the library was built with (compare with PARLEY_ABI_VERSION). */
int parley_abi_version(void);

/* Frees a string the library returned. NULL is ignored. */
void parley_string_free(char *s);

/* A short, static description of a status code ("PARLEY_ERR_JSON: ..."), or
 * "unknown status code". Do not free. */
const char *parley_status_name(int status);

/* ------------------------------------------------------------------------- */
/* Configs and engines                                                        */

/* Validates a config (the JSON text of `parley synth --config`, or of
 * `parley eval --config` with "recipe": "eval": its rows then carry the judge's
 * verdicts in meta.judgments). Returns
 * PARLEY_OK, or PARLEY_ERR_JSON / PARLEY_ERR_CONFIG with every problem and its
 * path in *error. */
int parley_config_validate(const char *config_json, char **error);
int parley_config_validate_json(const struct json_t *config, char **error);

/* Creates an engine from a config. On success *engine is a new handle, freed
 * with parley_engine_free(). Every backend of type "host" in the config must
 * then be given a model with parley_engine_set_callback() or
 * parley_engine_use_pull() before a job starts (a job started earlier fails
 * with PARLEY_ERR_CONFIG naming the backend). */
int parley_engine_new(const char *config_json, parley_engine **engine, char **error);
int parley_engine_new_json(const struct json_t *config, parley_engine **engine, char **error);

/* Frees an engine. Jobs still running on it keep what they need and finish;
 * free them with parley_job_free(). Returns PARLEY_ERR_HANDLE for an unknown
 * handle. */
int parley_engine_free(parley_engine *engine);

/* ------------------------------------------------------------------------- */
/* Host backends: the host's own model plays a role                          */

/* A generation callback. `request_json` (borrowed, valid during the call) is
 *   {"ticket", "dialogue_id", "turn", "role", "attempt", "model", "max_tokens",
 *    "temperature", "top_p", "stop": [..], "seed", "params": {..},
 *    "messages": [{"role", "content"}, ..]  -- chat requests, or
 *    "prompt": "..."}                      -- completion requests
 * ("turn" is the index of the message being written in the dialogue: 0, 1, 2...;
 * "attempt" is 1 for the first try; "params", only when the role sets it, holds the
 * role's other sampling fields, such as "top_k" or "min_p", as configured.) Answer through `reply` (valid during the call only) with
 * parley_reply_set_text() or parley_reply_set_error(), and return 0. A non-zero
 * return without an error set fails the request as "callback returned N".
 * The callback runs on a Parley thread and may block; it may call any parley_
 * function (with "blocking": false in the backend's config: it must not block, and
 * may call only parley_reply_ functions). `user_data` is passed through untouched. */
typedef int (*parley_generate_fn)(const char *request_json, parley_reply *reply, void *user_data);

/* Serves the "host" backend named `backend` with a callback. Call before
 * starting jobs; returns PARLEY_ERR_STATE if the backend is already served and
 * PARLEY_ERR_CONFIG if the config has no such host backend. `fn` and
 * `user_data` must stay valid until the engine and its jobs are freed. */
int parley_engine_set_callback(parley_engine *engine, const char *backend,
                               parley_generate_fn fn, void *user_data, char **error);

/* The callback's answer: the generated text (copied) and, optionally, why
 * generation stopped ("stop", "length"; NULL for unknown). */
int parley_reply_set_text(parley_reply *reply, const char *text, const char *finish_reason);

/* Token usage of the answer, when the model reports it (negative: unknown). */
int parley_reply_set_usage(parley_reply *reply, int prompt_tokens, int completion_tokens);

/* The request failed: `message` (copied) is recorded; a retryable failure is
 * tried again after a backoff, up to the backend's max_retries. */
int parley_reply_set_error(parley_reply *reply, const char *message, int retryable);

/* Serves the "host" backend named `backend` through the pull queue: requests
 * wait until the host takes them with parley_pull_take() and answers them with
 * parley_pull_submit(). No Parley thread ever calls the host. Same errors as
 * parley_engine_set_callback(). */
int parley_engine_use_pull(parley_engine *engine, const char *backend, char **error);

/* Takes up to `max` waiting requests of a pull backend, oldest first. Blocks up
 * to `timeout_seconds` (finite, >= 0; 0: do not wait) for the first one. A
 * backend not served by the pull queue is PARLEY_ERR_STATE. On success
 * *requests_json is a new JSON array (possibly empty) of request objects as a
 * callback receives them; each has a "ticket" to answer by. Returns PARLEY_OK
 * with an empty array on timeout. Blocks. */
int parley_pull_take(parley_engine *engine, const char *backend, int max, double timeout_seconds,
                     char **requests_json, char **error);
int parley_pull_take_json(parley_engine *engine, const char *backend, int max, double timeout_seconds,
                          struct json_t **requests, char **error);

/* Answers taken requests: a JSON array of
 *   {"ticket", "text", "finish_reason"?, "prompt_tokens"?, "completion_tokens"?}
 * or {"ticket", "error": "message", "retryable"?: bool}.
 * Answers are all checked before any is delivered; an unknown or already
 * answered ticket fails the call with PARLEY_ERR_ARGUMENT and delivers nothing.
 * A backend not served by the pull queue is PARLEY_ERR_STATE. */
int parley_pull_submit(parley_engine *engine, const char *backend, const char *results_json, char **error);
int parley_pull_submit_json(parley_engine *engine, const char *backend, const struct json_t *results,
                            char **error);

/* ------------------------------------------------------------------------- */
/* Pull batches: the pull queue without JSON trees                            */

/* A pull batch holds each taken request's JSON text, borrowed from the batch,
 * and a parley_reply for each, answered with the parley_reply_ functions: the
 * host builds no JSON and looks up no ticket. From C it is the cheapest face of
 * the pull queue: the json_t face makes about 77 allocations per request
 * of an 8-message prompt, which cost more than the rest of the round trip
 * (benchmarks/c). A host answers, then frees the batch:
 *
 *     parley_batch *batch;
 *     parley_pull_take_batch(engine, "model", 64, 1.0, &batch, &error);
 *     for (int i = 0; i < parley_batch_size(batch); i++)
 *         parley_reply_set_text(parley_batch_reply(batch, i),
 *                               generate(parley_batch_request(batch, i)), "stop");
 *     parley_batch_free(batch);
 */

/* Takes up to `max` waiting requests of a pull backend, as parley_pull_take()
 * does (the same waits and errors). On success *batch is a new batch, possibly
 * empty, that the caller frees with parley_batch_free(). Blocks. */
int parley_pull_take_batch(parley_engine *engine, const char *backend, int max, double timeout_seconds,
                           parley_batch **batch, char **error);

/* The number of requests in `batch`; -1 for a handle that is not a live batch. */
int parley_batch_size(parley_batch *batch);

/* Request `i`'s JSON text, as a callback receives it (its "ticket" only names
 * it: answer through parley_batch_reply()). Borrowed: valid until the batch is
 * freed. NULL for a bad batch or index. */
const char *parley_batch_request(parley_batch *batch, int i);

/* The reply of request `i`: answer it with parley_reply_set_text() or
 * parley_reply_set_error() (and parley_reply_set_usage() before them).
 * Borrowed: valid until the batch is freed. NULL for a bad batch or index. The
 * replies of one batch may be set from different threads. */
parley_reply *parley_batch_reply(parley_batch *batch, int i);

/* Delivers the answers set since the last submit, so that their dialogues go
 * on without waiting for the rest of the batch. A delivered reply cannot be
 * set again (PARLEY_ERR_STATE). Returns PARLEY_ERR_HANDLE for a handle that is
 * not a live batch. */
int parley_batch_submit(parley_batch *batch);

/* Delivers the answers not yet delivered and frees the batch. A request left
 * without an answer fails with a retryable error ("the host freed its batch
 * without answering"): it is asked again, up to the backend's max_retries.
 * Returns PARLEY_ERR_HANDLE for a handle that is not a live batch. */
int parley_batch_free(parley_batch *batch);

/* ------------------------------------------------------------------------- */
/* Jobs                                                                       */

/* A job says what to run:
 *   {"seeds": [{"question": ..}, ..]   -- seeds as objects (or JSONL lines), or
 *    "seeds_file": "path",             -- a seeds file
 *    "out": "run directory",           -- default: the config's output.dir
 *    "fresh": false,                   -- discard an earlier run in "out"
 *    "shard": "K/N",                   -- only shard K of N of the seeds
 *                                         (default: the config's run.shard)
 *    "return": "dialogues"}            -- or "summary"
 * The result is
 *   {"summary": {..summary.json..}, "out": "dir", "files": {"dialogues": path, ..},
 *    "dialogues": [..rows of dialogues.jsonl..]}   -- unless "return": "summary"
 * Running again on the same "out" resumes, as `parley synth` does. A job the
 * config's run.budget stopped ends with PARLEY_OK and "stopped": "budget" in its
 * summary (resumable with a larger budget); the summary's "serving" has each
 * backend's per-server requests, tokens, cache hits and concurrency limits. */

/* Runs a job to its end and returns its result in *result_json. Blocks. */
int parley_run(parley_engine *engine, const char *job_json, char **result_json, char **error);
int parley_run_json(parley_engine *engine, const struct json_t *job, struct json_t **result, char **error);

/* Starts a job in the background. *job is a new handle, freed with parley_job_free().
 * The job holds its "out" directory until it ends: while another job, in this
 * process or any other (a `parley synth`, on this host or another sharing the
 * directory), holds it, the start fails at once with PARLEY_ERR_STATE and a
 * message naming the directory and its holder. parley_run() fails the same way. */
int parley_job_start(parley_engine *engine, const char *job_json, parley_job **job, char **error);
int parley_job_start_json(parley_engine *engine, const struct json_t *job, parley_job **out, char **error);

/* A snapshot of a job's progress, as new JSON in *progress_json:
 *   {"state": "running"|"done"|"failed"|"cancelled", "seeds", "ended", "failed",
 *    "messages", "tokens", "in_flight", "resumed"}
 * ("seeds" is 0 until the job has counted them, just after it starts; "resumed"
 * counts the dialogues an earlier run of the directory had already ended.) */
int parley_job_progress(parley_job *job, char **progress_json, char **error);

/* Asks a job to stop, from any thread; it stops soon after and stays resumable.
 * Cancelling a finished job does nothing. */
int parley_job_cancel(parley_job *job);

/* Waits up to `timeout_seconds` (negative: forever; NaN is PARLEY_ERR_ARGUMENT)
 * for the job to end; then
 * *result_json is its result as parley_run() returns it. Returns
 * PARLEY_ERR_TIMEOUT if it is still running, PARLEY_ERR_CANCELLED if it was
 * cancelled (the result then holds the summary so far). Blocks. */
int parley_job_wait(parley_job *job, double timeout_seconds, char **result_json, char **error);
int parley_job_wait_json(parley_job *job, double timeout_seconds, struct json_t **result, char **error);

/* The job's next event, waiting up to `timeout_seconds` for one (0: do not
 * wait). Events, as new JSON in *event_json:
 *   {"event": "dialogue_started", "id", "resumed"}
 *   {"event": "message", "id", "index", "role"}
 *   {"event": "dialogue_ended", "id", "status", "end_reason"}
 *   {"event": "limit", "backend", "url", "limit"}  -- a server's adaptive
 *                                             concurrency limit changed
 *   {"event": "metrics", "url"}              -- the live metrics are served
 *                                             at url (run.metrics)
 *   {"event": "job_ended", "state"}          -- the last event of a job
 * Returns PARLEY_ERR_TIMEOUT when there is none yet. The queue keeps the newest
 * 100000 events; older unread ones are dropped. Blocks. */
int parley_job_next_event(parley_job *job, double timeout_seconds, char **event_json, char **error);

/* Frees a job: cancels it if it is still running and waits for it to stop.
 * Blocks. Returns PARLEY_ERR_HANDLE for an unknown handle. */
int parley_job_free(parley_job *job);

/* ------------------------------------------------------------------------- */
/* Shards                                                                     */

/* Merges the run directories of a config's shards (run.shard or the job's
 * "shard") into one, as `parley merge` does. `request_json` (borrowed) is
 *   {"dirs": ["shard dir", ..], "out": "merged dir"}
 * Every file's rows are written in seed-line order; the merged summary (the
 * shards' counts added up, plus "shards") is returned as new JSON in
 * *result_json and written to out/summary.json. Fails with PARLEY_ERR_STATE and
 * a message naming each directory of another config and each missing, repeated,
 * unfinished or still running shard; PARLEY_ERR_IO for files; PARLEY_ERR_JSON /
 * PARLEY_ERR_CONFIG for a malformed request. Blocks. */
int parley_merge(const char *request_json, char **result_json, char **error);

#ifdef __cplusplus
}
#endif

#endif /* PARLEY_H */
