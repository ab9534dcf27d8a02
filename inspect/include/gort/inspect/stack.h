// Goroutine and thread stacks of a target, with libunwind's remote
// unwinding over the Target's memory, and symbols from libdwfl.
//
// Where a stack starts:
//  - a parked G (waiting, runnable, preempted): the registers gort_swapctx
//    saved on its stack, at gobuf.sp (the descriptor gives the layout);
//  - a running G or one in a system call, in a frozen target (a stopped
//    process, a core file): its thread's registers;
//  - a G in a system call in a live target: the frame entersyscall
//    recorded (syscallsp/syscallpc), which holds still during the call;
//  - a running G in a live target: unknown, as in Go's dump ("goroutine
//    running on other thread; stack unavailable").
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "gort/inspect/snapshot.h"
#include "gort/inspect/symbolize.h"
#include "gort/inspect/target.h"

namespace gort::inspect {

class Modules;

struct Frame {
  std::uint64_t pc = 0;
  std::uint64_t sp = 0;
  bool exact = false;  // pc is the instruction itself, not a return address
  SourceFrame src;     // one machine frame gives several Frames when calls were inlined
  bool runtime = false;  // gort's own frame (hidden in Go-style output)
  bool gort = false;     // gort's, runtime or public API (is_gort_frame)
  bool system = false;   // the system's libraries or headers (libc's read, std::atomic)
};

class Stacks {
 public:
  Stacks(Target& t, const Snapshot& s);
  ~Stacks();
  Stacks(const Stacks&) = delete;
  Stacks& operator=(const Stacks&) = delete;

  // The G's frames, innermost first; empty if its stack is not known.
  // to_user: stop at the first frame outside gort.
  std::vector<Frame> goroutine(const GState& g, int max_frames = 100, bool to_user = false);
  // Reads the stack tops of many Gs in one batch (before walking them all).
  void prefetch(const std::vector<GState>& gs);
  // From a thread's registers.
  std::vector<Frame> thread(const user_regs_struct& regs, int max_frames = 100);
  // The frames at one pc (inlined ones first); cached.
  const std::vector<SourceFrame>& symbolize(std::uint64_t pc, bool exact);
  // Where a G is, as dlv's "User:" location: its innermost frame outside
  // the runtime; the start function if it has not run yet. Cheaper than a
  // whole stack when the G is parked in user code.
  Frame user_location(const GState& g);
  // The function a G was started with: gort's start thunk names the
  // callable's type (a lambda's, say), and for a plain function pointer
  // the callable is the function itself.
  Frame start_location(const GState& g);
  // The frame of a code address (a start function, a go statement's pc).
  Frame location(std::uint64_t pc, bool exact);
  // The registers of a thread of a frozen target; nullptr if unknown.
  const user_regs_struct* thread_regs(pid_t tid);

 private:
  std::vector<Frame> unwind(const user_regs_struct& regs, int max_frames, bool first_exact, bool to_user);
  bool start_regs(const GState& g, user_regs_struct* regs, bool* exact);
  bool switch_regs(const GState& g, user_regs_struct* regs);
  bool settled_switch_regs(GState* g, user_regs_struct* regs);
  // Code of the system's libraries and headers: not the user's.
  bool system_code(std::uint64_t pc, const SourceFrame& f);

  Target& target_;
  const Snapshot& snap_;
  std::shared_ptr<Modules> mods_;
  struct Remote;
  std::unique_ptr<Remote> remote_;
  // The frames at a pc, classified (names compared once per pc, not per
  // goroutine).
  struct Sym {
    std::vector<SourceFrame> frames;
    std::vector<std::uint8_t> runtime, gort, system;
  };
  const Sym& sym(std::uint64_t pc, bool exact);
  std::map<std::pair<std::uint64_t, bool>, Sym> symcache_;
  // Machine frames found by libunwind from a starting pc, as offsets from
  // the starting sp, to replay for other goroutines parked at the same pc
  // (see Stacks::unwind).
  struct Chain {
    std::vector<std::uint64_t> pcs, offsets;  // offsets[i]: frame i's sp - the start's sp
    std::vector<bool> exact;
    bool complete = false;  // the walk reached the stack's end (not cut at a limit)
  };
  bool replay(const Chain& c, const user_regs_struct& regs, int max_frames, bool to_user, std::vector<Frame>* out);
  void push_frames(std::uint64_t pc, std::uint64_t sp, bool exact, std::vector<Frame>* out);
  std::unordered_map<std::uint64_t, std::vector<Chain>> chains_;
  std::unordered_map<pid_t, user_regs_struct> regs_;
  bool regs_read_ = false;
};

}  // namespace gort::inspect
