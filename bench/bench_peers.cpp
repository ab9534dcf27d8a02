// bench_peers: the shapes of bench_sched, measured on the alternatives a C++
// programmer would otherwise reach for, so that gort's numbers have a scale.
//
//   thread/yield             std::this_thread::yield() (sched_yield) per call, one
//                            thread alone
//   thread/yield2            the same, with a partner thread also yielding in a
//                            loop (a switch per call when pinned to one CPU)
//   thread/spawn/N           std::thread spawn of N do-nothing threads, then join all
//   context/resume           one boost::context::fiber resume round trip (two stack
//                            switches, no scheduler): the floor for any yield
//   fiber/yield              boost::this_fiber::yield() per call, from the main fiber
//                            with nothing else runnable
//   fiber/yield2             the same, with a partner fiber also yielding in a loop,
//                            so that each call switches to the other (at
//                            GOMAXPROCS=1; above, the partner may be stolen)
//   fiber/spawn/N            boost::fibers::fiber spawn of N do-nothing fibers, then
//                            join all; stacks recycled through a pool, as Go and
//                            gort recycle dead Gs with their stacks
//   fiber/spawn_fixedsize/N  the same with Boost.Fiber's default allocator, which
//                            mallocs a fresh 128 KiB stack per fiber
//   fiber/chan_pingpong      two fibers bounce a value over two
//                            boost::fibers::unbuffered_channel<int>s (bench_chan's
//                            chan/pingpong); an item is one one-way message
//
// Every benchmark reports items_per_second, where an item is one call (for
// yield2, one call of the measured loop: the partner's calls are not counted),
// one spawned-and-finished thread/fiber, or one round trip; 1e9 / items_per_second
// is the ns per item that compare.sh prints. All use wall-clock time
// (UseRealTime): spawned work runs partly on other threads, which the CPU time
// of the calling thread would not see.
//
// The GOMAXPROCS analogue. Boost.Fiber: the process reads GOMAXPROCS (default:
// all CPUs, as Go does) and, when it is above 1, the fiber benchmarks run under
// Boost.Fiber's work_stealing algorithm on that many threads, so spawned fibers
// can run on other cores as goroutines run on other Ps. OS threads have no such
// knob: compare.sh pins the process with taskset to GOMAXPROCS CPUs instead.

#include <benchmark/benchmark.h>

#include <boost/context/fiber.hpp>
#include <boost/fiber/algo/work_stealing.hpp>
#include <boost/fiber/all.hpp>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

// The batch size for the spawn shapes; the same N as bench_sched and the Go
// benchmarks, so per-item costs include the same share of the final join/wait.
constexpr int kSpawnBatch = 1000;

// GOMAXPROCS as Go reads it: a positive integer, else the number of CPUs.
int procs_from_env() {
  if (const char* s = std::getenv("GOMAXPROCS")) {
    char* end = nullptr;
    long v = std::strtol(s, &end, 10);
    if (end != s && *end == '\0' && v >= 1 && v <= 1024) return static_cast<int>(v);
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(hc);
}

// Boost.Fiber on `procs` threads: the main thread plus procs-1 helpers, all
// under work_stealing. Each helper installs the algorithm itself (its
// constructor waits on a process-wide barrier for all `procs` threads, so this
// can be set up once per process), then parks its main fiber on a fiber
// condition variable until shutdown; meanwhile the helper's dispatcher steals
// and runs fibers spawned on the main thread.
//
// suspend=false, i.e. idle helpers spin: with suspend=true an idle thread
// sleeps until a fiber it owns is woken from another thread, and is never woken
// for work that it could steal — a trial run of fiber/spawn at GOMAXPROCS=2 ran
// 0 of its fibers on the helper. Spinning is the only way Boost.Fiber spreads
// new fibers over threads, and it occupies the helper's core for good, so the
// pool is created lazily, by the first fiber benchmark (they run last), and
// torn down explicitly before main returns.
class FiberPool {
 public:
  explicit FiberPool(int procs) {
    if (procs <= 1) return;  // the default round_robin, on the main thread alone
    const auto n = static_cast<std::uint32_t>(procs);
    for (int i = 1; i < procs; ++i) {
      helpers_.emplace_back([this, n] {
        boost::fibers::use_scheduling_algorithm<boost::fibers::algo::work_stealing>(n, false);
        std::unique_lock<boost::fibers::mutex> lk(mu_);
        cv_.wait(lk, [this] { return done_; });
      });
    }
    boost::fibers::use_scheduling_algorithm<boost::fibers::algo::work_stealing>(n, false);
  }
  FiberPool(const FiberPool&) = delete;
  FiberPool& operator=(const FiberPool&) = delete;
  ~FiberPool() {
    {
      std::unique_lock<boost::fibers::mutex> lk(mu_);
      done_ = true;
    }
    cv_.notify_all();
    for (auto& t : helpers_) t.join();
  }

 private:
  boost::fibers::mutex mu_;
  boost::fibers::condition_variable cv_;
  bool done_ = false;
  std::vector<std::thread> helpers_;
};

std::unique_ptr<FiberPool> g_fiber_pool;

void ensure_fiber_pool() {
  if (!g_fiber_pool) g_fiber_pool = std::make_unique<FiberPool>(procs_from_env());
}

void thread_yield(benchmark::State& state) {
  for (auto _ : state) std::this_thread::yield();
  state.SetItemsProcessed(state.iterations());
}

// The benchmark thread yields in the measured loop; a partner thread yields
// until told to stop. Only the benchmark thread's calls are counted.
void thread_yield2(benchmark::State& state) {
  std::atomic<bool> stop{false};
  std::thread partner([&stop] {
    while (!stop.load(std::memory_order_relaxed)) std::this_thread::yield();
  });
  for (auto _ : state) std::this_thread::yield();
  stop.store(true, std::memory_order_relaxed);
  partner.join();
  state.SetItemsProcessed(state.iterations());
}

void thread_spawn(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (auto _ : state) {
    for (std::size_t i = 0; i < n; ++i) threads.emplace_back([] {});
    for (auto& t : threads) t.join();
    threads.clear();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void context_resume(benchmark::State& state) {
  namespace ctx = boost::context;
  bool stop = false;
  // The callee bounces straight back; one iteration is main -> callee -> main.
  ctx::fiber callee{[&stop](ctx::fiber&& caller) {
    while (!stop) caller = std::move(caller).resume();
    return std::move(caller);
  }};
  for (auto _ : state) callee = std::move(callee).resume();
  // Let the callee return, so the fiber ends normally instead of being unwound.
  stop = true;
  callee = std::move(callee).resume();
  state.SetItemsProcessed(state.iterations());
}

void fiber_yield(benchmark::State& state) {
  ensure_fiber_pool();
  for (auto _ : state) boost::this_fiber::yield();
  state.SetItemsProcessed(state.iterations());
}

// The main fiber yields in the measured loop; a partner fiber yields until told
// to stop. Only the main fiber's calls are counted. Under work_stealing
// (GOMAXPROCS > 1) the partner may be stolen by a helper thread, hence the
// atomic flag.
void fiber_yield2(benchmark::State& state) {
  ensure_fiber_pool();
  std::atomic<bool> stop{false};
  boost::fibers::fiber partner([&stop] {
    while (!stop.load(std::memory_order_relaxed)) boost::this_fiber::yield();
  });
  for (auto _ : state) boost::this_fiber::yield();
  stop.store(true, std::memory_order_relaxed);
  partner.join();
  state.SetItemsProcessed(state.iterations());
}

// A thread-safe stack pool for Boost.Fiber. boost::fibers::pooled_fixedsize_stack
// is not safe once fibers run on several threads (a fiber's stack is freed on
// the thread where it finished, which under work_stealing is any thread), so
// this is a mutex-guarded free list. The allocator is copied into every fiber,
// hence the shared_ptr to the one pool.
class StackPool {
 public:
  boost::context::stack_context allocate() {
    {
      std::lock_guard<std::mutex> lk(state_->mu);
      if (!state_->free.empty()) {
        boost::context::stack_context sctx = state_->free.back();
        state_->free.pop_back();
        return sctx;
      }
    }
    return state_->fresh.allocate();
  }
  void deallocate(boost::context::stack_context& sctx) {
    std::lock_guard<std::mutex> lk(state_->mu);
    state_->free.push_back(sctx);
  }

 private:
  struct State {
    std::mutex mu;
    std::vector<boost::context::stack_context> free;
    boost::fibers::fixedsize_stack fresh;  // the default size, as fiber/spawn_fixedsize
    ~State() {
      for (auto& sctx : free) fresh.deallocate(sctx);
    }
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

// Spawns state.range(0) fibers, each allocating its stack with `salloc`, and
// joins them all.
template <class StackAllocator>
void fiber_spawn_with(benchmark::State& state, StackAllocator salloc) {
  ensure_fiber_pool();
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<boost::fibers::fiber> fibers;
  fibers.reserve(n);
  for (auto _ : state) {
    // The default launch policy is `post`: the fiber is queued, as a new
    // goroutine is, and the main fiber goes on spawning.
    for (std::size_t i = 0; i < n; ++i) fibers.emplace_back(std::allocator_arg, salloc, [] {});
    for (auto& f : fibers) f.join();
    fibers.clear();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void fiber_spawn(benchmark::State& state) { fiber_spawn_with(state, StackPool{}); }

void fiber_spawn_fixedsize(benchmark::State& state) {
  fiber_spawn_with(state, boost::fibers::fixedsize_stack{});
}

// The main fiber pushes on ping and pops from pong; a partner fiber pops from
// ping and pushes on pong until ping is closed. Two one-way messages per
// iteration. Under work_stealing (GOMAXPROCS > 1) the partner may be stolen
// by a helper thread, as a goroutine may run on another P.
void fiber_chan_pingpong(benchmark::State& state) {
  ensure_fiber_pool();
  boost::fibers::unbuffered_channel<int> ping, pong;
  boost::fibers::fiber partner([&ping, &pong] {
    int v = 0;
    while (ping.pop(v) == boost::fibers::channel_op_status::success) pong.push(v);
  });
  for (auto _ : state) {
    ping.push(1);
    int v = 0;
    pong.pop(v);
    benchmark::DoNotOptimize(v);
  }
  ping.close();
  partner.join();
  state.SetItemsProcessed(2 * state.iterations());
}

}  // namespace

int main(int argc, char** argv) {
  // Registration order is run order: the fiber benchmarks come last, since the
  // first of them starts the spinning helper threads (see FiberPool).
  benchmark::RegisterBenchmark("thread/yield", thread_yield)->UseRealTime();
  benchmark::RegisterBenchmark("thread/yield2", thread_yield2)->UseRealTime();
  benchmark::RegisterBenchmark("thread/spawn", thread_spawn)->Arg(kSpawnBatch)->UseRealTime();
  benchmark::RegisterBenchmark("context/resume", context_resume)->UseRealTime();
  benchmark::RegisterBenchmark("fiber/yield", fiber_yield)->UseRealTime();
  benchmark::RegisterBenchmark("fiber/yield2", fiber_yield2)->UseRealTime();
  benchmark::RegisterBenchmark("fiber/spawn", fiber_spawn)->Arg(kSpawnBatch)->UseRealTime();
  benchmark::RegisterBenchmark("fiber/spawn_fixedsize", fiber_spawn_fixedsize)->Arg(kSpawnBatch)->UseRealTime();
  benchmark::RegisterBenchmark("fiber/chan_pingpong", fiber_chan_pingpong)->UseRealTime();

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("GOMAXPROCS", std::to_string(procs_from_env()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_fiber_pool.reset();
  return 0;
}
