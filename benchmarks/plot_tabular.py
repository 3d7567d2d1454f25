"""Plot the output of bench_tabular.py, and rank each skdnn variant alone.

Usage (from the repository root)::

    python benchmarks/bench_tabular.py | tee tabular.txt
    python benchmarks/plot_tabular.py tabular.txt docs/tabular_scores.png

Reads the "Per data set" table that bench_tabular.py prints (means rounded
to 4 decimals, as its ranks are). It prints, for each skdnn variant of the
run (``skdnn``, ``skdnn[n_ensemble=5]``...), the mean rank it would have
among the other contenders without the other variants, and its wins, ties
and losses against each: the ranking of the issue's five contenders however
many variants the run compared. Then it draws, for every data set, each
contender's accuracy or R² minus HistGradientBoosting's (above zero: better
than HGB). Needs matplotlib for the figure.
"""

import re
import sys


def read_table(text):
    """``{data set: {contender: score}}`` and the contenders in order, from
    bench_tabular.py's "Per data set" table."""
    table, order = {}, []
    lines = text.split("# Per data set", 1)[1].split("# Summary", 1)[0].splitlines()[1:]
    dataset = None
    for line in lines:
        if not line.strip() or line.startswith(("data set", "-", "(")):
            continue
        fields = re.split(r"\s{2,}", line.strip())
        if not line.startswith(" "):  # a data set's first row names it and its task
            dataset, fields = fields[0], fields[2:]
        contender, score = fields[0], float(fields[1].replace(",", ""))
        table.setdefault(dataset, {})[contender] = score
        if contender not in order:
            order.append(contender)
    return table, order


def print_ranks(table, order):
    """Each skdnn variant's mean rank among the non-skdnn contenders (1 is
    best, ties share the mean rank), and its record against each."""
    import numpy as np
    from scipy.stats import rankdata

    others = [c for c in order if not c.startswith("skdnn")]
    print("each skdnn variant ranked alone among " + ", ".join(others))
    for variant in (c for c in order if c.startswith("skdnn")):
        names = [variant, *others]
        ranks = np.mean(
            [rankdata([-table[d][n] for n in names], method="average") for d in table], axis=0
        )
        record = []
        for other in others:
            mine = [table[d][variant] for d in table]
            theirs = [table[d][other] for d in table]
            wins = sum(a > b for a, b in zip(mine, theirs, strict=True))
            ties = sum(a == b for a, b in zip(mine, theirs, strict=True))
            record.append(f"{other} {wins}-{ties}-{len(table) - wins - ties}")
        shown = ", ".join(f"{n} {r:.2f}" for n, r in zip(names, ranks, strict=True))
        print(f"  {variant}: mean ranks {shown}; W-T-L against {', '.join(record)}")


def plot(table, order, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    datasets = list(table)
    shown = [c for c in order if c != "HGB"]
    width = 0.8 / len(shown)
    top = 0.0
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for i, contender in enumerate(shown):
        deltas = [table[d].get(contender, np.nan) - table[d]["HGB"] for d in datasets]
        top = max(top, np.nanmax(deltas))
        ax.bar(np.arange(len(datasets)) + (i - (len(shown) - 1) / 2) * width, deltas, width,
               label=contender)  # fmt: skip
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(np.arange(len(datasets)), datasets, rotation=30, ha="right")
    ax.set_ylabel("accuracy or R² minus HGB's")
    # Far-off scores (an MLP's negative R²) are cut at -0.3.
    ax.set_ylim(max(ax.get_ylim()[0], -0.3), top + 0.03)
    ax.set_title("Test scores at default settings, mean of 3 splits (bench_tabular.py)")
    ax.legend(fontsize="small", ncol=len(shown))
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        sys.exit(__doc__)
    with open(argv[0], encoding="utf-8") as file:
        table, order = read_table(file.read())
    print_ranks(table, order)
    plot(table, order, argv[1])
    print(f"wrote {argv[1]}: {len(table)} data sets, contenders {', '.join(order)}")


if __name__ == "__main__":
    main()
