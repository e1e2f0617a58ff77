// The measurements behind vae-mpi's matrix products: which library (oneDNN against OpenBLAS),
// and how to use two cores (two worker threads against the library's own threads). Runs the
// GEMMs of one training step of the benchmark model (784-512-256-(2+2) encoder, 2-256-512-784
// decoder; forward, weight and input gradients), each layer with its own weights as in the
// model, (a) on one thread at batch 128, (b) by the library's own 2 threads at batch 128, and
// (c) by two threads side by side at batch 64 each, each calling the library single-threaded (as
// vae-mpi's workers and ranks do), through the library it is built against:
//   gcc -O2 docs/gemm-libraries.c -o /tmp/gemm-onednn -DUSE_ONEDNN -fopenmp -ldnnl -lpthread
//   gcc -O2 docs/gemm-libraries.c -o /tmp/gemm-openblas -lopenblas -lpthread   (libopenblas-dev)
//   /tmp/gemm-onednn; /tmp/gemm-openblas
// Prints GFLOP/s for three rounds. OPENBLAS_CORETYPE=Haswell (or Cooperlake) picks OpenBLAS's
// kernels, DNNL_MAX_CPU_ISA=AVX2 caps oneDNN's.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#ifdef USE_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
static void set_threads(int n) { omp_set_num_threads(n); }  // per calling thread
static void product(int ta, int tb, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                    float *c, int ldc) {
    dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, 1, a, lda, b, ldb, 0, c, ldc);
}
#else
#include <cblas.h>
void openblas_set_num_threads(int);
static void set_threads(int n) { openblas_set_num_threads(n); }  // process-wide
static void product(int ta, int tb, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                    float *c, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1, a,
                lda, b, ldb, 0, c, ldc);
}
#endif

static const int dims[][2] = {{784, 512}, {512, 256}, {256, 4}, {2, 256}, {256, 512}, {512, 784}};
enum { LAYERS = 6, PASSES = 200, WIDEST = 784 };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static double flop_per_pass(int batch) {
    double f = 0;
    for (int l = 0; l < LAYERS; l++) f += (l ? 3 : 2) * 2.0 * batch * dims[l][0] * dims[l][1];
    return f;
}

static float *buffer(size_t floats) {
    float *p;
    if (posix_memalign((void **)&p, 64, floats * sizeof(float))) exit(1);
    for (size_t i = 0; i < floats; i++) p[i] = (i % 7) * 0.01f;
    return p;
}

/// One worker's buffers: the weights may be shared, gradients and activations are its own.
typedef struct {
    float *weights[LAYERS], *gradients[LAYERS], *activations[LAYERS + 1], *deltas[LAYERS + 1];
    int batch;
} Worker;

static Worker *worker_new(int batch, float *const *weights) {
    Worker *w = calloc(1, sizeof *w);
    w->batch = batch;
    for (int l = 0; l < LAYERS; l++) {
        w->weights[l] = weights ? weights[l] : buffer(dims[l][0] * dims[l][1]);
        w->gradients[l] = buffer(dims[l][0] * dims[l][1]);
    }
    for (int l = 0; l <= LAYERS; l++) {
        w->activations[l] = buffer(batch * WIDEST);
        w->deltas[l] = buffer(batch * WIDEST);
    }
    return w;
}

static void pass(Worker *w) {
    int m = w->batch;
    for (int l = 0; l < LAYERS; l++) {
        int k = dims[l][0], n = dims[l][1];
        product(0, 0, m, n, k, w->activations[l], k, w->weights[l], n, w->activations[l + 1], n);
    }
    for (int l = LAYERS - 1; l >= 0; l--) {
        int k = dims[l][0], n = dims[l][1];
        product(1, 0, k, n, m, w->activations[l], k, w->deltas[l + 1], n, w->gradients[l], n);
        if (l) product(0, 1, m, k, n, w->deltas[l + 1], n, w->weights[l], n, w->deltas[l], k);
    }
}

static void *run(void *w) {
    set_threads(1);
    for (int i = 0; i < PASSES; i++) pass(w);
    return NULL;
}

int main(void) {
    Worker *alone = worker_new(128, NULL);
    Worker *pair[2] = {worker_new(64, alone->weights), worker_new(64, alone->weights)};
    for (int round = 0; round < 3; round++) {
        double t = now();
        run(alone);
        double one = flop_per_pass(128) * PASSES / (now() - t) / 1e9;
        set_threads(2);
        t = now();
        for (int i = 0; i < PASSES; i++) pass(alone);
        double library = flop_per_pass(128) * PASSES / (now() - t) / 1e9;
        pthread_t threads[2];
        t = now();
        for (int i = 0; i < 2; i++) pthread_create(&threads[i], NULL, run, pair[i]);
        for (int i = 0; i < 2; i++) pthread_join(threads[i], NULL);
        printf("GFLOP/s: 1 thread, batch 128 %6.1f; the library's 2 threads, batch 128 %6.1f; "
               "2 threads x batch 64 %6.1f\n",
               one, library, 2 * flop_per_pass(64) * PASSES / (now() - t) / 1e9);
    }
}
