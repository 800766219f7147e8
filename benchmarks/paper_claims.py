"""The study of docs/results.md: ``python benchmarks/paper_claims.py`` is ``lrcore study --out
docs/results.md --readme README.md`` (logistic regression on the bundled and synthetic data, the
multiclass hinge, rising / flat / falling gradient noise, batch size 1, T = 5000, and two CNNs
kept apart; 10 seeds, each schedule tuned on its own factor-2 peak-lr grid)."""

import sys

from lrcore.cli import main

if __name__ == "__main__":
    sys.exit(main(["study", "--out", "docs/results.md", "--readme", "README.md", *sys.argv[1:]]))
