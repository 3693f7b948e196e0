/* A statically linked program with threads. It has no dynamic loader, so
 * LD_PRELOAD means nothing to it: under clonert-run it must run exactly as
 * without, with glibc's own threads, and print no clonert-stats line
 * (tests/preload/run_program_test.py, case static). */
#include <pthread.h>
#include <stdio.h>

static void *square(void *arg) {
    long n = (long)arg;
    return (void *)(n * n);
}

int main(void) {
    pthread_t threads[4];
    long sum = 0;
    for (long i = 0; i < 4; ++i)
        if (pthread_create(&threads[i], NULL, square, (void *)(i + 1)) != 0) return 1;
    for (int i = 0; i < 4; ++i) {
        void *result;
        pthread_join(threads[i], &result);
        sum += (long)result;
    }
    printf("sum of squares 1..4 from 4 threads: %ld\n", sum);
    return 0;
}
