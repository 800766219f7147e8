"""The study of docs/results.md: ``python benchmarks/paper_claims.py`` is ``lrcore study --out
docs/results.md`` (7 logistic-regression and 2 CNN problems, 5 seeds, a peak-lr grid per schedule)."""

import sys

from lrcore.cli import main

if __name__ == "__main__":
    sys.exit(main(["study", "--out", "docs/results.md", *sys.argv[1:]]))
