# gort-gdb.py: goroutines in gdb, for programs built on the gort runtime.
#
#   (gdb) source tools/gort-gdb.py
#   (gdb) info goroutines                 one line per live goroutine
#   (gdb) goroutine 7 bt [BT-ARGS]        the backtrace of goroutine 7 (also: backtrace)
#   (gdb) goroutine all bt [BT-ARGS]      the backtraces of every live goroutine
#   (gdb) goroutine 7 info                its G: status, M, stack, start, creator
#
# On a live process (gdb -p PID) and on a core file (gdb BINARY CORE), with or
# without symbols: the extension reads the runtime's structures only through
# the debug descriptor the runtime exports (runtime/include/gort/debug_layout.h,
# symbol gort_debug_descriptor, section .gort_debug, which strip keeps), never
# through the runtime's C++ types, so a stripped binary works too (its
# locations are then addresses).
#
# A goroutine that is not running is parked in gort_swapctx: its G's
# gobuf.sp points at the registers that switch pushed (the descriptor gives
# their offsets). `goroutine N bt` shows such a goroutine's stack as gdb
# would if the goroutine were running on the selected thread:
#   - live process: as Go's runtime-gdb.py does, set the selected thread's
#     registers to the goroutine's saved ones, run gdb's own backtrace, and
#     restore them (try/finally);
#   - core file (registers cannot be written): a Python frame unwinder,
#     active only for the command, says that the caller of the selected
#     thread's innermost frame (below any frames of inlined calls) has the
#     goroutine's registers; gdb's own backtrace then walks the goroutine's
#     stack from the frame after it, and the listing is shown without the
#     thread's own frames, renumbered from #0.
#     The parked goroutine's pc is a return address: here gdb looks it up
#     as one (at pc - 1), while on a live process frame #0 is looked up at
#     pc itself, so the two may differ in frame #0's line or inlined calls.
# A running goroutine (or one in a system call) is on a thread: its
# backtrace is that thread's.
#
# `info goroutines` uses the unwinder (never writes registers) to find each
# goroutine's "User" frame: the first frame that is not gort's (gort::,
# gort_), nor the C++ library's (std::, __gnu_cxx::), nor in a system shared
# library.

import re
import struct

import gdb
import gdb.unwinder

GORT_DEBUG_MAGIC = 0x6775646274726F67  # "gortbdug" little-endian
GORT_DEBUG_VERSION = 2
GORT_DEBUG_SECTION = ".gort_debug"
GORT_DEBUG_SYMBOL = "gort_debug_descriptor"

# G statuses (Go's numbering; debug_layout.h).
G_IDLE, G_RUNNABLE, G_RUNNING, G_SYSCALL, G_WAITING, G_DEAD, G_PREEMPTED, G_SCAN = 0, 1, 2, 3, 4, 6, 9, 0x1000
STATUS_NAMES = {0: "idle", 1: "runnable", 2: "running", 3: "syscall", 4: "waiting", 5: "moribund",
                6: "dead", 7: "enqueue", 8: "copystack", 9: "preempted"}

# struct gort_debug_descriptor, version 2, field by field ('F' is a struct
# gort_debug_field: offset and size, two uint32).
_DESC_FIELDS = (
    [("magic", "Q"), ("version", "I"), ("size", "I"), ("ptr_size", "I"), ("max_procs", "I"),
     ("runq_size", "I"), ("nwaitreasons", "I")]
    + [(n, "Q") for n in ("allgs_ptr", "allgs_len", "allm", "allp", "gomaxprocs", "sched", "m0", "waitreasons",
                          "asyncpreempt_begin", "asyncpreempt_end", "gostart")]
    + [(n, "I") for n in ("frame_rbp", "frame_rbx", "frame_r12", "frame_r13", "frame_r14", "frame_r15",
                          "frame_rip", "frame_size")]
    + [("g_size", "I")]
    + [(n, "F") for n in ("g_stack_lo", "g_stack_hi", "g_stackguard0", "g_sched_sp", "g_sched_pc", "g_sched_bp",
                          "g_atomicstatus", "g_waitreason", "g_goid", "g_parentgoid", "g_m", "g_lockedm",
                          "g_waitsince", "g_startpc", "g_gopc", "g_preempt", "g_asyncpreempted", "g_syscallsp",
                          "g_syscallpc", "g_guarded", "g_fnbuf")]
    + [("m_size", "I")]
    + [(n, "F") for n in ("m_g0", "m_curg", "m_p", "m_id", "m_procid", "m_spinning", "m_blocked", "m_sysmon",
                          "m_exited", "m_locks", "m_preemptoff", "m_signal_pending", "m_alllink", "m_lockedg",
                          "m_oldp")]
    + [("p_size", "I")]
    + [(n, "F") for n in ("p_id", "p_status", "p_m", "p_schedtick", "p_syscalltick", "p_slicestart",
                          "p_runqhead", "p_runqtail", "p_runq", "p_runnext", "p_gfreecnt", "p_ntimers",
                          "p_timer0when", "p_preemptcount", "p_ngoroutines")]
    + [(n, "F") for n in ("s_goidgen", "s_nmidle", "s_mcount", "s_npidle", "s_nmspinning", "s_runqsize",
                          "s_runqhead", "s_gcwaiting", "s_npreemptsync", "s_npreemptasync", "s_starttime",
                          "s_ngoroutines")]
    + [(n, "F") for n in ("m_blockretake",)]
)
_DESC_FORMAT = "<" + "".join("II" if t == "F" else t for _, t in _DESC_FIELDS)
_DESC_SIZE = struct.calcsize(_DESC_FORMAT)  # without the trailing padding to 8

_UNSIGNED = {1: "B", 2: "H", 4: "I", 8: "Q"}
_SIGNED = {1: "b", 2: "h", 4: "i", 8: "q"}

# The registers a parked goroutine's switch frame holds, in gdb's names.
_FRAME_REGS = ("rbp", "rbx", "r12", "r13", "r14", "r15")

# Names of functions that are not the program's own: gort's runtime and API,
# and the C++ library. A demangled name may start with its return type
# ("void gort::...", "unsigned long gort::...").
_GORT_NAME = re.compile(r"^(?:[\w:\s*&]*\s)?(?:gort::|gort_)")
_LIB_NAME = re.compile(r"^(?:[\w:\s*&]*\s)?(?:std::|__gnu_cxx::|__cxxabiv1::)")
_SYSTEM_LIB = re.compile(r"^(?:/usr)?/lib(?:64|32|x32)?/|linux-vdso|system-supplied")


class Descriptor:
    """The runtime's gort_debug_descriptor, decoded."""

    def __init__(self, addr, raw):
        self.addr = addr
        values = struct.unpack_from(_DESC_FORMAT, raw)
        i = 0
        for name, t in _DESC_FIELDS:
            if t == "F":
                setattr(self, name, (values[i], values[i + 1]))
                i += 2
            else:
                setattr(self, name, values[i])
                i += 1


def _inferior():
    inf = gdb.selected_inferior()
    if inf is None or inf.pid == 0 and not inf.threads():
        raise gdb.GdbError("gort: no process or core file (attach to a process, or load a core)")
    return inf


def _read(addr, size):
    return bytes(_inferior().read_memory(addr, size))


def _u64(addr):
    return struct.unpack("<Q", _read(addr, 8))[0]


def _field(buf, f, signed=False):
    off, size = f
    if size == 0 or off + size > len(buf):
        return None
    return struct.unpack_from("<" + (_SIGNED if signed else _UNSIGNED)[size], buf, off)[0]


def _cstring(addr, limit=256):
    if addr == 0:
        return None
    out = b""
    while len(out) < limit:
        chunk = min(64, 4096 - (addr + len(out)) % 4096)  # never across a page: it may be the last mapped one
        try:
            data = _read(addr + len(out), chunk)
        except gdb.MemoryError:
            break
        nul = data.find(b"\0")
        if nul >= 0:
            return (out + data[:nul]).decode("utf-8", "replace")
        out += data
    return out.decode("utf-8", "replace") if out else None


def _descriptor_address():
    # The symbol, when there is one (full or minimal symbols).
    try:
        v = gdb.parse_and_eval("(unsigned long)&'%s'" % GORT_DEBUG_SYMBOL)
        return int(v)
    except gdb.error:
        pass
    # A stripped binary: its section, which gdb has relocated for the process
    # or the core ("[29]     0x563f...->0x563f... at 0x00020500: .gort_debug ...").
    for cmd in ("maint info sections -all-objects %s" % GORT_DEBUG_SECTION, "maint info sections %s" % GORT_DEBUG_SECTION,
                "maint info sections"):
        try:
            out = gdb.execute(cmd, to_string=True)
        except gdb.error:
            continue
        for line in out.splitlines():
            m = re.search(r"(0x[0-9a-fA-F]+)->(0x[0-9a-fA-F]+)\s+at\s+0x[0-9a-fA-F]+:\s+(\S+)", line)
            if m and m.group(3) == GORT_DEBUG_SECTION:
                return int(m.group(1), 16)
    return None


def load_descriptor():
    addr = _descriptor_address()
    if addr is None:
        raise gdb.GdbError("gort: no %s symbol nor %s section: is this a gort program?"
                           % (GORT_DEBUG_SYMBOL, GORT_DEBUG_SECTION))
    try:
        head = _read(addr, 16)
    except gdb.MemoryError:
        raise gdb.GdbError("gort: cannot read the debug descriptor at 0x%x" % addr)
    magic, version, size = struct.unpack("<QII", head)
    if magic != GORT_DEBUG_MAGIC:
        raise gdb.GdbError("gort: bad magic 0x%x in the debug descriptor at 0x%x (want 0x%x)"
                           % (magic, addr, GORT_DEBUG_MAGIC))
    if version != GORT_DEBUG_VERSION:
        raise gdb.GdbError("gort: the program's debug descriptor is version %d; this gort-gdb.py reads version %d"
                           % (version, GORT_DEBUG_VERSION))
    if size < _DESC_SIZE:
        raise gdb.GdbError("gort: the debug descriptor is %d bytes; version %d has at least %d"
                           % (size, version, _DESC_SIZE))
    d = Descriptor(addr, _read(addr, _DESC_SIZE))
    if d.ptr_size != 8:
        raise gdb.GdbError("gort: %d-byte pointers: only x86-64 is supported" % d.ptr_size)
    return d


class Goroutine:
    __slots__ = ("addr", "goid", "status", "scan", "waitreason", "m", "sched_sp", "sched_pc", "sched_bp",
                 "stack_lo", "stack_hi", "startpc", "gopc", "fn0", "parentgoid", "waitsince", "syscallsp",
                 "lockedm", "asyncpreempted", "thread_lwp")


class Runtime:
    """A snapshot of the runtime's goroutines and threads."""

    def __init__(self):
        self.d = d = load_descriptor()
        self.waitreasons = []
        if d.nwaitreasons and d.waitreasons:
            try:
                ptrs = struct.unpack("<%dQ" % d.nwaitreasons, _read(d.waitreasons, 8 * d.nwaitreasons))
                self.waitreasons = [_cstring(p) for p in ptrs]
            except gdb.MemoryError:
                pass
        # Ms: address -> (procid, curg, id).
        self.ms = {}
        m = _u64(d.allm)
        while m and m not in self.ms and len(self.ms) < 100000:
            try:
                buf = _read(m, d.m_size)
            except gdb.MemoryError:
                break
            self.ms[m] = (_field(buf, d.m_procid, signed=True), _field(buf, d.m_curg), _field(buf, d.m_id))
            m = _field(buf, d.m_alllink)
        self.threads = {}
        for t in _inferior().threads():
            self.threads[t.ptid[1]] = t

    def reason(self, r):
        if r is not None and 0 <= r < len(self.waitreasons) and self.waitreasons[r] is not None:
            return self.waitreasons[r]
        return "reason %s" % r

    def goroutines(self, live_only=True):
        d = self.d
        ptr = _u64(d.allgs_ptr)
        n = _u64(d.allgs_len)
        if n > 100000000:
            raise gdb.GdbError("gort: allgs.len is %d: not believable (corrupt core?)" % n)
        addrs = struct.unpack("<%dQ" % n, _read(ptr, 8 * n)) if n else ()
        out = []
        for a in addrs:
            if a == 0:
                continue
            try:
                buf = _read(a, d.g_size)
            except gdb.MemoryError:
                gdb.write("gort: cannot read the G at 0x%x\n" % a)
                continue
            g = self.decode(a, buf)
            if live_only and g.status in (G_IDLE, G_DEAD):
                continue
            out.append(g)
        return out

    def decode(self, addr, buf):
        d = self.d
        g = Goroutine()
        g.addr = addr
        st = _field(buf, d.g_atomicstatus) or 0
        g.status, g.scan = st & ~G_SCAN, bool(st & G_SCAN)
        g.waitreason = _field(buf, d.g_waitreason)
        g.goid = _field(buf, d.g_goid, signed=True)
        g.parentgoid = _field(buf, d.g_parentgoid, signed=True)
        g.m = _field(buf, d.g_m)
        g.lockedm = _field(buf, d.g_lockedm)
        g.sched_sp = _field(buf, d.g_sched_sp)
        g.sched_pc = _field(buf, d.g_sched_pc)
        g.sched_bp = _field(buf, d.g_sched_bp)
        g.stack_lo = _field(buf, d.g_stack_lo)
        g.stack_hi = _field(buf, d.g_stack_hi)
        g.startpc = _field(buf, d.g_startpc)
        g.gopc = _field(buf, d.g_gopc)
        g.waitsince = _field(buf, d.g_waitsince, signed=True)
        g.syscallsp = _field(buf, d.g_syscallsp)
        g.asyncpreempted = _field(buf, d.g_asyncpreempted)
        off, size = d.g_fnbuf
        g.fn0 = struct.unpack_from("<Q", buf, off)[0] if size >= 8 and off + 8 <= len(buf) else None
        # On a thread: running, or in a system call, with its M's curg pointing back.
        g.thread_lwp = None
        if g.status in (G_RUNNING, G_SYSCALL) and g.m in self.ms:
            procid, curg, _ = self.ms[g.m]
            if curg == addr and procid in self.threads:
                g.thread_lwp = procid
        return g

    def find(self, goid):
        for g in self.goroutines(live_only=False):
            if g.goid == goid and g.status != G_DEAD:
                return g
        raise gdb.GdbError("gort: no goroutine %d" % goid)

    def saved_registers(self, g):
        """The registers of a parked goroutine, from its switch frame: {name: value}."""
        d = self.d
        frame = _read(g.sched_sp, d.frame_size)

        def word(off):
            return struct.unpack_from("<Q", frame, off)[0]

        regs = {"rsp": g.sched_sp + d.frame_size, "rip": word(d.frame_rip)}
        for r in _FRAME_REGS:
            regs[r] = word(getattr(d, "frame_" + r))
        return regs

    def not_started(self, g):
        return g.sched_pc == self.d.gostart and g.status == G_RUNNABLE

    def start_function(self, g):
        """The function the goroutine was started with (its callable's first word, when that is
        a function), else its start thunk."""
        if g.fn0:
            name = _function_name(g.fn0)
            if name:
                return g.fn0
        return g.startpc


# ---------------------------------------------------------------------------
# Symbols

def _functions(pc):
    """The function symbols whose code contains pc, innermost (inlined) first, the real one last."""
    try:
        block = gdb.block_for_pc(pc)
    except RuntimeError:
        block = None
    out = []
    while block is not None and not block.is_static and not block.is_global:
        if block.function is not None:
            out.append(block.function)
        block = block.superblock
    return out


def _function_name(pc):
    fns = _functions(pc)
    return fns[-1].print_name if fns else None


def _minimal_name(pc):
    try:
        out = gdb.execute("info symbol 0x%x" % pc, to_string=True).strip()
    except gdb.error:
        return None
    if out.startswith("No symbol"):
        return None
    return out.split(" in section ")[0]


def describe_pc(pc, return_address=False):
    """'file:line function (0xpc)' for a code address: the innermost function (and the one it is
    inlined in), or the symbol's name, or ??."""
    look = pc - 1 if return_address and pc else pc
    fns = _functions(look)
    if fns:
        name = _short_name(fns[0].print_name)
        if len(fns) > 1:
            name += " inlined in " + _short_name(fns[-1].print_name)
    else:
        name = _minimal_name(look) or "??"
    sal = gdb.find_pc_line(look)
    loc = ""
    if sal is not None and sal.symtab is not None:
        loc = "%s:%d " % (sal.symtab.filename, sal.line)
    return "%s%s (0x%x)" % (loc, name, pc)


def describe_function(pc):
    """'file:line function (0xpc)' for a function's address: where it is declared."""
    fns = _functions(pc)
    if not fns:
        return "%s (0x%x)" % (_minimal_name(pc) or "??", pc)
    f = fns[-1]
    loc = "%s:%d " % (f.symtab.filename, f.line) if f.symtab is not None else ""
    return "%s%s (0x%x)" % (loc, _short_name(f.print_name), pc)


def _short_name(name):
    # "chan_receiver()" -> "chan_receiver"; keep "operator()". A lambda's call
    # operator is "operator()" in GCC's DWARF and "f()::$_0::operator()()
    # const" in clang's: both become "operator()".
    if name.endswith(" const"):
        name = name[:-len(" const")]
    if name.endswith("operator()()"):
        return "operator()" if ("::$_" in name or "{lambda" in name) else name[:-2]
    return name[:-2] if name.endswith("()") and not name.endswith("operator()") else name


def _is_runtime(name):
    return bool(name) and _GORT_NAME.match(name) is not None


def _is_library(name, pc):
    if name and _LIB_NAME.match(name):
        return True
    try:
        lib = gdb.current_progspace().solib_name(pc)
    except Exception:
        lib = None
    return bool(lib) and _SYSTEM_LIB.search(lib) is not None


# ---------------------------------------------------------------------------
# The goroutine unwinder: while active, the innermost frame of the selected
# thread has a goroutine's registers as its caller's.

class _FrameId:
    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


class GoroutineUnwinder(gdb.unwinder.Unwinder):
    def __init__(self):
        super().__init__("gort-goroutine")
        self.regs = None
        self.level = 0

    def __call__(self, pending_frame):
        regs = self.regs
        if regs is None or pending_frame.level() != self.level:
            return None
        pc = pending_frame.read_register("rip")
        # This frame's id must not be outer to its caller's (gdb would stop:
        # "previous frame inner to this frame"): give it the goroutine's sp.
        sp_type = pending_frame.read_register("rsp").type
        info = pending_frame.create_unwind_info(_FrameId(gdb.Value(regs["rsp"] - 8).cast(sp_type), pc))
        for name, value in regs.items():
            t = pending_frame.read_register(name).type
            info.add_saved_register(name, gdb.Value(value).cast(t))
        return info


_unwinder = GoroutineUnwinder()
gdb.unwinder.register_unwinder(None, _unwinder, replace=True)


class _SelectedFrame:
    """Remembers the selected thread and frame level; restores them."""

    def __init__(self):
        self.thread = gdb.selected_thread()
        try:
            self.level = gdb.selected_frame().level()
        except gdb.error:
            self.level = None

    def restore(self):
        if self.thread is not None and self.thread.is_valid():
            self.thread.switch()
        if self.level is None:
            return
        try:
            f = gdb.newest_frame()
            for _ in range(self.level):
                older = f.older()
                if older is None:
                    break
                f = older
            f.select()
        except gdb.error:
            pass


class _UnwindAs:
    """Context: the selected thread's outer frames are the goroutine's.

    The unwinder claims the thread's innermost real frame (level `skip - 1`:
    gdb's inline-frame unwinder may put virtual frames for inlined calls
    above it) and gives it the goroutine's registers as its caller's: frames
    `skip`... are then the goroutine's."""

    def __init__(self, regs):
        self.regs = regs
        self.skip = 1

    def __enter__(self):
        _unwinder.regs = None
        _unwinder.level = 0
        gdb.invalidate_cached_frames()
        f = gdb.newest_frame()
        while f.type() == gdb.INLINE_FRAME and f.older() is not None:
            f = f.older()
        _unwinder.level = f.level()
        self.skip = f.level() + 1
        _unwinder.regs = self.regs
        gdb.invalidate_cached_frames()
        return self

    def __exit__(self, *exc):
        _unwinder.regs = None
        gdb.invalidate_cached_frames()
        return False


def describe_frame(frame):
    """'file:line function (0xpc)' for a frame (inlined calls are frames of their own)."""
    pc = frame.pc()
    name = frame.name()
    if name is None:
        return describe_pc(pc, return_address=frame.level() > 0 and frame.type() == gdb.NORMAL_FRAME)
    sal = frame.find_sal()
    loc = ""
    if sal is not None and sal.symtab is not None:
        loc = "%s:%d " % (sal.symtab.filename, sal.line)
    return "%s%s (0x%x)" % (loc, _short_name(name), pc)


def _walk(first, skip, limit=64):
    """[(frame, pc, name, sp)] from `first`, past `skip` frames."""
    frames = []
    f = first
    for _ in range(skip):
        if f is None:
            break
        f = f.older()
    while f is not None and len(frames) < limit:
        try:
            frames.append((f, f.pc(), f.name(), int(f.read_register("rsp")) & 0xFFFFFFFFFFFFFFFF))
            f = f.older()
        except gdb.error:
            break
    return frames


def _on_stack(g, frames):
    """Whether any of the frames runs on the goroutine's stack."""
    lo, hi = g.stack_lo or 0, g.stack_hi or 0
    return any(lo <= sp < hi for _, _, _, sp in frames)


def _user_frame(frames):
    """The description of the User frame among frames, or None."""
    if not frames:
        return None
    pick = None
    for i, (f, pc, name, _) in enumerate(frames):
        if not _is_runtime(name) and not _is_library(name, pc):
            pick = i
            break
    if pick is None:
        pick = next((i for i, (f, pc, name, _) in enumerate(frames) if not _is_runtime(name)), 0)
    desc = describe_frame(frames[pick][0])
    # A lambda's frame is just "operator()": say whose it is likely to be,
    # the next user function out.
    name = frames[pick][2]
    if name and _short_name(name).endswith("operator()"):
        outer = next((n for f, pc, n, _ in frames[pick + 1:]
                      if n and not _short_name(n).endswith("operator()") and not _is_runtime(n)
                      and not _is_library(n, pc)), None)
        if outer:
            desc = desc.replace(" (0x", " from %s (0x" % _short_name(outer), 1)
    return desc


def user_location(rt, g):
    if rt.not_started(g):
        return describe_function(rt.start_function(g))
    selected = gdb.selected_thread()
    try:
        if g.thread_lwp is not None:
            rt.threads[g.thread_lwp].switch()
            frames = _walk(gdb.newest_frame(), 0)
            # A thread whose frames never reach the goroutine's stack is in the
            # scheduler, between switching away from the goroutine and
            # changing its status: the goroutine's saved context is then fresh.
            if frames and not _on_stack(g, frames):
                selected.switch()
                with _UnwindAs(rt.saved_registers(g)) as u:
                    return _user_frame(_walk(gdb.newest_frame(), u.skip)) or "??"
            return _user_frame(frames) or "??"
        with _UnwindAs(rt.saved_registers(g)) as u:
            return _user_frame(_walk(gdb.newest_frame(), u.skip)) or "??"
    except (gdb.error, gdb.MemoryError) as e:
        return "?? (%s)" % e
    finally:
        if selected is not None and gdb.selected_thread() != selected:
            selected.switch()


def goroutine_line(rt, g, current):
    state = STATUS_NAMES.get(g.status, "status %d" % g.status)
    if g.status == G_WAITING:
        state += " [%s]" % rt.reason(g.waitreason)
    if g.thread_lwp is not None:
        state += " (thread %d)" % g.thread_lwp
    return "%s Goroutine %d - %s - User: %s" % ("*" if current else " ", g.goid, state, user_location(rt, g))


def _current_goroutine(rt):
    t = gdb.selected_thread()
    if t is None:
        return None
    lwp = t.ptid[1]
    for procid, curg, _ in rt.ms.values():
        if procid == lwp and curg:
            return curg
    return None


class InfoGoroutines(gdb.Command):
    """List the live goroutines of a gort program.

Usage: info goroutines
One line per goroutine that is not dead: its id, status (the wait reason of a
waiting one, the thread of a running one) and its User location, the first
frame of its stack that is not gort's or a library's. * marks the goroutine
running on the selected thread."""

    def __init__(self):
        super().__init__("info goroutines", gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        rt = Runtime()
        saved = _SelectedFrame()
        lines = []
        try:
            cur = _current_goroutine(rt)
            for g in rt.goroutines():
                lines.append(goroutine_line(rt, g, g.addr == cur))
        finally:
            saved.restore()
        gdb.write("".join(l + "\n" for l in lines))


def _frame_registers(frame, names):
    return {n: int(frame.read_register(n)) & 0xFFFFFFFFFFFFFFFF for n in names}


def _renumber(out, skip):
    """gdb's backtrace of the unwinder's view, without the thread's own frames #0..#skip-1, renumbered."""
    lines = out.splitlines(True)
    first = re.compile(r"#%d\s" % skip)
    start = next((i for i, l in enumerate(lines) if first.match(l)), None)
    if start is None:
        return "".join(l for l in lines if not re.match(r"#\d+\s", l))

    def sub(m):
        return ("#%d" % (int(m.group(1)) - skip)).ljust(len(m.group(0)))

    return "".join(re.sub(r"^#(\d+)\s+", sub, l) for l in lines[start:])


def _bt_args_plus(args, skip):
    """`bt N` on the unwinder's view needs N+skip frames (the thread's own are dropped)."""
    return " ".join(str(int(w) + skip) if re.fullmatch(r"\d+", w) else w for w in args.split())


def goroutine_backtrace(rt, g, bt_args):
    saved = _SelectedFrame()
    try:
        if g.thread_lwp is not None:
            rt.threads[g.thread_lwp].switch()
            gdb.execute("backtrace %s" % bt_args)
            if _on_stack(g, _walk(gdb.newest_frame(), 0, limit=256)):
                return
            gdb.write("gort: thread %d is not on goroutine %d's stack (it is in the scheduler); "
                      "where the goroutine last switched:\n" % (g.thread_lwp, g.goid))
            saved.restore()
        if rt.not_started(g):
            gdb.write("goroutine %d has not started: it will run %s\n"
                      % (g.goid, describe_function(rt.start_function(g))))
            return
        if g.thread_lwp is None and g.status in (G_RUNNING, G_SYSCALL):
            gdb.write("gort: goroutine %d is %s but not on a thread of this process; where it last switched:\n"
                      % (g.goid, STATUS_NAMES[g.status]))
        try:
            regs = rt.saved_registers(g)
        except gdb.MemoryError:
            raise gdb.GdbError("gort: cannot read goroutine %d's saved registers at 0x%x" % (g.goid, g.sched_sp or 0))
        if _registers_writable():
            newest = gdb.newest_frame()
            newest.select()
            old = _frame_registers(newest, list(regs))
            written = False
            try:
                for name, value in regs.items():
                    gdb.execute("set $%s = %d" % (name, value), to_string=True)
                    written = True
                gdb.execute("backtrace %s" % bt_args)
                return
            except gdb.error:
                if written:
                    raise
                # Not one register written: the target does not let us (a core
                # under another name?); fall back to the unwinder.
            finally:
                if written:
                    for name, value in old.items():
                        gdb.execute("set $%s = %d" % (name, value), to_string=True)
        with _UnwindAs(regs) as u:
            out = gdb.execute("backtrace %s" % _bt_args_plus(bt_args, u.skip), to_string=True)
        gdb.write(_renumber(out, u.skip))
    finally:
        saved.restore()


def _registers_writable():
    conn = getattr(gdb.selected_inferior(), "connection", None)
    return conn is None or conn.type != "core"


def goroutine_info(rt, g):
    d = rt.d
    st = STATUS_NAMES.get(g.status, "status %d" % g.status) + (" (scan)" if g.scan else "")
    if g.status == G_WAITING:
        st += " [%s]" % rt.reason(g.waitreason)
    w = gdb.write
    w("Goroutine %d (G 0x%x)\n" % (g.goid, g.addr))
    w("  status:   %s\n" % st)
    if g.m:
        procid, curg, mid = rt.ms.get(g.m, (None, None, None))
        w("  m:        0x%x (M %s, thread %s)%s\n" % (g.m, mid, procid, "" if curg == g.addr else " (not its curg)"))
    if g.lockedm:
        w("  lockedm:  0x%x\n" % g.lockedm)
    w("  stack:    [0x%x, 0x%x) %d KiB\n" % (g.stack_lo or 0, g.stack_hi or 0, ((g.stack_hi or 0) - (g.stack_lo or 0)) // 1024))
    w("  gobuf:    sp 0x%x pc 0x%x bp 0x%x%s\n" % (g.sched_sp or 0, g.sched_pc or 0, g.sched_bp or 0,
                                                 " (not started)" if rt.not_started(g) else ""))
    if g.asyncpreempted:
        w("  asynchronously preempted\n")
    if g.syscallsp:
        w("  syscallsp: 0x%x\n" % g.syscallsp)
    w("  start:    %s\n" % describe_function(rt.start_function(g)))
    if g.gopc:
        w("  created by goroutine %d at %s\n" % (g.parentgoid or 0, describe_pc(g.gopc, return_address=True)))
    if g.waitsince:
        w("  waitsince: %d ns (CLOCK_MONOTONIC)\n" % g.waitsince)
    w("  User:     %s\n" % user_location(rt, g))


class GoroutineCommand(gdb.Command):
    """Act on one goroutine of a gort program.

Usage: goroutine N bt [BACKTRACE-ARGS]     backtrace of goroutine N (also: backtrace)
       goroutine all bt [BACKTRACE-ARGS]   backtraces of every live goroutine
       goroutine N info                    goroutine N's G: status, M, stack, start
A parked goroutine's stack is shown from where it switched away; a running
one's is its thread's. On a live process the selected thread's registers are
set to the goroutine's for the backtrace and restored after it."""

    def __init__(self):
        super().__init__("goroutine", gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        words = arg.split(None, 2)
        if len(words) < 2:
            raise gdb.GdbError("usage: goroutine N|all bt|backtrace|info [ARGS]")
        which, cmd = words[0], words[1]
        rest = words[2] if len(words) > 2 else ""
        if cmd not in ("bt", "backtrace", "info"):
            raise gdb.GdbError("gort: unknown goroutine command %r: bt, backtrace or info" % cmd)
        rt = Runtime()
        if which == "all":
            gs = rt.goroutines()
        else:
            try:
                goid = int(which, 0)
            except ValueError:
                raise gdb.GdbError("gort: not a goroutine id: %r" % which)
            gs = [rt.find(goid)]
        for i, g in enumerate(gs):
            if which == "all":
                gdb.write("%sGoroutine %d:\n" % ("\n" if i else "", g.goid))
            try:
                if cmd == "info":
                    goroutine_info(rt, g)
                else:
                    goroutine_backtrace(rt, g, rest)
            except (gdb.GdbError, gdb.MemoryError) as e:
                if which != "all":
                    raise
                gdb.write("%s\n" % e)


InfoGoroutines()
GoroutineCommand()
