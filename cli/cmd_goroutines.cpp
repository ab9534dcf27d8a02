// gort goroutines / gort goroutine: every G of a program, dlv's way, and
// one G in full.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>

#include "commands.h"
#include "gort/inspect/error.h"
#include "gort/inspect/snapshot.h"
#include "gort/inspect/stack.h"
#include "json.h"
#include "options.h"

namespace gort::cli {

using namespace gort::inspect;

const char kGoroutinesHelp[] =
    "Usage: gort goroutines " GORT_TARGET_USAGE " [-t [DEPTH]] [--group] [--json] [--stop]\n"
    "\n"
    "Lists every goroutine of a gort program, one line each, as dlv's goroutines does:\n"
    "  Goroutine 7 - User: examples/inspectee.cpp:42 worker (0x55d0c1e2a1b3) [chan receive]\n"
    "The User location is the innermost frame outside the runtime. A running goroutine\n"
    "shows its thread; a waiting one its wait reason, and how long if a minute or more.\n"
    "\n"
    "  -t [DEPTH]  also print each goroutine's stack, DEPTH frames (default 10)\n"
    "  --group     one entry per distinct stack, with the number of goroutines and their IDs\n"
    "  --json      one JSON object: goroutines with status, gobuf, stack bounds, M, P, locations\n"
    "  --stop      stop the process while reading it (ptrace): a consistent snapshot and the\n"
    "              stacks of running goroutines; it is resumed and detached afterwards, also\n"
    "              if gort is interrupted\n"
    "  --core CORE --exe BIN\n"
    "              read a core file (gcore, or a kernel dump) of BIN instead of a live process\n";

const char kGoroutineHelp[] =
    "Usage: gort goroutine " GORT_TARGET_USAGE " GOID [--json] [--stop]\n"
    "\n"
    "Prints one goroutine in full: status and wait reason, gobuf (sp, pc, bp), stack bounds\n"
    "and use, its M and P, where it was created, its start function and its backtrace.\n"
    "Options as for 'gort goroutines'.\n";

namespace {

std::string status_text(const GState& g) {
  if (g.status == GORT_GWAITING && !g.waitreason.empty()) return g.waitreason;
  return gstatus_name(g.status);
}

// ", 5 minutes" for a G waiting a minute or more (Go's dump does the same).
std::string wait_age(const GState& g, const Target& t) {
  if (g.status != GORT_GWAITING || g.waitsince == 0 || !t.live()) return "";
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  std::int64_t now = static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  std::int64_t min = (now - g.waitsince) / 60'000'000'000;
  if (min < 1) return "";
  return ", " + std::to_string(min) + (min == 1 ? " minute" : " minutes");
}

void print_frames(std::FILE* out, const std::vector<Frame>& frames, int depth) {
  int i = 0;
  for (const Frame& f : frames) {
    if (i == depth) break;
    std::fprintf(out, "\t%d  0x%016" PRIx64 " in %s\n\t    at %s\n", i, f.pc, short_func(f.src.func).c_str(),
                where(f.src).c_str());
    ++i;
  }
  if (frames.empty()) std::fprintf(out, "\t(stack unavailable: running on another thread; use --stop)\n");
}

std::string g_line(const GState& g, Stacks& st, const Target& t) {
  Frame u = st.user_location(g);
  char pc[32];
  std::snprintf(pc, sizeof pc, "0x%" PRIx64, u.pc);
  std::string line = "Goroutine " + std::to_string(g.goid) + " - User: " + where(u.src) + " " +
                     short_func(u.src.func) + " (" + pc + ")";
  if (g.status == GORT_GRUNNING && g.thread != 0) line += " (thread " + std::to_string(g.thread) + ")";
  else line += " [" + status_text(g) + wait_age(g, t) + "]";
  return line;
}

void json_frame(Json& j, const Frame& f, const char* key = nullptr) {
  j.begin_object(key);
  j.hex("pc", f.pc).field("func", f.src.func).field("file", f.src.file).field("line", f.src.line);
  j.field("runtime", f.runtime);
  j.end_object();
}

void json_g(Json& j, const GState& g, Stacks& st, int depth) {
  j.begin_object();
  j.field("id", g.goid).field("status", gstatus_name(g.status)).field("waitreason", g.waitreason);
  j.begin_object("gobuf").hex("sp", g.sp).hex("pc", g.pc).hex("bp", g.bp).end_object();
  j.begin_object("stack").hex("lo", g.stack_lo).hex("hi", g.stack_hi).field("guard_page", g.guarded).end_object();
  j.field("m", g.m_id).field("p", static_cast<std::int64_t>(g.p_id)).field("thread", static_cast<std::int64_t>(g.thread));
  j.field("parent", g.parentgoid).field("preempt", g.preempt);
  json_frame(j, st.user_location(g), "user");
  json_frame(j, st.start_location(g), "start");
  if (g.gopc && g.parentgoid != 0) json_frame(j, st.location(g.gopc, false), "go");
  if (depth > 0) {
    j.begin_array("frames");
    int i = 0;
    for (const Frame& f : st.goroutine(g, depth)) {
      if (i++ == depth) break;
      json_frame(j, f);
    }
    j.end_array();
  }
  j.end_object();
}

}  // namespace

int cmd_goroutines(int argc, char** argv) {
  Options o = parse_options(argc, argv, kOptStop | kOptJson | kOptStacks | kOptGroup, 0);
  auto target = open_target(o);
  Output out(o.stop);
  Snapshot snap = read_snapshot(*target);
  Stacks st(*target, snap);
  st.prefetch(snap.gs);
  if (o.json) {
    {
      Json j(out.file());
      j.begin_object().field("target", target->describe()).begin_array("goroutines");
      for (const GState& g : snap.gs) json_g(j, g, st, o.depth);
      j.end_array().end_object();
    }
    out.release(target);
    return 0;
  }
  if (o.group) {
    // Identical stacks (the same pcs, or the same start location when the
    // stack is unknown) and status, in order of first appearance. The
    // runtime's frames on top are left out: how a goroutine parked (through
    // g0, or handing its thread straight to the next goroutine) is not
    // what makes two stacks different to their reader.
    std::map<std::pair<std::string, std::vector<std::uint64_t>>, std::vector<const GState*>> groups;
    std::vector<std::pair<std::string, std::vector<std::uint64_t>>> order;
    for (const GState& g : snap.gs) {
      std::vector<std::uint64_t> pcs;
      for (const Frame& f : st.goroutine(g, o.depth > 0 ? o.depth : 64))
        if (!pcs.empty() || !f.runtime) pcs.push_back(f.pc);
      if (pcs.empty()) pcs.push_back(st.user_location(g).pc);
      auto key = std::make_pair(status_text(g), pcs);
      auto& v = groups[key];
      if (v.empty()) order.push_back(key);
      v.push_back(&g);
    }
    for (const auto& key : order) {
      const auto& gs = groups[key];
      std::fprintf(out.file(), "%zu goroutine%s [%s]: %s\n", gs.size(), gs.size() == 1 ? "" : "s", key.first.c_str(),
                  g_line(*gs.front(), st, *target).c_str());
      if (o.depth > 0) print_frames(out.file(), st.goroutine(*gs.front(), o.depth), o.depth);
      std::string ids = "\tGoroutines:";
      for (std::size_t i = 0; i < gs.size() && i < 20; ++i) ids += " " + std::to_string(gs[i]->goid);
      if (gs.size() > 20) ids += " ...";
      std::fprintf(out.file(), "%s\n", ids.c_str());
    }
    std::fprintf(out.file(), "[%zu goroutines, %zu groups]\n", snap.gs.size(), order.size());
    out.release(target);
    return 0;
  }
  for (const GState& g : snap.gs) {
    std::fprintf(out.file(), "  %s\n", g_line(g, st, *target).c_str());
    if (o.depth > 0) print_frames(out.file(), st.goroutine(g, o.depth), o.depth);
  }
  std::fprintf(out.file(), "[%zu goroutines]\n", snap.gs.size());
  out.release(target);
  return 0;
}

int cmd_goroutine(int argc, char** argv) {
  Options o = parse_options(argc, argv, kOptStop | kOptJson, 1);
  long long goid = 0;
  {
    char* end = nullptr;
    goid = std::strtoll(o.positional[0].c_str(), &end, 10);
    if (end == o.positional[0].c_str() || *end != '\0' || goid <= 0)
      throw UsageError("'" + o.positional[0] + "' is not a goroutine ID");
  }
  auto target = open_target(o);
  Output out(o.stop);
  Snapshot snap = read_snapshot(*target);
  const GState* g = snap.find_g(goid);
  if (g == nullptr) throw Error(target->describe() + " has no goroutine " + std::to_string(goid));
  Stacks st(*target, snap);
  if (o.json) {
    {
      Json j(out.file());
      json_g(j, *g, st, 100);
    }
    out.release(target);
    return 0;
  }
  std::fprintf(out.file(), "Goroutine %lld:\n", goid);
  std::fprintf(out.file(), "\tStatus:     %s%s%s\n", gstatus_name(g->status),
              g->status == GORT_GWAITING ? (" [" + g->waitreason + wait_age(*g, *target) + "]").c_str() : "",
              g->preempt ? " (preemption requested)" : "");
  std::fprintf(out.file(), "\tGobuf:      sp=0x%" PRIx64 " pc=0x%" PRIx64 " bp=0x%" PRIx64 "\n", g->sp, g->pc, g->bp);
  std::uint64_t size = g->stack_hi - g->stack_lo;
  std::fprintf(out.file(), "\tStack:      [0x%" PRIx64 ", 0x%" PRIx64 ") %" PRIu64 " KiB%s", g->stack_lo, g->stack_hi, size / 1024,
              g->guarded ? ", guard page below" : "");
  if (g->sp >= g->stack_lo && g->sp < g->stack_hi && g->status != GORT_GRUNNING)
    std::fprintf(out.file(), ", %" PRIu64 " bytes in use at the switch", g->stack_hi - g->sp);
  std::fprintf(out.file(), "\n");
  if (g->m_id >= 0) std::fprintf(out.file(), "\tM:          %lld (thread %d)\n", static_cast<long long>(g->m_id), g->thread);
  else std::fprintf(out.file(), "\tM:          none\n");
  if (g->p_id >= 0) std::fprintf(out.file(), "\tP:          %d\n", g->p_id);
  else std::fprintf(out.file(), "\tP:          none\n");
  if (g->gopc != 0 && g->parentgoid != 0) {  // main has no creator, as in Go
    Frame c = st.location(g->gopc, false);
    std::fprintf(out.file(), "\tCreated by: %s at %s in goroutine %lld\n", short_func(c.src.func).c_str(), where(c.src).c_str(),
                static_cast<long long>(g->parentgoid));
  }
  Frame s = st.start_location(*g);
  std::fprintf(out.file(), "\tStart:      %s at %s (0x%" PRIx64 ")\n", short_func(s.src.func).c_str(), where(s.src).c_str(), s.pc);
  std::fprintf(out.file(), "Backtrace:\n");
  print_frames(out.file(), st.goroutine(*g, 100), 100);
  out.release(target);
  return 0;
}

}  // namespace gort::cli
