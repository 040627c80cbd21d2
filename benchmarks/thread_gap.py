"""Why a PyTorch loop in a Python thread runs slower than on the main thread, and the fix.

One plain DCGAN (32x32x1, width 64, batch 64, Adam, non-saturating loss) is trained in short
blocks of steps, one block per variant per round, the order alternating every round, so that the
blocks compared sit seconds apart and a drift in background load hits all variants alike. Prints
JSON: steps/s per block, per-round ratios, their medians.

  main          the loop on the main thread: what a user would otherwise run (the baseline)
  thread        the same loop in a long-lived trainer thread while the main thread keeps the
                idle OpenMP pool it got from earlier torch work (the state of a Jupyter kernel)
  thread_fixed  as `thread`, with genai_widgets.engine.threads applied as the engine does:
                release_openmp_pool() on the main thread, prepare_training_thread() and, at the
                block's end, training_thread_idle() in the trainer (adaptive spinning on)
  main_fixed    the main loop right after the process-wide part of the fix (release_openmp_pool
                on the main thread; the block's first step recreates the pool): must not be slower
Optional (--variants), the experiments behind the diagnosis:
  thread_fixed_long_spins  as `thread_fixed` with adaptive spinning off: long spins even while
                      other processes load the CPUs (where the plain thread's short spins win)
  thread_set_threads  as `thread`, the trainer first calls torch.set_num_threads(main's count)
  main_idle_pool      the main loop while another thread holds an idle pool: the same slowdown
                      without any training thread, so the cause is the pool count, not the thread
  thread_poll / thread_fixed_poll   the main thread wakes every 5 ms (a busy event loop) instead
                      of blocking in join(): GIL hand-offs, not OpenMP

Diagnostics per variant: steps/s; gomp_managed_threads (libgomp's own count of pool threads,
read from the known torch-bundled build only: above the CPU count every barrier spins 100
times instead of 300,000 before sleeping); voluntary context switches per step (each futex
sleep of an OpenMP worker is one); minor page faults per step (malloc arenas); process CPU use;
torch.get_num_threads() in the loop's thread; for threaded variants the CPU that the waiting
main thread and its idle pool used meanwhile; short_spins (1 when the fix's governor had
switched to short spins because other processes loaded the CPUs); and other processes' load,
probed before each block (ambient) and during it (foreign). On a shared machine spinning teams
lose far more to other processes than sleeping ones, so `summary_quiet_rounds` keeps only the
rounds in which no probe saw other processes at work; `--wait-quiet S` waits up to S seconds
before each block for such a moment.

    python benchmarks/thread_gap.py [--rounds 20] [--steps 5] [--variants main,thread,...]
    python benchmarks/thread_gap.py --malloc-tuning   # mallopt at start-up, for a 2-process A/B
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import json
import os
import platform
import resource
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT_VARIANTS = ("main", "thread", "thread_fixed", "main_fixed")
EXTRA_VARIANTS = (
    "thread_fixed_long_spins",
    "thread_set_threads",
    "main_idle_pool",
    "thread_poll",
    "thread_fixed_poll",
)


def load_fix() -> ModuleType:
    """genai_widgets/engine/threads.py by path, so the package's heavy __init__ (widgets, sklearn
    with its own OpenMP runtime) does not change the process being measured."""
    path = Path(__file__).resolve().parents[1] / "genai_widgets" / "engine" / "threads.py"
    if path.exists():
        spec = importlib.util.spec_from_file_location("gw_threads_fix", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    from genai_widgets.engine import threads

    return threads


class DCGAN:
    """The loop people write (pytorch/examples dcgan, sized for 32x32 single-channel images)."""

    def __init__(self, latent: int = 64, width: int = 64, batch: int = 64, seed: int = 0) -> None:
        torch.manual_seed(seed)
        w = width
        self.generator = nn.Sequential(
            nn.ConvTranspose2d(latent, w * 4, 4, 1, 0, bias=False),
            nn.BatchNorm2d(w * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(w * 4, w * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(w * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(w * 2, w, 4, 2, 1, bias=False),
            nn.BatchNorm2d(w),
            nn.ReLU(True),
            nn.ConvTranspose2d(w, 1, 4, 2, 1, bias=False),
            nn.Tanh(),
        )
        self.discriminator = nn.Sequential(
            nn.Conv2d(1, w, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(w, w * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(w * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(w * 2, w * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(w * 4),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(w * 4, 1, 4, 1, 0, bias=False),
        )
        betas = (0.5, 0.999)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=2e-4, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=2e-4, betas=betas)
        self.latent, self.batch = latent, batch
        # A fixed batch of "real" images: the data pipeline is not what is being measured.
        self.real = torch.rand(batch, 1, 32, 32) * 2 - 1
        self.ones = torch.ones(batch, 1, 1, 1)
        self.zeros = torch.zeros(batch, 1, 1, 1)

    def step(self) -> None:
        fake = self.generator(torch.randn(self.batch, self.latent, 1, 1))
        self.opt_d.zero_grad(set_to_none=True)
        loss_d = F.binary_cross_entropy_with_logits(
            self.discriminator(self.real), self.ones
        ) + F.binary_cross_entropy_with_logits(self.discriminator(fake.detach()), self.zeros)
        loss_d.backward()
        self.opt_d.step()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g = F.binary_cross_entropy_with_logits(self.discriminator(fake), self.ones)
        loss_g.backward()
        self.opt_g.step()


def thread_cpu_seconds(tids: list[int]) -> float:
    """utime + stime of the given threads of this process (exited ones count as 0)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        except (OSError, IndexError, ValueError):
            pass
    return total / tick


def task_ids() -> list[int]:
    try:
        return [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return []


def busy_cpu_seconds() -> float:
    """CPU seconds all processes on the machine have used since boot (/proc/stat, 0 if absent)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def foreign_load(seconds: float) -> float:
    """CPUs' worth of work other processes did during a short probe of this one idling."""
    busy, own, t = busy_cpu_seconds(), own_cpu_seconds(), time.perf_counter()
    time.sleep(seconds)
    wall = time.perf_counter() - t
    return max(0.0, (busy_cpu_seconds() - busy) - (own_cpu_seconds() - own)) / wall


def ambient_load(threshold: float, max_wait: float) -> float:
    """Other processes' load probed while this one idles; on a shared machine, first wait (up
    to max_wait s) for it to drop under the threshold."""
    deadline = time.perf_counter() + max_wait
    load = foreign_load(0.2)
    while load > threshold and time.perf_counter() < deadline:
        load = foreign_load(1.0)
    return load


# libgomp keeps its count of pool threads (compared with the CPU count to choose 300,000 or 100
# spins before a futex sleep) in a hidden variable. For the libgomp that this torch wheel ships
# its address was read off `objdump -d` (the `lock add` in gomp_pause_host); other builds are
# simply not probed.
KNOWN_GOMP_MANAGED_THREADS = {"2244452c1de4759ccb52adc5352b501d4c2ee9ce": 0x237040}


def elf_build_id(path: str) -> str | None:
    """The GNU build-id note of an ELF64 little-endian file (section headers survive stripping)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    shoff = int.from_bytes(data[0x28:0x30], "little")
    shentsize = int.from_bytes(data[0x3A:0x3C], "little")
    shnum = int.from_bytes(data[0x3C:0x3E], "little")
    for i in range(shnum):
        header = data[shoff + i * shentsize : shoff + (i + 1) * shentsize]
        if int.from_bytes(header[4:8], "little") != 7:  # SHT_NOTE
            continue
        offset = int.from_bytes(header[0x18:0x20], "little")
        end = offset + int.from_bytes(header[0x20:0x28], "little")
        while offset + 12 <= end:
            namesz, descsz, kind = (
                int.from_bytes(data[offset + k : offset + k + 4], "little") for k in (0, 4, 8)
            )
            name_at = offset + 12
            desc_at = name_at + (namesz + 3) // 4 * 4
            if kind == 3 and data[name_at : name_at + namesz] == b"GNU\x00":  # NT_GNU_BUILD_ID
                return data[desc_at : desc_at + descsz].hex()
            offset = desc_at + (descsz + 3) // 4 * 4
    return None


def gomp_managed_threads_reader() -> Callable[[], int] | None:
    """A reader of libgomp's pool-thread count, for known builds only (None otherwise)."""
    try:
        with open("/proc/self/maps") as f:
            maps = [line.split(maxsplit=5) for line in f]
    except OSError:
        return None
    for fields in maps:
        if len(fields) < 6 or "libgomp" not in fields[5] or int(fields[2], 16) != 0:
            continue
        path = fields[5].strip()
        offset = KNOWN_GOMP_MANAGED_THREADS.get(elf_build_id(path) or "")
        if offset is None:
            continue
        address = int(fields[0].split("-")[0], 16) + offset
        # Only read it if it falls inside a writable mapping of that same file.
        for other in maps:
            lo, hi = (int(x, 16) for x in other[0].split("-"))
            if (
                len(other) == 6
                and other[5].strip() == path
                and "rw" in other[1]
                and lo <= address < hi
            ):
                counter = ctypes.c_ulong.from_address(address)
                return lambda: counter.value
    return None


GOMP_MANAGED_THREADS: Callable[[], int] | None = None


def timed_loop(model: DCGAN, steps: int, out: dict[str, Any]) -> None:
    out["torch_threads"] = torch.get_num_threads()
    before = resource.getrusage(resource.RUSAGE_SELF)
    busy = busy_cpu_seconds()
    start = time.perf_counter()
    for i in range(steps):
        model.step()
        if i == 0:  # every pool that this block needs exists by now
            out["os_threads"] = len(task_ids())
            if GOMP_MANAGED_THREADS is not None:
                out["gomp_managed_threads"] = GOMP_MANAGED_THREADS()
    wall = time.perf_counter() - start
    busy = busy_cpu_seconds() - busy
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out.update(
        steps_per_s=steps / wall,
        vol_ctx_switches_per_step=(after.ru_nvcsw - before.ru_nvcsw) / steps,
        invol_ctx_switches_per_step=(after.ru_nivcsw - before.ru_nivcsw) / steps,
        minor_faults_per_step=(after.ru_minflt - before.ru_minflt) / steps,
        cpu_utilisation=cpu / wall,
        # Other processes' CPU use meanwhile: a loaded machine penalises spinning OpenMP
        # workers far more than sleeping ones, so rounds are only comparable when this is ~0.
        foreign_load=max(0.0, busy - cpu) / wall,
    )


def touch_pool() -> None:
    """One parallel region on the calling thread, so it owns an OpenMP pool (as the kernel's
    main thread does once the user ran any torch code in a cell)."""
    torch.ones(1 << 20).mul_(2).sum()


class Worker:
    """A long-lived thread that runs what it is handed while the main thread waits, as a
    trainer thread does in a kernel."""

    def __init__(self, name: str) -> None:
        self._job: Callable[[], None] | None = None
        self._ready = threading.Condition()
        self._done = threading.Event()
        self.native_id = 0
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.native_id = threading.get_native_id()
        while True:
            with self._ready:
                while self._job is None:
                    self._ready.wait()
                job, self._job = self._job, None
            try:
                job()
            finally:
                self._done.set()

    def submit(self, job: Callable[[], None]) -> None:
        self._done.clear()
        with self._ready:
            self._job = job
            self._ready.notify()

    def wait(self, poll: bool = False) -> None:
        if poll:  # wake every 5 ms, as a busy event loop would
            while not self._done.is_set():
                time.sleep(0.005)
        else:
            self._done.wait()


class Bench:
    """Each variant is a short block of steps on one shared model; between blocks every thread
    that is not training gives back its pool, so a block starts from the state it names."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.fix = load_fix()
        self.model = DCGAN()
        self.trainer = Worker("trainer")
        self.ballast = Worker("idle-pool")  # holds an idle pool for main_idle_pool
        for _ in range(args.warmup):
            self.model.step()
        self._in_trainer(lambda: [self.model.step() for _ in range(args.warmup)])
        self._in_trainer(self.fix.release_openmp_pool)  # as after every block

    def _in_trainer(self, job: Callable[[], None], poll: bool = False) -> None:
        self.trainer.submit(job)
        self.trainer.wait(poll)

    def _main_block(self, release_first: bool) -> dict:
        out: dict[str, Any] = {}
        touch_pool()
        if release_first:
            # The process-wide part of the fix; the block's first step recreates the pool, and
            # that cost is inside the timing.
            out["runtimes_released"] = self.fix.release_openmp_pool()
        timed_loop(self.model, self.args.steps, out)
        return out

    def _thread_block(
        self, fixed: bool, adaptive: bool = False, poll: bool = False, set_threads: bool = False
    ) -> dict:
        out: dict[str, Any] = {}
        main_threads = torch.get_num_threads()
        touch_pool()  # the kernel's state: its main thread has run torch before
        if fixed:
            out["runtimes_released"] = self.fix.release_openmp_pool()

        def block() -> None:
            if fixed:
                self.fix.adaptive_spinning = adaptive
                self.fix.prepare_training_thread()
            if set_threads:
                torch.set_num_threads(main_threads)
            try:
                timed_loop(self.model, self.args.steps, out)
            finally:
                if adaptive:  # the governor's mode at the block's end (1: short spins)
                    out["short_spins"] = float(self.fix._short_spins)
                if fixed:
                    # As a trainer does before a pause: stops the governor and its pool, so
                    # the next block (maybe on the main thread) starts clean.
                    self.fix.training_thread_idle()

        waiting = [tid for tid in task_ids() if tid != self.trainer.native_id]
        cpu_before = thread_cpu_seconds(waiting)
        wall = time.perf_counter()
        self._in_trainer(block, poll)
        wall = time.perf_counter() - wall
        # CPU that the waiting main thread and its idle pool burnt while the trainer ran.
        out["waiting_threads_cpu_share"] = (thread_cpu_seconds(waiting) - cpu_before) / wall
        return out

    def _main_with_idle_pool(self) -> dict:
        self.ballast.submit(touch_pool)
        self.ballast.wait()
        try:
            return self._main_block(release_first=False)
        finally:
            self.ballast.submit(self.fix.release_openmp_pool)
            self.ballast.wait()

    def run_variant(self, name: str) -> dict:
        table: dict[str, Callable[[], dict]] = {
            "main": lambda: self._main_block(False),
            "main_fixed": lambda: self._main_block(True),
            "main_idle_pool": self._main_with_idle_pool,
            "thread": lambda: self._thread_block(False),
            "thread_fixed": lambda: self._thread_block(True, adaptive=True),
            "thread_fixed_long_spins": lambda: self._thread_block(True),
            "thread_poll": lambda: self._thread_block(False, poll=True),
            "thread_fixed_poll": lambda: self._thread_block(True, adaptive=True, poll=True),
            "thread_set_threads": lambda: self._thread_block(False, set_threads=True),
        }
        try:
            return table[name]()
        finally:
            # An idle trainer would hold its pool and slow the main thread's next block (the
            # trainer does the same before it blocks for a pause).
            self.trainer.submit(self.fix.release_openmp_pool)
            self.trainer.wait()


def apply_malloc_tuning() -> bool:
    """Fixed glibc malloc thresholds, one arena (the malloc-arena hypothesis). Minor faults drop
    to ~0 for every variant, yet the plain thread's gap stays: not its cause."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    m_trim_threshold, m_top_pad, m_mmap_threshold, m_arena_max = -1, -2, -3, -8
    ok = libc.mallopt(m_arena_max, 1)
    ok &= libc.mallopt(m_mmap_threshold, 64 << 20)
    ok &= libc.mallopt(m_trim_threshold, 256 << 20)
    ok &= libc.mallopt(m_top_pad, 64 << 20)
    return bool(ok)


def summarise(rows: list[dict[str, dict]], variants: list[str]) -> dict:
    if not rows:
        return {"rounds": 0}

    def med(values: list[float]) -> float:
        return round(statistics.median(values), 4)

    summary: dict[str, Any] = {"rounds": len(rows), "median_steps_per_s": {}}
    for name in variants:
        summary["median_steps_per_s"][name] = med([r[name]["steps_per_s"] for r in rows])
        for key in (
            "vol_ctx_switches_per_step",
            "minor_faults_per_step",
            "cpu_utilisation",
            "waiting_threads_cpu_share",
            "foreign_load",
            "gomp_managed_threads",
            "short_spins",
        ):
            if key in rows[0][name]:
                summary.setdefault(f"median_{key}", {})[name] = med([r[name][key] for r in rows])
    pairs = [(v, "main") for v in variants if v != "main"]
    if "thread_fixed" in variants:
        # vs main_fixed too: both start from a freshly created pool, the fairest pairing
        pairs += [("thread_fixed", "thread"), ("thread_fixed", "main_fixed")]
    for a, b in pairs:
        if a in variants and b in variants:
            ratios = sorted(r[a]["steps_per_s"] / r[b]["steps_per_s"] for r in rows)
            summary.setdefault(f"median_ratio_vs_{b}", {})[a] = med(ratios)
            quartiles = [ratios[len(ratios) // 4], ratios[(3 * len(ratios)) // 4]]
            summary.setdefault(f"iqr_ratio_vs_{b}", {})[a] = [round(q, 4) for q in quartiles]
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per block")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per thread at start")
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS))
    parser.add_argument("--malloc-tuning", action="store_true")
    parser.add_argument("--torch-threads", type=int, default=None)
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        help="before each variant, wait up to this many seconds for other processes to go idle "
        "(they share the CPUs on a dev box; 0: just record their load)",
    )
    parser.add_argument(
        "--quiet-threshold",
        type=float,
        default=0.15,
        help="other processes' load (CPUs) under which a round counts as quiet",
    )
    args = parser.parse_args()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(DEFAULT_VARIANTS) - set(EXTRA_VARIANTS))
    if unknown or "main" not in variants:
        parser.error(
            f"unknown variants {unknown}; 'main' is required; valid: "
            f"{', '.join(DEFAULT_VARIANTS + EXTRA_VARIANTS)}"
        )
    malloc_tuned = apply_malloc_tuning() if args.malloc_tuning else False
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)

    bench = Bench(args)
    touch_pool()  # loads libgomp's pool machinery before probing it
    global GOMP_MANAGED_THREADS
    GOMP_MANAGED_THREADS = gomp_managed_threads_reader()
    rows: list[dict[str, dict]] = []
    quiet: list[bool] = []
    t0 = time.perf_counter()
    for i in range(args.rounds):
        order = variants if i % 2 == 0 else variants[::-1]
        row = {}
        probes = []
        for name in order:
            probes.append(ambient_load(args.quiet_threshold, args.wait_quiet))
            row[name] = bench.run_variant(name)
            row[name]["ambient_load_before"] = probes[-1]
        probes.append(ambient_load(args.quiet_threshold, 0.0))
        # A round is quiet when neither the probes around its blocks nor the blocks themselves
        # saw other processes at work.
        probes += [v["foreign_load"] for v in row.values()]
        quiet.append(max(probes) < args.quiet_threshold)
        rows.append(row)
        brief = {k: round(v["steps_per_s"], 3) for k, v in row.items()}
        print(
            f"round {i} ({'quiet' if quiet[-1] else 'loaded'}): {brief}",
            file=sys.stderr,
            flush=True,
        )

    with open("/proc/loadavg") if os.path.exists("/proc/loadavg") else open(os.devnull) as f:
        loadavg = f.read().strip()
    report = {
        "config": {
            **vars(args),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "torch_threads_main": torch.get_num_threads(),
            "parallel_backend": torch.__config__.parallel_info().splitlines()[-1].strip(),
            "libgomp_runtimes": bench.fix.openmp_runtimes(),
            "libgomp_build_ids": [elf_build_id(p) for p in bench.fix.openmp_runtimes()],
            "gomp_managed_threads_probed": GOMP_MANAGED_THREADS is not None,
            "malloc_tuned": malloc_tuned,
            "loadavg_at_end": loadavg,
            "seconds": round(time.perf_counter() - t0, 1),
        },
        "summary": summarise(rows, variants),
        # Rounds in which no variant shared the CPUs with other processes: the regime the
        # requirement is about (with foreign load, spinning teams lose far more than sleeping).
        "summary_quiet_rounds": summarise(
            [row for row, calm in zip(rows, quiet, strict=True) if calm],
            variants,
        ),
        "rounds": [
            {name: {k: round(v, 4) for k, v in res.items()} for name, res in row.items()}
            for row in rows
        ],
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
