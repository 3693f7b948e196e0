// clone(2) and clone3(2) entry stubs for x86_64.
//
// The kernel's x86_64 clone argument order (kernel/fork.c, CONFIG_CLONE_BACKWARDS
// is *not* set on x86_64): rdi=flags, rsi=newsp, rdx=parent_tid, r10=child_tid,
// r8=tls. aarch64 swaps tls and child_tid; see arch/aarch64/clone.S.
// In the child every register but rax (0) is the parent's, and rsp is newsp.

// System call numbers by name (__NR_clone, __NR_exit, ...): the kernel's
// uapi header, usable from assembly.
#include <asm/unistd.h>

	.text

// long clonert_clone_raw(int (*fn)(void *), void *arg, unsigned long flags,
//                        void *stack_top, pid_t *ptid, void *tls, pid_t *ctid)
// SysV argument registers: rdi=fn rsi=arg rdx=flags rcx=stack_top r8=ptid
// r9=tls, ctid on the caller's stack at 8(%rsp).
// Returns the child's TID, or -errno, in the parent. The child runs fn(arg)
// on stack_top and leaves with exit(fn's return value).
	.globl	clonert_clone_raw
	.hidden	clonert_clone_raw
	.type	clonert_clone_raw, @function
clonert_clone_raw:
	.cfi_startproc
	and	$-16, %rcx		// rcx = stack_top rounded down to the ABI's 16 bytes
	sub	$16, %rcx		// rcx = room for two words on the child's stack
	mov	%rdi, 0(%rcx)		// child stack[0] = fn (only the child pops it)
	mov	%rsi, 8(%rcx)		// child stack[1] = arg
	mov	%rdx, %rdi		// rdi = flags            (syscall arg 1)
	mov	%rcx, %rsi		// rsi = child stack      (syscall arg 2)
	mov	%r8, %rdx		// rdx = parent_tid       (syscall arg 3)
	mov	8(%rsp), %r10		// r10 = child_tid        (syscall arg 4)
	mov	%r9, %r8		// r8  = tls              (syscall arg 5)
	mov	$__NR_clone, %eax	// rax = clone
	// End the unwind information here: from the syscall on, this code runs
	// in two threads, and in the child the parent's rules would be wrong.
	.cfi_endproc
	syscall				// rax = TID in the parent, 0 in the child, or -errno
	test	%rax, %rax		// which side of the clone are we on?
	jz	1f			// zero: the child
	ret				// parent: return TID or -errno
1:	// Child. rsp = the new stack holding {fn, arg}. There is no caller to
	// return to: say so to unwinders and gdb, so backtraces end here.
	.cfi_startproc
	.cfi_undefined rip
	xor	%ebp, %ebp		// rbp = 0: the frame-pointer chain ends here
	pop	%rax			// rax = fn
	pop	%rdi			// rdi = arg (fn's first argument); rsp is 16-aligned again
	call	*%rax			// eax = fn(arg)
	mov	%eax, %edi		// edi = exit status = fn's return value
	mov	$__NR_exit, %eax	// rax = exit: this thread only, never exit_group
	syscall				// does not return
	hlt				// unreachable: fault loudly if it ever is reached
	.cfi_endproc
	.size	clonert_clone_raw, .-clonert_clone_raw

// long clonert_clone3_raw(struct clone_args *args, size_t size,
//                         int (*fn)(void *), void *arg)
// rdi=args rsi=size rdx=fn rcx=arg. clone3 takes the child's stack from
// args->stack/stack_size, so fn and arg cannot be pushed onto it first; they
// ride into the child in callee-saved registers, which clone copies.
	.globl	clonert_clone3_raw
	.hidden	clonert_clone3_raw
	.type	clonert_clone3_raw, @function
clonert_clone3_raw:
	.cfi_startproc
	push	%rbx			// save the parent's rbx (callee-saved)
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset rbx, 0
	push	%r12			// save the parent's r12 (callee-saved)
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset r12, 0
	mov	%rdx, %rbx		// rbx = fn, survives the syscall into the child
	mov	%rcx, %r12		// r12 = arg, likewise
	mov	$__NR_clone3, %eax	// rax = clone3; rdi=args, rsi=size already in place
	.cfi_endproc			// two threads from here on: see clonert_clone_raw
	syscall				// rax = TID, 0 in the child, or -errno
	test	%rax, %rax		// which side?
	jz	1f			// zero: the child
	pop	%r12			// parent: restore r12
	pop	%rbx			// parent: restore rbx
	ret				// return TID or -errno
1:	// Child: rsp = args->stack + args->stack_size (or the parent's rsp when
	// no stack was given, on a copy of the parent's memory).
	.cfi_startproc
	.cfi_undefined rip
	xor	%ebp, %ebp		// rbp = 0: end of the frame-pointer chain
	and	$-16, %rsp		// rsp = 16-byte aligned, as the call ABI needs
	mov	%r12, %rdi		// rdi = arg
	call	*%rbx			// eax = fn(arg)
	mov	%eax, %edi		// edi = exit status
	mov	$__NR_exit, %eax	// rax = exit
	syscall				// does not return
	hlt				// unreachable
	.cfi_endproc
	.size	clonert_clone3_raw, .-clonert_clone3_raw

	.section .note.GNU-stack,"",@progbits
