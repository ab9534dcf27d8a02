// Merging sorted runs of events: see merge.h.
//
// The runs are the maximal stretches of the vector already in time order.
// Each run joins a chain whose last time is not after the run's first, so a
// chain is in time order too, and a merge of the chains by (ts, run number)
// is the order of a stable sort: the run numbers grow with the position in
// the vector, within a chain as across chains. The merge computes where each
// event goes, then the events move along the permutation's cycles, each
// once, without a second vector of events.
#include "merge.h"

#include <algorithm>
#include <cstdint>
#include <queue>

namespace gort::trace {

namespace {

// More chains than this (a damaged trace whose times go up and down): the
// greedy chaining would be quadratic, and a sort does as well.
constexpr std::size_t kMaxChains = 256;

struct Run {
  std::size_t begin, end;
  std::size_t next = SIZE_MAX;  // the chain's next run
};

struct Chain {
  std::size_t run;  // the run being merged
  std::size_t pos;  // the next event in it
  std::size_t last_run;
};

void stable_sort_by_time(std::vector<Event>& events) {
  std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.ts < b.ts; });
}

// Moves events[order[i]] to events[i] for every i. order is consumed.
void permute(std::vector<Event>& events, std::vector<std::uint32_t>& order) {
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (order[i] == i) continue;
    const Event first = events[i];
    for (std::size_t j = i;;) {
      const std::size_t src = order[j];
      order[j] = static_cast<std::uint32_t>(j);  // placed
      if (src == i) {
        events[j] = first;
        break;
      }
      events[j] = events[src];
      j = src;
    }
  }
}

}  // namespace

void merge_by_time(std::vector<Event>& events) {
  const std::size_t n = events.size();
  std::vector<Run> runs;
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i + 1;
    while (j < n && events[j - 1].ts <= events[j].ts) ++j;
    runs.push_back({i, j});
    i = j;
  }
  if (runs.size() <= 1) return;
  if (n > UINT32_MAX) return stable_sort_by_time(events);

  // Each run goes after the chain that ends latest but not after it starts:
  // a thread's next batch, usually.
  std::vector<Chain> chains;
  for (std::size_t r = 0; r < runs.size(); ++r) {
    const std::int64_t first = events[runs[r].begin].ts;
    Chain* best = nullptr;
    for (Chain& c : chains) {
      const std::int64_t last = events[runs[c.last_run].end - 1].ts;
      if (last <= first && (!best || last > events[runs[best->last_run].end - 1].ts)) best = &c;
    }
    if (best) {
      runs[best->last_run].next = r;
      best->last_run = r;
    } else if (chains.size() == kMaxChains) {
      return stable_sort_by_time(events);
    } else {
      chains.push_back({r, runs[r].begin, r});
    }
  }

  // The merge: order[i] is the event that goes to position i.
  std::vector<std::uint32_t> order;
  order.reserve(n);
  const auto later = [&](std::size_t a, std::size_t b) {  // the heap's "less": chain a comes after chain b
    const Event &ea = events[chains[a].pos], &eb = events[chains[b].pos];
    return ea.ts != eb.ts ? ea.ts > eb.ts : chains[a].run > chains[b].run;
  };
  std::priority_queue<std::size_t, std::vector<std::size_t>, decltype(later)> heap(later);
  for (std::size_t c = 0; c < chains.size(); ++c) heap.push(c);
  while (!heap.empty()) {
    const std::size_t c = heap.top();
    heap.pop();
    Chain& ch = chains[c];
    order.push_back(static_cast<std::uint32_t>(ch.pos));
    if (++ch.pos == runs[ch.run].end) {
      if (runs[ch.run].next == SIZE_MAX) continue;  // the chain is done
      ch.run = runs[ch.run].next;
      ch.pos = runs[ch.run].begin;
    }
    heap.push(c);
  }
  permute(events, order);
}

}  // namespace gort::trace
