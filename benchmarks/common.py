"""Helpers shared by the benchmarks: waiting for a quiet machine, machine facts, child processes, JSON results."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
LONDON = ROOT.parent / "shared" / "datasets" / "frl-london"


def load_1min() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]


def wait_for_quiet(max_load: float = 1.0, max_wait: float = 600.0, poll: float = 45.0,
                   log: bool = True) -> dict[str, float]:
    """Sleep until the 1-minute load is at most `max_load` (or `max_wait` seconds passed); report what was seen."""
    t0 = time.monotonic()
    start = load_1min()
    load = start
    while load > max_load and time.monotonic() - t0 < max_wait:
        if log:
            print(f"  load {load:.2f} > {max_load}: waiting {poll:.0f} s", file=sys.stderr, flush=True)
        time.sleep(poll)
        load = load_1min()
    return {"load_before_wait": round(start, 2), "load_at_start": round(load, 2),
            "waited_s": round(time.monotonic() - t0, 1)}


def busy_cores(window: float = 2.0) -> float:
    """Cores kept busy by *anything* over the next `window` seconds (from /proc/stat).

    Sampled between our own child processes, while we are idle, this is the other users' load
    right now — the 1-minute load average would still carry our previous child's work.
    """
    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields[:8]), idle

    total0, idle0 = sample()
    time.sleep(window)
    total1, idle1 = sample()
    dt = max(total1 - total0, 1)
    return (1.0 - (idle1 - idle0) / dt) * (os.cpu_count() or 1)


def _cpu_ticks() -> tuple[int, int, int]:
    """(total, idle + iowait, steal) jiffies over all CPUs, from the first line of /proc/stat."""
    f = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(f[:8]), f[3] + f[4], f[7]


class CpuWatch:
    """Around a timed section: wall seconds, our own CPU use, and the cores everything else used meanwhile.

    foreign_cores = machine busy cores (/proc/stat) - this process's cores (getrusage, all threads);
    steal_cores = time the hypervisor gave our vCPUs to someone else. Both ~0 on a quiet machine.
    """

    def __init__(self, children: bool = False) -> None:
        self.children = children  # also count finished (joined) child processes, e.g. a worker pool

    def _own_cpu(self) -> float:
        import resource

        who = [resource.RUSAGE_SELF] + ([resource.RUSAGE_CHILDREN] if self.children else [])
        return sum(r.ru_utime + r.ru_stime for r in map(resource.getrusage, who))

    def __enter__(self) -> CpuWatch:
        self._ticks = _cpu_ticks()
        self._cpu = self._own_cpu()
        self._t = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._t
        own = (self._own_cpu() - self._cpu) / max(self.seconds, 1e-9)
        total, idle, steal = (b - a for a, b in zip(self._ticks, _cpu_ticks(), strict=True))
        cores = os.cpu_count() or 1
        busy = (1.0 - idle / total) * cores if total > 0 else 0.0
        self.own_cores = own
        self.foreign_cores = max(busy - own, 0.0)
        self.steal_cores = steal / total * cores if total > 0 else 0.0

    def record(self) -> dict[str, float]:
        return {"seconds": self.seconds, "own_cores": round(self.own_cores, 2),
                "foreign_cores": round(self.foreign_cores, 2), "steal_cores": round(self.steal_cores, 2)}


def wait_for_idle_cores(max_busy: float = 0.3, max_wait: float = 600.0, poll: float = 30.0) -> float:
    """Between children: wait until other processes use at most `max_busy` cores; return the last reading."""
    t0 = time.monotonic()
    busy = busy_cores()
    while busy > max_busy and time.monotonic() - t0 < max_wait:
        print(f"  other processes busy on {busy:.2f} cores: waiting {poll:.0f} s", file=sys.stderr, flush=True)
        time.sleep(poll)
        busy = busy_cores()
    return round(busy, 2)


def machine() -> dict[str, Any]:
    """Cores, CPU model, memory and Python: enough to tell two result files' machines apart."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = 0.0
    try:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError):
        pass
    return {"cores": os.cpu_count(), "cpu": cpu, "memory_gb": round(mem_gb, 1), "gpu": "none",
            "python": platform.python_version(), "platform": platform.platform()}


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def run_child(args: list[str], env: dict[str, str | None] | None = None, timeout: float = 1800.0) -> dict[str, Any]:
    """Run `python <args>` in a fresh process; its last stdout line is a JSON object, returned."""
    full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    for key, value in (env or {}).items():  # None: unset it in the child
        if value is None:
            full_env.pop(key, None)
        else:
            full_env[key] = value
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=full_env, timeout=timeout,
                          cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"child {args} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def write_results(name: str, data: dict[str, Any]) -> Path:
    """benchmarks/results/<name>-<timestamp>.json (the folder is git-ignored)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def peak_rss_mb() -> float:
    """This process's peak resident set size (ru_maxrss is in KiB on Linux)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def status_mb(pid: int | str = "self") -> dict[str, float]:
    """RssAnon, RssFile, VmRSS and VmHWM of a process in MiB, from /proc/<pid>/status ({} once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssFile", "VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024.0  # kB
    return out


class PeakMemory:
    """Samples a process's anonymous resident memory (RssAnon) in a thread and keeps its peak.

    Linux keeps a high-water mark for the whole resident set (VmHWM: the process's own pages plus
    every page of its libraries it has touched), but none for RssAnon alone: the heap, the
    weights, TensorFlow's allocator pool, which is what a model costs. So it is sampled, every
    `interval` seconds; a spike shorter than that can be missed. `peak_rss_mb` is VmHWM at the
    last sample (it only grows). Use as a context manager, or `start()` / `stop()`.
    """

    def __init__(self, pid: int | str = "self", interval: float = 0.01) -> None:
        import threading

        self.pid = pid
        self.interval = interval
        self.peak_anon_mb = 0.0
        self.peak_rss_mb = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)

    def sample(self) -> None:
        """Read the process's status once now (also called by the thread)."""
        status = status_mb(self.pid)
        if status:
            self.peak_anon_mb = max(self.peak_anon_mb, status.get("RssAnon", 0.0))
            self.peak_rss_mb = max(self.peak_rss_mb, status.get("VmHWM", 0.0))
            self.samples += 1

    def _sample_until_stopped(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def start(self) -> PeakMemory:
        self.sample()
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        """Stop sampling; the peaks in MiB."""
        self._stop.set()
        self._thread.join()
        self.sample()
        return self.record()

    def record(self) -> dict[str, float]:
        return {"peak_anon_mb": round(self.peak_anon_mb, 1), "peak_rss_mb": round(self.peak_rss_mb, 1),
                "memory_samples": self.samples}

    def __enter__(self) -> PeakMemory:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
