/* The execution trace's file format, version 2: what the runtime's recorder
 * (runtime/trace.cpp) writes and `gort trace` (trace/) reads. docs/trace.md
 * describes it in prose; this header is the source of the numbers.
 *
 * Plain C, like gort/debug_layout.h: the reader shares this header and
 * nothing else with the runtime.
 *
 * A file is a header and then records, all little-endian:
 *
 *   header   "gorttrce" (8 bytes), u32 version, u32 flags,
 *            u64 ticks_per_second (the recorder's estimate at start),
 *            u64 start_ticks, u64 start_ns (CLOCK_MONOTONIC at start_ticks)
 *   record   u8 kind, u32 length (bytes that follow), then `length` bytes
 *
 * Record kinds:
 *   BATCH    u32 m (GORT_TRACE_NO_M for a thread that is not an M), u32 tid,
 *            u64 base_ticks, then events. A batch is one thread's events in
 *            the order it recorded them; batches of different threads
 *            interleave in time and are merged by timestamp.
 *   SYNC     u64 ticks, u64 ns (CLOCK_MONOTONIC): read together. The reader
 *            turns ticks into ns with the first and the last SYNC (or the
 *            header's pair and ticks_per_second if there is one SYNC).
 *   STRING   uvarint id, then the bytes (no terminator) up to the record's
 *            end. Wait reasons are ids 1..GORT_TRACE_NWAITREASONS (Go's
 *            waitreason strings, in the runtime's order, id = reason + 1);
 *            stop-the-world reasons follow.
 *   MODULE   u64 load bias, then the file's path: one per ELF object mapped
 *            at trace start, so that a reader can name the pcs in GO_CREATE.
 *   END      u64 events lost (buffers the writer could not keep up with),
 *            u64 events recorded. Last record of a complete trace.
 *
 * An event in a batch is u8 type, uvarint tick delta (from the previous
 * event of the batch, the first from base_ticks), then the type's arguments
 * as uvarints, their number fixed per type (GORT_TRACE_NARGS). goid 0 means
 * "no goroutine" (the runtime itself, sysmon, a thread that is not a
 * goroutine). m and p are ids as the inspector shows them. */
#ifndef GORT_TRACE_FORMAT_H
#define GORT_TRACE_FORMAT_H

#include <stdint.h>

#define GORT_TRACE_MAGIC "gorttrce"
#define GORT_TRACE_VERSION 3
/* Version 2 is version 3 without PREEMPT_REQ kind TIMER; version 1 is
 * version 2 without GO_EXISTING and GO_STATE. */
#define GORT_TRACE_MIN_VERSION 1
#define GORT_TRACE_HEADER_SIZE 40
#define GORT_TRACE_NO_M 0xffffffffu
#define GORT_TRACE_FLAG_TSC 1u /* ticks are the TSC; else they are CLOCK_MONOTONIC ns */

#ifdef __cplusplus
extern "C" {
#endif

enum gort_trace_record {
  GORT_TRACE_REC_BATCH = 1,
  GORT_TRACE_REC_SYNC = 2,
  GORT_TRACE_REC_STRING = 3,
  GORT_TRACE_REC_MODULE = 4,
  GORT_TRACE_REC_END = 5,
};

/* Events: the arguments follow the name, in order. */
enum gort_trace_event {
  GORT_TRACE_EV_NONE = 0,
  /* P status, recorded by the M that changes it. */
  GORT_TRACE_EV_PROC_START = 1, /* p: this M acquired P p and runs it */
  GORT_TRACE_EV_PROC_STOP = 2,  /* p: this M put P p on the idle list (or lost it: see HANDOFF/RETAKE) */
  /* Goroutines. */
  GORT_TRACE_EV_GO_CREATE = 3,  /* goid, creator goid, startpc, fnword (first word of its callable) */
  GORT_TRACE_EV_GO_START = 4,   /* goid, p: this M runs goid on p from now */
  GORT_TRACE_EV_GO_END = 5,     /* goid: it returned; its slice ends */
  GORT_TRACE_EV_GO_SCHED = 6,   /* goid: gort::gosched(); back on the global queue */
  GORT_TRACE_EV_GO_PREEMPT = 7, /* goid, kind (GORT_TRACE_PREEMPT_*), ns it ran: preempted, back on a queue */
  GORT_TRACE_EV_GO_PARK = 8,    /* goid, wait reason id: parked */
  GORT_TRACE_EV_GO_READY = 9,   /* goid, by goid (0: the runtime, a timer, the netpoller, a foreign thread) */
  GORT_TRACE_EV_GO_SYSCALL = 10,     /* goid, p: entersyscall (gort::syscall); its slice ends, the P stays in syscall */
  GORT_TRACE_EV_GO_SYSEXIT = 11,     /* goid, p it came back to (GORT_TRACE_NO_P: none, it queues) */
  GORT_TRACE_EV_GO_BLOCKED = 12,     /* goid, p: sysmon saw goid's thread blocked outside gort::syscall and took p */
  GORT_TRACE_EV_PROC_HANDOFF = 13,   /* p, m: sysmon took p from the M in a system call on it (m: GORT_TRACE_NO_M: not recorded yet) */
  GORT_TRACE_EV_PREEMPT_REQ = 14,    /* goid, p, kind: goid was asked to yield (poisoned stackguard0; by sysmon, with SIGURG if async; TIMER: by its M's slice timer, in the SIGURG handler) */
  GORT_TRACE_EV_STEAL = 15,          /* victim p, count, thief p */
  GORT_TRACE_EV_RUNQ_PUTSLOW = 16,   /* p, count: half of p's ring went to the global queue */
  GORT_TRACE_EV_M_START = 17,        /* m, tid: a new M (recorded by its thread as it starts) */
  GORT_TRACE_EV_M_STOP = 18,         /* m: this M stops (stopm: no work) */
  GORT_TRACE_EV_M_SPIN = 19,         /* spinning (1 begins, 0 ends): this M looks for work */
  GORT_TRACE_EV_STW_BEGIN = 20,      /* reason string id */
  GORT_TRACE_EV_STW_END = 21,        /* (none) */
  GORT_TRACE_EV_NETPOLL = 22,        /* count: goroutines the netpoller made ready */
  GORT_TRACE_EV_TIMER = 23,          /* late: a timer fired, late ns after it was due */
  GORT_TRACE_EV_PROC_STATUS = 24,    /* p, status (GORT_PIDLE ...): every other P status change */
  GORT_TRACE_EV_M_WAKE = 25,         /* m: this M came back from stopm */
  /* Version 2. A trace started while goroutines exist (trace_start, gort
   * trace PID) begins with what they are doing: for each, GO_EXISTING and
   * right after it GO_STATE, recorded by the thread that started the trace.
   * Each G's state is read without stopping the world and timestamped after
   * the read, so a reader takes a GO_STATE only for a goroutine that no
   * earlier event has named (one that did has moved on since). */
  GORT_TRACE_EV_GO_EXISTING = 26, /* goid, creator goid, startpc, fnword: as GO_CREATE, for a G made before the trace */
  GORT_TRACE_EV_GO_STATE = 27,    /* goid, state (GORT_TRACE_GSTATE_*), p or wait reason id, m */
  GORT_TRACE_EV_COUNT
};

#define GORT_TRACE_NO_P 0xffffffffu
enum { GORT_TRACE_PREEMPT_COOP = 0, GORT_TRACE_PREEMPT_ASYNC = 1, GORT_TRACE_PREEMPT_TIMER = 2 /* PREEMPT_REQ only */ };
/* GO_STATE's state and what its third and fourth arguments are:
 *   RUNNABLE  on a run queue (or stopped by stop the world)   -, -
 *   RUNNING   running on P p, on M m                           p, m
 *   SYSCALL   in a system call on M m (its P may be retaken)   NO_P, m
 *   WAITING   parked                                           wait reason id, NO_M */
enum {
  GORT_TRACE_GSTATE_RUNNABLE = 1,
  GORT_TRACE_GSTATE_RUNNING = 2,
  GORT_TRACE_GSTATE_SYSCALL = 3,
  GORT_TRACE_GSTATE_WAITING = 4
};

/* Arguments per event type, indexed by enum gort_trace_event. */
#define GORT_TRACE_NARGS_INIT {0, 1, 1, 4, 2, 1, 1, 3, 2, 2, 2, 2, 2, 2, 3, 3, 2, 2, 1, 1, 1, 0, 1, 1, 2, 1, 4, 4}

#define GORT_TRACE_NWAITREASONS 13 /* string ids 1..13 */

/* Live tracing (`gort trace PID`): the debug descriptor's trace_ctl is the
 * address of this record in the process. The tool writes path (and
 * stop_after_ns), then request, then seq + 1, and sends the process a
 * SIGURG, which wakes sysmon; sysmon serves the request and sets result,
 * error and done_seq = seq. stop_after_ns is a safety net: a tool that dies
 * before its STOP leaves the process tracing for no longer than that. */
enum { GORT_TRACE_CTL_START = 1, GORT_TRACE_CTL_STOP = 2 };
struct gort_trace_ctl {
  uint32_t seq;      /* the tool: one more with each request */
  uint32_t request;  /* the tool: GORT_TRACE_CTL_* */
  uint32_t done_seq; /* the runtime: seq of the last request served */
  int32_t result;    /* the runtime: 0 done, else an errno */
  uint64_t stop_after_ns;
  char path[4096]; /* START: the file the process writes (absolute) */
  char error[256]; /* the runtime: why the last request failed */
};

#ifdef __cplusplus
}
#endif

#endif /* GORT_TRACE_FORMAT_H */
