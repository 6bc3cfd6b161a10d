#!/usr/bin/python3
"""Runs unittest suites with their classes, and the tests of each class, in a shuffled order:
a test that passes only after another one (state left in a volume, a quota, a counter, a
stopped process or a class attribute) fails here for some seed.

    /usr/bin/python3 tests/shuffled.py -s DIR [-p PATTERN] [--seed N] [--reverse]

The seed is printed first, so that a failing order can be run again; --reverse runs every
order backwards instead of shuffling it. The output is unittest's own (-v), so
scripts/run-tests.sh counts it as it counts `python3 -m unittest discover`. The tests of a
class stay together: each class still builds its deployment once.
"""

import argparse
import random
import sys
import unittest


def cases(suite):
    """The test cases of a (nested) suite, in the loader's order."""
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from cases(item)
        else:
            yield item


def reorder(suite, rng, reverse):
    """A flat suite of suite's tests: classes in a new order, each class's tests together and
    in a new order. rng shuffles; reverse (when rng is None) turns both orders around."""
    by_class = {}
    for case in cases(suite):
        by_class.setdefault(type(case), []).append(case)
    groups = list(by_class.values())
    for group in [groups] + groups:
        if rng is not None:
            rng.shuffle(group)
        elif reverse:
            group.reverse()
    return unittest.TestSuite(case for group in groups for case in group)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-s", "--start", required=True, help="directory to discover in")
    ap.add_argument("-p", "--pattern", default="test_*.py")
    ap.add_argument("--seed", type=int, help="shuffle seed (default: a random one)")
    ap.add_argument("--reverse", action="store_true", help="reverse instead of shuffling")
    args = ap.parse_args()

    rng = None
    if not args.reverse:
        seed = args.seed if args.seed is not None else random.randrange(1 << 31)
        print("shuffled: seed %d" % seed, flush=True)
        rng = random.Random(seed)
    else:
        print("shuffled: reverse order", flush=True)
    loaded = unittest.defaultTestLoader.discover(args.start, pattern=args.pattern,
                                                 top_level_dir=args.start)
    result = unittest.TextTestRunner(verbosity=2).run(reorder(loaded, rng, args.reverse))
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
