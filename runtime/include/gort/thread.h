// Wiring a goroutine to its OS thread: Go's LockOSThread / UnlockOSThread.
//
// A goroutine normally runs on whatever thread (M) picks it up, and may move
// to another one whenever it parks, yields or is preempted. Code that depends
// on per-thread state (thread_local variables, errno across calls, a
// library's thread affinity, a thread's signal mask, name, scheduling policy
// or namespace) must not move. lock_os_thread() pins the calling goroutine:
//
//  - it always runs on its current thread, across gosched, sleep_for,
//    Mutex and WaitGroup waits, channel operations and gort::syscall;
//  - no other goroutine runs on that thread meanwhile: while the goroutine
//    is parked its thread sleeps and gives its P to another thread;
//  - calls nest: the goroutine is unpinned when it has called
//    unlock_os_thread() as many times as lock_os_thread();
//  - a goroutine that ends while pinned takes its thread with it: the thread
//    exits instead of running other goroutines, since it may have been left
//    in a state they should not inherit. (The thread that called gort::run
//    cannot exit; it stops running goroutines until the program ends.)
//
// Switching goroutines on a pinned thread costs two thread switches (the P
// moves between threads), as in Go. Off a goroutine (a thread gort did not
// make) both calls do nothing: such a thread is always its own.
#pragma once

namespace gort {

void lock_os_thread();
void unlock_os_thread();  // does nothing if the goroutine is not locked

}  // namespace gort
