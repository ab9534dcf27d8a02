/* The debug descriptor: how a tool outside the process finds and reads the
 * runtime's G, M and P structures without the runtime's headers or DWARF.
 *
 * This is the pattern of glibc's libthread_db: the runtime exports one
 * read-only, plain-C record that names the addresses of its roots (allgs,
 * allm, allp, sched) and the offset and size of every field an inspector
 * reads. It lives in its own ELF section (GORT_DEBUG_SECTION), which strip
 * keeps, so a stripped binary is still inspectable; the symbol
 * GORT_DEBUG_SYMBOL names it too.
 *
 * Plain C on purpose: the inspector (gort_inspect, tools/gort-gdb.py) shares
 * this header and nothing else with the runtime. Every field keeps its
 * place; a change of layout that an old inspector would misread bumps
 * GORT_DEBUG_VERSION, and inspectors refuse a version they do not know.
 *
 * Addresses are the process's own (relocated at load time in a PIE): read
 * the descriptor from the process image or a core file, not from the file
 * on disk, to follow them. The magic and version are the same in both. */
#ifndef GORT_DEBUG_LAYOUT_H
#define GORT_DEBUG_LAYOUT_H

#include <stdint.h>

#define GORT_DEBUG_MAGIC 0x6775646274726f67ULL /* "gortbdug" little-endian */
#define GORT_DEBUG_VERSION 2
#define GORT_DEBUG_SECTION ".gort_debug"
#define GORT_DEBUG_SYMBOL "gort_debug_descriptor"

#ifdef __cplusplus
extern "C" {
#endif

/* Where one field sits in its structure. size 0: the runtime has no such field. */
struct gort_debug_field {
  uint32_t offset;
  uint32_t size;
};

struct gort_debug_descriptor {
  uint64_t magic;   /* GORT_DEBUG_MAGIC */
  uint32_t version; /* GORT_DEBUG_VERSION */
  uint32_t size;    /* sizeof(struct gort_debug_descriptor) of the writer */
  uint32_t ptr_size;
  uint32_t max_procs; /* entries in the allp array */
  uint32_t runq_size; /* slots in a P's ring */
  uint32_t nwaitreasons;

  /* The roots. */
  uint64_t allgs_ptr; /* address of G** (allgs.ptr): every G ever made */
  uint64_t allgs_len; /* address of size_t (allgs.len): entries of allgs.ptr that are valid */
  uint64_t allm;      /* address of M* (allm): the list of Ms, through m.alllink */
  uint64_t allp;      /* address of P*[max_procs]: nullptr past the last P ever made */
  uint64_t gomaxprocs; /* address of int32 */
  uint64_t sched;     /* address of the global sched structure */
  uint64_t m0;        /* address of M* m0 */
  uint64_t waitreasons; /* address of const char*[nwaitreasons]: Go's wait reason strings */
  /* Code an unwinder must know: [asyncpreempt_begin, asyncpreempt_end) is
   * the asyncPreempt trampoline (the frame below it was interrupted, so its
   * pc is exact, not a return address); gostart is the first instruction
   * of every goroutine (a G whose gobuf.pc is there has not run yet). */
  uint64_t asyncpreempt_begin, asyncpreempt_end, gostart;
  /* CLOCK_MONOTONIC is the runtime's clock (nanotime): g.waitsince and
   * sched.starttime are in it, so an inspector can age them (waitsince is
   * read from CLOCK_MONOTONIC_COARSE: up to one kernel tick early). */

  /* A parked G's switch frame: gobuf.sp points at what gort_swapctx pushed.
   * Offsets from gobuf.sp of each saved register; the G's sp before the
   * switch was gobuf.sp + frame_size. */
  uint32_t frame_rbp, frame_rbx, frame_r12, frame_r13, frame_r14, frame_r15, frame_rip;
  uint32_t frame_size;

  /* G */
  uint32_t g_size;
  struct gort_debug_field g_stack_lo, g_stack_hi, g_stackguard0;
  struct gort_debug_field g_sched_sp, g_sched_pc, g_sched_bp;
  struct gort_debug_field g_atomicstatus, g_waitreason, g_goid, g_parentgoid;
  struct gort_debug_field g_m, g_lockedm, g_waitsince, g_startpc, g_gopc;
  struct gort_debug_field g_preempt, g_asyncpreempted, g_syscallsp, g_syscallpc, g_guarded;
  /* The callable the G was started with (its first word is the function
   * when it is a plain function pointer; startpc is the thunk calling it). */
  struct gort_debug_field g_fnbuf;

  /* M */
  uint32_t m_size;
  struct gort_debug_field m_g0, m_curg, m_p, m_id, m_procid, m_spinning, m_blocked, m_sysmon;
  struct gort_debug_field m_exited, m_locks, m_preemptoff, m_signal_pending, m_alllink, m_lockedg, m_oldp;

  /* P */
  uint32_t p_size;
  struct gort_debug_field p_id, p_status, p_m, p_schedtick, p_syscalltick, p_slicestart;
  struct gort_debug_field p_runqhead, p_runqtail, p_runq, p_runnext, p_gfreecnt, p_ntimers, p_timer0when;
  struct gort_debug_field p_preemptcount, p_ngoroutines;

  /* sched */
  struct gort_debug_field s_goidgen, s_nmidle, s_mcount, s_npidle, s_nmspinning, s_runqsize, s_runqhead;
  struct gort_debug_field s_gcwaiting, s_npreemptsync, s_npreemptasync, s_starttime, s_ngoroutines;

  /* Version 2: M.blockretake (2: sysmon took the M's P while its thread was
   * blocked outside gort::syscall; its G is in an implicit system call). */
  struct gort_debug_field m_blockretake;

  /* Appended (an inspector checks size before reading it): the address of
   * the struct gort_trace_ctl of live tracing (gort/trace_format.h). */
  uint64_t trace_ctl;
};

/* Status values (Go's numbering; runtime/runtime2.h is the source). */
enum {
  GORT_GIDLE = 0, GORT_GRUNNABLE = 1, GORT_GRUNNING = 2, GORT_GSYSCALL = 3, GORT_GWAITING = 4,
  GORT_GDEAD = 6, GORT_GPREEMPTED = 9, GORT_GSCAN = 0x1000
};
enum { GORT_PIDLE = 0, GORT_PRUNNING = 1, GORT_PSYSCALL = 2, GORT_PGCSTOP = 3, GORT_PDEAD = 4 };

#ifdef __cplusplus
}
#endif

#endif /* GORT_DEBUG_LAYOUT_H */
