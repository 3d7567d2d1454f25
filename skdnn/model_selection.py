"""Drop-in replacements for scikit-learn's searches that train populations.

:class:`GridSearchCV` and :class:`RandomizedSearchCV` are scikit-learn's,
with one change: before scikit-learn's loop fits each candidate on each
split, the fits of a skdnn estimator (alone, or as a ``Pipeline``'s last
step) that share an architecture are trained together, as one population in
one compiled program (see ``_training/population.py``). scikit-learn's loop
then runs as always (clone, set the parameters, fit, score), and each fit
finds its network trained already. Everything else is scikit-learn's own:
the parameters, ``cv_results_``, refitting, scoring, ``error_score``.
"""

import contextvars

import numpy as np
from joblib import effective_n_jobs
from sklearn import get_config
from sklearn import model_selection as _sk
from sklearn.base import clone, is_classifier
from sklearn.model_selection import check_cv
from sklearn.pipeline import Pipeline
from sklearn.utils import indexable

from ._base import BaseDNN
from ._training import population

__all__ = ["GridSearchCV", "RandomizedSearchCV"]

# The arguments of the search's fit in progress, for _run_search.
_fit_arguments = contextvars.ContextVar("skdnn_search_fit", default=None)


def _take_rows(value, rows):
    """Rows ``rows`` of an array-like, a DataFrame or a sparse matrix."""
    if hasattr(value, "iloc"):
        return value.iloc[rows]
    if hasattr(value, "tocsr"):
        return value.tocsr()[rows]
    if isinstance(value, list):
        return [value[i] for i in rows]
    return np.asarray(value)[rows]


class _PopulationSearch:
    """What the two searches add to scikit-learn's: populations.

    Mixed in on the left of scikit-learn's search class, it overrides
    ``fit`` (to keep its arguments at hand) and ``_run_search``, the hook
    scikit-learn documents for subclasses.
    """

    def fit(self, X, y=None, **params):
        token = _fit_arguments.set((X, y, params))
        try:
            return super().fit(X, y, **params)
        finally:
            _fit_arguments.reset(token)

    def _run_search(self, evaluate_candidates, *, callback_ctx=None):
        def evaluate(candidate_params, cv=None, *args, **kwargs):
            candidate_params = list(candidate_params)
            store = self._train_populations(candidate_params, cv)
            if store is None or not len(store):
                return evaluate_candidates(candidate_params, cv, *args, **kwargs)
            with population.active(store):
                return evaluate_candidates(candidate_params, cv, *args, **kwargs)

        if callback_ctx is None:  # scikit-learn without callbacks
            super()._run_search(evaluate)
        else:
            super()._run_search(evaluate, callback_ctx=callback_ctx)

    # -- the populations ---------------------------------------------------
    def _population_plan(self, params):
        """Where the network is and how its fit's data come: ``(final step
        name or None, sample weights)``, or None when this search runs as
        scikit-learn's alone (see the user guide's "Fast hyperparameter
        search" for when)."""
        estimator = self.estimator
        last = None
        if isinstance(estimator, Pipeline):
            if getattr(estimator, "transform_input", None):
                return None
            last, final = estimator.steps[-1]
        else:
            final = estimator
        if not isinstance(final, BaseDNN):
            return None
        if get_config().get("enable_metadata_routing", False):
            return None
        if effective_n_jobs(self.n_jobs) != 1:
            # Workers fit in other processes, which the trained population
            # cannot reach.
            return None
        weight_name = "sample_weight" if last is None else f"{last}__sample_weight"
        if set(params) - {"groups", weight_name}:
            return None
        return last, params.get(weight_name)

    def _train_populations(self, candidate_params, cv):
        """Train the fits of ``candidate_params`` on every split, in
        populations; return the :class:`~skdnn._training.population.FitStore`
        of those trained, or None."""
        arguments = _fit_arguments.get()
        if arguments is None:
            return None
        X, y, params = arguments
        plan = self._population_plan(params)
        if plan is None:
            return None
        last, sample_weight = plan
        X, y, groups = indexable(X, y, params.get("groups"))
        cv = cv or check_cv(self.cv, y, classifier=is_classifier(self.estimator))
        # Each split's training rows, taken once for all candidates.
        rows = [
            (
                _take_rows(X, train),
                _take_rows(y, train),
                None if sample_weight is None else _take_rows(sample_weight, train),
            )
            for train, _ in cv.split(X, y, groups)
        ]
        final = self.estimator.steps[-1][1] if last is not None else self.estimator
        fits = []
        prepared = {}  # (preprocessing parameters, split) -> transformed rows
        for candidate in candidate_params:
            if last is None:
                final_params, other_params = candidate, {}
            else:
                prefix = f"{last}__"
                final_params = {
                    k[len(prefix) :]: v for k, v in candidate.items() if k.startswith(prefix)
                }
                other_params = {k: v for k, v in candidate.items() if not k.startswith(prefix)}
                if any("__" not in k for k in other_params):
                    continue  # a step replaced, or the Pipeline's own setting
            other_key = population.fit_key(_Params(other_params), None, None)
            if other_key is None:
                continue
            for index, (X_train, y_train, weights) in enumerate(rows):
                if last is not None:
                    if (other_key, index) not in prepared:
                        prepared[(other_key, index)] = self._preprocess(
                            other_params, X_train, y_train
                        )
                    X_train = prepared[(other_key, index)]
                    if X_train is None:
                        continue
                fit = population.prepare_fit(
                    clone(final).set_params(**final_params), X_train, y_train, weights
                )
                if fit is not None:
                    fits.append(fit)
        return population.train_fits(fits) if fits else None

    def _preprocess(self, params, X, y):
        """The Pipeline's steps before the network, fitted on ``(X, y)``
        with ``params``: what they pass to the network, or None if they fail
        (the search's own loop then reports it)."""
        pipeline = clone(self.estimator).set_params(**params)
        if len(pipeline.steps) == 1:
            return X
        try:
            return pipeline[:-1].fit_transform(X, y)
        except Exception:
            return None


class _Params:
    """A dict of parameters seen as an estimator's, to identify it by value."""

    def __init__(self, params):
        self._params = params

    def get_params(self, deep=False):
        return self._params


class GridSearchCV(_PopulationSearch, _sk.GridSearchCV):
    """Exhaustive search over a parameter grid, training networks together.

    scikit-learn's :class:`~sklearn.model_selection.GridSearchCV`, with the
    same parameters, attributes and results. When the estimator (or a
    ``Pipeline``'s last step) is a skdnn estimator, the fits of candidates
    that share an architecture (hidden layers, batch size, loss...) are
    trained together, all their cross-validation splits at once, as one
    population: skdnn's training step vectorized over the members, on
    TensorFlow, JAX and PyTorch. Each member trains the network its own fit
    would train. Other estimators, networks or optimizers a backend cannot
    vectorize, ``n_jobs`` other than 1 and metadata routing use
    scikit-learn's search as it is, with the same results.

    See :class:`sklearn.model_selection.GridSearchCV` for the parameters,
    attributes and methods, and the "Fast hyperparameter search" page of
    the documentation for what trains together and when it pays.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skdnn import DNNClassifier
    >>> from skdnn.model_selection import GridSearchCV
    >>> X, y = load_iris(return_X_y=True)
    >>> search = GridSearchCV(
    ...     DNNClassifier(hidden_layer_sizes=(8,), epochs=5, random_state=0),
    ...     {"learning_rate": [0.001, 0.01]},
    ...     cv=2,
    ... ).fit(X, y)
    >>> sorted(search.best_params_)
    ['learning_rate']
    """


class RandomizedSearchCV(_PopulationSearch, _sk.RandomizedSearchCV):
    """Randomized search over parameters, training networks together.

    scikit-learn's :class:`~sklearn.model_selection.RandomizedSearchCV`,
    with the same parameters, attributes and results, that trains the
    candidates' networks together as :class:`GridSearchCV` does.

    See :class:`sklearn.model_selection.RandomizedSearchCV` for the
    parameters, attributes and methods.

    Examples
    --------
    >>> from scipy.stats import loguniform
    >>> from sklearn.datasets import load_iris
    >>> from skdnn import DNNClassifier
    >>> from skdnn.model_selection import RandomizedSearchCV
    >>> X, y = load_iris(return_X_y=True)
    >>> search = RandomizedSearchCV(
    ...     DNNClassifier(hidden_layer_sizes=(8,), epochs=5, random_state=0),
    ...     {"learning_rate": loguniform(1e-3, 1e-1)},
    ...     n_iter=2,
    ...     cv=2,
    ...     random_state=0,
    ... ).fit(X, y)
    >>> len(search.cv_results_["params"])
    2
    """
