/* A C program that makes no thread: what processes.cpp spawns with
   LD_PRELOAD=libclonert-preload.so and without, to show what the preload
   costs every program started under clonert-run (issue 23). Linked with libc
   alone, as most of the programs a shell script runs are. */
int main(void) { return 0; }
