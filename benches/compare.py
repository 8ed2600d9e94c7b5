"""The measuring half of benches/compare.sh: two builds of pai-provision, side by side.

`validate`, `plan --refresh=false` and the 8-region `apply` (50 ms of injected latency) are each
run with the BASE binary and the NEW binary, round by round with the starting row rotating (as in
apply_bench.py), so that a slow moment of the machine falls on both alike. The verdict is the
ratio NEW / BASE of the medians of this one run; a ratio near 1.00 means no change.

Every apply gets a fresh emulator process (always the NEW binary's, so that only the client
differs) and a fresh state, and its ledger must show one order per region afterwards. Each
binary plans against a state seeded by its own build's `seed_history` example (the schema may
differ between the two) with the quickstart's four products recorded active; both must report
"no changes".
"""

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile

import apply_bench as ab

HERE = os.path.dirname(os.path.abspath(__file__))


def apply_with(binary, emulator_binary, manifest, latency_ms, work):
    run = tempfile.mkdtemp(dir=work)
    with ab.Emulator(emulator_binary, manifest.regions, latency_ms, run) as emulator:
        path = os.path.join(run, "manifest.toml")
        manifest.write_for(emulator, path)
        argv = [binary, "--state", os.path.join(run, "state.db"), "apply", "--auto-approve", path]
        sample = ab.measure(argv, ab.child_env(), run)
        what = f"apply of {manifest.name} with {binary}"
        ab.expect(sample, (0,), what, run)
        manifest.check_ledger(emulator.ledger(), what)
    shutil.rmtree(run)
    return sample


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the baseline binary")
    parser.add_argument("--new", required=True, help="the binary measured against it")
    parser.add_argument("--base-seed", required=True, help="the BASE build's seed_history example")
    parser.add_argument("--new-seed", required=True, help="the NEW build's seed_history example")
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--latency-ms", type=int, default=50)
    args = parser.parse_args()

    root = os.path.dirname(HERE)
    quickstart = os.path.join(root, "examples", "quickstart.toml")
    eight = ab.Manifest(os.path.join(HERE, "apply-8-regions.toml"))
    work = tempfile.mkdtemp(prefix="pai-compare-")
    try:
        states = {}
        for binary, seed in ((args.base, args.base_seed), (args.new, args.new_seed)):
            states[binary] = os.path.join(work, f"seeded-{len(states)}.db")
            subprocess.run([seed, quickstart, states[binary], "0"], check=True, stdout=subprocess.DEVNULL)
        env = ab.child_env()

        def process(argv, codes):
            def run(binary):
                out = tempfile.mkdtemp(dir=work)
                full = [binary, *(states[binary] if a == "STATE" else a for a in argv)]
                sample = ab.measure(full, env, out)
                ab.expect(sample, codes, " ".join(full), out)
                shutil.rmtree(out)
                return sample

            return run

        benches = [
            ("validate examples/quickstart.toml", process(["validate", quickstart], (0,))),
            (
                "plan --refresh=false (quickstart, 4 active)",
                process(["--state", "STATE", "plan", "--refresh=false", "--detailed-exitcode", quickstart], (0,)),
            ),
            (
                f"apply apply-8-regions.toml, {args.latency_ms} ms latency",
                lambda binary: apply_with(binary, args.new, eight, args.latency_ms, work),
            ),
        ]
        rows = []
        for name, run in benches:
            for label, binary in (("base", args.base), ("new", args.new)):
                rows.append((f"{name} [{label}]", (run, binary)))
        samples = ab.rounds(rows, args.runs, args.warmup, lambda arg: arg[0](arg[1]))

        print(f"runs: {args.runs} per row after {args.warmup} warm-up rounds, interleaved")
        print()
        print("| process | base median | new median | new / base |")
        print("|---|---|---|---|")
        for name, _ in benches:
            base = statistics.median(s.wall_ms for s in samples[f"{name} [base]"])
            new = statistics.median(s.wall_ms for s in samples[f"{name} [new]"])
            print(f"| `{name}` | {base:.2f} ms | {new:.2f} ms | {new / base:.2f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
