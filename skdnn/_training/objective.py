"""What one training step computes, written once on Keras's backend-neutral ops.

The loss of a batch, the L2 penalty, the output transform and the metrics'
inputs are the same on every backend; only the compiled loop around them
(a ``tf.function`` while-loop, a jitted JAX loop over stateless calls, or
PyTorch's eager loop) is backend-specific (the engines in
``_training/backends/``).
"""


def per_sample_loss(loss):
    """Return ``f(y_true, y_pred) -> per-sample losses`` for a Keras loss.

    ``loss`` is a Keras loss name, function or ``keras.losses.Loss``
    instance; instances are copied with ``reduction=None`` so that sample
    weights are applied here, the same way for every loss.
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


def transform_output(kind, z, scale, offset):
    """Map the training output to predictions (probabilities or units)."""
    import keras

    if kind == "softmax":
        return keras.ops.softmax(z)
    if kind == "sigmoid":
        return keras.ops.sigmoid(z)
    if kind == "affine":
        return z * scale + offset
    return z


class Objective:
    """The loss, penalty and metric inputs of a :class:`~skdnn._training.trainer.TrainerSpec`.

    Parameters
    ----------
    spec : TrainerSpec
        Says which loss, output transform and target encoding to use.
    """

    def __init__(self, spec):
        self.loss = per_sample_loss(spec.loss)
        self.output_transform = spec.output_transform
        self.loss_on_predictions = spec.loss_on_predictions
        self.one_hot_loss = spec.one_hot_loss
        self.one_hot_depth = spec.one_hot_depth

    def losses(self, y, z, sample_weight, kernels, alpha, scale, offset):
        """Return ``(weighted sum of the batch's losses, L2 penalty, weighted
        sum of the losses in the targets' units)``.

        The training loss of a batch is the first two's sum divided by the
        batch's weight, as in scikit-learn's MLP (see :func:`batch_loss`).
        The third is the same loss on targets and predictions mapped back by
        the affine transform (a regressor's standardized targets to their
        units), the loss a regressor reports; for any other transform it is
        the first.
        """
        import keras

        if self.loss_on_predictions:
            z = transform_output(self.output_transform, z, scale, offset)
        if self.one_hot_loss:
            y = keras.ops.one_hot(keras.ops.cast(y, "int32"), self.one_hot_depth)
        data_loss = keras.ops.sum(self.loss(y, z) * sample_weight)
        penalty = 0.5 * alpha * sum(keras.ops.sum(keras.ops.square(k)) for k in kernels)
        units_loss = data_loss
        if self.output_transform == "affine" and not self.loss_on_predictions:
            units = self.loss(y * scale + offset, z * scale + offset)
            units_loss = keras.ops.sum(units * sample_weight)
        return data_loss, penalty, units_loss

    def metric_inputs(self, metrics, y, z, scale, offset):
        """Yield ``(metric, targets, predictions)`` for updating each metric.

        Metrics see probabilities, or targets and predictions in the
        targets' units; Keras's ``Sparse*`` metrics take class indices, the
        others one-hot targets.
        """
        import keras

        if not metrics:
            return
        predictions = transform_output(self.output_transform, z, scale, offset)
        targets = y * scale + offset if self.output_transform == "affine" else y
        one_hot = None
        for metric in metrics:
            if self.one_hot_depth and not type(metric).__name__.startswith("Sparse"):
                if one_hot is None:
                    one_hot = keras.ops.one_hot(
                        keras.ops.cast(targets, "int32"), self.one_hot_depth
                    )
                yield metric, one_hot, predictions
            else:
                yield metric, targets, predictions


def stateless_batch_loss(objective, model, kernels, trainable, non_trainable, batch):
    """One training batch's forward pass and loss on Keras's stateless call,
    as every vectorized or jitted step computes it.

    ``batch`` is ``(X, y, sample_weight, alpha, scale, offset)``; ``kernels``
    the positions of the kernels among ``trainable`` (:func:`kernel_indices`).
    Returns ``(loss, units, z, non_trainable)``: the loss the gradient step
    minimizes, the loss in the targets' units (see :meth:`Objective.losses`),
    the training output and the new non-trainable values.
    """
    import keras

    X, y, sample_weight, alpha, scale, offset = batch
    z, non_trainable, regularization = model.stateless_call(
        trainable, non_trainable, X, training=True, return_losses=True
    )
    data_loss, penalty, units_loss = objective.losses(
        y, z, sample_weight, [trainable[i] for i in kernels], alpha, scale, offset
    )
    weight_total = keras.ops.sum(sample_weight)
    loss = batch_loss(data_loss, penalty, weight_total) + regularization_loss(regularization)
    return loss, batch_loss(units_loss, 0.0, weight_total), z, non_trainable


def regularization_loss(losses):
    """The layers' own regularization losses (a user's body) of one forward
    pass, summed: engines add it to the batch's loss, as Keras does."""
    return sum(losses, 0.0)


def batch_loss(data_loss, penalty, weight_total):
    """The loss a gradient step minimizes: the weighted mean over the batch
    plus the L2 penalty divided by the batch's weight (0 for a batch of
    zero weight)."""
    import keras

    return keras.ops.divide_no_nan(data_loss + penalty, weight_total)


def all_layers(model):
    """Every layer of ``model``, those of nested models included."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from all_layers(layer)


def kernel_indices(model):
    """Positions of the layers' kernels among ``model.trainable_variables``:
    the weights the L2 penalty applies to (not biases or normalization)."""
    kernels = {id(layer.kernel) for layer in all_layers(model) if hasattr(layer, "kernel")}
    return [i for i, v in enumerate(model.trainable_variables) if id(v) in kernels]
