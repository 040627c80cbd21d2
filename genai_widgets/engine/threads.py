"""Keep a background training thread as fast as the same loop on the main thread.

Cause: libgomp (the OpenMP runtime in Linux PyTorch wheels) gives every thread that runs a
parallel region its own pool of worker threads, kept until that thread exits, and when the pools
of all threads add up to more threads than CPUs it makes every OpenMP barrier in the process spin
100 times instead of 300,000 before sleeping on a futex (``do_spin`` in
libgomp/config/linux/wait.h). A kernel's main thread that ever ran torch keeps an idle pool, so
the trainer's pool tips the count over: on a 2-core CPU a DCGAN step in a thread did ~550 futex
sleeps (0 on the main thread) and ran at ~0.75 of main-thread speed; freeing the idle pool with
OpenMP 5.0's ``omp_pause_resource_all`` on its own thread removes the sleeps and the gap
(``benchmarks/thread_gap.py`` measures both).

Use: the trainer thread calls :func:`prepare_training_thread` first thing; the thread that starts
training calls :func:`release_openmp_pool` (``Run.start``), and so does the trainer before it
blocks for a long pause (its idle pool would slow torch work on other threads the same way).
Elsewhere (macOS, Windows, LLVM/Intel OpenMP, libgomp older than GCC 9) every function here is a
cheap no-op.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import weakref
from typing import Any

__all__ = ["prepare_training_thread", "release_openmp_pool", "openmp_runtimes"]

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


def prepare_training_thread() -> None:
    """Call first thing in a trainer thread's run function; idempotent, cheap, never raises.

    Registers the thread as training, so that while it lives the pool a cell recreates on the
    kernel's main thread is freed again after every cell (an IPython ``post_run_cell`` hook,
    installed once per shell). The thread that calls ``Run.start`` must still call
    :func:`release_openmp_pool` itself (only a thread can free its own pool); so must any other
    long-lived thread that runs torch while training goes on (e.g. a widget callback thread
    calling ``run.sample()``), after it is done.
    """
    if not sys.platform.startswith("linux"):
        return
    with _lock:
        _trainers.add(threading.current_thread())
    _install_ipython_hook()
