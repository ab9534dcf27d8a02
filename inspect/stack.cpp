// Remote unwinding with libunwind over a Target; see gort/inspect/stack.h.
//
// libunwind unwinds another address space through accessors: we give it
// memory (Target::read behind a page cache), the first frame's registers,
// and find_proc_info, which locates a pc's FDE. For that we hand libunwind
// the module's .eh_frame_hdr binary-search table as a "remote table" (the
// address of the table in the target, found from PT_GNU_EH_FRAME and the
// module's load bias) and let its dwarf_search_unwind_table do the search,
// reading the table through the same memory accessor. This is what
// libunwind-ptrace does, without its need for a ptrace-stopped target.
#include "gort/inspect/stack.h"

#include <libunwind.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>

#include "gort/inspect/error.h"
#include "modules.h"

// Exported by libunwind (libunwind-ptrace and libunwind-coredump use it) but
// not declared in its public headers.
extern "C" int _Ux86_64_dwarf_search_unwind_table(unw_addr_space_t as, unw_word_t ip, unw_dyn_info_t* di,
                                                  unw_proc_info_t* pi, int need_unwind_info, void* arg);

namespace gort::inspect {

namespace {

// The cache's unit: smaller than a page, because a parked goroutine uses a
// few hundred bytes of its stack and copying a whole page per goroutine
// was most of the cost of listing 10,000 of them. A power of two that
// divides the page size, so that a block never straddles two mappings.
constexpr std::uint64_t kBlock = 512;
// The most of a parked goroutine's stack prefetch reads ahead.
constexpr std::uint64_t kPrefetchMax = 8192;
constexpr int kMaxUnwindSteps = 512;

// DW_EH_PE encodings .eh_frame_hdr uses on x86-64 (GNU ld, lld, gold).
constexpr unsigned char kPeUdata4 = 0x03, kPeSdata4 = 0x0b, kPeDatarel = 0x30;

}  // namespace

// The state libunwind's accessors see: the target's memory behind a block
// cache (an unwinder reads the same stack and .eh_frame words many times)
// and the registers of the frame the walk starts from.
struct Stacks::Remote {
  Target* target;
  Modules* mods;
  unw_addr_space_t as = nullptr;
  user_regs_struct regs{};
  std::unordered_map<std::uint64_t, std::unique_ptr<std::array<unsigned char, kBlock>>> pages;  // nullptr: unreadable

  const unsigned char* page(std::uint64_t base) {
    auto it = pages.find(base);
    if (it != pages.end()) return it->second ? it->second->data() : nullptr;
    auto buf = std::make_unique<std::array<unsigned char, kBlock>>();
    std::size_t n = 0;
    try {
      n = target->read_partial(base, buf->data(), kBlock);
    } catch (const Error&) {
      n = 0;
    }
    if (n < kBlock) buf.reset();  // a partly readable block is at the end of a mapping: treat as unreadable
    const unsigned char* p = buf ? buf->data() : nullptr;
    pages.emplace(base, std::move(buf));
    return p;
  }

  bool read(std::uint64_t addr, void* out, std::size_t len) {
    auto* dst = static_cast<unsigned char*>(out);
    while (len > 0) {
      std::uint64_t base = addr & ~(kBlock - 1);
      const unsigned char* p = page(base);
      if (p == nullptr) return false;
      std::size_t off = addr - base, n = std::min<std::size_t>(len, kBlock - off);
      std::memcpy(dst, p + off, n);
      dst += n;
      addr += n;
      len -= n;
    }
    return true;
  }

  static Remote* self(void* arg) { return static_cast<Remote*>(arg); }

  static int find_proc_info(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t* pi, int need_unwind_info, void* arg) {
    Remote* r = self(arg);
    const Module* m = r->mods->find(ip);
    if (m == nullptr || m->eh_frame_hdr == 0) return -UNW_ENOINFO;
    unsigned char hdr[12];
    if (!r->read(m->eh_frame_hdr, hdr, sizeof hdr)) return -UNW_ENOINFO;
    // version 1; eh_frame_ptr (4 bytes), fde_count (udata4), then the
    // table of (initial location, FDE address) pairs, datarel sdata4.
    if (hdr[0] != 1 || (hdr[1] & 0x0f) != kPeSdata4 || hdr[2] != kPeUdata4 || hdr[3] != (kPeDatarel | kPeSdata4))
      return -UNW_ENOINFO;
    std::uint32_t fde_count;
    std::memcpy(&fde_count, hdr + 8, 4);
    unw_dyn_info_t di;
    std::memset(&di, 0, sizeof di);
    di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
    di.start_ip = m->text_lo;
    di.end_ip = m->text_hi;
    di.u.rti.name_ptr = 0;
    di.u.rti.segbase = m->eh_frame_hdr;
    di.u.rti.table_data = m->eh_frame_hdr + 12;
    di.u.rti.table_len = fde_count * 8 / sizeof(unw_word_t);
    return _Ux86_64_dwarf_search_unwind_table(as, ip, &di, pi, need_unwind_info, arg);
  }

  // The unwind info belongs to libunwind's own allocator (its DWARF
  // parser's pool), which it releases itself; nothing of ours to free.
  static void put_unwind_info(unw_addr_space_t, unw_proc_info_t*, void*) {}

  static int get_dyn_info_list_addr(unw_addr_space_t, unw_word_t*, void*) { return -UNW_ENOINFO; }

  static int access_mem(unw_addr_space_t, unw_word_t addr, unw_word_t* val, int write, void* arg) {
    if (write) return -UNW_EINVAL;  // we never change the target
    return self(arg)->read(addr, val, sizeof *val) ? 0 : -UNW_EINVAL;
  }

  static int access_reg(unw_addr_space_t, unw_regnum_t reg, unw_word_t* val, int write, void* arg) {
    if (write) return -UNW_EINVAL;
    const user_regs_struct& g = self(arg)->regs;
    switch (reg) {
      case UNW_X86_64_RAX: *val = g.rax; break;
      case UNW_X86_64_RDX: *val = g.rdx; break;
      case UNW_X86_64_RCX: *val = g.rcx; break;
      case UNW_X86_64_RBX: *val = g.rbx; break;
      case UNW_X86_64_RSI: *val = g.rsi; break;
      case UNW_X86_64_RDI: *val = g.rdi; break;
      case UNW_X86_64_RBP: *val = g.rbp; break;
      case UNW_X86_64_RSP: *val = g.rsp; break;
      case UNW_X86_64_R8: *val = g.r8; break;
      case UNW_X86_64_R9: *val = g.r9; break;
      case UNW_X86_64_R10: *val = g.r10; break;
      case UNW_X86_64_R11: *val = g.r11; break;
      case UNW_X86_64_R12: *val = g.r12; break;
      case UNW_X86_64_R13: *val = g.r13; break;
      case UNW_X86_64_R14: *val = g.r14; break;
      case UNW_X86_64_R15: *val = g.r15; break;
      case UNW_X86_64_RIP: *val = g.rip; break;
      default: return -UNW_EBADREG;
    }
    return 0;
  }

  static int access_fpreg(unw_addr_space_t, unw_regnum_t, unw_fpreg_t*, int, void*) { return -UNW_EBADREG; }
  static int resume(unw_addr_space_t, unw_cursor_t*, void*) { return -UNW_EINVAL; }
  static int get_proc_name(unw_addr_space_t, unw_word_t, char*, std::size_t, unw_word_t*, void*) {
    return -UNW_ENOINFO;  // names come from libdwfl
  }
};

Stacks::Stacks(Target& t, const Snapshot& s) : target_(t), snap_(s), mods_(s.modules ? s.modules : std::make_shared<Modules>(t)) {
  remote_ = std::make_unique<Remote>();
  remote_->target = &t;
  remote_->mods = mods_.get();
  static unw_accessors_t accessors = {
      Remote::find_proc_info, Remote::put_unwind_info, Remote::get_dyn_info_list_addr, Remote::access_mem,
      Remote::access_reg,     Remote::access_fpreg,    Remote::resume,                 Remote::get_proc_name,
  };
  remote_->as = unw_create_addr_space(&accessors, 0);
  if (remote_->as == nullptr) throw Error("libunwind: cannot create an address space");
  // The target does not change under one Stacks (a snapshot's view): FDE
  // lookups may be cached across walks. (libunwind locks that cache with
  // every signal masked, two sigprocmask calls per step: 40,000 system calls
  // to list 10,000 goroutines, ~10 ms. Without the cache each step parses
  // the FDE again and allocates from libunwind's pools, whose locks mask
  // signals too: four times as many.)
  unw_set_caching_policy(remote_->as, UNW_CACHE_GLOBAL);
}

Stacks::~Stacks() {
  if (remote_ && remote_->as) unw_destroy_addr_space(remote_->as);
}

const Stacks::Sym& Stacks::sym(std::uint64_t pc, bool exact) {
  auto key = std::make_pair(pc, exact);
  auto it = symcache_.find(key);
  if (it != symcache_.end()) return it->second;
  Sym s;
  s.frames = inspect::symbolize(mods_->dwfl(), pc, exact);
  for (const SourceFrame& sf : s.frames) {
    s.runtime.push_back(is_runtime_frame(sf));
    s.gort.push_back(is_gort_frame(sf));
    s.system.push_back(system_code(pc, sf));
  }
  return symcache_.emplace(key, std::move(s)).first->second;
}

const std::vector<SourceFrame>& Stacks::symbolize(std::uint64_t pc, bool exact) { return sym(pc, exact).frames; }

void Stacks::prefetch(const std::vector<GState>& gs) {
  // Each parked G's stack in use, from its switch frame (where unwinding
  // starts) up to the top (at most kPrefetchMax), in one batch of reads.
  std::vector<std::uint64_t> bases;
  for (const GState& g : gs) {
    if (g.sp < g.stack_lo || g.sp >= g.stack_hi || g.status == GORT_GRUNNING || g.status == GORT_GSYSCALL) continue;
    std::uint64_t top = std::min(g.stack_hi, g.sp + kPrefetchMax);
    for (std::uint64_t base = g.sp & ~(kBlock - 1); base < top; base += kBlock)
      if (!remote_->pages.count(base)) bases.push_back(base);
  }
  std::sort(bases.begin(), bases.end());
  bases.erase(std::unique(bases.begin(), bases.end()), bases.end());
  std::vector<std::unique_ptr<std::array<unsigned char, kBlock>>> bufs(bases.size());
  std::vector<Target::ReadOp> ops;
  ops.reserve(bases.size());
  for (std::size_t i = 0; i < bases.size(); ++i) {
    bufs[i] = std::make_unique<std::array<unsigned char, kBlock>>();
    ops.push_back({bases[i], bufs[i]->data(), kBlock, false});
  }
  target_.read_batch(ops);
  for (std::size_t i = 0; i < bases.size(); ++i)
    if (ops[i].ok) remote_->pages.emplace(bases[i], std::move(bufs[i]));
}

const user_regs_struct* Stacks::thread_regs(pid_t tid) {
  if (!target_.frozen() || tid == 0) return nullptr;
  if (!regs_read_) {
    regs_read_ = true;
    for (const Thread& th : target_.threads())
      if (th.has_regs) regs_[th.tid] = th.regs;
  }
  auto it = regs_.find(tid);
  return it == regs_.end() ? nullptr : &it->second;
}

// exact: the registers are a stopped thread's (pc is where it stopped);
// otherwise pc is a return address (a switch frame's, entersyscall's).
bool Stacks::start_regs(const GState& g, user_regs_struct* r, bool* exact) {
  std::memset(r, 0, sizeof *r);
  *exact = false;
  if (g.status == GORT_GRUNNING || g.status == GORT_GSYSCALL) {
    if (const user_regs_struct* tr = thread_regs(g.thread)) {
      *r = *tr;
      *exact = true;
      return true;
    }
    if (g.status == GORT_GSYSCALL && g.syscall_implicit && g.syscallsp != 0) {
      // Blocked without gort::syscall: sysmon recorded the thread's sp and
      // pc at its entry into the kernel (the instruction after `syscall`).
      // rbp is unknown: libc's wrappers and optimized code are unwound from
      // rsp, but the walk stops at a frame that needs rbp (a sanitizer's
      // interceptor, code built with -fno-omit-frame-pointer); --stop
      // reads the thread's registers instead.
      r->rip = g.syscallpc;
      r->rsp = g.syscallsp;
      *exact = true;
      return true;
    }
    if (g.status == GORT_GSYSCALL && g.syscallsp != 0) {
      // entersyscall's frame: syscallsp is its frame pointer (saved rbp
      // below the return address syscallpc); the caller resumes with rsp
      // just above them. Other registers are unknown; CFA rules of
      // optimized code rarely need them.
      std::uint64_t saved_rbp = 0;
      if (!remote_->read(g.syscallsp, &saved_rbp, 8)) return false;
      r->rip = g.syscallpc;
      r->rsp = g.syscallsp + 16;
      r->rbp = saved_rbp;
      return true;
    }
    return false;
  }
  return switch_regs(g, r);
}

// The switch frame gort_swapctx pushed (layout from the descriptor) when
// the G last left its M.
bool Stacks::switch_regs(const GState& g, user_regs_struct* r) {
  const gort_debug_descriptor& d = snap_.layout;
  if (g.sp == 0 || g.sp < g.stack_lo || g.sp >= g.stack_hi) return false;
  std::array<std::uint64_t, 16> f{};
  if (d.frame_size == 0 || d.frame_size > sizeof f || !remote_->read(g.sp, f.data(), d.frame_size)) return false;
  auto at = [&](std::uint32_t off) { return f[off / 8]; };
  r->r15 = at(d.frame_r15);
  r->r14 = at(d.frame_r14);
  r->r13 = at(d.frame_r13);
  r->r12 = at(d.frame_r12);
  r->rbx = at(d.frame_rbx);
  r->rbp = at(d.frame_rbp);
  r->rip = at(d.frame_rip);
  r->rsp = g.sp + d.frame_size;
  return true;
}

// Code of the system's libraries (libc's read, libstdc++'s mutex): where a
// goroutine is, but not the user's code, the way dlv's User location skips
// Go's runtime.
// Their headers' functions inlined into the user's (std::atomic's load in a
// spinning loop) count as theirs.
bool Stacks::system_code(std::uint64_t pc, const SourceFrame& f) {
  if (f.file.rfind("/usr/include/", 0) == 0) return true;
  const Module* m = mods_->find(pc);
  if (m == nullptr) return false;
  for (const char* dir : {"/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/", "/usr/local/lib/"})
    if (m->path.rfind(dir, 0) == 0) return true;
  return false;
}

// The source frames of one machine frame, classified.
void Stacks::push_frames(std::uint64_t pc, std::uint64_t sp, bool exact, std::vector<Frame>* out) {
  const gort_debug_descriptor& d = snap_.layout;
  bool trampoline = pc >= d.asyncpreempt_begin && pc < d.asyncpreempt_end;
  const Sym& s = sym(pc, exact);
  for (std::size_t i = 0; i < s.frames.size(); ++i) {
    Frame f;
    f.pc = pc;
    f.sp = sp;
    f.exact = exact;
    f.src = s.frames[i];
    f.runtime = s.runtime[i] || trampoline;
    f.gort = s.gort[i] || trampoline;
    f.system = s.system[i];
    out->push_back(std::move(f));
  }
}

// A chain learnt from another goroutine, if this stack has the same
// shape: every return address where the chain says it is (a caller's
// return address sits just below its frame's sp). Thousands of goroutines
// parked at the same place by the same callers are walked once by
// libunwind, whose every step costs two system calls (it masks signals
// around its cache's lock); the others are checked against the chain with
// reads from the block cache. false: no match, or the chain is too short
// for what is asked.
bool Stacks::replay(const Chain& c, const user_regs_struct& regs, int max_frames, bool to_user,
                    std::vector<Frame>* out) {
  for (std::size_t i = 1; i < c.pcs.size(); ++i) {
    std::uint64_t ra = 0;
    if (!remote_->read(regs.rsp + c.offsets[i] - 8, &ra, 8) || ra != c.pcs[i]) return false;
  }
  std::vector<Frame> frames;
  for (std::size_t i = 0; i < c.pcs.size(); ++i) {
    if (static_cast<int>(frames.size()) >= max_frames) break;
    push_frames(c.pcs[i], regs.rsp + c.offsets[i], c.exact[i], &frames);
    if (to_user && !frames.back().gort && !frames.back().system) break;
    if (i + 1 == c.pcs.size() && !c.complete) return false;  // the chain ends before the walk would
  }
  *out = std::move(frames);
  return true;
}

std::vector<Frame> Stacks::unwind(const user_regs_struct& regs, int max_frames, bool first_exact, bool to_user) {
  std::vector<Frame> out;
  std::uint64_t key = regs.rip << 1 | (first_exact ? 1 : 0);
  auto known = chains_.find(key);
  if (known != chains_.end())
    for (const Chain& c : known->second)
      if (replay(c, regs, max_frames, to_user, &out)) return out;
  remote_->regs = regs;
  unw_cursor_t cursor;
  if (unw_init_remote(&cursor, remote_->as, remote_.get()) != 0) return out;
  const gort_debug_descriptor& d = snap_.layout;
  Chain chain;
  bool exact = first_exact;
  for (int step = 0; step < kMaxUnwindSteps && static_cast<int>(out.size()) < max_frames; ++step) {
    unw_word_t pc = 0, sp = 0;
    if (unw_get_reg(&cursor, UNW_REG_IP, &pc) < 0 || pc == 0) {
      chain.complete = true;
      break;
    }
    unw_get_reg(&cursor, UNW_REG_SP, &sp);
    chain.pcs.push_back(pc);
    chain.offsets.push_back(sp - regs.rsp);
    chain.exact.push_back(exact);
    push_frames(pc, sp, exact, &out);
    if (to_user && !out.back().gort && !out.back().system) break;
    // The frame below the trampoline was interrupted, not calling.
    exact = pc >= d.asyncpreempt_begin && pc < d.asyncpreempt_end;
    if (unw_step(&cursor) <= 0) {
      chain.complete = true;
      break;
    }
  }
  // Only chains whose frames are all above the start (a walk through a
  // signal frame jumps elsewhere) and a few per starting pc.
  bool upward = true;
  for (std::size_t i = 1; i < chain.offsets.size(); ++i)
    upward = upward && chain.offsets[i] > chain.offsets[i - 1] && chain.offsets[i] < (1u << 20);
  std::vector<Chain>& cs = chains_[key];
  if (upward && !chain.pcs.empty() && cs.size() < 8) cs.push_back(std::move(chain));
  return out;
}

// A thread stopped where its pc is: the first frame's pc is exact.
std::vector<Frame> Stacks::thread(const user_regs_struct& regs, int max_frames) {
  return unwind(regs, max_frames, true, false);
}

// A live target runs on while it is read: a G that was runnable or parked
// in the snapshot may have run since, and its switch frame been overwritten
// by the calls it made (a yielder is resumed and switched out again
// thousands of times a second). A saved return address outside every
// module's code says so: read the G's gobuf and status again, a few times,
// and if it is running now, wait (50 µs at a time, 2 ms at most) for it to
// switch out again, as a yielder does at once. Returns false if it never
// settles (its registers are unknown without --stop).
bool Stacks::settled_switch_regs(GState* g, user_regs_struct* r) {
  const gort_debug_descriptor& d = snap_.layout;
  for (int tries = 0; tries < 40; ++tries) {
    if (switch_regs(*g, r)) {
      const Module* m = mods_->find(r->rip);
      if (m != nullptr && r->rip >= m->text_lo && r->rip < m->text_hi) return true;
    }
    std::uint64_t sp = 0;
    std::uint32_t status = 0;
    if (d.g_sched_sp.size != 8 || d.g_atomicstatus.size != 4 || !remote_->read(g->addr + d.g_sched_sp.offset, &sp, 8) ||
        !remote_->read(g->addr + d.g_atomicstatus.offset, &status, 4))
      return false;
    status &= ~static_cast<std::uint32_t>(GORT_GSCAN);
    if (status == GORT_GDEAD) return false;
    if (status == GORT_GRUNNING || status == GORT_GSYSCALL) {
      timespec ts{0, 50'000};
      nanosleep(&ts, nullptr);
      continue;
    }
    g->sp = sp;
  }
  return false;
}

std::vector<Frame> Stacks::goroutine(const GState& g0, int max_frames, bool to_user) {
  GState g = g0;
  user_regs_struct r;
  bool exact = false;
  if (g.status != GORT_GRUNNING && g.status != GORT_GSYSCALL) {
    if (!settled_switch_regs(&g, &r)) return {};
  } else if (!start_regs(g, &r, &exact)) {
    return {};
  }
  if (exact && g.status == GORT_GRUNNING && (r.rsp < g.stack_lo || r.rsp >= g.stack_hi)) {
    // Its thread is not on its stack: in a signal handler on the signal
    // stack (the G's frames follow the kernel's signal frame), or on g0 in
    // the scheduler, between saving the G's registers in its gobuf and
    // changing its status (the gobuf is fresh then).
    std::vector<Frame> all = unwind(r, kMaxUnwindSteps, true, false);
    auto on_stack = std::find_if(all.begin(), all.end(),
                                 [&](const Frame& f) { return f.sp >= g.stack_lo && f.sp < g.stack_hi; });
    if (on_stack != all.end()) {
      all.erase(all.begin(), on_stack);
      if (static_cast<int>(all.size()) > max_frames) all.resize(static_cast<std::size_t>(max_frames));
      return all;
    }
    if (!switch_regs(g, &r)) return {};
    exact = false;
  }
  if (r.rip == snap_.layout.gostart) {
    // Never ran: its stack is only the start frame; show the function it will run.
    std::vector<Frame> out;
    out.push_back(start_location(g));
    return out;
  }
  return unwind(r, max_frames, exact, to_user);
}

Frame Stacks::location(std::uint64_t pc, bool exact) {
  const Sym& s = sym(pc, exact);
  // The outermost source frame is the machine function; inlined wrappers of
  // the runtime (gort::go's lambda) are skipped for the first user one.
  std::size_t i = 0;
  while (i + 1 < s.frames.size() && s.gort[i]) ++i;
  Frame f;
  f.pc = pc;
  f.exact = exact;
  f.src = s.frames[i];
  f.runtime = s.runtime[i];
  f.gort = s.gort[i];
  f.system = s.system[i];
  return f;
}

Frame Stacks::user_location(const GState& g) {
  std::vector<Frame> frames = goroutine(g, 64, true);
  for (const Frame& f : frames)
    if (!f.gort && !f.system) return f;
  // A walk that stopped in the system's code before reaching the G's start
  // (blocked outside gort::syscall, inside a frame that needs registers
  // the inspector does not have): where it started says more than libc.
  if (!frames.empty() && frames.back().src.func != "gort_gostart" && g.status == GORT_GSYSCALL) return start_location(g);
  for (const Frame& f : frames)
    if (!f.gort) return f;
  // All gort's (a tail call left no user frame): its public API frame, as
  // dlv shows sync.(*WaitGroup).Wait.
  for (const Frame& f : frames)
    if (!f.runtime) return f;
  if (!frames.empty()) return frames.front();
  // Unknown stack (running elsewhere): where it started.
  return start_location(g);
}

Frame Stacks::start_location(const GState& g) {
  Frame f = location(g.startpc, true);
  // "void gort::detail::start<Fn>(void*)": the thunk that calls the G's callable.
  constexpr std::string_view thunk = "gort::detail::start<";
  const std::string& name = f.src.func;
  std::size_t b = name.find(thunk), e = name.rfind(">(");
  if (b == std::string::npos || e == std::string::npos || e < b + thunk.size()) return f;
  std::string fn = name.substr(b + thunk.size(), e - b - thunk.size());
  if (fn.find("(*)(") != std::string::npos && g.fnword != 0) {
    if (const Module* m = mods_->find(g.fnword); m && g.fnword >= m->text_lo && g.fnword < m->text_hi) {
      // The function itself (the outermost source frame), not what is
      // inlined at its first instruction (std::atomic's fetch_add in a
      // spinner's loop).
      const Sym& s = sym(g.fnword, true);
      Frame fn_start;
      fn_start.pc = g.fnword;
      fn_start.exact = true;
      fn_start.src = s.frames.back();
      fn_start.runtime = s.runtime.back();
      fn_start.gort = s.gort.back();
      fn_start.system = s.system.back();
      return fn_start;
    }
  }
  f.src.func = fn;  // the callable's type: "main()::{lambda()#1}"
  f.runtime = f.gort = f.system = false;
  return f;
}

}  // namespace gort::inspect
