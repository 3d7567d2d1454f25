"""The DNN estimators' network part: a multilayer perceptron from hyperparameters.

Mixed in by :class:`DNNClassifier` and :class:`DNNRegressor` beside their
task part and :class:`~skdnn._base.BaseDNN`. It owns the architecture's
parameters and the three hooks where the network comes from
(``_architecture_of``, ``_build_network``, ``_network_recipe``), the L2
penalty ``alpha``, which the training loop applies to its ``Dense`` kernels,
the input encoding of tables with categories and missing values
(``categorical_features``; see ``_features.py``) and the periodic embedding
of their numeric columns (``numeric_embedding``; see
``_network/embedding.py``).
"""

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ._features import FeatureEncoder
from ._keras_names import check_activation
from ._network.build import NetworkRecipe, build_network
from ._network.embedding import FREQUENCIES, SIGMA, UNITS

# dropout="auto": the rate after each hidden layer of a network that embeds
# numeric columns (a table's), RealMLP-TD's. Measured better than none on 12
# tables and on 6 others (benchmarks/bench_tabular.py); a plain network on
# arrays, the tutorials', keeps none.
TABLE_DROPOUT = 0.15


class MLPNetworkMixin:
    """The network part of the DNN estimators: ``Dense`` layers built from
    ``hidden_layer_sizes``, ``activation``, ``dropout`` and
    ``batch_normalization``, with the L2 penalty ``alpha``, on input encoded
    by a :class:`~skdnn._features.FeatureEncoder`."""

    _parameter_constraints = {
        "hidden_layer_sizes": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "activation": [str],
        "dropout": [StrOptions({"auto"}), Interval(Real, 0, 1, closed="left"), "array-like"],
        "batch_normalization": ["boolean"],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "categorical_features": [StrOptions({"from_dtype"}), "array-like", None],
        "numeric_scaling": [StrOptions({"auto", "standard", "robust"}), None],
        "numeric_embedding": [StrOptions({"auto", "periodic"}), None],
    }

    def _make_feature_encoder(self):
        """The unfitted input encoder: categories one-hot, NaN imputed."""
        return FeatureEncoder(
            self.categorical_features, self.numeric_scaling, self.numeric_embedding
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # imputed (see _features.py)
        return tags

    def _l2_penalty(self):
        """The strength of the L2 penalty on the weights during training."""
        return float(self.alpha)

    def _architecture_of(self, X):
        """The network's architecture for samples like ``X``, checked."""
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, Integral):
            sizes = (sizes,)
        if np.ndim(sizes) != 1 or not all(
            isinstance(units, Integral) and not isinstance(units, bool) and units > 0
            for units in sizes
        ):
            raise ValueError(
                f"hidden_layer_sizes must be a positive integer or a tuple of positive "
                f"integers, one per hidden layer, e.g. 100, (100,) or (100, 50); got "
                f"{self.hidden_layer_sizes!r}."
            )
        embedding = self._numeric_embedding()
        if isinstance(self.dropout, str):  # "auto"
            dropout = np.asarray(TABLE_DROPOUT if embedding else 0.0)
        else:
            dropout = np.asarray(self.dropout, dtype=float)
        if dropout.ndim > 1 or (dropout.ndim == 1 and len(dropout) != len(sizes)):
            raise ValueError(
                f"dropout must be a float or one rate per hidden layer "
                f"({len(sizes)} here); got {self.dropout!r}."
            )
        if np.any((dropout < 0) | (dropout >= 1)):
            raise ValueError(f"dropout rates must be in [0, 1); got {self.dropout!r}.")
        check_activation(self.activation)
        return {
            "input_shape": tuple(X.shape[1:]),
            "hidden_layer_sizes": tuple(int(units) for units in sizes),
            "activation": self.activation,
            "dropout": tuple(np.broadcast_to(dropout, len(sizes)).tolist()),
            "batch_normalization": bool(self.batch_normalization),
            **embedding,
        }

    def _numeric_embedding(self):
        """The architecture's ``numeric_embedding`` entry, from the fitted
        input encoder: none (no entry, so that a network without it is
        described as before) or the ``PeriodicEmbedding``'s arguments.

        ``"auto"`` embeds the numeric columns of a table with named columns
        and at least ``TABLE_MIN_SAMPLES`` rows only, as the encoder decided
        when it was fitted (``embedded_``; a warm start keeps it): arrays,
        often features a network was tuned on as in the Keras tutorials,
        train the plain network, and so does a DataFrame that only wraps an
        array's numbers, so that the two fit the same network.
        """
        features = self._feature_encoder
        if features is None or self.numeric_embedding is None:
            return {}
        if self.numeric_embedding == "auto" and not features.embedded_:
            return {}
        columns = features.numeric_columns_  # none for sparse input and images
        if not columns:
            return {}
        return {
            "numeric_embedding": {
                "columns": tuple(columns),
                "frequencies": FREQUENCIES,
                "units": UNITS,
                "sigma": SIGMA,
            }
        }

    def _build_network(self, architecture, encoder, seed):
        """Return the new network ``(model, train_network)`` for ``architecture``.

        ``model`` is the whole network (what ``model_`` holds); its layer
        named ``"output"`` gives the training output the loss is computed
        on, which ``train_network`` ends with (see ``build_network``).
        """
        return build_network(
            n_outputs=encoder.n_outputs_,
            output_activation=encoder.output_activation,
            head=encoder.head_layer(),
            seed=seed,
            **architecture,
        )

    def _network_recipe(self, architecture, encoder):
        """How a trainer builds the training network again (see
        :class:`~skdnn._network.build.NetworkRecipe`): from the architecture."""
        return NetworkRecipe(
            n_outputs=encoder.n_outputs_,
            output_activation=encoder.output_activation,
            **architecture,
        )
