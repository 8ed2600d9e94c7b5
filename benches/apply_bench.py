"""The measuring half of benches/apply.sh (which builds, sets up the SDK venv and calls this).

Two benchmarks, each measured as whole processes, medians of RUNS runs, interleaved round by
round so that a slow moment of the machine hits every row alike, and every ratio taken between
numbers of this one run:

1. `apply` of an 8-region manifest (32 products, one CreateProductOrders per region) against an
   emulator that sleeps LATENCY ms before every API request, set against its critical path.
   Every measured apply gets a fresh emulator process (so a fresh, in-memory ledger) and a fresh
   state file, and afterwards the ledger must show exactly one order per region and every
   product purchased; otherwise the run is an error, not a number.

2. `plan` and `apply` with nothing to do (the 8-region manifest, already applied) against
   benches/sdk_noop.py, which makes the same ListProducts calls with the official Python SDK.
   `plan --detailed-exitcode` must exit 0 (no changes), sdk_noop.py must exit 0 (nothing to
   order), and the ledger must still hold the 8 orders at the end (the no-op apply ordered
   nothing).

Each process runs under GNU time (`/usr/bin/time -f %M`), which reports the peak RSS of that
process alone; wall time is taken here around the spawn and the wait, so time and memory are of the
same run, and the `/bin/true` row shows what spawning through time costs. (The `ru_maxrss` of a
child spawned straight from Python would not do: a vfork-style child shares Python's memory until
its exec, and the kernel keeps that high-water mark, so every child would look at least as big as
this interpreter.) Emulator start and ledger checks are outside the timed window; the emulator
shares the machine's cores with the client, as it would in CI.
"""

import argparse
import json
import os
import platform
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.request

CREDENTIALS = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "emulator", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "emulator-secret"}


class BenchError(Exception):
    pass


class Sample:
    def __init__(self, wall_ms, rss_kb, code):
        self.wall_ms = wall_ms
        self.rss_kb = rss_kb
        self.code = code


def child_env():
    """The caller's environment without any Alibaba Cloud setting, plus the emulator's key pair."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIBABA_CLOUD_") and k != "PAI_PROVISION_STATE"}
    env.update(CREDENTIALS)
    env["NO_COLOR"] = "1"
    return env


GNU_TIME = "/usr/bin/time"
SDK_MODULE = "alibabacloud_aiworkspace20210204"


def measure(argv, env, out_dir):
    """Runs argv once under GNU time, stdin from /dev/null and stdout/stderr to files in out_dir."""
    rss_file = os.path.join(out_dir, "rss")
    argv = [GNU_TIME, "-f", "%M", "-o", rss_file, *argv]
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.path.join(out_dir, "stdout"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
        (os.POSIX_SPAWN_OPEN, 2, os.path.join(out_dir, "stderr"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
    ]
    start = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, env, file_actions=actions)
    _, status, _ = os.wait4(pid, 0)
    end = time.perf_counter()
    code = os.waitstatus_to_exitcode(status)
    try:
        with open(rss_file) as f:
            # GNU time writes "Command exited with non-zero status N" first when the command fails.
            rss_kb = int(f.read().split()[-1])
    except (OSError, ValueError, IndexError) as e:
        raise BenchError(f"no peak RSS from {GNU_TIME} for {argv[5:]} (exit {code}): {e}") from e
    return Sample((end - start) * 1000.0, rss_kb, code)


def output_of(out_dir, name):
    try:
        with open(os.path.join(out_dir, name), encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def expect(sample, codes, what, out_dir):
    if sample.code not in codes:
        tail = "\n".join((output_of(out_dir, "stdout") + output_of(out_dir, "stderr")).splitlines()[-15:])
        raise BenchError(f"{what} exited with {sample.code}, expected {codes}:\n{tail}")


class Emulator:
    """A `pai-provision emulator` process with one listener per region on 127.0.0.1:0."""

    def __init__(self, binary, regions, latency_ms, work):
        faults = f"latency_ms={latency_ms}" if latency_ms else "none"
        argv = [binary, "emulator", "--faults", faults, "--seed", "1"]
        for region in regions:
            argv += ["--listen", f"{region}=127.0.0.1:0"]
        self.stderr = open(os.path.join(work, "emulator.stderr"), "w")
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.stderr, text=True, env=child_env()
        )
        self.endpoints = {}
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in self.proc.stdout], daemon=True).start()
        deadline = time.monotonic() + 10
        try:
            while len(self.endpoints) < len(regions):
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
                words = line.split()
                if len(words) == 3 and words[0] == "listening":
                    self.endpoints[words[1]] = words[2]
        except queue.Empty:
            self.stop()
            raise BenchError(f"the emulator did not announce {len(regions)} listeners within 10 s (see {work})")

    def ledger(self):
        url = next(iter(self.endpoints.values())) + "/_emulator/ledger"
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.load(response)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.stop()


class Manifest:
    def __init__(self, path):
        with open(path, "rb") as f:
            self.text = f.read().decode()
        parsed = tomllib.loads(self.text)
        default = parsed["provider"]["region"]
        self.products = {(p.get("region", default), p["code"]) for p in parsed["products"].values()}
        self.regions = sorted({region for region, _ in self.products})
        self.name = os.path.basename(path)

    def write_for(self, emulator, path):
        """The manifest pointed at the emulator: a `[provider.endpoints]` table appended."""
        table = "".join(f'{region} = "{url}"\n' for region, url in sorted(emulator.endpoints.items()))
        with open(path, "w") as f:
            f.write(self.text + "\n[provider.endpoints]\n" + table)

    def check_ledger(self, ledger, what):
        regions = sorted(order["Region"] for order in ledger["orders"])
        purchased = {(p["Region"], p["ProductCode"]) for p in ledger["purchased"]}
        if regions != self.regions or purchased != self.products:
            raise BenchError(
                f"{what}: the ledger shows orders in {regions} and {len(purchased)} products purchased; "
                f"expected one order in each of {self.regions} and {len(self.products)} products"
            )


def apply_once(binary, manifest, latency_ms, work):
    """One measured apply that really orders every region of the manifest."""
    run = tempfile.mkdtemp(dir=work)
    with Emulator(binary, manifest.regions, latency_ms, run) as emulator:
        path = os.path.join(run, "manifest.toml")
        manifest.write_for(emulator, path)
        argv = [binary, "--state", os.path.join(run, "state.db"), "apply", "--auto-approve", path]
        sample = measure(argv, child_env(), run)
        what = f"apply of {manifest.name} at {latency_ms} ms"
        expect(sample, (0,), what, run)
        manifest.check_ledger(emulator.ledger(), what)
    shutil.rmtree(run)
    return sample


def rounds(rows, runs, warmup, run_row):
    """Runs every row once per round, the starting row rotating, and keeps the post-warm-up samples."""
    samples = {name: [] for name, _ in rows}
    for i in range(warmup + runs):
        shift = i % len(rows)
        for name, arg in rows[shift:] + rows[:shift]:
            sample = run_row(arg)
            if i >= warmup:
                samples[name].append(sample)
    return samples


def median_ms(samples):
    return statistics.median(s.wall_ms for s in samples)


def median_mb(samples):
    return statistics.median(s.rss_kb for s in samples) / 1024.0


def row(name, samples):
    walls = [s.wall_ms for s in samples]
    spread = f"{min(walls):.1f} – {max(walls):.1f} ms"
    return f"| {name} | {median_ms(samples):.1f} ms | {spread} | {median_mb(samples):.1f} MB |"


def table(named):
    lines = ["| process | median wall time | min – max | median peak RSS |", "|---|---|---|---|"]
    lines += [row(name, samples) for name, samples in named]
    return "\n".join(lines)


def verdict(ok):
    return "met" if ok else "NOT met"


def bench_apply(args, eight, one, work):
    latency = args.latency_ms
    rows = [
        (f"`apply` {eight.name}, {latency} ms latency", (eight, latency)),
        (f"`apply` {eight.name}, 0 ms latency", (eight, 0)),
        (f"`apply` {one.name}, {latency} ms latency", (one, latency)),
        ("`/bin/true` (spawn through time, wait)", None),
    ]

    def run_row(arg):
        if arg is None:
            return measure(["/bin/true"], child_env(), work)
        manifest, ms = arg
        return apply_once(args.binary, manifest, ms, work)

    samples = rounds(rows, args.runs, args.warmup, run_row)
    names = [name for name, _ in rows]
    measured = median_ms(samples[names[0]])
    zero = median_ms(samples[names[1]])
    single = median_ms(samples[names[2]])
    critical = zero + 2 * latency
    serial = zero + 2 * len(eight.regions) * latency
    ratio = measured / critical
    print(f"### apply: {len(eight.regions)} regions, {len(eight.products)} products, {latency} ms injected latency")
    print()
    print(table([(name, samples[name]) for name in names]))
    print()
    print(f"- critical path = T(8 regions, 0 ms) + 2 x {latency} ms = {zero:.1f} + {2 * latency} = {critical:.1f} ms")
    print(f"- T(8 regions, {latency} ms) / critical path = **{ratio:.2f}** (target <= 1.30: {verdict(ratio <= 1.3)})")
    print(f"- cross-check: T(8 regions, {latency} ms) / T(1 region, {latency} ms) = {measured / single:.2f}")
    print(
        f"- for scale, regions one after another would need T(8 regions, 0 ms) + {2 * len(eight.regions)} x "
        f"{latency} ms = {serial:.1f} ms"
    )
    print()


def bench_noop(args, eight, work, latency):
    run = tempfile.mkdtemp(dir=work)
    python = args.sdk_python
    sdk = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sdk_noop.py")
    with Emulator(args.binary, eight.regions, latency, run) as emulator:
        manifest = os.path.join(run, "manifest.toml")
        state = os.path.join(run, "state.db")
        eight.write_for(emulator, manifest)
        env = child_env()
        first = measure([args.binary, "--state", state, "apply", "--auto-approve", manifest], env, run)
        expect(first, (0,), "the first apply of the no-op benchmark", run)
        eight.check_ledger(emulator.ledger(), "the first apply of the no-op benchmark")
        ours = [args.binary, "--state", state]
        # Every row must exit 0: `plan --detailed-exitcode` and sdk_noop.py exit 2 when there is work.
        rows = [
            ("`pai-provision plan`", ours + ["plan", "--detailed-exitcode", manifest]),
            ("`pai-provision apply` (nothing to do)", ours + ["apply", "--auto-approve", manifest]),
            ("`sdk_noop.py` (regions one by one)", [python, sdk, manifest]),
            ("`sdk_noop.py --parallel` (a thread per region)", [python, sdk, manifest, "--parallel"]),
            ("`python -c 'import ...client'` (SDK import alone)", [python, "-c", f"import {SDK_MODULE}.client"]),
        ]

        def run_row(argv):
            sample = measure(argv, env, run)
            expect(sample, (0,), " ".join(os.path.basename(a) for a in argv[:4]), run)
            return sample

        samples = rounds(rows, args.runs, args.warmup, run_row)
        eight.check_ledger(emulator.ledger(), "after the no-op runs")
    shutil.rmtree(run)
    names = [name for name, _ in rows]
    plan, apply, seq, par = (samples[n] for n in names[:4])
    print(f"### no-op `plan` and `apply` vs the official Python SDK, {latency} ms injected latency")
    print()
    print(table([(name, samples[name]) for name in names]))
    print()
    for label, ours in (("plan", plan), ("apply", apply)):
        for base_label, base in (("one by one", seq), ("parallel", par)):
            speed = median_ms(base) / median_ms(ours)
            memory = median_mb(ours) / median_mb(base)
            print(
                f"- `{label}` vs SDK {base_label}: **{speed:.1f}x** faster (target >= 20x: {verdict(speed >= 20)}), "
                f"{memory:.2f} of its peak RSS"
            )
    print()


def describe_machine(args):
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    version = subprocess.run([args.binary, "--version"], capture_output=True, text=True).stdout.strip()
    packages = ("alibabacloud-aiworkspace20210204", "alibabacloud-tea-openapi")
    script = f"import importlib.metadata as m, platform; print(platform.python_version(), *map(m.version, {packages}))"
    found = subprocess.run([args.sdk_python, "-c", script], capture_output=True, text=True).stdout.split()
    sdk_text = "SDK version unknown"
    if len(found) == 3:
        sdk_text = f"Python {found[0]}, {packages[0]} {found[1]}, {packages[1]} {found[2]}"
    return (
        f"date: {time.strftime('%Y-%m-%d', time.gmtime())}; machine: {os.cpu_count()} cores, {cpu}, "
        f"{platform.system()} {platform.release()}; {version} (release build); {sdk_text}; "
        f"runs: {args.runs} per row after {args.warmup} warm-up rounds, interleaved; "
        f"load average at the start {os.getloadavg()[0]:.2f}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--sdk-python", required=True)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--noop-latency-ms", type=int, nargs="*", default=[0, 50])
    parser.add_argument("--benches", default="apply,noop")
    args = parser.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    eight = Manifest(os.path.join(here, "apply-8-regions.toml"))
    one = Manifest(os.path.join(here, "apply-1-region.toml"))
    print(describe_machine(args))
    print()
    with tempfile.TemporaryDirectory(prefix="pai-bench-apply-") as work:
        try:
            if "apply" in args.benches:
                bench_apply(args, eight, one, work)
            if "noop" in args.benches:
                for latency in args.noop_latency_ms:
                    bench_noop(args, eight, work, latency)
        except BenchError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    # Other work on the machine (a build) shows up here, and in the min – max spread.
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
