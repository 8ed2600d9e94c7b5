#!/usr/bin/env python3
"""Runs a command and writes `<wall µs> <peak RSS KiB> <exit code> <CPU µs>` to OUT: the whole
process's wall time, its peak resident set (the largest of it and of its waited-for descendants,
as `wait4` reports it, so `xargs` reports its largest child) and its CPU time, user and system
(its own and its waited-for descendants', so `xargs` reports all its children's). No dependency
beyond Python.

    python3 benches/rusage.py OUT COMMAND [ARG]...   # COMMAND's own output is left as it is
"""
import os
import subprocess
import sys
import time


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    start = time.monotonic_ns()
    child = subprocess.Popen(sys.argv[2:])
    _, status, usage = os.wait4(child.pid, 0)
    wall_us = (time.monotonic_ns() - start) // 1000
    child.returncode = os.waitstatus_to_exitcode(status)  # so Popen does not wait again
    # ru_maxrss is in KiB on Linux.
    with open(sys.argv[1], "w", encoding="utf-8") as out:
        cpu_us = round((usage.ru_utime + usage.ru_stime) * 1e6)
        out.write(f"{wall_us} {usage.ru_maxrss} {child.returncode} {cpu_us}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
