/* A library dlopen'ed with initial-exec TLS after a thread started: every
 * thread reads the library's initial value.
 *
 * dlopen() places such a library's TLS block in the static TLS surplus and
 * copies its initial image into that slot of every thread glibc knows
 * (elf/dl-tls.c, _dl_init_static_tls walks GL(dl_stack_used) and
 * GL(dl_stack_user)). A clonert thread is on neither list: without more, its
 * slot would keep whatever its memory held (zero in a fresh mapping).
 * clonert interposes dlopen and fills the slot of each of its running
 * threads (runtime/interpose/dlopen.cpp); a clonert thread made after the
 * dlopen gets the image because clonert rebuilds its table of static TLS
 * modules when the loader's counts have moved (runtime/glibc/static_tls.cpp).
 *
 *   dlopen_initial_exec PATH-TO-libinitial_exec.so */
#include <clonert/clonert.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

static int (*read_tls_value)(void);
static atomic_int library_loaded;

static void *read_after_load(void *arg)
{
    while (!atomic_load(&library_loaded)) {
        struct timespec pause = {0, 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    *(int *)arg = read_tls_value();
    return NULL;
}

static void *read_now(void *arg)
{
    *(int *)arg = read_tls_value();
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH-TO-libinitial_exec.so\n", argv[0]);
        return 2;
    }
    int in_pthread = -1, in_clonert = -1, in_new_clonert = -1;
    pthread_t p;
    clonert_t c;
    if (pthread_create(&p, NULL, read_after_load, &in_pthread) != 0 ||
        clonert_create(&c, NULL, read_after_load, &in_clonert) != 0)
        return 2;

    void *library = dlopen(argv[1], RTLD_NOW);
    if (library == NULL) {
        fprintf(stderr, "%s\n", dlerror());
        return 2;
    }
    read_tls_value = (int (*)(void))dlsym(library, "read_tls_value");
    atomic_store(&library_loaded, 1);
    pthread_join(p, NULL);
    clonert_join(c, NULL);

    clonert_t later;
    if (clonert_create(&later, NULL, read_now, &in_new_clonert) != 0)
        return 2;
    clonert_join(later, NULL);

    printf("main thread:                         %d\n", read_tls_value());
    printf("pthread started before the dlopen:   %d\n", in_pthread);
    printf("clonert thread started before it:    %d\n", in_clonert);
    printf("clonert thread started after it:     %d\n", in_new_clonert);
    return read_tls_value() == 42 && in_pthread == 42 && in_clonert == 42 && in_new_clonert == 42
               ? 0
               : 1;
}
