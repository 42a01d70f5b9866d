/*
 * synth.c: synthesises dialogues from C, with the host's own model.
 *
 * Both roles of the config below use a "host" backend that this program serves
 * with a callback: a trivial deterministic generator standing in for a real
 * inference engine. Results come back as jansson values and are printed.
 *
 *   make -C examples/c run                   (or, from the repository root:)
 *   cc -std=c99 -Iinclude examples/c/synth.c -L.build-lib -lparley -ljansson \
 *      -Wl,-rpath,$PWD/.build-lib -o synth && ./synth [run-dir]
 *
 * libparley.so comes from scripts/build-lib.
 */
#include <jansson.h>
#include <parley.h>
#include <stdio.h>
#include <string.h>

static const char CONFIG[] =
    "{\"backends\": {\"tiny\": {\"type\": \"host\", \"max_concurrency\": 4}},"
    " \"roles\": {\"asker\": {\"backend\": \"tiny\", \"max_tokens\": 64},"
    "            \"assistant\": {\"backend\": \"tiny\", \"system_prompt\": \"You are terse.\", \"max_tokens\": 64}},"
    " \"turns\": {\"max\": 3}, \"run\": {\"seed\": 1}}";

/* What the callback gets as user_data: here just a name to sign answers with. */
struct model {
    const char *name;
};

/* The "model": the assistant echoes the last thing it was asked; the asker (a
 * prompted chat model here) opens a free dialogue or asks a follow-up. "turn" is
 * the message's index in the dialogue. Runs on Parley's threads, several calls
 * at once, so it touches no shared state. */
static int generate(const char *request_json, parley_reply *reply, void *user_data)
{
    const struct model *model = user_data;
    json_t *req = json_loads(request_json, 0, NULL);
    json_t *messages = json_object_get(req, "messages");
    const char *role = json_string_value(json_object_get(req, "role"));
    const char *last = json_string_value(json_object_get(json_array_get(messages, json_array_size(messages) - 1),
                                                         "content"));
    int turn = (int)json_integer_value(json_object_get(req, "turn"));
    char text[512];

    if (!req || !role || !last) {
        json_decref(req);
        parley_reply_set_error(reply, "unexpected request", 0);
        return 0;
    }
    if (strcmp(role, "assistant") == 0)
        snprintf(text, sizeof text, "[%s] You asked \"%.80s\" (%zu characters).", model->name, last, strlen(last));
    else if (turn == 0)
        snprintf(text, sizeof text, "Hi! Where should I start?");
    else
        snprintf(text, sizeof text, "And why is that? (question %d)", turn / 2 + 1);
    json_decref(req);
    parley_reply_set_text(reply, text, "stop");
    return 0;
}

int main(int argc, char **argv)
{
    struct model model = {"tiny-model"};
    const char *out = argc > 1 ? argv[1] : "runs/synth-c";
    parley_engine *engine = NULL;
    json_t *job, *result = NULL, *row, *msg;
    char *error = NULL;
    size_t i, j;
    int status;

    printf("Parley %s (ABI %d)\n", parley_version(), parley_abi_version());
    if (parley_engine_new(CONFIG, &engine, &error) != PARLEY_OK ||
        parley_engine_set_callback(engine, "tiny", generate, &model, &error) != PARLEY_OK) {
        fprintf(stderr, "synth: %s\n", error);
        parley_string_free(error);
        parley_engine_free(engine); /* NULL when new failed: then an ARGUMENT status, ignored */
        return 1;
    }

    /* Question seeds and one free seed, where the asker opens on a topic. */
    job = json_pack("{s:[{s:s}, {s:s}, {s:s}], s:s, s:b}", "seeds", "question", "Why is the sky blue?",
                    "question", "How do magnets work?", "topic", "gardening", "out", out, "fresh", 1);
    status = parley_run_json(engine, job, &result, &error);
    json_decref(job);
    if (status != PARLEY_OK) {
        fprintf(stderr, "synth: %s: %s\n", parley_status_name(status), error);
        parley_string_free(error);
        parley_engine_free(engine);
        return 1;
    }

    json_array_foreach(json_object_get(result, "dialogues"), i, row) {
        printf("\n== %s (%d turns, %s)\n", json_string_value(json_object_get(row, "id")),
               (int)json_integer_value(json_object_get(row, "turns")),
               json_string_value(json_object_get(row, "end_reason")));
        json_array_foreach(json_object_get(row, "conversations"), j, msg)
            printf("  %-6s %s\n", json_string_value(json_object_get(msg, "from")),
                   json_string_value(json_object_get(msg, "value")));
    }
    printf("\n%d dialogues in %s\n", (int)json_integer_value(json_object_get(json_object_get(result, "summary"),
                                                                             "finished")),
           json_string_value(json_object_get(result, "out")));
    json_decref(result);
    parley_engine_free(engine);
    return 0;
}
