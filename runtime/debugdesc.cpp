// The debug descriptor (gort/debug_layout.h): the addresses of the roots and
// the layout of G, M, P and sched, for inspectors outside the process.
//
// It is filled at compile time, so it is valid in a process that has not yet
// started (a core of a crash at start-up) and in a file on disk. It is not
// const: in a PIE its addresses are relocated at load time, and a relocated
// object in a read-only section would need a text relocation.
#include <cstddef>

#include "gort/debug_layout.h"
#include "gort/trace_format.h"
#include "runtime2.h"


// offsetof on the runtime's structures: they are standard layout (runtime2.h).
#define GORT_FIELD(T, f) {static_cast<std::uint32_t>(offsetof(T, f)), static_cast<std::uint32_t>(sizeof(static_cast<T*>(nullptr)->f))}

using namespace gort::rt;

extern "C" const char gort_async_preempt_begin[], gort_async_preempt_end[];  // preempt/asyncpreempt_x86_64.S
extern "C" void gort_gostart();                                               // runtime/switch_x86_64.S
extern "C" struct gort_trace_ctl gort_trace_ctl;                              // runtime/trace_control.cpp

extern "C" {
__attribute__((section(GORT_DEBUG_SECTION), used, visibility("default"))) struct gort_debug_descriptor gort_debug_descriptor = {
    .magic = GORT_DEBUG_MAGIC,
    .version = GORT_DEBUG_VERSION,
    .size = sizeof(struct gort_debug_descriptor),
    .ptr_size = sizeof(void*),
    .max_procs = kMaxProcs,
    .runq_size = kRunqSize,
    .nwaitreasons = static_cast<std::uint32_t>(WaitReason::Count),
    .allgs_ptr = reinterpret_cast<std::uint64_t>(&allgs.ptr),
    .allgs_len = reinterpret_cast<std::uint64_t>(&allgs.len),
    .allm = reinterpret_cast<std::uint64_t>(&allm),
    .allp = reinterpret_cast<std::uint64_t>(&allp),
    .gomaxprocs = reinterpret_cast<std::uint64_t>(&gomaxprocs),
    .sched = reinterpret_cast<std::uint64_t>(&sched),
    .m0 = reinterpret_cast<std::uint64_t>(&m0),
    .waitreasons = reinterpret_cast<std::uint64_t>(&waitreason_strings),
    .asyncpreempt_begin = reinterpret_cast<std::uint64_t>(gort_async_preempt_begin),
    .asyncpreempt_end = reinterpret_cast<std::uint64_t>(gort_async_preempt_end),
    .gostart = reinterpret_cast<std::uint64_t>(&gort_gostart),
    // gort_swapctx (switch_x86_64.S) pushes rbp, rbx, r12-r15, then 8 bytes
    // of MXCSR and x87 control word; the return address is above them.
    .frame_rbp = 48, .frame_rbx = 40, .frame_r12 = 32, .frame_r13 = 24, .frame_r14 = 16, .frame_r15 = 8,
    .frame_rip = 56, .frame_size = 64,
    .g_size = sizeof(G),
    .g_stack_lo = GORT_FIELD(G, stack.lo), .g_stack_hi = GORT_FIELD(G, stack.hi),
    .g_stackguard0 = GORT_FIELD(G, stackguard0),
    .g_sched_sp = GORT_FIELD(G, sched.sp), .g_sched_pc = GORT_FIELD(G, sched.pc), .g_sched_bp = GORT_FIELD(G, sched.bp),
    .g_atomicstatus = GORT_FIELD(G, atomicstatus), .g_waitreason = GORT_FIELD(G, waitreason),
    .g_goid = GORT_FIELD(G, goid), .g_parentgoid = GORT_FIELD(G, parentgoid),
    .g_m = GORT_FIELD(G, m), .g_lockedm = GORT_FIELD(G, lockedm), .g_waitsince = GORT_FIELD(G, waitsince),
    .g_startpc = GORT_FIELD(G, startpc), .g_gopc = GORT_FIELD(G, gopc),
    .g_preempt = GORT_FIELD(G, preempt), .g_asyncpreempted = GORT_FIELD(G, asyncpreempted),
    .g_syscallsp = GORT_FIELD(G, syscallsp), .g_syscallpc = GORT_FIELD(G, syscallpc),
    .g_guarded = GORT_FIELD(G, guarded), .g_fnbuf = GORT_FIELD(G, fn.buf),
    .m_size = sizeof(M),
    .m_g0 = GORT_FIELD(M, g0), .m_curg = GORT_FIELD(M, curg), .m_p = GORT_FIELD(M, p), .m_id = GORT_FIELD(M, id),
    .m_procid = GORT_FIELD(M, procid), .m_spinning = GORT_FIELD(M, spinning), .m_blocked = GORT_FIELD(M, blocked),
    .m_sysmon = GORT_FIELD(M, sysmon), .m_exited = GORT_FIELD(M, exited), .m_locks = GORT_FIELD(M, locks),
    .m_preemptoff = GORT_FIELD(M, preemptoff), .m_signal_pending = GORT_FIELD(M, signal_pending),
    .m_alllink = GORT_FIELD(M, alllink), .m_lockedg = GORT_FIELD(M, lockedg), .m_oldp = GORT_FIELD(M, oldp),
    .p_size = sizeof(P),
    .p_id = GORT_FIELD(P, id), .p_status = GORT_FIELD(P, status), .p_m = GORT_FIELD(P, m),
    .p_schedtick = GORT_FIELD(P, schedtick), .p_syscalltick = GORT_FIELD(P, syscalltick),
    .p_slicestart = GORT_FIELD(P, slicestart),
    .p_runqhead = GORT_FIELD(P, runqhead), .p_runqtail = GORT_FIELD(P, runqtail), .p_runq = GORT_FIELD(P, runq),
    .p_runnext = GORT_FIELD(P, runnext), .p_gfreecnt = GORT_FIELD(P, gfreecnt), .p_ntimers = GORT_FIELD(P, ntimers),
    .p_timer0when = GORT_FIELD(P, timer0when), .p_preemptcount = GORT_FIELD(P, preemptcount),
    .p_ngoroutines = GORT_FIELD(P, ngoroutines),
    .s_goidgen = GORT_FIELD(Sched, goidgen), .s_nmidle = GORT_FIELD(Sched, nmidle), .s_mcount = GORT_FIELD(Sched, mcount),
    .s_npidle = GORT_FIELD(Sched, npidle), .s_nmspinning = GORT_FIELD(Sched, nmspinning),
    .s_runqsize = GORT_FIELD(Sched, runqsize), .s_runqhead = GORT_FIELD(Sched, runqhead),
    .s_gcwaiting = GORT_FIELD(Sched, gcwaiting), .s_npreemptsync = GORT_FIELD(Sched, npreemptsync),
    .s_npreemptasync = GORT_FIELD(Sched, npreemptasync), .s_starttime = GORT_FIELD(Sched, starttime),
    .s_ngoroutines = GORT_FIELD(Sched, ngoroutines),
    .m_blockretake = GORT_FIELD(M, blockretake),
    .trace_ctl = reinterpret_cast<std::uint64_t>(&gort_trace_ctl),
};
}
