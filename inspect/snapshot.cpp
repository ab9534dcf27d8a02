// Decoding G, M, P and sched through the debug descriptor: see snapshot.h.
//
// Every structure is read as a blob of the size the descriptor gives and
// fields are taken out of it by offset and size, so the inspector needs no
// runtime header beyond gort/debug_layout.h, and a runtime whose structures
// grew fields keeps working as long as the version is the same.
#include "gort/inspect/snapshot.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <span>
#include <unordered_map>

#include "gort/inspect/error.h"
#include "modules.h"

namespace gort::inspect {

namespace {

// Bounds on what a live, changing process can make us walk.
constexpr std::uint64_t kMaxGs = 1u << 24;
constexpr int kMaxMs = 1 << 16;

using Blob = std::vector<unsigned char>;

std::uint64_t get_u(std::span<const unsigned char> b, gort_debug_field f) {
  if (f.size == 0 || f.size > 8 || f.offset + f.size > b.size()) return 0;
  std::uint64_t v = 0;
  std::memcpy(&v, b.data() + f.offset, f.size);  // x86-64: little-endian
  return v;
}

std::int64_t get_s(std::span<const unsigned char> b, gort_debug_field f) {
  std::uint64_t v = get_u(b, f);
  if (f.size > 0 && f.size < 8) {
    std::uint64_t sign = 1ull << (f.size * 8 - 1);
    if (v & sign) v |= ~((sign << 1) - 1);
  }
  return static_cast<std::int64_t>(v);
}

Blob read_blob(Target& t, std::uint64_t addr, std::size_t size) {
  Blob b(size);
  t.read(addr, b.data(), size);
  return b;
}

// The descriptor's link-time address in the executable: its section (kept
// by strip), else its symbol.
std::uint64_t descriptor_vaddr(const std::string& path, const std::string& what) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("cannot open the executable of " + what + ": " + std::strerror(errno));
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  std::uint64_t addr = 0;
  std::size_t shstrndx = 0;
  if (elf != nullptr && elf_getshdrstrndx(elf, &shstrndx) == 0) {
    for (Elf_Scn* scn = nullptr; addr == 0 && (scn = elf_nextscn(elf, scn)) != nullptr;) {
      GElf_Shdr sh;
      if (gelf_getshdr(scn, &sh) == nullptr) continue;
      const char* name = elf_strptr(elf, shstrndx, sh.sh_name);
      if (name && std::strcmp(name, GORT_DEBUG_SECTION) == 0) addr = sh.sh_addr;
    }
    for (Elf_Scn* scn = nullptr; addr == 0 && (scn = elf_nextscn(elf, scn)) != nullptr;) {
      GElf_Shdr sh;
      if (gelf_getshdr(scn, &sh) == nullptr || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM)) continue;
      Elf_Data* data = elf_getdata(scn, nullptr);
      std::size_t n = sh.sh_entsize ? sh.sh_size / sh.sh_entsize : 0;
      for (std::size_t i = 0; data && i < n; ++i) {
        GElf_Sym sym;
        if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) continue;
        const char* name = elf_strptr(elf, sh.sh_link, sym.st_name);
        if (name && std::strcmp(name, GORT_DEBUG_SYMBOL) == 0) {
          addr = sym.st_value;
          break;
        }
      }
    }
  }
  if (elf) elf_end(elf);
  ::close(fd);
  return addr;
}

}  // namespace

std::uint64_t find_descriptor(Target& t, std::uint64_t* bias_out) {
  Modules mods(t);
  return find_descriptor(t, mods, bias_out);
}

std::uint64_t find_descriptor(Target& t, Modules& mods, std::uint64_t* bias_out) {
  const Module* exe = mods.exe();
  if (exe == nullptr) throw Error("cannot find the executable of " + t.describe());
  std::uint64_t vaddr = descriptor_vaddr(exe->open_path, t.describe());
  if (vaddr == 0)
    throw Error(t.describe() + " (" + exe->path + ") is not a gort program: no " GORT_DEBUG_SECTION
                " section and no " GORT_DEBUG_SYMBOL " symbol");
  std::uint64_t addr = vaddr + exe->bias;
  struct {
    std::uint64_t magic;
    std::uint32_t version;
  } head{};
  t.read(addr, &head, sizeof head);
  if (head.magic != GORT_DEBUG_MAGIC) {
    char msg[200];
    std::snprintf(msg, sizeof msg, "%s: no gort debug descriptor at 0x%llx (bad magic 0x%llx)", t.describe().c_str(),
                  static_cast<unsigned long long>(addr), static_cast<unsigned long long>(head.magic));
    throw Error(msg);
  }
  if (head.version != GORT_DEBUG_VERSION)
    throw Error(t.describe() + " has a gort debug descriptor of version " + std::to_string(head.version) +
                "; this gort reads version " + std::to_string(GORT_DEBUG_VERSION));
  if (bias_out) *bias_out = exe->bias;
  return addr;
}

const GState* Snapshot::find_g(std::int64_t goid) const {
  for (const GState& g : gs)
    if (g.goid == goid) return &g;
  return nullptr;
}

const char* gstatus_name(std::uint32_t s) {
  switch (s) {
    case GORT_GIDLE: return "idle";
    case GORT_GRUNNABLE: return "runnable";
    case GORT_GRUNNING: return "running";
    case GORT_GSYSCALL: return "syscall";
    case GORT_GWAITING: return "waiting";
    case GORT_GDEAD: return "dead";
    case GORT_GPREEMPTED: return "preempted";
  }
  return "???";
}

const char* pstatus_name(std::uint32_t s) {
  switch (s) {
    case GORT_PIDLE: return "idle";
    case GORT_PRUNNING: return "running";
    case GORT_PSYSCALL: return "syscall";
    case GORT_PGCSTOP: return "gcstop";
    case GORT_PDEAD: return "dead";
  }
  return "?";
}

Snapshot read_snapshot(Target& t, bool with_dead) {
  Snapshot snap;
  snap.modules = std::make_shared<Modules>(t);
  snap.descriptor = find_descriptor(t, *snap.modules, &snap.bias);
  gort_debug_descriptor d{};
  {
    std::uint32_t size = t.read_value<std::uint32_t>(snap.descriptor + offsetof(gort_debug_descriptor, size));
    t.read(snap.descriptor, &d, std::min<std::size_t>(size, sizeof d));
  }
  snap.version = d.version;
  snap.layout = d;
  if (d.ptr_size != 8 || d.g_size == 0 || d.g_size > 1 << 16 || d.m_size == 0 || d.m_size > 1 << 16 ||
      d.p_size == 0 || d.p_size > 1 << 20)
    throw Error(t.describe() + ": the gort debug descriptor is corrupt (structure sizes out of range)");

  // Wait reason strings, read once.
  std::vector<std::string> reasons;
  if (d.nwaitreasons > 0 && d.nwaitreasons < 256) {
    std::vector<std::uint64_t> ptrs(d.nwaitreasons);
    t.read(d.waitreasons, ptrs.data(), ptrs.size() * 8);
    for (std::uint64_t p : ptrs) reasons.push_back(p ? t.read_string(p, 64) : "");
  }

  // sched and gomaxprocs.
  // The sched structure is read whole: take the largest offset it uses.
  std::uint32_t sched_size = 0;
  for (gort_debug_field f : {d.s_goidgen, d.s_nmidle, d.s_mcount, d.s_npidle, d.s_nmspinning, d.s_runqsize,
                             d.s_runqhead, d.s_gcwaiting, d.s_npreemptsync, d.s_npreemptasync, d.s_starttime,
                             d.s_ngoroutines})
    sched_size = std::max(sched_size, f.offset + f.size);
  Blob sb = read_blob(t, d.sched, sched_size);
  SchedState& s = snap.sched;
  s.gomaxprocs = t.read_value<std::int32_t>(d.gomaxprocs);
  s.goidgen = get_s(sb, d.s_goidgen);
  s.nmidle = static_cast<std::int32_t>(get_s(sb, d.s_nmidle));
  s.mcount = static_cast<std::int32_t>(get_s(sb, d.s_mcount));
  s.npidle = static_cast<std::int32_t>(get_s(sb, d.s_npidle));
  s.nmspinning = static_cast<std::int32_t>(get_s(sb, d.s_nmspinning));
  s.runqsize = static_cast<std::int32_t>(get_s(sb, d.s_runqsize));
  s.gcwaiting = static_cast<std::uint32_t>(get_u(sb, d.s_gcwaiting));
  s.npreemptsync = get_u(sb, d.s_npreemptsync);
  s.npreemptasync = get_u(sb, d.s_npreemptasync);
  s.starttime = get_s(sb, d.s_starttime);
  s.ngoroutines = get_s(sb, d.s_ngoroutines);
  if (s.gomaxprocs < 0 || static_cast<std::uint32_t>(s.gomaxprocs) > d.max_procs)
    throw Error(t.describe() + ": gomaxprocs is " + std::to_string(s.gomaxprocs) + ", out of range (corrupt?)");

  // Ms, through allm and alllink; bounded, and a cycle ends the walk.
  std::unordered_map<std::uint64_t, std::size_t> m_index;
  std::uint64_t mp = t.read_value<std::uint64_t>(d.allm);
  while (mp != 0 && snap.ms.size() < static_cast<std::size_t>(kMaxMs) && !m_index.count(mp)) {
    Blob b = read_blob(t, mp, d.m_size);
    MState m;
    m.addr = mp;
    m.id = get_s(b, d.m_id);
    m.tid = static_cast<pid_t>(get_s(b, d.m_procid));
    m.g0 = get_u(b, d.m_g0);
    m.curg = get_u(b, d.m_curg);
    m.p = get_u(b, d.m_p);
    m.oldp = get_u(b, d.m_oldp);
    m.lockedg = get_u(b, d.m_lockedg);
    m.spinning = get_u(b, d.m_spinning) != 0;
    m.blocked = get_u(b, d.m_blocked) != 0;
    m.blocked_outside = get_u(b, d.m_blockretake) == 2;
    m.sysmon = get_u(b, d.m_sysmon) != 0;
    m.exited = get_u(b, d.m_exited) != 0;
    m.locks = static_cast<std::int32_t>(get_s(b, d.m_locks));
    m.preemptoff = static_cast<std::int32_t>(get_s(b, d.m_preemptoff));
    m.signal_pending = static_cast<std::uint32_t>(get_u(b, d.m_signal_pending));
    m_index[mp] = snap.ms.size();
    snap.ms.push_back(m);
    mp = get_u(b, d.m_alllink);
  }
  // allm is pushed at the head: show Ms in creation order, as dlv's threads.
  std::sort(snap.ms.begin(), snap.ms.end(), [](const MState& a, const MState& b) { return a.id < b.id; });
  m_index.clear();
  for (std::size_t i = 0; i < snap.ms.size(); ++i) m_index[snap.ms[i].addr] = i;

  // Gs.
  std::uint64_t ngs = t.read_value<std::uint64_t>(d.allgs_len);
  std::uint64_t gsp = t.read_value<std::uint64_t>(d.allgs_ptr);
  if (ngs > kMaxGs) throw Error(t.describe() + ": allgs has " + std::to_string(ngs) + " entries (corrupt?)");
  std::vector<std::uint64_t> gptrs(ngs);
  if (ngs) t.read(gsp, gptrs.data(), ngs * 8);
  std::unordered_map<std::uint64_t, std::int64_t> goid_of;
  goid_of.reserve(ngs);
  // All Gs in one batch: a handful of system calls for 10,000 Gs. Gs are
  // allocated one after another, so they are read as runs of neighbours
  // (a gap of less than a page is read too): the kernel pins each page of
  // each piece read, and a page holds several Gs.
  std::vector<std::uint64_t> sorted;
  for (std::uint64_t gp : gptrs)
    if (gp != 0) sorted.push_back(gp);
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  struct Run {
    std::uint64_t lo, hi;
    std::size_t at;  // offset in gmem
  };
  std::vector<Run> runs;
  std::size_t total = 0;
  for (std::uint64_t gp : sorted) {
    if (!runs.empty() && gp < runs.back().hi + 4096) {
      runs.back().hi = std::max(runs.back().hi, gp + d.g_size);
      continue;
    }
    if (!runs.empty()) total += runs.back().hi - runs.back().lo;
    runs.push_back({gp, gp + d.g_size, total});
  }
  if (!runs.empty()) total += runs.back().hi - runs.back().lo;
  std::vector<unsigned char> gmem(total);
  std::vector<Target::ReadOp> ops;
  ops.reserve(runs.size());
  for (const Run& r : runs) ops.push_back({r.lo, gmem.data() + r.at, r.hi - r.lo, false});
  t.read_batch(ops);
  std::set<std::uint64_t> unreadable;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].ok) continue;
    // A run with an unreadable page in it (a corrupt pointer among them):
    // its Gs one by one.
    for (auto it = std::lower_bound(sorted.begin(), sorted.end(), runs[i].lo);
         it != sorted.end() && *it < runs[i].hi; ++it)
      if (t.read_partial(*it, gmem.data() + runs[i].at + (*it - runs[i].lo), d.g_size) != d.g_size)
        unreadable.insert(*it);
  }
  for (std::uint64_t gp : gptrs) {  // allgs order: creation order
    if (gp == 0 || unreadable.count(gp)) continue;  // allgs never frees: a corrupt pointer; skip it
    const Run& r = *std::prev(std::upper_bound(runs.begin(), runs.end(), gp,
                                               [](std::uint64_t a, const Run& x) { return a < x.lo; }));
    std::span<const unsigned char> b(gmem.data() + r.at + (gp - r.lo), d.g_size);
    std::uint32_t st = static_cast<std::uint32_t>(get_u(b, d.g_atomicstatus));
    GState g;
    g.addr = gp;
    g.goid = get_s(b, d.g_goid);
    goid_of[gp] = g.goid;
    g.scan = (st & GORT_GSCAN) != 0;
    g.status = st & ~static_cast<std::uint32_t>(GORT_GSCAN);
    if (!with_dead && (g.status == GORT_GDEAD || g.status == GORT_GIDLE)) continue;
    g.parentgoid = get_s(b, d.g_parentgoid);
    std::uint64_t wr = get_u(b, d.g_waitreason);
    if (g.status == GORT_GWAITING && wr < reasons.size()) g.waitreason = reasons[wr];
    g.stack_lo = get_u(b, d.g_stack_lo);
    g.stack_hi = get_u(b, d.g_stack_hi);
    g.stackguard0 = get_u(b, d.g_stackguard0);
    g.sp = get_u(b, d.g_sched_sp);
    g.pc = get_u(b, d.g_sched_pc);
    g.bp = get_u(b, d.g_sched_bp);
    g.m = get_u(b, d.g_m);
    g.lockedm = get_u(b, d.g_lockedm);
    g.waitsince = get_s(b, d.g_waitsince);
    g.startpc = get_u(b, d.g_startpc);
    g.gopc = get_u(b, d.g_gopc);
    g.preempt = get_u(b, d.g_preempt) != 0;
    g.asyncpreempted = get_u(b, d.g_asyncpreempted) != 0;
    g.syscallsp = get_u(b, d.g_syscallsp);
    g.syscallpc = get_u(b, d.g_syscallpc);
    g.guarded = get_u(b, d.g_guarded) != 0;
    if (d.g_fnbuf.size >= 8) g.fnword = get_u(b, {d.g_fnbuf.offset, 8});
    if (auto it = m_index.find(g.m); it != m_index.end()) {
      const MState& m = snap.ms[it->second];
      g.m_id = m.id;
      g.thread = m.tid;
      g.syscall_implicit = g.status == GORT_GSYSCALL && m.blocked_outside;
    }
    snap.gs.push_back(std::move(g));
  }
  std::sort(snap.gs.begin(), snap.gs.end(), [](const GState& a, const GState& b) { return a.goid < b.goid; });
  for (MState& m : snap.ms)
    if (auto it = goid_of.find(m.curg); it != goid_of.end()) m.curg_goid = it->second;

  // Ps: the first gomaxprocs entries of allp.
  std::vector<std::uint64_t> pptrs(static_cast<std::size_t>(s.gomaxprocs));
  if (s.gomaxprocs) t.read(d.allp, pptrs.data(), pptrs.size() * 8);
  std::unordered_map<std::uint64_t, int> p_id_of;
  for (std::uint64_t pp : pptrs) {
    if (pp == 0) continue;
    Blob b = read_blob(t, pp, d.p_size);
    PState p;
    p.addr = pp;
    p.id = static_cast<int>(get_s(b, d.p_id));
    p.status = static_cast<std::uint32_t>(get_u(b, d.p_status));
    std::uint64_t owner = get_u(b, d.p_m);
    if (auto it = m_index.find(owner); it != m_index.end()) p.m_id = snap.ms[it->second].id;
    p.schedtick = static_cast<std::uint32_t>(get_u(b, d.p_schedtick));
    p.syscalltick = static_cast<std::uint32_t>(get_u(b, d.p_syscalltick));
    p.slicestart = get_s(b, d.p_slicestart);
    p.runqhead = static_cast<std::uint32_t>(get_u(b, d.p_runqhead));
    p.runqtail = static_cast<std::uint32_t>(get_u(b, d.p_runqtail));
    // The ring as the owner sees it; a racing steal may leave head past
    // tail for an instant: then it reads as empty.
    std::uint32_t n = p.runqtail - p.runqhead;
    if (n <= d.runq_size && d.p_runq.size >= d.runq_size * 8) {
      for (std::uint32_t i = 0; i < n; ++i) {
        gort_debug_field slot{d.p_runq.offset + ((p.runqhead + i) % d.runq_size) * 8, 8};
        auto it = goid_of.find(get_u(b, slot));
        p.runq.push_back(it == goid_of.end() ? -1 : it->second);
      }
    }
    if (auto it = goid_of.find(get_u(b, d.p_runnext)); it != goid_of.end()) p.runnext = it->second;
    p.gfreecnt = static_cast<std::int32_t>(get_s(b, d.p_gfreecnt));
    p.ntimers = static_cast<std::uint32_t>(get_u(b, d.p_ntimers));
    p.timer0when = get_s(b, d.p_timer0when);
    p.preemptcount = get_u(b, d.p_preemptcount);
    p.ngoroutines = get_s(b, d.p_ngoroutines);
    p_id_of[pp] = p.id;
    snap.ps.push_back(std::move(p));
  }
  for (MState& m : snap.ms)
    if (auto it = p_id_of.find(m.p); it != p_id_of.end()) m.p_id = it->second;
  for (GState& g : snap.gs)
    if (g.status == GORT_GRUNNING || g.status == GORT_GSYSCALL)
      for (const MState& m : snap.ms)
        if (m.addr == g.m) g.p_id = m.p_id;
  return snap;
}

}  // namespace gort::inspect
