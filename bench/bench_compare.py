"""The hook and the takeover of two checkouts, side by side: is the newer one slower?

Both trees run with this interpreter (``PYTHONPATH`` names the tree; the
working directory is neither tree, as ``python -m`` looks there first), their
modules compiled beforehand, in interleaved rounds (before, after, before,
after...), so drift and the other work on the machine hit both alike:

* ``atribank_hook``, ``online`` with all N units READY and the node already
  active (N = 1 and 64), and with the last unit still probing (N = 1);
* a whole ``twinstar takeover`` process of one no-op command step (a release,
  untimed, between runs), with the hook's cache directory in place as on an
  installed node.

usage: .venv/bin/python bench/bench_compare.py --before DIR [--after DIR] [--runs N]
(``git worktree add --detach DIR COMMIT`` makes a checkout of an older commit.)

Where valgrind is installed, each case also runs once per tree under
callgrind, which counts the instructions the Python process executes: a
figure the other work on a shared machine does not move.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from bench_hook import build  # noqa: E402
from timing import instructions, load, run_timed, spread  # noqa: E402


def hook_copy(tree: Path, where: Path) -> str:
    """The tree's hooks/atribank_hook with this interpreter on its ``#!`` line."""
    hook = where / f"atribank_hook-{tree.name}"
    hook.write_text(f"#!{sys.executable}\n" + (tree / "hooks" / "atribank_hook").read_text().split("\n", 1)[1])
    hook.chmod(0o755)
    return str(hook)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="checkout of the older tree")
    parser.add_argument("--after", default=str(REPO), help="checkout of the newer tree (default: this one)")
    parser.add_argument("--label", default="", help="what the older tree is (e.g. its commit)")
    parser.add_argument("--runs", type=int, default=41)
    parser.add_argument("--output", default=str(HERE / "results-compare.md"))
    args = parser.parse_args()
    trees = {"before": Path(args.before).resolve(), "after": Path(args.after).resolve()}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TWINSTAR_") and k != "PYTHONDONTWRITEBYTECODE"}
    for tree in trees.values():
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "twinstar")], check=True,
                       stdout=subprocess.DEVNULL, env=clean)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        cases: dict[str, dict[str, tuple[list[str], dict[str, str]]]] = {}
        for side, tree in trees.items():
            hook = hook_copy(tree, tmp)
            for n in (1, 64):
                active, arriving, _ = build(tmp / side, n)
                for name, env in ((f"hook, {n} unit{'s' if n > 1 else ''}, active", active),
                                  *(((f"hook, {n} unit, arriving", arriving),) if n == 1 else ())):
                    env = {**env, "PYTHONPATH": str(tree)}
                    env.pop("PYTHONDONTWRITEBYTECODE", None)
                    subprocess.run([hook], env=env, check=True, stderr=subprocess.DEVNULL)  # the tree's own cache
                    cases.setdefault(name, {})[side] = ([hook], env)
            root = tmp / side / "takeover"
            (root / "cache").mkdir(parents=True, mode=0o700)
            config = root / "twinstar.yaml"
            config.write_text(f"node: bench\nstate_dir: {root / 'state'}\n"
                              "takeover:\n  - command: {name: noop, start: [/bin/true], stop: [/bin/true]}\n")
            config.chmod(0o644)
            env = {**clean, "PYTHONPATH": str(tree), "TWINSTAR_CACHE_DIR": str(root / "cache")}
            twinstar = [sys.executable, "-m", "twinstar", "-c", str(config)]
            cases.setdefault("takeover, 1 step", {})[side] = ([*twinstar, "takeover"], env)
            subprocess.run([*twinstar, "release"], env=env, cwd=d, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times: dict[str, dict[str, list[float]]] = {name: {"before": [], "after": []} for name in cases}
        cpu: dict[str, dict[str, list[float]]] = {name: {"before": [], "after": []} for name in cases}
        for i in range(args.runs + 2):
            for name, sides in cases.items():
                order = ("before", "after") if i % 2 == 0 else ("after", "before")
                for side in order:
                    argv, env = sides[side]
                    if name.startswith("takeover"):
                        subprocess.run([*argv[:-1], "release"], env=env, cwd=d, check=True, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
                    wall, used = run_timed(argv, env, d)
                    if i >= 2:  # the first rounds warm the page cache
                        times[name][side].append(wall)
                        cpu[name][side].append(used)
        counted: dict[str, dict[str, float | None]] = {name: {} for name in cases}
        for name, sides in cases.items():
            for side in ("before", "after"):
                argv, env = sides[side]
                if name.startswith("takeover"):
                    subprocess.run([*argv[:-1], "release"], env=env, cwd=d, check=True, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
                counted[name][side] = instructions(argv, env, d)
    lines = [
        "## Before and after (hook and takeover, two checkouts interleaved)",
        "",
        f"Before: {args.label or trees['before']}; after: this tree. Median of {args.runs} interleaved runs each "
        f"(interquartile range), whole processes; {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average (1/5/15 min) {load()} at the end. "
        "Reproduce: `.venv/bin/python bench/bench_compare.py --before DIR`.",
        "",
        "Wall-clock time, and the process's CPU time (user + system, its children included), which waiting for a "
        "core on a busy machine does not inflate.",
        "",
        "The instructions are counted by valgrind (callgrind) in one run of the Python process.",
        "",
        "| figure | before (ms) | after (ms) | after / before | CPU before (ms) | CPU after (ms) | after / before "
        "| instructions before (M) | after (M) | after / before |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, sides in times.items():
        before, after = (statistics.median(sides[s]) for s in ("before", "after"))
        cb, ca = (statistics.median(cpu[name][s]) for s in ("before", "after"))
        lines.append(f"| {name} | {before:.1f} ({spread(sides['before'])}) | {after:.1f} ({spread(sides['after'])}) "
                     f"| {after / before:.2f} | {cb:.1f} ({spread(cpu[name]['before'])}) "
                     f"| {ca:.1f} ({spread(cpu[name]['after'])}) | {ca / cb:.2f} | {_counts(counted[name])} |")
    text = "\n".join(lines) + "\n"
    Path(args.output).write_text(text)
    print(text)
    return 0


def _counts(sides: dict[str, float | None]) -> str:
    before, after = sides.get("before"), sides.get("after")
    if not before or not after:
        return "- | - | -"
    return f"{before:.1f} | {after:.1f} | {after / before:.3f}"


if __name__ == "__main__":
    sys.exit(main())
