/* An OpenMP program: libgomp makes its worker threads with pthread_create,
 * detached, with the stack size OMP_STACKSIZE asks for and, under
 * OMP_PROC_BIND, a CPU set each (libgomp/config/linux/affinity.c), and keeps
 * them for every parallel region after the first. It prints results that
 * do not depend on which thread did what, so that a run with
 * libclonert-preload.so and one without print the same
 * (tests/preload/run_program_test.py). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

static long collatz_steps(long n) {
    long steps = 0;
    while (n != 1) {
        n = (n % 2 == 0) ? n / 2 : 3 * n + 1;
        ++steps;
    }
    return steps;
}

int main(void) {
    const long n = 300000;
    int team = 0;

    /* A reduction over a loop the threads share. */
    long total = 0;
#pragma omp parallel for reduction(+ : total) schedule(dynamic, 1000)
    for (long i = 1; i <= n; ++i) total += collatz_steps(i);
    printf("collatz steps for 1..%ld: %ld\n", n, total);

    /* The team's size, from inside, and a barrier with a critical section. */
    long sum_of_ids = 0;
#pragma omp parallel
    {
#pragma omp single
        team = omp_get_num_threads();
#pragma omp critical
        sum_of_ids += omp_get_thread_num();
#pragma omp barrier
    }
    printf("team of %d threads (OMP_NUM_THREADS), thread numbers add up to %ld\n", team, sum_of_ids);

    /* Tasks, on the same threads. */
    long fib[40] = {0, 1};
#pragma omp parallel
#pragma omp single
    for (int i = 2; i < 40; ++i) {
#pragma omp task depend(in : fib[i - 1], fib[i - 2]) depend(out : fib[i])
        fib[i] = fib[i - 1] + fib[i - 2];
    }
    printf("tasks: fib(39) = %ld\n", fib[39]);

    /* Many regions: libgomp reuses its threads. */
    long regions = 0;
    for (int r = 0; r < 200; ++r) {
#pragma omp parallel reduction(+ : regions)
        regions += 1;
    }
    printf("200 parallel regions: %ld thread-regions\n", regions);
    return 0;
}
