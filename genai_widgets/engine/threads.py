"""Keep a background training thread as fast as the same loop on the main thread.

Cause: libgomp (the OpenMP runtime in Linux PyTorch wheels) keeps a worker pool per thread that
ever ran a parallel region, and once all pools together hold more threads than there are CPUs,
every OpenMP barrier in the process spins 100 times instead of 300,000 before sleeping on a
futex (``do_spin`` in libgomp/config/linux/wait.h); a kernel's main thread that ran torch keeps
such an idle pool, so the trainer's own pool tips the count over. Evidence (2-core CPU, DCGAN
step, ``benchmarks/thread_gap.py``): libgomp's pool-thread count is 3 for the plain thread and 2
on the main thread, the thread sleeps ~535 times per step (main: 0) and leaves the cores 13% idle,
a third thread merely holding an idle pool slows the main-thread loop the same way, and freeing
the idle pool with OpenMP 5.0's ``omp_pause_resource_all`` on its own thread brings the sleeps to
0 and the thread from 0.97 to 1.03 of main-thread speed (medians of 143 interleaved quiet rounds;
the gap itself varies with the host's wake-up latency, 0.73-0.89 in other measurements).

Long spins only pay while this process has the CPUs to itself; when other processes load them,
the short spins of the plain thread win by far (about 1.9 vs 1.1 steps/s with one CPU's worth of
other load), so while a run trains a governor thread switches between the two modes (see
``adaptive_spinning``).

Use: the trainer thread calls :func:`prepare_training_thread` first thing and
:func:`training_thread_idle` before it blocks for a pause or ends (its idle pool would slow torch
work elsewhere the same way); the thread that starts training calls :func:`release_openmp_pool`
(``Run.start``); torch work on other threads while a run trains goes inside
:func:`foreground_torch`. Off Linux, with LLVM or Intel OpenMP, or with a libgomp older than
GCC 9, every function here is a cheap no-op.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

__all__ = [
    "prepare_training_thread",
    "training_thread_idle",
    "release_openmp_pool",
    "foreground_torch",
    "openmp_runtimes",
    "stop_at_exit",
    "lower_thread_priority",
]

_OMP_PAUSE_SOFT = 1  # omp_pause_resource_t: omp_pause_soft (OpenMP 5.0)

_lock = threading.Lock()
_paths: list[str] = []  # loaded libgomp copies, as of the last scan of /proc/self/maps
_modules_seen = -1  # len(sys.modules) at that scan
_handles: dict[str, Any] = {}  # path of a loaded libgomp -> its omp_pause_resource_all, or None
_trainers: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
_hooked_shells: weakref.WeakSet[Any] = weakref.WeakSet()


def _loaded_libgomp_paths() -> list[str]:
    # Only runtimes already in the process matter (a pool can only exist in one of those), and
    # wheels ship their own copy under a hashed name (torch.libs/libgomp-a34b3233.so.1...), so
    # read the memory map instead of trusting ctypes.util.find_library.
    paths: list[str] = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)  # address perms offset dev inode [path]
                path = fields[5].rstrip("\n") if len(fields) == 6 else ""
                name = os.path.basename(path)
                if path.startswith("/") and name.startswith("libgomp") and path not in paths:
                    paths.append(path)
    except OSError:
        return []
    return paths


def _pause_functions() -> list[Any]:
    global _modules_seen, _paths
    if not sys.platform.startswith("linux"):
        return []
    with _lock:
        # Reading the memory map costs ~1-2 ms with torch loaded; a new OpenMP runtime only
        # arrives with a new (extension) module, so rescan only when the module count changed.
        if len(sys.modules) != _modules_seen:
            _modules_seen = len(sys.modules)
            _paths = _loaded_libgomp_paths()
        for path in _paths:
            if path in _handles:
                continue
            fn = None
            try:
                # RTLD_NOLOAD: a handle on the copy already mapped, never a second copy.
                lib = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
                fn = lib.omp_pause_resource_all  # GCC >= 9; older copies lack it
                fn.argtypes = [ctypes.c_int]
                fn.restype = ctypes.c_int
            except (OSError, AttributeError):
                fn = None
            _handles[path] = fn
        return [fn for path in _paths if (fn := _handles[path]) is not None]


def openmp_runtimes() -> list[str]:
    """Paths of the loaded libgomp copies whose pools :func:`release_openmp_pool` can free."""
    _pause_functions()
    with _lock:
        return [path for path, fn in _handles.items() if fn is not None]


def release_openmp_pool() -> int:
    """Free the calling thread's idle libgomp worker pool; returns how many runtimes did so.

    Call it on a thread that ran torch and will now idle while another thread trains (the
    kernel's main thread after starting a run; the trainer before a long pause). The next torch
    op on this thread recreates the pool (one ``pthread_create``, tens of microseconds), so it is
    safe to call often. Must not be called from inside an OpenMP parallel region (libgomp then
    refuses and nothing happens), which Python code never is.
    """
    released = 0
    for pause in _pause_functions():
        # libgomp frees only the calling thread's pool and leaves its ICVs (the thread count
        # torch set) alone; a non-zero result means "inside a parallel region": nothing freed.
        if pause(_OMP_PAUSE_SOFT) == 0:
            released += 1
    return released


def _training_alive() -> bool:
    return any(thread.is_alive() for thread in list(_trainers))


# --------------------------------------------------------------------------- adaptive spinning
# Long spins are right only while this process has the CPUs to itself. When other processes
# want them (another kernel, a test run, a busy browser) a spinning worker burns the time slice
# that the thread it waits for needs: with ~1 CPU of other load the DCGAN step ran at ~1.1
# steps/s on the main thread and ~0.55 in the trainer with long spins, but ~1.9 with the plain
# thread's short spins. So while a run trains, a governor thread watches the load of other
# processes and, while it is high, holds a small idle pool of its own: that puts libgomp into
# short spins, exactly the plain thread's mode; it frees the pool when the machine is quiet.
# 0.5 CPU is where the data turned: a burner taking 0.1-0.25 CPU left both modes about equal.
_GOVERNOR_PERIOD_S = 1.0
_SHORT_SPINS_ABOVE = 0.5  # CPUs' worth of other processes' work that switches to short spins
_LONG_SPINS_BELOW = 0.2  # ... and back to long spins (hysteresis against flapping)
_governor: threading.Thread | None = None
_governor_wake = threading.Event()
# The governor's last decision and load sample outlive it (a paused trainer stops it), so a
# resumed run starts in the right mode and the first period already has a sample to compare.
_short_spins = False
_last_sample: tuple[float, float, float] | None = None
_streak = 0
adaptive_spinning = True  # set False to keep long spins whatever the machine does


def _machine_busy_seconds(cpus: set[int]) -> float | None:
    # Only the CPUs this process may run on: on a shared host the others are not contended.
    busy = 0
    try:
        with open("/proc/stat") as stat:
            for line in stat:
                if not line.startswith("cpu") or line.startswith("cpu "):
                    continue
                name, *fields = line.split()
                if int(name[3:]) in cpus:
                    ticks = [int(x) for x in fields[:8]]
                    busy += sum(ticks) - ticks[3] - ticks[4]  # all but idle and iowait
    except (OSError, ValueError, IndexError):
        return None
    return busy / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def _hold_short_spin_pool() -> None:
    # One tiny parallel region with two threads gives this thread a pool of its own: one more
    # thread than the trainer's pool alone, the count at which libgomp shortens its spins.
    import torch

    torch.ones(1 << 16).add_(1)


def _keep_governing() -> bool:
    global _governor
    with _lock:  # decided under the lock that prepare_training_thread registers under
        if _training_alive() and adaptive_spinning:
            return True
        _governor = None
        return False


def _update_decision(cpus: set[int]) -> None:
    global _short_spins, _last_sample, _streak
    busy = _machine_busy_seconds(cpus)
    if busy is None:
        return
    now = (busy, _own_cpu_seconds(), time.monotonic())
    last, _last_sample = _last_sample, now
    if last is None or now[2] - last[2] < 0.2 or now[2] - last[2] > 60:
        return
    # Other processes' work on our CPUs, in CPUs: the machine's busy time less our own.
    others = ((now[0] - last[0]) - (now[1] - last[1])) / (now[2] - last[2])
    flip = others < _LONG_SPINS_BELOW if _short_spins else others > _SHORT_SPINS_ABOVE
    _streak = _streak + 1 if flip else 0
    if _streak >= 2:  # two periods in a row, so that one burst does not flip it
        _short_spins, _streak = not _short_spins, 0


def _govern() -> None:
    global _governor
    holding = False
    try:
        cpus = os.sched_getaffinity(0)
        while _keep_governing():
            _update_decision(cpus)
            if _short_spins != holding:
                if _short_spins:
                    _hold_short_spin_pool()
                else:
                    release_openmp_pool()
                holding = _short_spins
            _governor_wake.wait(_GOVERNOR_PERIOD_S)
            _governor_wake.clear()
    except Exception:  # the governor is an optimisation: never let it take anything down
        with _lock:
            if _governor is threading.current_thread():
                _governor = None
    finally:
        if holding:
            release_openmp_pool()


def _start_governor() -> None:
    global _governor
    with _lock:
        if not adaptive_spinning or _governor is not None:
            return
        _governor = threading.Thread(target=_govern, name="genai-widgets-spin", daemon=True)
        _governor.start()


def training_thread_idle() -> None:
    """Call on the trainer before it blocks (a pause) or when it is done: it stops counting as
    training and gives back its own pool; :func:`prepare_training_thread` again on resuming."""
    with _lock:
        _trainers.discard(threading.current_thread())
    release_openmp_pool()
    governor = _governor
    if governor is not None and not _training_alive():
        _governor_wake.set()  # so its pool is gone before torch work elsewhere starts
        governor.join(timeout=2.0)


def _after_cell(*_: object) -> None:
    # A cell that ran torch on the kernel's main thread recreated its pool; while a run trains
    # that pool would put the trainer back into short spins, so free it again. Cheap when there
    # is nothing to free.
    if _training_alive():
        release_openmp_pool()


def _install_ipython_hook() -> None:
    ipython_module = sys.modules.get("IPython")
    if ipython_module is None:
        return
    try:
        shell = ipython_module.get_ipython()
    except Exception:  # an IPython too old or half torn down: the hook is an optimisation only
        return
    if shell is None or not hasattr(shell, "events"):
        return
    with _lock:
        try:
            if shell in _hooked_shells:
                return
            shell.events.register("post_run_cell", _after_cell)
            _hooked_shells.add(shell)
        except Exception:  # an unusual shell object: go without the hook
            return


@contextlib.contextmanager
def foreground_torch() -> Iterator[None]:
    """Wrap torch work done off the trainer while a run trains (``run.sample()`` from a widget
    callback, a comm handler, a subshell thread): afterwards the calling thread's new pool is
    freed again, since no ``post_run_cell`` follows such work. Costs ~0.1 ms; a no-op when no
    run trains or on the trainer itself."""
    try:
        yield
    finally:
        if threading.current_thread() not in _trainers and _training_alive():
            release_openmp_pool()


def prepare_training_thread() -> None:
    """Call first thing in a trainer thread's run function; idempotent, cheap, never raises.

    Registers the thread as training until :func:`training_thread_idle` or its end. Meanwhile
    the pool that a cell recreates on the kernel's main thread is freed again after every cell
    (an IPython ``post_run_cell`` hook, installed once per shell), and a governor thread (one per
    process, 1 wake-up per second) picks short or long spins from other processes' load unless
    ``adaptive_spinning`` is False. The thread that calls ``Run.start`` must still call
    :func:`release_openmp_pool` itself (only a thread can free its own pool); torch work on
    other threads while training goes on belongs in :func:`foreground_torch`.
    """
    if not sys.platform.startswith("linux"):
        return
    with _lock:
        _trainers.add(threading.current_thread())
    lower_thread_priority()
    _install_ipython_hook()
    if openmp_runtimes():
        _start_governor()


# --------------------------------------------------------------------------- priority
def _trainer_nice() -> int:
    try:
        return max(0, int(os.environ.get("GENAI_WIDGETS_TRAINER_NICE", TRAINER_NICE)))
    except ValueError:
        return TRAINER_NICE


TRAINER_NICE = 5
"""How much lower than the process's main thread a trainer thread runs (Linux nice levels;
the environment variable GENAI_WIDGETS_TRAINER_NICE overrides it, 0 turns it off).

The trainer and its OpenMP workers (created by it, so they inherit its level) keep the CPUs
busy; the kernel's own threads wake for a few milliseconds at a time (a cell, a comm message,
the flusher). At the same level each wake-up waits for the scheduler to take a core from a
trainer thread; a level lower, they get it at once: a trivial cell while the tiny model trains
went from p50 13.8 ms to 10.2 ms (9-10 ms with nothing training). On a machine with nothing
else to run the trainer loses nothing: nice only decides who waits when both want a core."""


def lower_thread_priority() -> bool:
    """Run the calling thread (and the OpenMP pool it creates after this) `TRAINER_NICE`
    levels below the process's main thread; returns whether it changed anything. Linux only,
    never raises, idempotent (never raises the priority: that needs privileges)."""
    nice = _trainer_nice()
    if not nice or not sys.platform.startswith("linux"):
        return False
    try:
        tid = threading.get_native_id()
        target = os.getpriority(os.PRIO_PROCESS, os.getpid()) + nice
        if os.getpriority(os.PRIO_PROCESS, tid) >= target:
            return False
        os.setpriority(os.PRIO_PROCESS, tid, min(target, 19))
        return True
    except (OSError, AttributeError):
        return False


# --------------------------------------------------------------------------- interpreter exit
# Our threads are daemons, so a script may end while one is inside torch. At exit CPython
# (3.8-3.13) ends a daemon thread that wants the GIL back with pthread_exit(), whose forced
# unwind through torch's C++ frames (noexcept) calls std::terminate: "terminate called without
# an active exception", exit code 134. atexit callbacks run before that point, while daemon
# threads still run, so each object that owns such a thread registers how to stop it here.
EXIT_TIMEOUT_S = 10.0  # per object; past it the process exits as before rather than hang
_exit_stops: list[weakref.WeakMethod] = []


def stop_at_exit(stop: Callable[[float], Any]) -> None:
    """Have the bound method ``stop(timeout)`` called at interpreter exit, to end (and join)
    its object's thread before daemon threads are torn down; latest registered first. Held
    weakly (the object may go before); registering the same method again is a no-op."""
    with _lock:
        _exit_stops[:] = [ref for ref in _exit_stops if ref() is not None]
        if not any(ref() == stop for ref in _exit_stops):
            _exit_stops.append(weakref.WeakMethod(stop))


@atexit.register
def _stop_threads_at_exit() -> None:
    with _lock:
        stops = [stop for ref in reversed(_exit_stops) if (stop := ref()) is not None]
    for stop in stops:  # widgets' flushers (registered last) before the runs they read
        with contextlib.suppress(Exception):
            stop(EXIT_TIMEOUT_S)
