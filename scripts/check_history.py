#!/usr/bin/env python3
"""The history checker, longer and by hand: make check-history ARGS="--seconds 600 --seed N".

The same test as in `make test` (tests/test_history.py), with one seed and its duration."""

import argparse
import os
import random
from pathlib import Path

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--seconds", type=float, default=600.0, help="traffic and faults")
parser.add_argument("--seed", type=int, default=None, help="a random one if not given")
args = parser.parse_args()
seed = args.seed if args.seed is not None else random.randrange(1_000_000)
print(f"history checker: seed {seed}, {args.seconds:g} s", flush=True)
root = Path(__file__).resolve().parent.parent
os.execv(
    str(root / "scripts" / "test.sh"),
    [
        "scripts/test.sh",
        "tests/test_history.py",
        "-q",
        "-s",
        f"--history-seconds={args.seconds}",
        f"--history-seed={seed}",
    ],
)
