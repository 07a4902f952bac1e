"""Peak anonymous memory and peak RSS of one command, e.g. the CLI's main job.

    .venv/bin/python benchmarks/peak_memory.py [--cwd DIR] -- .venv/bin/python -m fer_compare parameters.json

Runs the command as a child process and samples its /proc/<pid>/status every 10 ms from this
process (the child runs unchanged): the peak of RssAnon (anonymous memory: heap, weights,
TensorFlow's allocator pool; Linux keeps no high-water mark for it, so it is sampled) and, beside
it, the peak resident set size from the child's own rusage (ru_maxrss: VmHWM, which also counts
every library page the process touched). Only the command's own process is measured, not
processes it starts (the preprocessing workers). JSON goes to benchmarks/results/ (git-ignored).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PeakMemory, machine, write_results


def measure(command: list[str], cwd: Path | None = None) -> dict[str, object]:
    """Run `command`; its exit code, wall seconds, peak anonymous memory and peak RSS in MiB."""
    t0 = time.perf_counter()
    child = subprocess.Popen(command, cwd=cwd)
    sampler = PeakMemory(child.pid).start()
    # wait4 reaps the child and gives its own rusage (RUSAGE_CHILDREN would mix in other children).
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    sampler.stop()
    return {"returncode": child.returncode, "seconds": round(time.perf_counter() - t0, 1),
            "peak_anon_mb": round(sampler.peak_anon_mb, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024.0, 1),
            "memory_samples": sampler.samples}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cwd", type=Path, default=None, help="run the command in this folder")
    p.add_argument("--name", default="peak_memory", help="results file name prefix")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    args = p.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        p.error("give a command after --")
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    result = measure(command, args.cwd)
    print(f"exit {result['returncode']}, {result['seconds']} s: peak anon {result['peak_anon_mb']:.0f} MiB, "
          f"peak RSS {result['peak_rss_mb']:.0f} MiB", flush=True)
    path = write_results(args.name, {"command": command, "cwd": str(args.cwd or Path.cwd()), "date": started,
                                     "machine": machine(), **result})
    print(f"wrote {path}")
    return 0 if result["returncode"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
