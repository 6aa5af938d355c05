/*
 * clocks.h — wall and process CPU time together, for the benchmark programs that report both
 * (CPU time is what to compare on a machine shared with others).
 */
#ifndef STENO_BENCH_CLOCKS_H
#define STENO_BENCH_CLOCKS_H

#include <time.h>

typedef struct clocks {
    double wall, cpu;
} clocks;

static inline clocks now(void) {
    struct timespec wall, cpu;
    clock_gettime(CLOCK_MONOTONIC, &wall);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
    return (clocks){wall.tv_sec + wall.tv_nsec * 1e-9, cpu.tv_sec + cpu.tv_nsec * 1e-9};
}

/* The time spent since start. */
static inline clocks since(clocks start) {
    clocks end = now();
    return (clocks){end.wall - start.wall, end.cpu - start.cpu};
}

#endif
