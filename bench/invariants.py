"""Bench: the consent invariants' state machine (tests/subscriptions/test_invariants.py), longer.

Runs the machine in batches, each with its own seed (CI runs the derandomised sequences only),
and prints how many sequences and steps ran and every failure found (a batch stops at its
first failure; the next batch goes on with another seed):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python bench/invariants.py \\
        [--examples 500] [--batch 50] [--steps 40] [--first-seed 1] [--shrink] \\
        [--without admin_email_change,person_changes_email]

The same environment as the tests: PostgreSQL at DATABASE_URL (pytest-django makes its test
database), REDIS_URL optional.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
# The closing line tests/subscriptions/conftest.py prints, failed or not.
SUMMARY = re.compile(r"^consent invariants: (\d+) sequences, (\d+) steps", re.MULTILINE)
MODES = re.compile(r"(?:keep_the_consent_invariants\[|consent invariants \()(\w+)")


def run_batch(*, seed: int, examples: int, steps: int, shrink: bool,
              without: str) -> tuple[int, int, str, bool]:
    env = {**os.environ, "INVARIANTS_SEED": str(seed), "INVARIANTS_EXAMPLES": str(examples),
           "INVARIANTS_STEPS": str(steps), "INVARIANTS_SHRINK": "1" if shrink else "",
           "INVARIANTS_WITHOUT": without}
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/subscriptions/test_invariants.py", "-q", "-s",
         "-p", "no:cacheprovider", "-k", "random_sequences", "-o", "timeout=3600"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True,
    )
    output = completed.stdout + completed.stderr
    found = SUMMARY.search(output)
    sequences, ran = (int(found.group(1)), int(found.group(2))) if found else (0, 0)
    return sequences, ran, output, completed.returncode == 0


def failure_of(output: str) -> str:
    """The violation and the sequence that led to it, as Hypothesis printed them."""
    lines = [line[4:].strip() if line.startswith("E   ") else line
             for line in output.splitlines()
             if line.startswith("E   ") and "after_each_step()" not in line]
    return "\n".join(lines[:80]) or output[-3000:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=500, help="sequences per mode, in all")
    parser.add_argument("--batch", type=int, default=50, help="sequences per seed")
    parser.add_argument("--steps", type=int, default=40, help="steps per sequence (at most)")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--shrink", action="store_true", help="shrink a failure (slow)")
    parser.add_argument("--without", default="",
                        help="rules to leave out, comma-separated (to look past a known bug)")
    args = parser.parse_args()

    started = time.monotonic()
    sequences = steps = 0
    failures: list[tuple[int, str]] = []
    batches = max(1, -(-args.examples // args.batch))
    for number in range(batches):
        seed = args.first_seed + number
        ran_sequences, ran_steps, output, passed = run_batch(
            seed=seed, examples=args.batch, steps=args.steps, shrink=args.shrink,
            without=args.without)
        sequences += ran_sequences
        steps += ran_steps
        modes = ", ".join(sorted(set(MODES.findall(output)))) or "strict"
        print(f"seed {seed}: {'passed' if passed else 'FAILED'}, {ran_sequences} sequences, "
              f"{ran_steps} steps (compliance modes: {modes})", flush=True)
        if not passed:
            failures.append((seed, failure_of(output)))
            print("  " + failures[-1][1].splitlines()[0][:300], flush=True)
    print(f"\n{sequences} sequences, {steps} steps, {len(failures)} failing batches of "
          f"{batches}, in {time.monotonic() - started:.0f} s")
    for seed, text in failures:
        print(f"\n--- seed {seed} ---\n{text}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
