// The semaphore table (Go's sema.go): goroutines sleep on the address of a
// counter. gort::Mutex and gort::WaitGroup are built on it.
#pragma once

#include <atomic>
#include <cstdint>

#include "runtime2.h"

namespace gort::rt {

// Waits until *addr > 0, then decrements it. lifo: queue at the head (a
// waiter that was woken and lost the race again goes first next time).
void semacquire(std::atomic<std::uint32_t>* addr, bool lifo, WaitReason reason);
// Increments *addr and wakes one waiter. handoff: pass the count straight to
// the woken waiter and yield to it (Mutex starvation mode).
void semrelease(std::atomic<std::uint32_t>* addr, bool handoff);

}  // namespace gort::rt
