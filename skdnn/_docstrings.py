"""Docstring text shared by the estimators, written once and substituted."""

_SHARED = {
    "architecture_parameters": """\
    hidden_layer_sizes : int or tuple of int, default=(100,)
        Units of each hidden ``Dense`` layer; its length is the network's
        depth. An int is one hidden layer, as in scikit-learn's MLP. ``()``
        gives a linear (logistic) model.

    activation : str, default="relu"
        Keras activation of the hidden layers (``"relu"``, ``"tanh"``,
        ``"gelu"``, ``"sigmoid"``, ...).

    dropout : "auto", float or sequence of float, default="auto"
        Dropout rate after every hidden layer, or one rate per hidden layer.
        ``"auto"`` is 0.15 in a network that embeds numeric columns (see
        ``numeric_embedding``: by default a DataFrame's), as in pytabkit's
        RealMLP-TD, which scored better on tables (see "skdnn on tabular
        data" in the documentation), and 0 otherwise: a network fitted on an
        array is the tutorials' plain one.

    batch_normalization : bool, default=False
        Whether each hidden layer normalizes its pre-activations
        (``Dense -> BatchNormalization -> Activation``).

    alpha : float, default=1e-4
        Strength of the L2 penalty on the weights; each batch adds
        ``0.5 * alpha * ||W||^2 / sum(sample_weight)`` to the loss, as
        scikit-learn's MLP does.""",
    "model_parameters": """\
    model : callable or keras.Model, default=None
        The network's body, required: a function that returns a
        ``keras.Model``, called at every fit with the ``model__``
        parameters as keyword arguments (and with ``input_shape``, the
        shape of one sample ``X.shape[1:]``, when it takes an argument of
        that name), or a ``keras.Model`` whose architecture is copied with
        fresh weights at every fit (the instance is never trained or
        changed). Its output is the last hidden representation: the output
        layer, loss and decoding of the task are added as in the DNN
        estimators (after a ``Flatten`` when the output is not a vector).
        Its initializers and dropout layers are seeded from
        ``random_state`` (layers of a subclassed model: seed them
        yourself). Custom layers must be registered with
        ``keras.saving.register_keras_serializable`` to be pickled or saved.

    **model_params : model__<name>=value
        Routed to the function ``model`` as its keyword argument
        ``<name>``: ``model__filters=16`` calls ``model(filters=16)``. Like
        every parameter they are in ``get_params``, kept by ``clone``,
        changed by ``set_params`` and searched by ``GridSearchCV``
        (``{"model__filters": [8, 16]}``). A name the function does not
        take is an error at fit.""",
    "optimization_parameters": """\
    optimizer : str or keras.optimizers.Optimizer, default="adam"
        The optimizer: ``"adam"``, ``"sgd"``, ``"rmsprop"``, ``"adamw"``,
        ``"adagrad"``, ``"adadelta"``, ``"adamax"``, ``"nadam"`` or
        ``"lion"``, in any case (Keras's ``"Adam"``, ``"SGD"``,
        ``"RMSprop"``, ... work too), built with ``learning_rate`` (and
        ``momentum`` and ``nesterov`` where it takes them). A Keras optimizer
        instance is copied for every fit and its own settings (learning rate
        included) are used.

    learning_rate : float, "adaptive" or \
keras.optimizers.schedules.LearningRateSchedule, default=1e-3
        Step size of the optimizer named by ``optimizer``. ``"adaptive"``
        starts at 1e-3 and divides the rate by 5 each time the stopping rule
        would stop training, until it is below 1e-6 (scikit-learn MLP's
        ``learning_rate="adaptive"``). A learning rate changed with
        ``set_params`` takes effect in the next warm-started fit.

    momentum : float, default=0.9
        Momentum of ``"sgd"`` and ``"rmsprop"``; unused by the others.

    nesterov : bool, default=False
        Whether ``"sgd"`` uses Nesterov momentum.

    epochs : int or "auto", default="auto"
        Maximum number of passes over the training data; all of them run
        with ``n_iter_no_change=None``. Reaching it while the stopping rule
        has not acted gives a ``ConvergenceWarning``. ``"auto"`` is 1000
        when the stopping rule watches validation data (see
        ``early_stopping``), which ends most fits long before, and 200
        otherwise, as scikit-learn's MLP's ``max_iter``.

    batch_size : int or "auto", default="auto"
        Samples per gradient step; ``"auto"`` is ``min(200, n_samples)``.

    shuffle : bool, default=True
        Whether to shuffle the training data before every epoch.

    early_stopping : bool or "auto", default="auto"
        Whether to hold out ``validation_fraction`` of the training data
        (stratified for classifiers), apply the stopping rule
        (``n_iter_no_change``) to the validation loss, and restore the
        weights of the best epoch. With ``X_val`` given to ``fit``, it is
        monitored instead and nothing is held out. Without it, the rule
        watches the training loss, which keeps falling while a network
        overfits. ``"auto"``, as in scikit-learn's
        ``HistGradientBoostingClassifier``, enables it when ``fit`` gets
        ``X_val`` or at least 1000 samples (a stratified split permitting);
        ``partial_fit`` never holds anything out.

    validation_fraction : float, default=0.1
        Share of the training data held out when early stopping is on.

    n_iter_no_change : int, "auto" or None, default="auto"
        Epochs without an improvement of more than ``tol`` (on the best
        loss so far) before training stops, or with
        ``learning_rate="adaptive"`` the learning rate is divided by 5. An
        int is scikit-learn MLP's rule. ``"auto"`` waits half the epochs
        trained up to the last improvement (at least 10), and never stops
        on an epoch whose loss fell by more than ``tol`` from the one
        before, so that a
        short rise of a loss still going down (an optimizer's overshoot)
        does not end training. None: no stopping rule; exactly ``epochs``
        epochs run, without ``ConvergenceWarning`` (with
        ``early_stopping=True`` the best epoch's weights are restored).

    tol : float, default=1e-4
        An epoch improves when its loss is below the best so far by more
        than ``tol``, as in scikit-learn's MLP.

    n_ensemble : int, default=1
        Number of networks trained from different seeds (initial weights,
        batch order and, with early stopping, validation split) and
        averaged: ``predict_proba`` is the mean of their probabilities, a
        regressor's ``predict`` the mean of their predictions (and
        ``predict(X, return_std=True)`` their spread). They train together
        as one population where the backend allows it (see "Fast
        hyperparameter search" in the documentation), so an ensemble costs
        far less than ``n_ensemble`` fits. ``model_`` is then one Keras
        model whose output is the members' average. ``partial_fit`` and
        ``warm_start`` train every member on, each from its own weights and
        optimizer state.

    random_state : int, RandomState instance or None, default=None
        Seeds the weights' initialization, dropout, shuffling and the
        validation split. With an int, fits are reproducible, also across
        processes and threads; no global random state is read or changed.

    verbose : int, default=0
        0 prints nothing, 1 shows Keras's progress bar per epoch, 2 one line
        per epoch. Nothing is ever printed at prediction time.

    warm_start : bool, default=False
        Whether ``fit`` continues training the current network, its
        optimizer state included, instead of building a new one.""",
    "classifier_loss_parameters": """\
    loss : str or keras.losses.Loss, default="auto"
        ``"auto"`` (or ``"log_loss"``) is the cross-entropy the target needs:
        binary cross-entropy on one sigmoid output for binary and multilabel
        targets, sparse categorical cross-entropy on a softmax output for
        multiclass targets, both computed from logits. Keras's names
        ``"binary_crossentropy"``, ``"sparse_categorical_crossentropy"`` and
        ``"categorical_crossentropy"`` give the same cross-entropy where they
        fit the target (a binary target is what a two-class softmax
        computes), and a clear error where they do not. A Keras loss object
        receives the predicted probabilities (the logits with
        ``from_logits=True``) and the encoded targets: class indices, one-hot
        rows for ``CategoricalCrossentropy``, or 0/1 indicators, as it would
        in Keras. With a categorical cross-entropy (the name or the class),
        ``y`` given as one-hot rows (``keras.utils.to_categorical``) is a
        multiclass target whose classes are the columns, and ``predict``
        returns one-hot rows.

    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplied into ``sample_weight``; see
        :func:`sklearn.utils.class_weight.compute_sample_weight`.""",
    "regressor_loss_parameters": """\
    loss : str or keras.losses.Loss, default="squared_error"
        ``"squared_error"``, ``"absolute_error"``, ``"huber"``, any Keras
        loss name (``"mse"``, ``"mae"``, ``"log_cosh"``, ...) or a Keras loss
        object. Training minimizes it on the standardized targets (so
        ``history_["loss"]`` is in those units, and ``"huber"``'s delta is one
        standard deviation); ``model_.evaluate`` reports it in the targets'
        units.

    output_activation : str or None, default=None
        Activation of the output layer, e.g. ``"relu"`` or ``"softplus"``
        for targets that must stay positive. With one, targets are scaled
        but not centered, so the activation's range keeps its meaning.""",
    "training_parameters": """\
    callbacks : list of keras.callbacks.Callback, default=None
        Keras callbacks (``EarlyStopping``, ``ReduceLROnPlateau``,
        ``ModelCheckpoint``, ``CSVLogger``, ``TensorBoard``, your own).
        Every call of ``fit`` or ``partial_fit`` uses fresh deep copies, kept
        in ``callbacks_``; the instances passed are never changed. They see
        the Keras model with the current weights at the end of each epoch;
        batch-level hooks fire once per epoch.

    metrics : list of str or keras.metrics.Metric, default=None
        Extra Keras metrics recorded per epoch in ``history_`` (and with a
        ``val_`` prefix on the validation split), under the name given,
        e.g. ``["AUC"]`` or ``["mae", "mse"]``.

    distribution : "mirrored", tf.distribute.Strategy or None, default=None
        Train one network on several devices: ``"mirrored"`` uses
        ``tf.distribute.MirroredStrategy`` over all GPUs TensorFlow sees (the
        CPU when there are none); a strategy instance is used as it is. The
        network is trained inside the strategy's scope and every batch is
        split across its replicas; the fitted ``model_`` is an ordinary Keras
        model. A strategy instance is not pickled: an unpickled estimator has
        ``distribution=None``.""",
    "input_parameters": """\
    categorical_features : "from_dtype", None or array-like, default="from_dtype"
        Which columns of ``X`` are categories, as in scikit-learn's
        ``HistGradientBoostingClassifier``: ``"from_dtype"``, the columns of
        a pandas DataFrame whose dtype is ``category``, ``object`` or
        ``string``; None, no column; or column indices (int), column names
        (str, for a DataFrame) or a boolean mask of the columns. Each
        categorical column enters the network as one 0/1 column per category
        seen at fit (a one-hot input into the first ``Dense`` layer, which
        learns an embedding of each category); a category not seen at fit
        is all zeros, an "unknown" embedding, and so is a missing value when
        the column had none at fit (else missing is a category of its own).
        A column keeps its 1000 most frequent categories; rarer ones are
        unknown, with a warning. Missing values (NaN) in numeric columns are
        replaced by the column's training median, and each column that had
        some at fit gets a 0/1 missing-value indicator input; NaN at
        prediction in a column that had none at fit is replaced by the
        median. Numeric input without NaN, sparse matrices and images enter
        the network as they are, unless ``numeric_scaling`` scales them. The
        encoding is fixed by the fit that builds the network: warm starts
        and ``partial_fit`` reuse it. ``n_features_in_`` and
        ``feature_names_in_`` describe the columns of ``X``; the network's
        input has one unit per encoded column.

    numeric_scaling : {"auto", "standard", "robust"} or None, default="auto"
        How numeric columns are scaled before the network. ``"auto"`` scales
        the numeric columns of a pandas DataFrame (a table the network gets
        raw): robustly (as ``"robust"``) where they get periodic embeddings
        (``numeric_embedding``), else standardized (centred on their
        training mean and divided by their standard deviation, as a
        ``StandardScaler`` does); it leaves arrays as they are, the
        tutorials' way (scale them yourself, for instance with a
        ``StandardScaler`` in a pipeline, or pixels by 1/255).
        ``"standard"`` standardizes any dense 2-D input. ``"robust"``
        centres on the median, divides by the interquartile range over
        1.349 (the standard deviation of normal data) and clips softly,
        ``x / sqrt(1 + (x / 3)**2)``, as pytabkit's RealMLP does: heavy tails
        and outliers stay within about (-3, 3). None scales nothing.

    numeric_embedding : {"auto", "periodic"} or None, default="auto"
        How numeric columns enter the network. ``"periodic"`` embeds each
        (after scaling) in 16 units: ``ReLU(W [sin(2 pi c x), cos(2 pi c
        x)] + b)`` with 16 trainable frequencies ``c`` (initially normal with
        standard deviation 0.3) and its own ``W`` and ``b``, the "PLR"
        embedding of Gorishniy et al. (2022), in a ``PeriodicEmbedding``
        layer after the input; the first ``Dense`` layer can then cut a
        column at thresholds, as trees do. The one-hot columns of categories
        and the missing-value indicators the estimator encodes pass
        unchanged, and ``alpha`` does not penalize the embedding. On tables
        it closes most of the gap to gradient boosting (see "skdnn on tabular
        data" in the documentation). ``"auto"`` embeds the numeric columns of
        a pandas DataFrame with named columns (those scikit-learn records in
        ``feature_names_in_``) and at least 500 rows (from where
        ``early_stopping="auto"`` holds out data; on smaller tables the
        embedded network overfits), decided at the first fit; it leaves
        arrays, DataFrames without column names, sparse matrices and images
        as they are, so that the networks of the Keras tutorials, fitted on
        arrays, stay what they were;
        ``"periodic"`` embeds the columns of any dense 2-D input; None embeds
        nothing.""",
    "fitted_attributes": """\
    model_ : keras.Model
        The trained Keras network, compiled with its optimizer and loss:
        ``model_.summary()``, ``model_.layers``, ``model_.get_weights()``,
        ``model_.evaluate(...)`` and ``model_.predict(...)`` work as in Keras.
        A regressor's model predicts in the target's units, its linear
        output layer's weights in those units (with an output activation, a
        ``Rescaling`` layer follows the output layer instead).

    history_ : dict of str to list of float
        Per-epoch values: ``loss`` and each metric, and ``val_loss`` and
        ``val_<metric>`` with validation data. The validation loss leaves out
        the L2 penalty. A regressor's ``loss`` is in the target's units,
        without the L2 penalty; the loss its optimizer minimizes, on the
        standardized target, is ``standardized_loss`` (and
        ``val_standardized_loss``), which the stopping rule watches. For an
        ensemble (``n_ensemble > 1``), the mean over the members that trained
        each epoch.

    loss_curve_ : list of float
        The training loss of each epoch (``history_["loss"]``).

    n_iter_ : int
        Number of epochs run (added up over warm-started fits); for an
        ensemble, its longest member's.

    best_loss_ : float or None
        Lowest training loss, or None when training monitored validation
        data (see ``early_stopping``).

    best_validation_score_ : float or None
        Score (see ``score``) of the restored best weights on the validation
        data when training monitored them (see ``early_stopping``), else
        None.

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of the features seen during ``fit``, when ``X`` had string
        column names.

    n_outputs_ : int
        Number of units of the output layer.

    callbacks_ : list of keras.callbacks.Callback
        The copies of ``callbacks`` used by the last call of ``fit`` or
        ``partial_fit``.""",
}


def fill_doc(cls):
    """Substitute the shared blocks into ``cls``'s docstring."""
    doc = cls.__doc__
    if doc is None:  # python -OO strips docstrings
        return cls
    for key, text in _SHARED.items():
        doc = doc.replace("{" + key + "}", text.strip("\n").lstrip())
    cls.__doc__ = doc
    return cls
