// clone(2) and clone3(2) entry stubs for aarch64.
//
// The kernel's aarch64 clone argument order (CONFIG_CLONE_BACKWARDS):
// x0=flags, x1=newsp, x2=parent_tid, x3=tls, x4=child_tid; x8=syscall number.
// Note tls and child_tid are the other way round from x86_64.
// In the child every register but x0 (0) is the parent's, and sp is newsp.

// System call numbers by name (__NR_clone, __NR_exit, ...): the kernel's
// uapi header, usable from assembly.
#include <asm/unistd.h>

	.text

// long clonert_clone_raw(int (*fn)(void *), void *arg, unsigned long flags,
//                        void *stack_top, pid_t *ptid, void *tls, pid_t *ctid)
// AAPCS64: x0=fn x1=arg x2=flags x3=stack_top x4=ptid x5=tls x6=ctid.
	.globl	clonert_clone_raw
	.hidden	clonert_clone_raw
	.type	clonert_clone_raw, %function
clonert_clone_raw:
	.cfi_startproc
	and	x3, x3, #-16		// x3 = stack_top rounded down to 16 (sp must be)
	stp	x0, x1, [x3, #-16]!	// child stack = {fn, arg}; x3 = new child sp
	mov	x0, x2			// x0 = flags       (syscall arg 1)
	mov	x1, x3			// x1 = child stack (syscall arg 2)
	mov	x2, x4			// x2 = parent_tid  (syscall arg 3)
	mov	x3, x5			// x3 = tls         (syscall arg 4)
	mov	x4, x6			// x4 = child_tid   (syscall arg 5)
	mov	x8, #__NR_clone	// x8 = clone
	// End the unwind information here: from the svc on, this code runs in
	// two threads, and in the child the parent's rules would be wrong.
	.cfi_endproc
	svc	#0			// x0 = TID in the parent, 0 in the child, or -errno
	cbz	x0, 1f			// zero: the child
	ret				// parent: return TID or -errno
1:	// Child: sp = the new stack holding {fn, arg}. No caller to return to.
	.cfi_startproc
	.cfi_undefined x30
	mov	x29, #0			// x29 = 0: the frame-record chain ends here
	mov	x30, #0			// x30 = 0: no return address
	ldp	x1, x0, [sp], #16	// x1 = fn, x0 = arg; sp back to the aligned top
	blr	x1			// w0 = fn(arg)
	mov	x8, #__NR_exit		// x8 = exit: this thread only; x0 = status
	svc	#0			// does not return
	brk	#1			// unreachable: trap if it ever is reached
	.cfi_endproc
	.size	clonert_clone_raw, .-clonert_clone_raw

// long clonert_clone3_raw(struct clone_args *args, size_t size,
//                         int (*fn)(void *), void *arg)
// x0=args x1=size x2=fn x3=arg. fn and arg ride into the child in the
// callee-saved x19/x20, which clone copies; the child's stack comes from args.
	.globl	clonert_clone3_raw
	.hidden	clonert_clone3_raw
	.type	clonert_clone3_raw, %function
clonert_clone3_raw:
	.cfi_startproc
	stp	x19, x20, [sp, #-16]!	// save the parent's x19/x20 (callee-saved)
	.cfi_adjust_cfa_offset 16
	.cfi_rel_offset x19, 0
	.cfi_rel_offset x20, 8
	mov	x19, x2			// x19 = fn
	mov	x20, x3			// x20 = arg
	mov	x8, #__NR_clone3	// x8 = clone3; x0=args, x1=size in place
	.cfi_endproc			// two threads from here on: see clonert_clone_raw
	svc	#0			// x0 = TID, 0 in the child, or -errno
	cbz	x0, 1f			// zero: the child
	ldp	x19, x20, [sp], #16	// parent: restore x19/x20
	ret				// return TID or -errno
1:	// Child: sp = args->stack + args->stack_size (the kernel aligns nothing).
	.cfi_startproc
	.cfi_undefined x30
	mov	x29, #0			// x29 = 0: end of the frame-record chain
	mov	x30, #0			// x30 = 0: no return address
	mov	x9, sp			// x9 = sp (and cannot take sp directly)
	and	x9, x9, #-16		// x9 = sp rounded down to 16
	mov	sp, x9			// sp = aligned
	mov	x0, x20			// x0 = arg
	blr	x19			// w0 = fn(arg)
	mov	x8, #__NR_exit		// x8 = exit; x0 = status
	svc	#0			// does not return
	brk	#1			// unreachable
	.cfi_endproc
	.size	clonert_clone3_raw, .-clonert_clone3_raw

	.section .note.GNU-stack,"",%progbits
