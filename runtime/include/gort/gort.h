// gort — Go's goroutine scheduler for C++. The umbrella header.
#pragma once
#include <gort/chan.h>
#include <gort/net.h>
#include <gort/runtime.h>
#include <gort/select.h>
#include <gort/sync.h>
#include <gort/syscall.h>
#include <gort/thread.h>
#include <gort/ticker.h>
#include <gort/time.h>
#include <gort/trace.h>
#include <gort/debug.h>
