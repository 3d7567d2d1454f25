"""Exceptions raised by skdnn."""


class TrainingDivergedError(FloatingPointError):
    """Raised when the training loss becomes NaN or infinite.

    The message names the epoch; a smaller ``learning_rate`` or scaled input
    features usually cure it. Like any failed fit, a diverged one leaves the
    estimator exactly as it was before the call: unfitted after a first fit,
    and with its previous network after a refit, warm-started fit or
    ``partial_fit``.
    """
