"""The DNN estimators' input encoding: tables with categories and missing values.

A ``Dense`` network takes numbers. :class:`FeatureEncoder` turns the columns
of a table into them, as scikit-learn's ``HistGradientBoosting`` estimators
take categories and missing values natively:

* a categorical column (by default, a pandas ``category``, ``object`` or
  ``string`` column; see ``categorical_features``) becomes one 0/1 column
  per category seen at fit: a one-hot input into the first ``Dense`` layer
  is a learned embedding of each category. A category not seen at fit, and
  a missing value when none was seen at fit, is all zeros: an "unknown"
  embedding. A missing value seen at fit is a category of its own;
* a numeric column's missing values (NaN) become the column's training
  median, and each column that had missing values at fit gets a 0/1
  indicator column, appended after the encoded columns. Missing values at
  prediction in a column that had none at fit are imputed with its median
  (without an indicator);
* numeric columns are scaled when ``numeric_scaling`` asks for it (by
  default, those of a DataFrame: standardized as a ``StandardScaler``
  would, or robustly where they get periodic embeddings, the pair RealMLP
  uses); ``"robust"`` centres them on their training median, divides them
  by a robust spread (the interquartile range over 1.349, a normal
  distribution's standard deviation) and clips them softly,
  ``x / sqrt(1 + (x / 3)**2)``, as pytabkit's RealMLP does;
* other numeric input without missing values passes unchanged (no copy):
  sparse matrices and samples with several dimensions (images) always do.

The encoder is fitted with a new network and kept with it: warm starts and
``partial_fit`` reuse it, and its fitted state is plain data (see
``_persistence.py``). ``n_features_in_`` and ``feature_names_in_`` keep
describing the user's columns; the network's input is the encoded width.
Pure NumPy and pandas: nothing here imports Keras.
"""

import difflib

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.utils.validation import check_array, check_X_y, validate_data

from ._warnings import warn_once

# A categorical column keeps its MAX_CATEGORIES most frequent categories;
# rarer ones are encoded as unknown (all zeros), with a warning.
MAX_CATEGORIES = 1000

# Soft clipping bounds scaled numbers to about (-CLIP, CLIP).
CLIP = 3.0

# numeric_embedding="auto" embeds the numeric columns of a table from this
# many rows, where early_stopping="auto" starts to hold out data to stop on
# (_base.py takes its threshold from here). On smaller tables the embedded
# network overfits: trained on 354 rows of scikit-learn's diabetes data it
# scored R² 0.26 against the plain network's 0.46, on 455 of breast cancer
# 0.965 against 0.979 (benchmarks/bench_small_tables.py).
TABLE_MIN_SAMPLES = 500

# Medians are taken on at most this many rows, evenly spaced, so that a large
# array is never copied whole.
MEDIAN_ROWS = 100_000


class FeatureEncoder:
    """Encode a table's columns into the network's numeric input.

    Parameters
    ----------
    categorical_features : "from_dtype", None or array-like, default="from_dtype"
        Which columns are categorical: ``"from_dtype"`` (a DataFrame's
        ``category``, ``object`` and ``string`` columns), None (none), or
        column indices, column names or a boolean mask.
    numeric_scaling : {"auto", "standard", "robust"} or None, default="auto"
        How to scale numeric columns: ``"auto"`` scales those of a pandas
        DataFrame, robustly when the network embeds them (see
        ``numeric_embedding``) and else standardized, and leaves arrays as
        they are; ``"standard"`` (mean and standard deviation) and
        ``"robust"`` (median, interquartile range and soft clipping) scale
        those of any dense table; None scales none.
    numeric_embedding : {"auto", "periodic"} or None, default=None
        The estimator's: whether the network gives the numeric columns
        periodic embeddings. The encoder decides ``"auto"`` when it is
        fitted (``embedded_``), and ``"auto"`` scaling follows.

    Attributes
    ----------
    kind_ : {"table", "array"}
        ``"table"`` when some column is categorical: columns are encoded one
        by one from the raw input. ``"array"``: the input is validated as a
        numeric array first, and passes unchanged unless it has NaN.
    medians_ : list of float, or None
        Each column's training median (None for a categorical column); None
        for sparse input and samples with several dimensions, whose NaN
        scikit-learn's validation rejects.
    centers_, scales_ : list of float or None, or None
        Each column's centre and spread for scaling (None for a categorical
        column); None when nothing is scaled.
    clip_ : bool
        Whether scaled numbers are softly clipped (``"robust"``).
    embedded_ : bool
        Whether ``numeric_embedding`` embeds the numeric columns: always
        with ``"periodic"``; with ``"auto"``, for a DataFrame with named
        columns and at least ``TABLE_MIN_SAMPLES`` rows.
    numeric_columns_ : list of int
        The positions of the numeric columns in the encoded input.
    """

    def __init__(
        self, categorical_features="from_dtype", numeric_scaling="auto", numeric_embedding=None
    ):
        self.categorical_features = categorical_features
        self.numeric_scaling = numeric_scaling
        self.numeric_embedding = numeric_embedding

    def get_params(self):
        """The parameters, as plain data: what a warm start must find unchanged
        (not ``numeric_embedding``: the network's architecture records it)."""
        value = self.categorical_features
        if not (value is None or isinstance(value, str)):
            value = np.asarray(value).tolist()
        return {"categorical_features": value, "numeric_scaling": self.numeric_scaling}

    def _scaling(self, X):
        """How this fit scales the numeric columns of ``X``: "standard",
        "robust" or None."""
        if self.numeric_scaling == "auto":
            if not (hasattr(X, "columns") and hasattr(X, "dtypes")):
                return None
            # Soft clipping keeps a periodic embedding's inputs in a range its
            # frequencies were drawn for; measured better with it, and worse
            # without it (benchmarks/bench_tabular.py).
            return "robust" if self.embedded_ else "standard"
        return self.numeric_scaling

    # ------------------------------------------------------------------
    # Validation and encoding
    # ------------------------------------------------------------------
    def fit_validate(self, estimator, X, y="no_validation", **check_params):
        """Fit on ``X`` and return what ``validate_data(estimator, X, y,
        reset=True, **check_params)`` would, with ``X`` encoded.

        ``check_params`` are ``validate_data``'s keyword arguments.
        """
        name = type(estimator).__name__
        categorical = _categorical_mask(self.categorical_features, X, name)
        self.numeric_dtypes_ = _numeric_dtypes(X)
        columns = getattr(X, "columns", None)
        rows = len(X) if columns is not None else 0
        self.embedded_ = _embeds_columns(self.numeric_embedding, columns, rows)
        scaled = self._scaling(X)
        self.clip_ = scaled == "robust"
        if categorical is None:
            self.kind_ = "array"
            validated = _validate_array(estimator, X, y, True, _is_table(X), check_params)
            self._fit_array(validated[0] if isinstance(validated, tuple) else validated, scaled)
            return self._encode_validated(validated)
        self.kind_ = "table"
        validate_data(estimator, X, y, reset=True, skip_check_array=True)
        table = _as_table(X)
        if len(table) == 0:
            check_array(np.empty((0, table.shape[1])))  # scikit-learn's message
        self._fit_table(table, categorical, name, scaled)
        return self._encode_table(table, y, name, check_params)

    def validate(self, estimator, X, y="no_validation", **check_params):
        """Return what ``validate_data(estimator, X, y, reset=False,
        **check_params)`` would, with ``X`` encoded by the fitted encoder."""
        name = type(estimator).__name__
        self._check_dtypes(X, name)
        if self.kind_ == "array":
            takes_nan = self.medians_ is not None
            validated = _validate_array(estimator, X, y, False, takes_nan, check_params)
            return self._encode_validated(validated)
        validate_data(estimator, X, y, reset=False, skip_check_array=True)
        return self._encode_table(_as_table(X), y, name, check_params)

    def _encode_validated(self, validated):
        """What validate_data returned, ``X`` encoded."""
        if isinstance(validated, tuple):
            return self._transform_array(validated[0]), validated[1]
        return self._transform_array(validated)

    def _encode_table(self, table, y, name, check_params):
        """``table`` encoded, and ``y`` checked against it when given."""
        encoded = self._transform_table(table, name)
        if isinstance(y, str) and y == "no_validation":
            return encoded
        return check_X_y(
            encoded,
            y,
            dtype=None,
            multi_output=check_params.get("multi_output", False),
            y_numeric=check_params.get("y_numeric", False),
        )

    # ------------------------------------------------------------------
    # Numeric arrays
    # ------------------------------------------------------------------
    def _fit_array(self, X, scaled):
        n_features = X.shape[1] if X.ndim >= 2 else 0
        self.n_features_ = n_features
        self.categorical_ = [False] * n_features
        self.categories_ = [None] * n_features
        self.missing_category_ = [False] * n_features
        self.centers_ = self.scales_ = None
        if sp.issparse(X) or X.ndim != 2:
            self.medians_, self.indicators_ = None, []
        else:
            self.indicators_ = _columns_with_nan(X).tolist()
            self.medians_ = _column_medians(X).tolist()
            if scaled:
                centers, spreads = _column_scaling(X, robust=self.clip_)
                self.centers_, self.scales_ = centers.tolist(), spreads.tolist()

    def _transform_array(self, X):
        """``X`` with NaN imputed, scaled, and the indicator columns
        appended; ``X`` itself when none of these applies."""
        if self.medians_ is None:
            return X
        with_nan = _columns_with_nan(X)
        scaled = self.centers_ is not None
        if not len(with_nan) and not self.indicators_ and not scaled:
            return X
        missing = np.isnan(X[:, with_nan])
        X = X.copy() if not scaled else X.astype(_float(X.dtype), copy=True)
        for position, column in enumerate(with_nan):
            X[missing[:, position], column] = self.medians_[column]
        if scaled:
            _scale(X, np.asarray(self.centers_), np.asarray(self.scales_), self.clip_)
        if not self.indicators_:
            return X
        indicators = np.zeros((len(X), len(self.indicators_)), dtype=X.dtype)
        for position, column in enumerate(self.indicators_):
            if column in with_nan:
                indicators[:, position] = missing[:, with_nan.tolist().index(column)]
        return np.hstack([X, indicators])

    # ------------------------------------------------------------------
    # Tables with categorical columns
    # ------------------------------------------------------------------
    def _fit_table(self, table, categorical, name, scaled):
        self.n_features_ = table.shape[1]
        self.categorical_ = categorical.tolist()
        self.categories_, self.missing_category_, self.medians_ = [], [], []
        self.indicators_ = []
        self.centers_ = [] if scaled else None
        self.scales_ = [] if scaled else None
        too_many = []
        for index in range(self.n_features_):
            column = table.column(index)
            if categorical[index]:
                categories, dropped = _categories(column)
                if dropped:
                    too_many.append((table.name(index), len(categories) + dropped))
                self.categories_.append(categories)
                self.missing_category_.append(bool(pd.isna(column).any()))
                self.medians_.append(None)
                if scaled:
                    self.centers_.append(None)
                    self.scales_.append(None)
            else:
                values = _numbers(column, table.name(index), name)
                missing = np.isnan(values)
                if missing.any():
                    self.indicators_.append(index)
                self.categories_.append(None)
                self.missing_category_.append(False)
                self.medians_.append(_median(values[~missing]))
                if scaled:
                    centers, spreads = _column_scaling(values[~missing, None], self.clip_)
                    self.centers_.append(float(centers[0]))
                    self.scales_.append(float(spreads[0]))
        if too_many:
            shown = ", ".join(f"{column!r} ({count})" for column, count in too_many[:5])
            warn_once(
                f"{name}: categorical column(s) with more than {MAX_CATEGORIES} categories: "
                f"{shown}. Each keeps its {MAX_CATEGORIES} most frequent categories; the "
                f"others are encoded as unknown (all zeros). A column of identifiers is "
                f"best dropped, and one of numbers stored as text converted to numbers "
                f"(pd.to_numeric).",
                UserWarning,
                stacklevel=6,
            )

    def _transform_table(self, table, name):
        if table.shape[1] != self.n_features_:  # an array; a DataFrame was checked
            raise ValueError(
                f"X has {table.shape[1]} features, but {name} is expecting "
                f"{self.n_features_} features as input."
            )
        widths = [
            1 if categories is None else len(categories) + missing
            for categories, missing in zip(self.categories_, self.missing_category_, strict=True)
        ]
        n_samples = len(table)
        encoded = np.zeros((n_samples, sum(widths) + len(self.indicators_)), dtype=np.float32)
        start = 0
        for index, width in enumerate(widths):
            column = table.column(index)
            categories = self.categories_[index]
            if categories is None:
                values = _numbers(column, table.name(index), name)
                missing = np.isnan(values)
                values[missing] = self.medians_[index]
                if self.centers_ is not None:
                    _scale(values, self.centers_[index], self.scales_[index], self.clip_)
                encoded[:, start] = values
                if index in self.indicators_:
                    encoded[:, sum(widths) + self.indicators_.index(index)] = missing
            else:
                values = np.asarray(column, dtype=object)
                codes = pd.Index(categories, dtype=object).get_indexer(values)
                if self.missing_category_[index]:
                    codes[np.asarray(pd.isna(column))] = len(categories)
                rows = np.flatnonzero(codes >= 0)
                encoded[rows, start + codes[rows]] = 1.0
            start += width
        return encoded

    def _check_dtypes(self, X, name):
        """Raise when a DataFrame's column holds numbers where it held text
        or categories at fit, or the other way round."""
        numeric = _numeric_dtypes(X)
        if numeric is None or len(numeric) != self.n_features_:
            return  # validate_data counts the columns
        # Fitted on an array: its columns held numbers, or were named categorical.
        expected = self.numeric_dtypes_ or [None if c else True for c in self.categorical_]
        dtypes = list(X.dtypes)
        for index, (now, then) in enumerate(zip(numeric, expected, strict=True)):
            if then is None or now == then:
                continue
            column, dtype = X.columns[index], dtypes[index]
            if then:
                raise ValueError(
                    f"Column {column!r} of X holds text or categories (dtype {dtype}), but it "
                    f"held numbers when {name} was fitted. Convert it to numbers "
                    f"(pd.to_numeric), or fit again to encode it as a categorical column."
                )
            raise ValueError(
                f"Column {column!r} of X holds numbers (dtype {dtype}), but it held text or "
                f"categories when {name} was fitted, and was encoded as a categorical column. "
                f"Give it the type it had at fit (for example X[{column!r}].astype(str) or "
                f".astype('category')), or fit again."
            )

    # ------------------------------------------------------------------
    # What the network's input holds
    # ------------------------------------------------------------------
    @property
    def numeric_columns_(self):
        """The positions, in the encoded input, of the columns that hold a
        numeric column's values: not one-hot nor missing-value indicator
        columns; none for sparse input and samples with several dimensions.

        Derived from the fitted state, so that a saved encoder has it too.
        """
        if self.medians_ is None:
            return []
        positions, start = [], 0
        for categories, missing in zip(self.categories_, self.missing_category_, strict=True):
            if categories is None:
                positions.append(start)
                start += 1
            else:
                start += len(categories) + missing
        return positions

    # ------------------------------------------------------------------
    # Fitted state as plain data (see _persistence.py)
    # ------------------------------------------------------------------
    _STATE = (
        "kind_",
        "n_features_",
        "categorical_",
        "categories_",
        "missing_category_",
        "medians_",
        "indicators_",
        "numeric_dtypes_",
        "centers_",
        "scales_",
        "clip_",
        "embedded_",
    )

    def get_state(self):
        """The fitted state as plain data (lists, numbers, strings, None)."""
        return {name.rstrip("_"): getattr(self, name) for name in self._STATE}

    def set_state(self, state):
        """Set the fitted state from :meth:`get_state`'s; return ``self``."""
        for name in self._STATE:
            setattr(self, name, state.get(name.rstrip("_")))  # no centres: unscaled
        return self


# ----------------------------------------------------------------------------
# Which columns are categorical
# ----------------------------------------------------------------------------
def _numeric_dtypes(X):
    """For a DataFrame, whether each column's dtype holds numbers (booleans
    included); None for anything else."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(dtypes, "items") or not hasattr(X, "columns"):
        return None
    return [
        bool(pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype))
        for dtype in dtypes
    ]


def _shown(columns):
    return ", ".join(repr(c) for c in columns[:5]) + (", ..." if len(columns) > 5 else "")


def _categorical_mask(categorical_features, X, name):
    """Which columns of ``X`` are categorical (a boolean array), or None
    when none is; raise, saying how to fix it, where the value does not fit
    ``X``."""
    numeric = _numeric_dtypes(X)
    text = [] if numeric is None else [c for c, n in zip(X.columns, numeric, strict=True) if not n]
    if isinstance(categorical_features, str):  # "from_dtype"
        if numeric is None:
            return None
        mask = ~np.asarray(numeric, dtype=bool)
        return mask if mask.any() else None
    if categorical_features is None:
        if text:
            raise ValueError(
                f"X has {len(text)} column(s) of text or categories ({_shown(text)}), but "
                f"categorical_features=None takes every column as numbers. Use "
                f"categorical_features='from_dtype' (the default) to encode them as "
                f"categories, or encode them in a Pipeline before {name}; see the user "
                f"guide's section 5, Inputs."
            )
        return None
    given = np.asarray(categorical_features)
    if given.size == 0:
        mask = None
    else:
        mask = _mask_from(given, categorical_features, X)
    uncovered = [c for c in text if mask is None or not mask[list(X.columns).index(c)]]
    if uncovered:
        raise ValueError(
            f"X has {len(uncovered)} column(s) of text or categories ({_shown(uncovered)}) "
            f"that categorical_features={categorical_features!r} does not name. Add them "
            f"to categorical_features, or use categorical_features='from_dtype' to take "
            f"every column of text or categories."
        )
    return mask if mask is not None and mask.any() else None


def _mask_from(given, categorical_features, X):
    """The boolean mask of the columns named by an array-like
    ``categorical_features`` (indices, names or a mask)."""
    value = f"categorical_features={categorical_features!r}"
    if sp.issparse(X) or np.ndim(X) != 2:
        raise ValueError(
            f"{value} names columns of a table, but X is "
            f"{'a sparse matrix' if sp.issparse(X) else f'of shape {np.shape(X)}'}. Give "
            f"a dense table (2-D array or DataFrame), or categorical_features=None."
        )
    n_features = np.shape(X)[1]
    if given.ndim != 1:
        raise ValueError(f"{value} must be a flat list of column indices, names or a mask.")
    if given.dtype.kind == "b":
        if len(given) != n_features:
            raise ValueError(
                f"{value} is a boolean mask of {len(given)} values, but X has {n_features} "
                f"columns: give one value per column."
            )
        return given.copy()
    mask = np.zeros(n_features, dtype=bool)
    if given.dtype.kind in "iu":
        outside = [int(i) for i in given if not 0 <= i < n_features]
        if outside:
            raise ValueError(
                f"{value} holds column index {outside[0]}, but X has {n_features} columns "
                f"(indices 0 to {n_features - 1})."
            )
        mask[given] = True
        return mask
    if given.dtype.kind in "UO" and all(isinstance(v, str) for v in given.tolist()):
        columns = getattr(X, "columns", None)
        if columns is None:
            raise ValueError(
                f"{value} names columns, but X has no column names (a "
                f"{type(X).__name__}). Give column indices or a boolean mask, or fit on a "
                f"DataFrame."
            )
        names = [str(c) for c in columns]
        for column in given.tolist():
            if column not in names:
                close = difflib.get_close_matches(column, names, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ValueError(
                    f"{value} names {column!r}, which is not a column of X.{hint} Its "
                    f"columns are {_shown(names)}."
                )
            mask[names.index(column)] = True
        return mask
    raise ValueError(
        f"{value} must be 'from_dtype', None, or a list of column indices (int), column "
        f"names (str) or a boolean mask."
    )


# ----------------------------------------------------------------------------
# Columns
# ----------------------------------------------------------------------------
class _Table:
    """Column access to a DataFrame or a 2-D array, by position."""

    def __init__(self, X):
        if hasattr(X, "iloc") and hasattr(X, "columns"):
            self._frame, self._array = X, None
            self.shape = X.shape
        else:
            array = X if isinstance(X, np.ndarray) else np.asarray(X, dtype=object)
            if array.ndim != 2:
                raise ValueError(
                    f"Expected a 2D array (a table of samples by columns), got an array of "
                    f"shape {array.shape}."
                )
            self._frame, self._array = None, array
            self.shape = array.shape

    def __len__(self):
        return self.shape[0]

    def column(self, index):
        if self._frame is not None:
            return self._frame.iloc[:, index]
        return self._array[:, index]

    def name(self, index):
        return self._frame.columns[index] if self._frame is not None else index


def _embeds_columns(numeric_embedding, columns, n_samples):
    """Whether ``numeric_embedding`` gives numeric columns periodic
    embeddings, for ``n_samples`` rows whose column labels are ``columns``
    (None for an array): ``"periodic"`` always; ``"auto"`` from
    ``TABLE_MIN_SAMPLES`` rows when the columns are named, as scikit-learn
    requires of the ``feature_names_in_`` it records."""
    if numeric_embedding == "auto":
        named = columns is not None and len(columns) > 0
        named = named and all(isinstance(column, str) for column in columns)
        return bool(named and n_samples >= TABLE_MIN_SAMPLES)
    return numeric_embedding == "periodic"


def _is_table(X):
    """Whether NaN in ``X`` is imputed: only in dense tables (2-D)."""
    if sp.issparse(X):
        return False
    try:
        return np.ndim(X) == 2
    except (TypeError, ValueError):  # ragged: validate_data says so
        return False


def _as_table(X):
    if sp.issparse(X):
        raise ValueError("X is a sparse matrix, but the encoder was fitted on a dense table.")
    return _Table(X)


def _numbers(column, label, name):
    """A numeric column as float64 (NaN for missing values; a copy)."""
    try:
        if isinstance(column, pd.Series):
            values = column.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
        else:
            values = pd.to_numeric(pd.Series(column), errors="raise").to_numpy(
                dtype=np.float64, na_value=np.nan, copy=True
            )
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"Column {label!r} of X holds a value that is not a number ({error}), but "
            f"{name} takes it as numeric. Name it in categorical_features to encode it as "
            f"categories, or convert it to numbers."
        ) from None
    if np.isinf(values).any():
        raise ValueError(
            f"Input X contains infinity in column {label!r}: {name} takes finite numbers "
            f"and NaN for missing values."
        )
    return values


def _plain(value):
    """A category as a plain Python value (JSON saves it)."""
    return value.item() if isinstance(value, np.generic) else value


def _categories(column):
    """The categories of a column seen at fit, sorted, and how many rarer
    ones beyond MAX_CATEGORIES were dropped."""
    counts = pd.Series(column).value_counts(dropna=True, sort=False)
    counts = counts[counts > 0]  # a category dtype lists unused categories too
    values = [_plain(value) for value in counts.index]
    frequencies = dict(zip(values, counts.to_numpy().tolist(), strict=True))
    values = _sorted(values)
    dropped = max(len(values) - MAX_CATEGORIES, 0)
    if dropped:
        kept = sorted(values, key=lambda v: -frequencies[v])[:MAX_CATEGORIES]  # stable
        kept = set(kept)
        values = [value for value in values if value in kept]
    return values, dropped


def _sorted(values):
    try:
        return sorted(values)
    except TypeError:  # mixed types
        return sorted(values, key=lambda value: (type(value).__name__, repr(value)))


def _median(values):
    """The median of finite values; 0 for a column with none."""
    return float(np.median(values)) if len(values) else 0.0


def _columns_with_nan(X):
    """The indices of the columns of a 2-D float array that hold NaN.

    Summed first (NaN propagates, without a copy of ``X``); only columns
    whose sum is not finite are looked at.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        sums = X.sum(axis=0)
    candidates = np.flatnonzero(~np.isfinite(sums))
    return np.asarray([c for c in candidates if np.isnan(X[:, c]).any()], dtype=np.intp)


def _column_medians(X):
    """Each column's median of the non-missing values (0 when there are
    none), on at most MEDIAN_ROWS evenly spaced rows."""
    n_samples, n_features = X.shape
    rows = slice(None, None, -(-n_samples // MEDIAN_ROWS))
    sample = X[rows]
    medians = np.zeros(n_features)
    block = max(1, 2**22 // max(len(sample), 1))
    for start in range(0, n_features, block):
        values = np.array(sample[:, start : start + block], dtype=np.float64)
        missing = np.isnan(values)
        empty = missing.all(axis=0)
        values[:, empty] = 0.0
        if missing.any():
            medians[start : start + block] = np.nanmedian(values, axis=0)
        else:
            medians[start : start + block] = np.median(values, axis=0)
    return medians


def _column_scaling(X, robust):
    """Each column's centre and spread: its mean and standard deviation, or
    with ``robust`` its median and interquartile range over 1.349 (a normal
    distribution's standard deviation; the standard deviation when the
    middle half is one value). A constant column's spread is 1. On at most
    MEDIAN_ROWS evenly spaced rows, NaN left out."""
    rows = slice(None, None, -(-len(X) // MEDIAN_ROWS))
    values = np.array(X[rows], dtype=np.float64)
    centers, spreads = np.zeros(values.shape[1]), np.ones(values.shape[1])
    for column in range(values.shape[1]):
        observed = values[:, column][~np.isnan(values[:, column])]
        if not len(observed):
            continue
        centers[column], spread = observed.mean(), observed.std()
        if robust:
            q25, median, q75 = np.percentile(observed, [25, 50, 75])
            centers[column] = median
            spread = (q75 - q25) / 1.349 if q75 > q25 else spread
        spreads[column] = spread if spread > 0 else 1.0
    return centers, spreads


def _scale(values, centers, scales, clip):
    """Scale ``values`` in place: centred, divided by the spread, and with
    ``clip`` softly clipped to about (-CLIP, CLIP)."""
    values -= np.asarray(centers, dtype=values.dtype)
    values /= np.asarray(scales, dtype=values.dtype)
    if clip:
        values /= np.sqrt(1.0 + (values / CLIP) ** 2)


def _float(dtype):
    """``dtype`` when it is a float type, else float64."""
    return dtype if np.issubdtype(dtype, np.floating) else np.float64


def _validate_array(estimator, X, y, reset, takes_nan, check_params):
    """``validate_data`` on ``X`` (and ``y``) as a numeric array; NaN passes
    in a dense table, for the encoder to impute."""
    return validate_data(
        estimator,
        X,
        y,
        reset=reset,
        ensure_all_finite="allow-nan" if takes_nan else True,
        **check_params,
    )
