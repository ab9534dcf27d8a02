// Context switch for x86-64 (System V ABI).
//
// A switch is a function call as far as the compiler is concerned, so only
// what the ABI says a callee must preserve is saved: rbx, rbp, r12-r15,
// the MXCSR control bits and the x87 control word. Everything else is dead
// across a call. The saved words live on the stack being left; the Gobuf gets
// sp (to find them) and copies of pc and bp for unwinders and inspectors.
//
// Gobuf layout (runtime2.h): sp at 0, pc at 8, bp at 16.
//
// Frame left on a suspended stack, from gobuf.sp upwards:
//   0: MXCSR (4 bytes), x87 control word (2 bytes), padding
//   8: r15  16: r14  24: r13  32: r12  40: rbx  48: rbp  56: return address

        .text
        // The extent of this file's code: never a safe point for an
        // asynchronous preemption (preempt/safepoint.cpp).
        .globl  gort_switch_text_begin
        .hidden gort_switch_text_begin
gort_switch_text_begin:

// void gort_swapctx(Gobuf* from /*rdi*/, const Gobuf* to /*rsi*/)
        .globl  gort_swapctx
        .type   gort_swapctx, @function
        .p2align 4
gort_swapctx:
        .cfi_startproc
        pushq   %rbp
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset rbp, 0
        pushq   %rbx
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset rbx, 0
        pushq   %r12
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset r12, 0
        pushq   %r13
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset r13, 0
        pushq   %r14
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset r14, 0
        pushq   %r15
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset r15, 0
        subq    $8, %rsp
        .cfi_adjust_cfa_offset 8
        stmxcsr (%rsp)
        fnstcw  4(%rsp)
        movq    %rsp, 0(%rdi)           // from->sp
        movq    56(%rsp), %rax
        movq    %rax, 8(%rdi)           // from->pc: where this G will resume
        movq    %rbp, 16(%rdi)          // from->bp
        movq    %rsp, %rdi              // rdi: the frame just saved (its MXCSR and control word)

        movq    0(%rsi), %rsp           // now on the other stack
        // Loading MXCSR and the x87 control word is microcoded and slow
        // (more than the rest of the switch together); they almost never
        // differ between goroutines, so load them only when they do.
        movl    (%rsp), %eax
        cmpl    (%rdi), %eax            // from's saved MXCSR: the current one
        je      1f
        ldmxcsr (%rsp)
1:      movw    4(%rsp), %ax
        cmpw    4(%rdi), %ax
        je      2f
        fldcw   4(%rsp)
2:      addq    $8, %rsp
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbx
        popq    %rbp
        ret
        .cfi_endproc
        .size   gort_swapctx, .-gort_swapctx

// The first instruction a new G executes: gort_swapctx "returns" here with
// the G pointer in r12 (see makectx in proc.cpp). It never returns: the
// goroutine's end goes through goexit1, which switches away for good.
// The return address column is undefined, so unwinders stop here: this is
// the bottom of every goroutine stack.
        .globl  gort_gostart
        .type   gort_gostart, @function
        .p2align 4
gort_gostart:
        .cfi_startproc
        .cfi_undefined rip
        xorl    %ebp, %ebp
        movq    %r12, %rdi
        call    gort_goroutine_main
        ud2
        .cfi_endproc
        .size   gort_gostart, .-gort_gostart

// void gort_systemstack_switch(void (*fn)(void*) /*rdi*/, void* arg /*rsi*/, uintptr_t sp /*rdx*/)
// Calls fn(arg) on another stack (the M's g0 stack, below where g0 is
// suspended) and comes back. rbp keeps the old stack pointer, so the CFA
// is computable from it and unwinders can walk back onto the G's stack.
        .globl  gort_systemstack_switch
        .type   gort_systemstack_switch, @function
        .p2align 4
gort_systemstack_switch:
        .cfi_startproc
        pushq   %rbp
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset rbp, 0
        movq    %rsp, %rbp
        .cfi_def_cfa_register rbp
        andq    $-16, %rdx
        movq    %rdx, %rsp
        movq    %rdi, %rax
        movq    %rsi, %rdi
        call    *%rax
        movq    %rbp, %rsp
        .cfi_def_cfa_register rsp
        popq    %rbp
        .cfi_adjust_cfa_offset -8
        ret
        .cfi_endproc
        .size   gort_systemstack_switch, .-gort_systemstack_switch

        .globl  gort_switch_text_end
        .hidden gort_switch_text_end
gort_switch_text_end:

        .section .note.GNU-stack,"",@progbits
