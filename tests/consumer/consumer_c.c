/* The C API from a C program: an attr set and read back, a named thread
 * created with it and joined. Exits 0 when every step gave what it should. */
#include <clonert/clonert.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static void *name_of_self(void *arg) {
    /* The thread's own name, as the kernel has it, to compare with the attr's. */
    pthread_getname_np(pthread_self(), (char *)arg, 16);
    return (void *)(uintptr_t)7;
}

int main(void) {
    clonert_attr_t attr;
    char name[16] = "", seen[16] = "";
    size_t size = 0;
    void *result = NULL;
    clonert_t t;
    if (clonert_attr_init(&attr) != 0 || clonert_attr_setstacksize(&attr, 256 * 1024) != 0 ||
        clonert_attr_setname(&attr, "c-consumer") != 0)
        return 1;
    if (clonert_attr_getstacksize(&attr, &size) != 0 || size != 256 * 1024) return 2;
    if (clonert_attr_getname(&attr, name, sizeof name) != 0 || strcmp(name, "c-consumer") != 0) return 3;
    if (clonert_create(&t, &attr, name_of_self, seen) != 0) return 4;
    clonert_attr_destroy(&attr);
    if (clonert_join(t, &result) != 0 || result != (void *)(uintptr_t)7) return 5;
    printf("thread named %s\n", seen);
    return strcmp(seen, "c-consumer") == 0 ? 0 : 6;
}
