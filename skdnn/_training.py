"""The training loop: compiled epochs over in-memory arrays.

Keras's ``Model.fit`` rebuilds a data iterator every epoch and runs one
Python-level call per batch; for the small, in-memory data sets of a
scikit-learn workflow that overhead dominates. Here one compiled call runs a
whole epoch: the data live in tensors, each batch is gathered by index from a
per-epoch permutation drawn from a seeded NumPy generator, and the loop over
batches is a TensorFlow while-loop. Keras callbacks are driven through
``keras.callbacks.CallbackList`` at epoch granularity.
"""

import numpy as np

# Rows per call when predicting or evaluating: large enough to amortize the
# call overhead, small enough to bound the activations' memory.
PREDICT_CHUNK_SIZE = 16384


def _require_tensorflow_backend():
    import keras

    if keras.config.backend() != "tensorflow":
        raise RuntimeError(
            f"skdnn trains with Keras's TensorFlow backend, but the active backend is "
            f"{keras.config.backend()!r}. Set the environment variable "
            f"KERAS_BACKEND=tensorflow before importing keras."
        )


def per_sample_loss(loss):
    """Return ``f(y_true, y_pred) -> per-sample losses`` for a Keras loss.

    ``loss`` is a Keras loss name, function or ``keras.losses.Loss``
    instance; instances are copied with ``reduction=None`` so that sample
    weights can be applied here, the same way for every loss.
    """
    import keras

    if isinstance(loss, keras.losses.Loss):
        loss = type(loss).from_config({**loss.get_config(), "reduction": None})
    elif isinstance(loss, str):
        loss = keras.losses.get(loss)

    def compute(y_true, y_pred):
        values = loss(y_true, y_pred)
        rank = len(values.shape)
        if rank > 1:
            values = keras.ops.mean(values, axis=tuple(range(1, rank)))
        return values

    return compute


class CompiledNetwork:
    """Compiled training, evaluation and prediction steps of one network.

    Parameters
    ----------
    model : keras.Model
        The whole network (with its head), compiled with ``optimizer``.
    train_model : keras.Model
        The network up to its output layer; the loss is computed on it.
    loss : callable
        ``f(y_true, output) -> per-sample loss`` on ``train_model``'s output
        (or on ``model``'s output when ``loss_on_head``).
    optimizer : keras.optimizers.Optimizer
    alpha : float
        L2 penalty; the batch penalty is ``0.5 * alpha * ||W||^2 / sum(w)``,
        as in scikit-learn's MLP.
    metrics : list of keras.metrics.Metric
        Updated with ``(y, model output)`` during training and evaluation;
        regression targets are first mapped to their units by the head.
    loss_on_head : bool
        Whether the loss takes the head's output (user-supplied classifier
        losses work on probabilities, as in Keras).
    metrics_on_target_head : bool
        Whether the head is applied to the targets before metrics see them
        (regression: standardized targets back to the user's units).
    """

    def __init__(
        self, model, train_model, loss, optimizer, alpha, metrics,
        loss_on_head=False, metrics_on_target_head=False,
    ):
        import tensorflow as tf

        _require_tensorflow_backend()
        self.model = model
        self.train_model = train_model
        self.optimizer = optimizer
        self.metrics = list(metrics)
        head = model.layers[-1] if model is not train_model else None
        kernels = [
            layer.kernel for layer in train_model.layers if hasattr(layer, "kernel")
        ]
        trainable = train_model.trainable_variables
        optimizer.build(trainable)

        def penalty():
            if not alpha or not kernels:
                return tf.constant(0.0)
            return 0.5 * alpha * tf.add_n([tf.reduce_sum(tf.square(k)) for k in kernels])

        def loss_value(y, output, sample_weight):
            if loss_on_head:
                output = head(output)
            weight_sum = tf.reduce_sum(sample_weight)
            data_loss = tf.reduce_sum(loss(y, output) * sample_weight)
            return tf.math.divide_no_nan(data_loss + penalty(), weight_sum)

        def update_metrics(y, output):
            if not self.metrics:
                return
            predictions = head(output) if head is not None else output
            targets = head(y) if metrics_on_target_head else y
            for metric in self.metrics:
                metric.update_state(targets, predictions)

        def train_epoch(X, y, sample_weight, permutation, batch_size):
            n_samples = tf.shape(permutation)[0]
            n_batches = (n_samples + batch_size - 1) // batch_size
            total = tf.constant(0.0)
            for batch in tf.range(n_batches):
                indices = permutation[batch * batch_size : (batch + 1) * batch_size]
                X_batch = tf.gather(X, indices)
                y_batch = tf.gather(y, indices)
                with tf.GradientTape() as tape:
                    output = train_model(X_batch, training=True)
                    batch_loss = loss_value(
                        y_batch, output, tf.gather(sample_weight, indices)
                    )
                gradients = tape.gradient(batch_loss, trainable)
                optimizer.apply_gradients(zip(gradients, trainable))
                total += batch_loss * tf.cast(tf.shape(indices)[0], tf.float32)
                update_metrics(y_batch, output)
            return total / tf.cast(n_samples, tf.float32), n_batches

        def evaluate(X, y, sample_weight):
            output = train_model(X, training=False)
            update_metrics(y, output)
            if loss_on_head:
                output = head(output)
            return tf.reduce_sum(loss(y, output) * sample_weight)

        def predict(X):
            return train_model(X, training=False)

        # One trace per network; later epochs and calls reuse it whatever the
        # number of rows.
        self._train_epoch = tf.function(train_epoch, reduce_retracing=True)
        self._evaluate = tf.function(evaluate, reduce_retracing=True)
        self._predict = tf.function(
            predict,
            input_signature=[tf.TensorSpec([None, *train_model.input_shape[1:]], tf.float32)],
        )

    def reset_metrics(self):
        for metric in self.metrics:
            metric.reset_state()

    def metric_results(self):
        return {metric.name: float(metric.result()) for metric in self.metrics}

    def train_epoch(self, X, y, sample_weight, permutation, batch_size):
        """Run one epoch; return ``(mean loss, metrics, number of batches)``."""
        self.reset_metrics()
        import tensorflow as tf

        loss, n_batches = self._train_epoch(
            X, y, sample_weight, permutation, tf.constant(batch_size, dtype=tf.int32)
        )
        return float(loss), self.metric_results(), int(n_batches)

    def evaluate(self, X, y, sample_weight):
        """Return ``(weighted mean loss, metrics)`` on held-out data.

        The L2 penalty is left out: it measures the weights, not the fit.
        """
        self.reset_metrics()
        total = 0.0
        for start in range(0, len(X), PREDICT_CHUNK_SIZE):
            chunk = slice(start, start + PREDICT_CHUNK_SIZE)
            total += float(self._evaluate(X[chunk], y[chunk], sample_weight[chunk]))
        weight_sum = float(np.sum(sample_weight))
        return (total / weight_sum if weight_sum else 0.0), self.metric_results()

    def predict(self, X):
        """Return the training output (logits or standardized targets)."""
        X = np.asarray(X, dtype=np.float32)
        chunks = [
            self._predict(X[start : start + PREDICT_CHUNK_SIZE]).numpy()
            for start in range(0, max(len(X), 1), PREDICT_CHUNK_SIZE)
        ]
        return np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
