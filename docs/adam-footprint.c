// Why the step's memory footprint matters on this machine (docs/performance.md).
// Two threads, pinned to the two cores as two ranks would be, each make an Adam-like pass over
// 534,000 parameters (half the benchmark model: read parameters, both moments and two gradients,
// write parameters and both moments) once a "step", after reading and writing E MB of other
// data of their own (standing in for the rest of the step: products, activations, copies). The
// pass's time per parameter against the two threads' total footprint shows how much of the
// 32 MB L3 cache a step can use before Adam's streams come from memory instead.
//   gcc -O3 -march=native -ffast-math docs/adam-footprint.c -o /tmp/adam-footprint -lpthread -lm
//   /tmp/adam-footprint
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { PARAMETERS = 534000, STEPS = 40, WARM_UP = 10 };
static long extra;  // floats of other data per thread
static pthread_barrier_t barrier;
static double seconds[2];

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *run(void *argument) {
    long id = (long)argument;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(id, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    float *streams[5];
    for (int i = 0; i < 5; i++) {
        streams[i] = aligned_alloc(64, PARAMETERS * sizeof(float));
        for (long k = 0; k < PARAMETERS; k++) streams[i][k] = 0.001f * (k % 100);
    }
    float *p = streams[0], *m = streams[1], *v = streams[2], *g0 = streams[3], *g1 = streams[4];
    float *other = aligned_alloc(64, extra * sizeof(float) + 64);
    memset(other, 1, extra * sizeof(float));
    float sink = 0;
    double total = 0;
    for (int step = 0; step < STEPS; step++) {
        for (long k = 0; k < extra; k += 16) {  // one read and one write per cache line
            sink += other[k];
            other[k + 1] = sink;
        }
        pthread_barrier_wait(&barrier);
        double start = now();
        for (long k = 0; k < PARAMETERS; k++) {
            float g = g0[k] + g1[k];
            float mk = 0.9f * m[k] + 0.1f * g, vk = 0.999f * v[k] + 0.001f * g * g;
            m[k] = mk;
            v[k] = vk;
            p[k] -= 0.001f * mk / (sqrtf(vk) + 1e-8f);
        }
        if (step >= WARM_UP) total += now() - start;
    }
    seconds[id] = total / (STEPS - WARM_UP) + 0 * sink;
    return 0;
}

int main(void) {
    for (int megabytes = 0; megabytes <= 12; megabytes += 2) {
        extra = megabytes * 1000000L / sizeof(float);
        pthread_barrier_init(&barrier, 0, 2);
        pthread_t threads[2];
        for (long i = 0; i < 2; i++) pthread_create(&threads[i], 0, run, (void *)i);
        for (int i = 0; i < 2; i++) pthread_join(threads[i], 0);
        double footprint = 2 * (megabytes + 5.0 * PARAMETERS * sizeof(float) / 1e6);
        printf("other data %2d MB a thread, footprint %4.1f MB: Adam %.3f ns a parameter\n", megabytes,
               footprint, (seconds[0] + seconds[1]) / 2 / PARAMETERS * 1e9);
    }
    return 0;
}
