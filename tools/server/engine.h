/* engine.h: bitnet-server's scheduler: slots, the wait queue, and the
 * continuous-batching loop.
 *
 * One engine thread owns the batch and every slot (a slot = a bn_session +
 * the token ids its KV cache holds). HTTP threads hand tasks over with
 * srv_engine_submit; the engine admits them into free slots between steps,
 * and each step calls bn_batch_eval once for all busy slots: one token for
 * each decoding slot, and prompt chunks for prefilling slots from what is
 * left of --batch-size, so a long prompt never stalls the streams that are
 * decoding. A slot keeps its KV cache after a request; a new request goes to
 * the free slot whose cached tokens share the longest prefix with its prompt,
 * and only the rest of the prompt is evaluated (llama-server's cache_prompt).
 *
 * A task carries its prompt ids and sampling parameters in, and its text out:
 * the engine appends the reply's text as it is produced (valid UTF-8 pieces,
 * stop strings already cut, held back while they could still match) and
 * signals the task's condition variable; the HTTP thread reads with
 * srv_task_wait. Tasks are reference-counted (the submitter and the engine);
 * srv_task_cancel (a client gone) makes the engine free the slot at its next
 * step. Every shared field is guarded by the engine's mutex.
 */
#ifndef BN_SERVER_ENGINE_H
#define BN_SERVER_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/bitnet.h"

typedef struct srv_engine srv_engine;
typedef struct srv_task srv_task;

typedef struct srv_engine_options {
    int32_t n_parallel;  /* slots */
    int32_t n_ctx;       /* KV positions per slot */
    int32_t n_batch;     /* tokens per step, all slots together */
    int32_t n_prefill_decoding; /* prompt tokens per step while any slot generates
                                   (<= n_batch): bounds the gap that a new prompt
                                   puts between two tokens of the running streams */
    int32_t queue_size;  /* tasks that may wait for a slot */
    int n_threads;
} srv_engine_options;

/* What a task asks for. The engine copies everything. */
typedef struct srv_task_params {
    const int32_t *prompt;
    int32_t n_prompt;               /* 1 <= n_prompt < n_ctx */
    bn_sampler_params sampling;
    int32_t max_tokens;             /* > 0 */
    const char *const *stop;        /* stop strings (cut from the text) */
    size_t n_stop;
    const int32_t *stop_ids;        /* stop tokens beyond the model's end-of-generation set */
    size_t n_stop_ids;
    double time_limit_s;            /* the reply ends ("length") after this long */
    bool ignore_eos;                /* only stop_ids, stop strings and limits end the reply */
} srv_task_params;

/* A snapshot of a task, as srv_task_wait returns it. */
typedef struct srv_task_state {
    bool done;
    const char *finish_reason; /* "stop" or "length" once done; NULL before */
    const char *error;         /* non-NULL when the engine failed the task */
    int32_t n_prompt;          /* prompt tokens */
    int32_t n_cached;          /* of which reused from the slot's cache */
    int32_t n_gen;             /* tokens generated so far */
    double queue_ms, prompt_ms, total_ms; /* waiting; admission to first token; submit to end */
    bool timed_out;
} srv_task_state;

typedef enum srv_submit_result {
    SRV_SUBMIT_OK = 0,
    SRV_SUBMIT_QUEUE_FULL,
    SRV_SUBMIT_STOPPING,
    SRV_SUBMIT_NO_MEMORY,
} srv_submit_result;

typedef struct srv_metrics {
    uint64_t requests_total;       /* tasks finished */
    uint64_t requests_cancelled;   /* of which cancelled (client gone) */
    uint64_t prompt_tokens_total;  /* prompt tokens of finished and running tasks */
    uint64_t prompt_tokens_cached; /* of which reused from a slot's cache */
    uint64_t prompt_tokens_evaluated;
    uint64_t gen_tokens_total;
    uint64_t steps_total;
    double prompt_seconds, gen_seconds; /* time of steps with prefill, of decode-only steps */
    int32_t queue_depth, busy_slots, n_slots;
    double gen_tokens_per_s;       /* over the last few seconds */
} srv_metrics;

bn_status srv_engine_new(const bn_model *model, const srv_engine_options *opts, srv_engine **out,
                         bn_error *err);
/* Stops the engine thread (after srv_engine_drain, or at once: running tasks
 * end with an error) and frees everything. Tasks still referenced by their
 * submitters stay valid until released. */
void srv_engine_free(srv_engine *engine);

/* Creates a task and queues it. On SRV_SUBMIT_OK *out holds the caller's
 * reference (release it with srv_task_release). */
srv_submit_result srv_engine_submit(srv_engine *engine, const srv_task_params *params,
                                    srv_task **out);

/* Stops admitting new tasks (submit gives SRV_SUBMIT_STOPPING) and waits up
 * to timeout_s for the queued and running ones to finish; those left are
 * cancelled. Returns the number cancelled. */
int srv_engine_drain(srv_engine *engine, double timeout_s);

void srv_engine_metrics(srv_engine *engine, srv_metrics *out);

/* Waits up to timeout_ms for text beyond *offset or for the end. Appends
 * the new text to *text and *len (realloc'd; the caller frees), advances
 * *offset, and fills *state. Returns false only when out of memory. */
bool srv_task_wait(srv_task *task, int timeout_ms, size_t *offset, char **text, size_t *len,
                   srv_task_state *state);
/* The client is gone: the engine drops the task at its next step. */
void srv_task_cancel(srv_task *task);
void srv_task_release(srv_task *task);

#endif
