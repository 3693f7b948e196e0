// The last instructions of a thread that gives back its own memory (aarch64).
//
// After munmap the stack is gone: no store, no call, no signal handler (the
// caller has blocked all signals) may touch memory, so the two syscalls sit
// back to back in registers only.

// System call numbers by name (__NR_clone, __NR_exit, ...): the kernel's
// uapi header, usable from assembly.
#include <asm/unistd.h>

	.text

// void clonert_unmap_and_exit(void *base, size_t length)   x0=base x1=length
	.globl	clonert_unmap_and_exit
	.hidden	clonert_unmap_and_exit
	.type	clonert_unmap_and_exit, %function
clonert_unmap_and_exit:
	.cfi_startproc
	.cfi_undefined x30		// never returns: nothing to unwind into
	mov	x8, #__NR_munmap	// x8 = munmap; x0=base, x1=length in place
	svc	#0			// the stack under sp is gone from here on
	mov	x0, #0			// x0 = exit status 0
	mov	x8, #__NR_exit		// x8 = exit (this thread only)
	svc	#0			// does not return
	brk	#1			// unreachable
	.cfi_endproc
	.size	clonert_unmap_and_exit, .-clonert_unmap_and_exit

	.section .note.GNU-stack,"",%progbits
