/* sgd: the Faasm paper's SGD experiment, small. A linear model (least squares) trained with
 * HOGWILD! SGD on a generated sparse data set held in state, its weights in state too.
 *
 * Input: `setup` or `train`, then `key=value` options separated by spaces (all optional):
 * mode=shared|copy workers=N epochs=E examples=M features=F nnz=K rate_millis=R seed=S.
 *
 * - `setup` generates the data set (fixed seed) and writes it to the state values
 *   `sgd_data_0` .. `sgd_data_7` (8 partitions of M/8 examples: K int32 feature indices and K
 *   float values each) and `sgd_labels_0` .. `sgd_labels_7`, and pushes them: the global tier
 *   then holds the data, as it would for functions on many hosts.
 * - `train` writes the configuration (`sgd_config`) and zero weights (`sgd_weights`, F floats),
 *   pushes both, then for each epoch chains N workers (this module at `worker`, input = the
 *   worker's index) and awaits them; worker k trains on the partitions p with p % N == k.
 *   Output: `mode=... workers=N epochs=E loss=L`, the mean squared error over partition 0.
 *
 * Every worker collects its updates in a private delta and adds them to the weights every 1,024
 * examples (BATCH; its own pending updates count in its predictions): with HOGWILD! on shared
 * weights, updating them at every example made the cores fight over the weights' cache lines,
 * so that 2 workers were twice as slow as 1; with batches of 256 they were still only 1.2x as
 * fast as 1, with 1,024 1.5x (the loss stays within 1% of one worker's). Both modes train the
 * same way.
 *
 * The two modes differ only in how a worker reaches state:
 * - `shared` (Faaslets): partitions and weights are mapped into its memory with
 *   `__faasm_read_state_ptr` (one copy per host, shared by every worker there; partitions
 *   pulled from the global tier once per host); workers update the weights in place, and every
 *   1,024 examples (SYNC) each exchanges what it added with the global tier (see `share`), so
 *   that workers on every host train on the same weights.
 * - `copy` (the container baseline): a worker pulls each partition and the weights from the
 *   global tier (`__faasm_pull_state`), copies them into private memory (`__faasm_read_state`),
 *   trains on its copy of the weights and every 1,024 examples (SYNC) adds its changes to the
 *   global tier's weights under the global write lock, pushes them whole and carries on from
 *   the result (asynchronous SGD, as a parameter server would do it). */
#include <faasm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PARTITIONS 8
/* Examples between two applications of a worker's updates to the weights. */
#define BATCH 1024
/* Examples between two exchanges of a copy-mode worker's weights with the global tier. */
#define SYNC 1024
#define MAX_WORKERS PARTITIONS

struct config {
    int32_t shared;
    int32_t workers;
    int32_t epochs;
    int32_t examples;
    int32_t features;
    int32_t nnz;
    float rate;
    uint32_t seed;
};

/* splitmix64. */
static uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static float unit(uint64_t x) { return (float)(mix(x) >> 40) / (float)(1ull << 24); }

static int32_t per_partition(const struct config *c) { return c->examples / PARTITIONS; }

/* Bytes of one partition's examples: K indices and K values each. */
static long data_bytes(const struct config *c) {
    return (long)per_partition(c) * c->nnz * 8;
}

static long label_bytes(const struct config *c) { return (long)per_partition(c) * 4; }

static void key_of(char *key, const char *prefix, int p) { sprintf(key, "%s_%d", prefix, p); }

static int read_config(struct config *c) {
    return __faasm_read_state("sgd_config", (unsigned char *)c, sizeof *c) == (long)sizeof *c
               ? 0
               : 1;
}

/* Adds a worker's pending updates `delta` to the weights and clears them, in feature order (a
 * sequential pass over the weights' cache lines). Branch-free: a test for zero mispredicted on
 * about half of the features and made this pass cost four times the training itself; a batch
 * touches most cache lines of the weights anyway. */
static void apply(const struct config *c, float *w, float *delta, float *unsynced) {
    if (unsynced != NULL)
        __faasm_lock_state_write("sgd_weights");
    for (int32_t f = 0; f < c->features; f++) {
        w[f] += delta[f];
        if (unsynced != NULL)
            unsynced[f] += delta[f];
        delta[f] = 0.0f;
    }
    if (unsynced != NULL)
        __faasm_unlock_state_write("sgd_weights");
}

/* SGD over `count` examples of a partition from example `first`: `data` holds K indices then K
 * values per example. Updates collect in
 * the worker's private `delta` and reach the (possibly shared) weights every BATCH examples:
 * workers on other cores then see the weights' cache lines change once per batch rather than
 * at every example (HOGWILD! with fewer collisions). */
static void train(const struct config *c, const unsigned char *data, const float *labels,
                  int32_t first, int32_t count, float *w, float *delta, float *unsynced) {
    for (int32_t i = first; i < first + count; i++) {
        const int32_t *index = (const int32_t *)(data + (size_t)i * c->nnz * 8);
        const float *value = (const float *)(index + c->nnz);
        float prediction = 0.0f;
        for (int32_t j = 0; j < c->nnz; j++)
            prediction += (w[index[j]] + delta[index[j]]) * value[j];
        float step = c->rate * (prediction - labels[i]);
        for (int32_t j = 0; j < c->nnz; j++)
            delta[index[j]] -= step * value[j];
        if ((i - first + 1) % BATCH == 0)
            apply(c, w, delta, unsynced);
    }
    apply(c, w, delta, unsynced);
}

/* A private copy of state value `key`, fetched from the global tier first. */
static unsigned char *fetch_copy(const char *key, long len) {
    unsigned char *copy = malloc((size_t)len);
    if (copy == NULL)
        return NULL;
    __faasm_pull_state(key, len);
    __faasm_read_state(key, copy, len);
    return copy;
}

/* Copy mode's exchange with the other workers, every SYNC examples: adds what this worker
 * changed in its copy `w` since `start` to the weights as they are now in the global tier (under
 * the global write lock), pushes them, and carries on from them (`w` and `start` both become
 * the merged weights). Writing the copy back whole instead would drop every update the other
 * workers pushed meanwhile; merging only at the end of a partition would add up deltas that
 * each moved the same weights from the same start, and diverges. */
static void sync(const struct config *c, float *w, float *start) {
    long weight_bytes = (long)c->features * 4;
    for (int32_t f = 0; f < c->features; f++)
        w[f] -= start[f];
    __faasm_lock_state_global_write("sgd_weights");
    __faasm_pull_state("sgd_weights", weight_bytes);
    __faasm_read_state("sgd_weights", (unsigned char *)start, weight_bytes);
    for (int32_t f = 0; f < c->features; f++)
        w[f] += start[f];
    __faasm_write_state("sgd_weights", (const unsigned char *)w, weight_bytes);
    __faasm_push_state("sgd_weights");
    __faasm_unlock_state_global_write("sgd_weights");
    memcpy(start, w, (size_t)weight_bytes);
}

/* Shared mode's exchange with the workers on other hosts, every SYNC examples: under the
 * global write lock (and this host's, so that no worker here applies updates meanwhile), this
 * host's copy of the weights becomes the global tier's, plus what this worker added since its
 * last exchange (`unsynced`), and is pushed. What the other workers here added since theirs
 * leaves the host's copy until their own exchange brings it back: every update reaches the
 * global weights exactly once, wherever its worker ran. */
static void share(const struct config *c, float *w, float *unsynced) {
    long weight_bytes = (long)c->features * 4;
    __faasm_lock_state_global_write("sgd_weights");
    __faasm_lock_state_write("sgd_weights");
    __faasm_pull_state("sgd_weights", weight_bytes);
    for (int32_t f = 0; f < c->features; f++) {
        w[f] += unsynced[f];
        unsynced[f] = 0.0f;
    }
    /* Written through the mapping: the push must know. */
    __faasm_flag_state_dirty("sgd_weights", weight_bytes);
    __faasm_push_state("sgd_weights");
    __faasm_unlock_state_write("sgd_weights");
    __faasm_unlock_state_global_write("sgd_weights");
}

/* The chained entry: worker `k` of the configuration's N, for one epoch. */
static int worker(int k) {
    struct config c;
    /* The configuration of this run, wherever this worker runs. */
    __faasm_pull_state("sgd_config", sizeof c);
    if (read_config(&c) != 0 || k < 0 || k >= c.workers)
        return 1;
    long weight_bytes = (long)c.features * 4;
    char data_key[32], label_key[32];
    float *delta = calloc((size_t)c.features, sizeof(float));
    if (delta == NULL)
        return 1;
    if (c.shared) {
        float *unsynced = calloc((size_t)c.features, sizeof(float));
        if (unsynced == NULL)
            return 1;
        float *w = (float *)__faasm_read_state_ptr("sgd_weights", weight_bytes);
        /* This host's copy may be from an earlier epoch or run: the global weights first. */
        share(&c, w, unsynced);
        for (int p = k; p < PARTITIONS; p += c.workers) {
            key_of(data_key, "sgd_data", p);
            key_of(label_key, "sgd_labels", p);
            const unsigned char *data = __faasm_read_state_ptr(data_key, data_bytes(&c));
            const float *labels =
                (const float *)__faasm_read_state_ptr(label_key, label_bytes(&c));
            for (int32_t first = 0; first < per_partition(&c); first += SYNC) {
                int32_t count =
                    per_partition(&c) - first < SYNC ? per_partition(&c) - first : SYNC;
                train(&c, data, labels, first, count, w, delta, unsynced);
                share(&c, w, unsynced);
            }
        }
        free(unsynced);
        free(delta);
        return 0;
    }
    float *w = (float *)fetch_copy("sgd_weights", weight_bytes);
    float *start = malloc((size_t)weight_bytes);
    if (w == NULL || start == NULL)
        return 1;
    memcpy(start, w, (size_t)weight_bytes);
    for (int p = k; p < PARTITIONS; p += c.workers) {
        key_of(data_key, "sgd_data", p);
        key_of(label_key, "sgd_labels", p);
        unsigned char *data = fetch_copy(data_key, data_bytes(&c));
        float *labels = (float *)fetch_copy(label_key, label_bytes(&c));
        if (data == NULL || labels == NULL)
            return 1;
        for (int32_t first = 0; first < per_partition(&c); first += SYNC) {
            int32_t count = per_partition(&c) - first < SYNC ? per_partition(&c) - first : SYNC;
            train(&c, data, labels, first, count, w, delta, NULL);
            sync(&c, w, start);
        }
        free(data);
        free(labels);
    }
    free(w);
    free(start);
    free(delta);
    return 0;
}

/* The value of `key=` in `input`, or `fallback`. */
static long option(const char *input, const char *key, long fallback) {
    size_t len = strlen(key);
    for (const char *p = input; (p = strstr(p, key)) != NULL; p += len)
        if ((p == input || p[-1] == ' ') && p[len] == '=')
            return strtol(p + len + 1, NULL, 10);
    return fallback;
}

static void setup(const struct config *c) {
    float *truth = malloc(sizeof(float) * (size_t)c->features);
    for (int32_t f = 0; f < c->features; f++)
        truth[f] = 2.0f * unit(((uint64_t)c->seed << 32) ^ 0x5eedull ^ ((uint64_t)f << 1)) - 1.0f;
    unsigned char *data = malloc((size_t)data_bytes(c));
    float *labels = malloc((size_t)label_bytes(c));
    char key[32];
    for (int p = 0; p < PARTITIONS; p++) {
        for (int32_t i = 0; i < per_partition(c); i++) {
            uint64_t base = mix(((uint64_t)c->seed << 32) ^ (uint64_t)(p * per_partition(c) + i));
            int32_t *index = (int32_t *)(data + (size_t)i * c->nnz * 8);
            float *value = (float *)(index + c->nnz);
            float label = 0.0f;
            for (int32_t j = 0; j < c->nnz; j++) {
                index[j] = (int32_t)(mix(base + 2 * (uint64_t)j) % (uint64_t)c->features);
                value[j] = unit(base + 2 * (uint64_t)j + 1);
                label += truth[index[j]] * value[j];
            }
            labels[i] = label + 0.01f * (unit(base ^ 0xabcdefull) - 0.5f);
        }
        key_of(key, "sgd_data", p);
        __faasm_write_state(key, data, data_bytes(c));
        __faasm_push_state(key);
        key_of(key, "sgd_labels", p);
        __faasm_write_state(key, (const unsigned char *)labels, label_bytes(c));
        __faasm_push_state(key);
    }
    free(truth);
    free(data);
    free(labels);
}

static double loss(const struct config *c, const float *w) {
    unsigned char *data = fetch_copy("sgd_data_0", data_bytes(c));
    float *labels = (float *)fetch_copy("sgd_labels_0", label_bytes(c));
    double sum = 0.0;
    for (int32_t i = 0; i < per_partition(c); i++) {
        const int32_t *index = (const int32_t *)(data + (size_t)i * c->nnz * 8);
        const float *value = (const float *)(index + c->nnz);
        double prediction = 0.0;
        for (int32_t j = 0; j < c->nnz; j++)
            prediction += (double)w[index[j]] * value[j];
        sum += (prediction - labels[i]) * (prediction - labels[i]);
    }
    free(data);
    free(labels);
    return sum / per_partition(c);
}

int main(void) {
    char *input = faasm_input_str();
    if (input == NULL)
        return 1;
    struct config c = {
        .shared = strstr(input, "mode=copy") == NULL,
        .workers = (int32_t)option(input, "workers", 4),
        .epochs = (int32_t)option(input, "epochs", 3),
        .examples = (int32_t)option(input, "examples", 100000),
        .features = (int32_t)option(input, "features", 10000),
        .nnz = (int32_t)option(input, "nnz", 100),
        .rate = (float)option(input, "rate_millis", 20) / 1000.0f,
        .seed = (uint32_t)option(input, "seed", 42),
    };
    int is_setup = strncmp(input, "setup", 5) == 0;
    free(input);
    if (c.workers < 1 || c.workers > MAX_WORKERS || c.epochs < 1 || c.examples < PARTITIONS ||
        c.features < 1 || c.nnz < 1 || c.nnz > c.features) {
        faasm_output_str("bad input");
        return 1;
    }
    if (is_setup) {
        setup(&c);
        faasm_output_str("data set written");
        return 0;
    }
    long weight_bytes = (long)c.features * 4;
    float *w = calloc((size_t)c.features, sizeof(float));
    __faasm_write_state("sgd_config", (const unsigned char *)&c, sizeof c);
    __faasm_push_state("sgd_config");
    __faasm_write_state("sgd_weights", (const unsigned char *)w, weight_bytes);
    __faasm_push_state("sgd_weights");
    unsigned int ids[MAX_WORKERS];
    for (int32_t epoch = 0; epoch < c.epochs; epoch++) {
        for (int32_t k = 0; k < c.workers; k++)
            ids[k] = faasm_chain_ptr_int(worker, k);
        if (faasm_await_all(ids, (size_t)c.workers) != 0) {
            faasm_output_str("a worker failed");
            return 1;
        }
    }
    __faasm_pull_state("sgd_weights", weight_bytes);
    __faasm_read_state("sgd_weights", (unsigned char *)w, weight_bytes);
    char text[160];
    snprintf(text, sizeof text, "mode=%s workers=%d epochs=%d loss=%.6e",
             c.shared ? "shared" : "copy", c.workers, c.epochs, loss(&c, w));
    faasm_output_str(text);
    free(w);
    return 0;
}
