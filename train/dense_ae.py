"""The DCASE 2020 Task 2 baseline dense autoencoder on 640-value log-mel vectors.

640 -> 4 x (Dense 128, BatchNorm, ReLU) -> Dense 8 (BatchNorm, ReLU) -> 4 x (Dense 128, BatchNorm,
ReLU) -> 640, as the baseline. BatchNorm folds into the dense layers when converted to TFLite.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def build_dense_ae(dim: int = 640, hidden: int = 128, layers: int = 4, bottleneck: int = 8) -> Any:
    import keras

    inputs = keras.Input(shape=(dim,), name="features")
    x = inputs
    for width in [hidden] * layers + [bottleneck] + [hidden] * layers:
        x = keras.layers.Dense(width)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
    outputs = keras.layers.Dense(dim, name="reconstruction")(x)
    return keras.Model(inputs, outputs, name="dense_ae")


def fit_dense_ae(x: np.ndarray, *, epochs: int, batch_size: int = 512, seed: int = 0,
                 validation_fraction: float = 0.1, learning_rate: float = 1e-3) -> tuple[Any, dict[str, list[float]]]:
    """Train on standardized normal vectors x (n, dim) float32; returns the model and its loss history.

    The validation rows come from the fitting clips (the threshold and test clips stay unseen);
    they only report the loss curve.
    """
    import keras

    keras.utils.set_random_seed(seed)
    model = build_dense_ae(dim=x.shape[1])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    rng = np.random.default_rng(seed)
    order = rng.permutation(x.shape[0])
    n_val = int(validation_fraction * x.shape[0])
    val, fit = x[order[:n_val]], x[order[n_val:]]
    history = model.fit(fit, fit, validation_data=(val, val) if n_val else None, epochs=epochs,
                        batch_size=batch_size, shuffle=True, verbose=0)
    return model, {k: [float(v) for v in vals] for k, vals in history.history.items()}
