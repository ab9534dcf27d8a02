// Putting the events of a trace's batches in time order.
//
// A trace is a few threads' batches, each in time order, interleaved in the
// file: the events are a few hundred sorted runs that a handful of
// per-thread sequences could be chained from. Merging those sequences is
// one linear pass, where a general sort (the reader's first version) moved
// every 56-byte event some twenty times.
#pragma once

#include <vector>

#include "reader.h"

namespace gort::trace {

// Sorts events by ts exactly as std::stable_sort would (equal times keep
// their order), in place: besides the events, it needs 4 bytes per event.
void merge_by_time(std::vector<Event>& events);

}  // namespace gort::trace
