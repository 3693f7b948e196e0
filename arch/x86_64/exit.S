// The last instructions of a thread that gives back its own memory (x86_64).
//
// A detached thread whose mapping cannot be cached must unmap the stack it is
// running on. After munmap there is no stack: no call, no push, no signal
// handler (the caller has blocked all signals) may touch memory, so the two
// syscalls sit back to back in registers only.

// System call numbers by name (__NR_clone, __NR_exit, ...): the kernel's
// uapi header, usable from assembly.
#include <asm/unistd.h>

	.text

// void clonert_unmap_and_exit(void *base, size_t length)   rdi=base rsi=length
	.globl	clonert_unmap_and_exit
	.hidden	clonert_unmap_and_exit
	.type	clonert_unmap_and_exit, @function
clonert_unmap_and_exit:
	.cfi_startproc
	.cfi_undefined rip		// never returns: nothing to unwind into
	mov	$__NR_munmap, %eax	// rax = munmap; rdi=base, rsi=length already in place
	syscall				// the stack under rsp is gone from here on
	xor	%edi, %edi		// edi = exit status 0
	mov	$__NR_exit, %eax	// rax = exit (this thread only)
	syscall				// does not return
	hlt				// unreachable
	.cfi_endproc
	.size	clonert_unmap_and_exit, .-clonert_unmap_and_exit

	.section .note.GNU-stack,"",@progbits
