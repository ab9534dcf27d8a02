// asyncPreempt for x86-64: the function the SIGURG handler makes a goroutine
// call from whatever instruction it was at (Go's preempt_amd64.s).
//
// The interrupted code made no call, so nothing is dead: every general
// register, the flags and the whole extended state (x87, SSE, AVX, AVX-512,
// whatever XCR0 enables) are live and must come back bit for bit. The
// System V ABI also lets a leaf function keep data in the 128 bytes below
// rsp (the red zone) without moving rsp, so nothing may be written there.
//
// The handler (signal_x86_64.cpp) sets rip to gort_async_preempt and rsp to
// the interrupted rsp - 136, and stores the interrupted rip at that address:
//
//   orig_rsp        ─┐
//   orig_rsp - 128   │ red zone (the interrupted function's)
//   orig_rsp - 136  ─┘ return address = orig_rip      <- rsp on entry
//
// so the frame looks like a call made from below the red zone. The way back
// is `ret $128`: it pops rip and then adds 128 to rsp, which lands exactly
// on orig_rsp, touching neither a register nor the flags. (Go can push the
// PC at sp-8: its ABI has no red zone.)
//
// The CFI says the same to unwinders: the caller's rsp (the CFA) is
// entry rsp + 136, and its rip is saved at CFA - 136. .cfi_signal_frame
// tells them the caller was interrupted, not calling: its rip is the
// instruction to resume, not a return address (no "minus one" lookup).
// libunwind, libgcc and gdb walk from the scheduler, through here, into the
// interrupted function and on up its stack.
//
// Frame, from entry rsp downwards: flags, rax, rbx, rcx, rdx, rsi, rdi, rbp,
// r8-r15 (16 words), then the extended state, 64-byte aligned as xsave
// needs, sized by CPUID at start-up (gort_xsave_size; 512 for fxsave on a
// CPU without XSAVE). rbp is pushed like the rest and then used as the frame
// pointer, so the CFI can describe the variable-size area by rbp.

        .text

        .globl  gort_async_preempt_begin
        .hidden gort_async_preempt_begin
gort_async_preempt_begin:
        .globl  gort_async_preempt
        .hidden gort_async_preempt
        .type   gort_async_preempt, @function
        .p2align 4
gort_async_preempt:
        .cfi_startproc
        .cfi_signal_frame
        .cfi_def_cfa rsp, 136
        .cfi_offset rip, -136
        pushfq
        .cfi_adjust_cfa_offset 8
        pushq   %rax
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset rax, 0
        pushq   %rbx
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset rbx, 0
        pushq   %rcx
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset rcx, 0
        pushq   %rdx
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset rdx, 0
        pushq   %rsi
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset rsi, 0
        pushq   %rdi
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset rdi, 0
        pushq   %rbp
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset rbp, 0
        pushq   %r8
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset r8, 0
        pushq   %r9
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset r9, 0
        pushq   %r10
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset r10, 0
        pushq   %r11
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset r11, 0
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
        // 16 words pushed: CFA = rsp + 136 + 128. From here on rbp is the
        // frame base and rsp moves by a size only known at run time.
        movq    %rsp, %rbp
        .cfi_def_cfa_register rbp
        // The C++ code called below expects the direction flag clear (the
        // ABI's rule at every call; the interrupted code may have set it).
        cld
        movl    gort_xsave_size(%rip), %eax
        subq    %rax, %rsp
        andq    $-64, %rsp
        cmpb    $0, gort_have_xsave(%rip)
        je      1f
        // xsave writes only XSTATE_BV of the 64-byte header; xrstor faults
        // on nonzero XCOMP_BV or reserved bytes, and this is stack garbage.
        xorl    %eax, %eax
        movq    %rax, 512(%rsp)
        movq    %rax, 520(%rsp)
        movq    %rax, 528(%rsp)
        movq    %rax, 536(%rsp)
        movq    %rax, 544(%rsp)
        movq    %rax, 552(%rsp)
        movq    %rax, 560(%rsp)
        movq    %rax, 568(%rsp)
        movl    $-1, %eax               // save every component XCR0 enables
        movl    $-1, %edx
        xsave64 (%rsp)
        jmp     2f
1:      fxsave64 (%rsp)
2:
        call    gort_async_preempt2     // yield; returns when rescheduled (on this thread)

        cmpb    $0, gort_have_xsave(%rip)
        je      3f
        movl    $-1, %eax
        movl    $-1, %edx
        xrstor64 (%rsp)
        jmp     4f
3:      fxrstor64 (%rsp)
4:
        movq    %rbp, %rsp
        .cfi_def_cfa_register rsp
        popq    %r15
        .cfi_adjust_cfa_offset -8
        popq    %r14
        .cfi_adjust_cfa_offset -8
        popq    %r13
        .cfi_adjust_cfa_offset -8
        popq    %r12
        .cfi_adjust_cfa_offset -8
        popq    %r11
        .cfi_adjust_cfa_offset -8
        popq    %r10
        .cfi_adjust_cfa_offset -8
        popq    %r9
        .cfi_adjust_cfa_offset -8
        popq    %r8
        .cfi_adjust_cfa_offset -8
        popq    %rbp
        .cfi_adjust_cfa_offset -8
        popq    %rdi
        .cfi_adjust_cfa_offset -8
        popq    %rsi
        .cfi_adjust_cfa_offset -8
        popq    %rdx
        .cfi_adjust_cfa_offset -8
        popq    %rcx
        .cfi_adjust_cfa_offset -8
        popq    %rbx
        .cfi_adjust_cfa_offset -8
        popq    %rax
        .cfi_adjust_cfa_offset -8
        popfq                           // the last flag writer: ret leaves them alone
        .cfi_adjust_cfa_offset -8
        ret     $128                    // rip = orig_rip, rsp = orig_rsp
        .cfi_endproc
        .size   gort_async_preempt, .-gort_async_preempt
        .globl  gort_async_preempt_end
        .hidden gort_async_preempt_end
gort_async_preempt_end:

        .section .note.GNU-stack,"",@progbits
