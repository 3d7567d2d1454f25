"""Training: the pooled trainers, their epoch loop, the objective, the
optimizers' loaded hyperparameters, and each Keras backend's home
(``backends/``)."""
