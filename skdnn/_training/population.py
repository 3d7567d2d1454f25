"""Many fits of one architecture trained together: populations.

A search trains many networks that differ only in values a trainer loads
(learning rate, momentum, L2 strength, dropout rates, seeds, rows, epochs):
one compiled program can train them all at once. :func:`train_fits` takes
the fits a search is about to run, each prepared exactly as its own ``fit``
would prepare it (``BaseDNN._prepare``), groups those that share a trainer,
and trains each group as a population where the backend offers one
(``Backend.population``): every epoch, each member's :class:`TrainingRun`
draws its batch order and, after the population's epoch, records its losses
and applies its stopping rule, as in a fit of its own. A member that stops
keeps its state while the others go on. So each member ends with the
weights, history and epoch count its own fit would have.

The trained fits wait in a :class:`FitStore` until the search's own loop
fits the same estimator on the same data: that ``fit`` then commits the
stored result instead of training (:func:`claim`). A fit that was not
stored (another backend, a failed or diverged member, data that differ)
simply trains, so results never depend on the store.
"""

import dataclasses
import hashlib
import pickle
import threading
import warnings

import numpy as np
import scipy.sparse as sp

from .._exceptions import TrainingDivergedError
from .._warnings import warn_once
from .backends import get_backend
from .loop import TrainingRun
from .trainer import checkout_trainer, describe

# The most bytes of weights, optimizer state and activations one population
# program may hold on a CPU; a larger group of members trains in several
# programs. On a device that reports its memory (a GPU), half of what is
# free. ``SKDNN_POPULATION_BYTES`` overrides both.
POPULATION_BYTES = 2 * 2**30


@dataclasses.dataclass
class Fit:
    """One fit a search will run, prepared as its ``fit`` prepares it.

    Attributes
    ----------
    estimator : BaseDNN
        The unfitted estimator with the candidate's parameters.
    key : str
        Identifies the estimator's parameters and its data (see
        :func:`fit_key`).
    work : BaseDNN
        The working copy that ``_prepare`` validated the data on.
    plan : _FitPlan
        What the fit trains from.
    result : RunResult or None
        Set once trained.
    warnings : list of (Warning, type)
        What preparing it warned, for the fit that claims it to warn.
    history : dict
        The history the fit continues (a warm start's), else empty.
    first_epoch : int
        Epochs trained before the fit (a warm start's), else 0.
    """

    estimator: object
    key: str
    work: object
    plan: object
    result: object = None
    warnings: list = dataclasses.field(default_factory=list)
    history: dict = dataclasses.field(default_factory=dict)
    first_epoch: int = 0


def prepare_fit(estimator, X, y, sample_weight=None):
    """Return the :class:`Fit` of ``estimator.fit(X, y, sample_weight)``, or
    None when it cannot train in a population (it then trains in the
    search's own loop, which also reports any error as the fit would)."""
    if estimator.n_ensemble != 1:
        return None  # its fit trains its members together
    key = fit_key(estimator, X, y, sample_weight)
    if key is None or getattr(estimator, "_skl_callbacks", None):
        # scikit-learn's callbacks on the estimator see every epoch of its
        # own fit: that fit trains in the search's loop.
        return None
    try:
        estimator._validate_params()
        work = object.__new__(type(estimator))
        vars(work).update(vars(estimator))
        with warnings.catch_warnings(record=True) as caught:
            # Kept for the search's fit that claims this one (see claim):
            # "always", so that warn_once does not count them as shown.
            warnings.simplefilter("always")
            plan = work._prepare(X, y, sample_weight, False, False, None)
    except Exception:
        return None
    if not trains_together(plan):
        return None
    return Fit(estimator, key, work, plan, warnings=[(w.message, w.category) for w in caught])


def trains_together(plan):
    """Whether the fit ``plan`` prepares can share a population: no Keras
    callbacks (they see one model), no distribution strategy, and a trainer
    identified by value."""
    return not plan.callbacks and plan.spec.strategy is None and plan.spec.key() is not None


def train_fits(fits):
    """Train ``fits`` (prepared by :func:`prepare_fit`), in populations where
    the backend has them; return a :class:`FitStore` of those that trained.

    Fits that cannot share a program with another one are left out: the
    search's own loop trains them one by one, as it would have.
    """
    groups = {}
    for fit in fits:
        config = fit.plan.config
        # Fits of one batch (a batch size of at least the rows) share a
        # program whatever their rows, up to the batch's padded width.
        if len(fit.plan.train_idx) <= config.batch_size:
            layout = ("one batch", 1 << max(config.batch_size - 1, 0).bit_length())
        else:
            layout = ("batches of", config.batch_size)
        key = (fit.plan.spec.key(), layout)
        groups.setdefault(key, []).append(fit)
    store = FitStore()
    backend = get_backend()
    for group in groups.values():
        if len(group) < 2:
            continue
        size = _members_per_program(group[0], backend)
        for start in range(0, len(group), size):
            chunk = group[start : start + size]
            if len(chunk) < 2:
                continue
            try:
                trained = _train_population(backend, chunk)
            except Exception:
                # Whatever failed, the search's loop trains these fits one
                # by one and reports their errors as their own fits would.
                trained = False
            for fit in chunk if trained else ():
                if fit.result is not None:
                    store.add(fit)
    return store


def _members_per_program(fit, backend):
    """How many members of ``fit``'s kind one program may train (see
    :data:`POPULATION_BYTES`)."""
    import os

    budget = os.environ.get("SKDNN_POPULATION_BYTES", "").strip()
    if budget.isdigit():
        budget = int(budget)
    else:
        free = backend.free_device_bytes()
        budget = POPULATION_BYTES if free is None else free // 2
    start, config = fit.plan.start, fit.plan.config
    weights = sum(np.size(w) for w in start.trainable) + sum(
        np.size(w) for w in start.non_trainable
    )
    # Weights, gradients and two optimizer slots per weight, and each
    # layer's activations (and their gradients) for a batch.
    widths = sum(np.shape(w)[-1] for w in start.trainable if np.ndim(w) >= 2)
    per_member = 4 * (4 * weights + 2 * config.batch_size * max(widths, 1))
    return max(1, budget // max(per_member, 1))


class _MemberLearningRate:
    """A member's learning rate, read and assigned as a trainer's."""

    def __init__(self, member):
        self._member = member

    def __float__(self):
        self._member.swap_in()
        return float(self._member.trainer.learning_rate)

    def assign(self, value):
        self._member.swap_in()
        self._member.trainer.learning_rate.assign(value)
        self._member.swap_out()


class _MemberTrainer:
    """One member of a population, seen as a :class:`Trainer` by its
    :class:`TrainingRun`: the shared trainer, holding this member's state."""

    def __init__(self, trainer, population, number, spec):
        self.trainer, self.population, self.number = trainer, population, number
        self.spec = spec

    def swap_in(self):
        # The member's own optimizer settings and dropout rates, which
        # decide how the trainer's state reads back (see Trainer.load).
        self.trainer._begin(self.spec)
        self.population.swap_in(self.number)

    def swap_out(self):
        self.population.swap_out(self.number)

    def evaluate(self, *args):
        self.swap_in()
        return self.trainer.evaluate(*args)

    def get_weights(self):
        self.swap_in()
        return self.trainer.get_weights()

    def set_weights(self, weights):
        self.swap_in()
        self.trainer.set_weights(weights)
        self.swap_out()

    def state(self):
        self.swap_in()
        return self.trainer.state()

    @property
    def model(self):
        self.swap_in()
        return self.trainer.model

    @property
    def learning_rate(self):
        return _MemberLearningRate(self)


def _train_population(backend, fits):
    """Train ``fits`` (one trainer spec, batch size and layout) as one
    population; return False when the backend has no populations."""
    spec = fits[0].plan.spec
    with checkout_trainer(spec) as trainer:
        population = backend.population(trainer._engine)
        if population is None:
            return False
        runs, datas = [], []
        for fit in fits:
            plan = fit.plan
            trainer.load(plan.start, plan.spec)
            if plan.learning_rate is not None:  # a continued fit's changed rate
                trainer.learning_rate.assign(plan.learning_rate)
            number = population.add_member()
            data = trainer.data(plan.X, plan.y_encoded, plan.sample_weight)
            validation = None if plan.validation is None else plan.validation.arrays()
            # One progress line per population (below), not a bar per member.
            config = dataclasses.replace(plan.config, verbose=0)
            runs.append(
                TrainingRun(
                    _MemberTrainer(trainer, population, number, plan.spec),
                    config,
                    data,
                    plan.train_idx,
                    validation,
                    plan.encoder.scaling(),
                    shuffle_rng=np.random.RandomState(plan.seeds["shuffle"]),
                    history=fit.history,
                    first_epoch=fit.first_epoch,
                    folding=plan.folding,
                )
            )
            datas.append(data)
        _run_lockstep(trainer, population, fits, runs, datas)
    return True


def _run_lockstep(trainer, population, fits, runs, datas):
    """Run the members' epochs together until each has stopped."""
    active = [True] * len(fits)
    for run in runs:
        run.begin()
    batch_size = max(fit.plan.config.batch_size for fit in fits)
    alphas = [fit.plan.config.alpha for fit in fits]
    scalings = [fit.plan.encoder.scaling() for fit in fits]
    verbose = max(fit.plan.config.verbose for fit in fits)
    n_epochs = max(fit.plan.config.epochs for fit in fits)
    for epoch in range(n_epochs):
        if sum(active) == 1 and len(fits) > 1:
            # The population would train all its members' slots for one
            # network: the last one finishes on the trainer's own program.
            last = active.index(True)
            _finish_alone(trainer, fits[last], runs[last], datas[last], epoch)
            break
        # A continued fit counts its earlier epochs (its callbacks see them).
        permutations = [
            run.begin_epoch(run.first_epoch + epoch) if active[i] else None
            for i, run in enumerate(runs)
        ]
        losses, units, metrics = population.train_epoch(
            datas,
            permutations,
            batch_size,
            alphas,
            [np.asarray(s[0], dtype=np.float32) for s in scalings],
            [np.asarray(s[1], dtype=np.float32) for s in scalings],
        )
        for i, run in enumerate(runs):
            if not active[i]:
                continue
            try:
                stop = run.end_epoch(
                    run.first_epoch + epoch, trainer._losses(losses[i], units[i]), metrics[i]
                )
            except TrainingDivergedError:
                # Its own fit, in the search's loop, diverges the same way
                # and reports it as the search asks (error_score).
                active[i] = False
                continue
            if stop or epoch + 1 >= fits[i].plan.config.epochs:
                active[i] = False
                fits[i].result = run.finish()
        if verbose:
            print(
                f"Population of {len(fits)}: epoch {epoch + 1}/{n_epochs}, "
                f"{sum(active)} still training"
            )
        if not any(active):
            break


def _finish_alone(trainer, fit, run, data, start):
    """Train the last active member of a population from its epoch ``start``
    on, as its own fit would (``TrainingRun.run``), on the trainer itself."""
    run.trainer.swap_in()  # the trainer's variables now hold this member
    run.trainer = trainer
    config, (scale, offset) = fit.plan.config, fit.plan.encoder.scaling()
    for epoch in range(start, config.epochs):
        permutation = run.begin_epoch(run.first_epoch + epoch)
        losses, metrics = trainer.train_epoch(
            data, permutation, config.batch_size, config.alpha, scale, offset
        )
        try:
            if run.end_epoch(run.first_epoch + epoch, losses, metrics):
                break
        except TrainingDivergedError:
            return  # as in the population: its own fit reports it
    fit.result = run.finish()


# ----------------------------------------------------------------------------
# The store, and the fits that claim from it
# ----------------------------------------------------------------------------
def _digest(digest, value):
    """Add what identifies an array-like's values (and a frame's columns) to
    ``digest``; numeric arrays as their bytes, without a copy."""
    if sp.issparse(value):
        value = value.tocsr()
        digest.update(repr((value.shape, value.dtype.str)).encode())
        for part in (value.data, value.indices, value.indptr):
            digest.update(np.ascontiguousarray(part).view(np.uint8))
        return
    columns = getattr(value, "columns", None)
    if columns is not None:
        digest.update(repr([str(c) for c in columns]).encode())
    array = np.asarray(value)
    if array.dtype.hasobject:
        digest.update(pickle.dumps(array, protocol=5))
    else:
        digest.update(repr((array.shape, array.dtype.str)).encode())
        digest.update(np.ascontiguousarray(array).reshape(-1).view(np.uint8))


def fit_key(estimator, X, y, sample_weight=None):
    """Identify ``estimator.fit(X, y, sample_weight)``: its parameters and
    its data. None when a parameter cannot be identified by value (a lambda,
    a ``RandomState``, a Keras model): such a fit is never stored."""
    parts = []
    for name, value in sorted(estimator.get_params(deep=False).items()):
        if hasattr(value, "get_weights") or isinstance(value, np.random.RandomState):
            return None
        if isinstance(value, dict):
            value = sorted(value.items(), key=repr)
            described = describe([describe(k) for k, _ in value] + [v for _, v in value])
        else:
            described = describe(value)
        if described is None:
            return None
        parts.append((name, described))
    digest = hashlib.blake2b(digest_size=20)
    digest.update(f"{type(estimator).__module__}.{type(estimator).__qualname__}".encode())
    digest.update(repr(parts).encode())
    try:
        for value in (X, y, sample_weight):
            if value is None:
                digest.update(b"-")
            else:
                _digest(digest, value)
    except Exception:
        return None
    return digest.hexdigest()


class FitStore:
    """Trained fits, waiting for the search's fit of the same estimator on
    the same data (see :func:`claim`)."""

    def __init__(self):
        self._fits = {}
        self._lock = threading.Lock()

    def __len__(self):
        return sum(len(fits) for fits in self._fits.values())

    def add(self, fit):
        with self._lock:
            self._fits.setdefault(fit.key, []).append(fit)

    def take(self, key):
        """Remove and return a fit stored under ``key``, or None."""
        with self._lock:
            fits = self._fits.get(key)
            if not fits:
                return None
            fit = fits.pop()
            if not fits:
                del self._fits[key]
            return fit


_active_stores = []
_active_lock = threading.Lock()


class active:
    """While in this context, clones of skdnn estimators carry ``store``
    (see ``BaseDNN.__sklearn_clone__``), so that their fits can claim from it."""

    def __init__(self, store):
        self.store = store

    def __enter__(self):
        with _active_lock:
            _active_stores.append(self.store)
        return self.store

    def __exit__(self, *exc):
        with _active_lock:
            _active_stores.remove(self.store)


def active_store():
    """The store of the innermost :class:`active` context, or None."""
    with _active_lock:
        return _active_stores[-1] if _active_stores else None


def claim(store, estimator, X, y, sample_weight):
    """Return the stored :class:`Fit` of ``estimator.fit(X, y,
    sample_weight)``, removed from ``store``, or None."""
    if not len(store):
        return None
    key = fit_key(estimator, X, y, sample_weight)
    fit = None if key is None else store.take(key)
    if fit is not None:
        # What this fit would have warned while preparing, once per cause
        # (a search's fits would repeat them). stacklevel: the user's call.
        for message, category in fit.warnings:
            warn_once(str(message), category, stacklevel=5)
    return fit
