// The measurement behind vae-mpi's threading: the GEMMs of one training step of the benchmark
// model (784-512-256-(2+2) encoder, 2-256-512-784 decoder; forward, weight and input
// gradients), run (a) on one thread at batch 128, (b) by OpenBLAS's own 2-thread sgemm at batch
// 128, (c) by two threads side by side, each with single-threaded OpenBLAS at batch 64.
//   gcc -O2 docs/gemm-threads.c -o /tmp/gemm-threads -lopenblas -lpthread && /tmp/gemm-threads
// Prints GFLOP/s for three rounds. OPENBLAS_CORETYPE=Haswell (or Cooperlake) picks the kernels.
// Every layer reuses the same weight and gradient buffers, so the figures are a little above
// `vae-mpi bench`'s bound, which uses the model's own layout.
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void openblas_set_num_threads(int);
static const int dims[][2] = {{784, 512}, {512, 256}, {256, 4}, {2, 256}, {256, 512}, {512, 784}};
enum { LAYERS = 6, PASSES = 200, FLOATS = 1100000 };

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

static void pass(float *a, float *b, float *w, float *g, int m) {
    for (int l = 0; l < LAYERS; l++) {
        int k = dims[l][0], n = dims[l][1];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1, a, k, w, n, 0, b, n);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, n, m, 1, a, k, b, n, 0, g, n);
        if (l) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, k, n, 1, b, n, w, n, 0, a, k);
    }
}

static float *buffer(void) {
    float *p;
    if (posix_memalign((void **)&p, 64, FLOATS * sizeof(float))) exit(1);
    for (int i = 0; i < FLOATS; i++) p[i] = (i % 7) * 0.01f;
    return p;
}

static void *worker(void *batch) {
    float *a = buffer(), *b = buffer(), *w = buffer(), *g = buffer();
    for (int i = 0; i < PASSES; i++) pass(a, b, w, g, (int)(long)batch);
    return NULL;
}

int main(void) {
    float *a = buffer(), *b = buffer(), *w = buffer(), *g = buffer();
    for (int round = 0; round < 3; round++) {
        openblas_set_num_threads(1);
        double t = now();
        for (int i = 0; i < PASSES; i++) pass(a, b, w, g, 128);
        printf("1 thread, batch 128:                     %6.1f GFLOP/s\n", flop_per_pass(128) * PASSES / (now() - t) / 1e9);
        openblas_set_num_threads(2);
        t = now();
        for (int i = 0; i < PASSES; i++) pass(a, b, w, g, 128);
        printf("OpenBLAS 2 threads, batch 128:           %6.1f GFLOP/s\n", flop_per_pass(128) * PASSES / (now() - t) / 1e9);
        openblas_set_num_threads(1);
        pthread_t threads[2];
        t = now();
        for (int i = 0; i < 2; i++) pthread_create(&threads[i], NULL, worker, (void *)64L);
        for (int i = 0; i < 2; i++) pthread_join(threads[i], NULL);
        printf("2 threads x batch 64, 1-thread OpenBLAS: %6.1f GFLOP/s\n", 2 * flop_per_pass(64) * PASSES / (now() - t) / 1e9);
    }
}
