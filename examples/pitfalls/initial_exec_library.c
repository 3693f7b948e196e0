/* A library with initial-exec TLS, for dlopen_initial_exec.c: its variable is
 * reached at a fixed offset from the thread pointer, in the static TLS area
 * (a dlopen'ed library gets a slot in its surplus). */
__thread int tls_value __attribute__((tls_model("initial-exec"))) = 42;

int read_tls_value(void)
{
    return tls_value;
}
