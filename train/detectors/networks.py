"""The network detectors: dense, Conv1D and LSTM autoencoders (reconstruction error) and a GAN (1 - D(x)).

Inputs are flat standardized vectors (n, dim); models reshape inside the graph so that every
detector has the same (n, dim) interface on the gateway.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from train.detectors import DetectorOptions, Trained, headroom


def _fit_reconstruction(model: Any, x: np.ndarray, options: DetectorOptions, batch_size: int) -> Trained:
    """Fit an autoencoder on x (n, dim) with MSE; 10 % of the rows (from fitting clips) report val_loss."""
    import keras

    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    order = np.random.default_rng(options.seed).permutation(x.shape[0])
    n_val = int(0.1 * x.shape[0])
    val, fit = x[order[:n_val]], x[order[n_val:]]
    history = model.fit(fit, fit, validation_data=(val, val) if n_val else None, epochs=options.epochs,
                        batch_size=batch_size, shuffle=True, verbose=0)
    curves = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    return Trained(model, "reconstruction_mse", x, history=curves)


def fit_dense_ae(x: np.ndarray, _anomalous: np.ndarray | None, options: DetectorOptions) -> Trained:
    """640 -> 4 x (Dense 128, BatchNorm, ReLU) -> 8 -> 4 x (Dense 128, BatchNorm, ReLU) -> 640 (DCASE 2020)."""
    import keras

    keras.utils.set_random_seed(options.seed)
    inputs = keras.Input(shape=(x.shape[1],), name="features")
    h = inputs
    for width in [128] * 4 + [8] + [128] * 4:
        h = keras.layers.ReLU()(keras.layers.BatchNormalization()(keras.layers.Dense(width)(h)))
    model = keras.Model(inputs, keras.layers.Dense(x.shape[1])(h), name="dense_ae")
    trained = _fit_reconstruction(model, x, options, batch_size=512)
    trained.params = {"architecture": "640-128x4-8-128x4-640, BatchNorm+ReLU (DCASE 2020 baseline)"}
    return trained


def fit_conv_ae(x: np.ndarray, _anomalous: np.ndarray | None, options: DetectorOptions) -> Trained:
    """The window's 17 features as a 1-D signal: Conv1D 16-8-16-1 (kernel 3, same padding)."""
    import keras

    keras.utils.set_random_seed(options.seed)
    d = x.shape[1]
    inputs = keras.Input(shape=(d,), name="features")
    h = keras.layers.Reshape((d, 1))(inputs)
    for filters in (16, 8, 16):
        h = keras.layers.Conv1D(filters, 3, padding="same", activation="relu")(h)
    outputs = keras.layers.Reshape((d,))(keras.layers.Conv1D(1, 3, padding="same")(h))
    trained = _fit_reconstruction(keras.Model(inputs, outputs, name="conv_ae"), x, options, batch_size=32)
    trained.params = {"architecture": "Conv1D 16-8-16-1, kernel 3, over the 17 features"}
    return trained


def fit_lstm_ae(x: np.ndarray, _anomalous: np.ndarray | None, options: DetectorOptions) -> Trained:
    """Sequences (n, sequence * 17) -> LSTM 32 -> repeat -> LSTM 32 -> Dense 17 per step.

    unroll=True: Keras 3's LSTM otherwise becomes a float WHILE loop that int8 calibration cannot
    handle; unrolled, every step is plain FULLY_CONNECTED/LOGISTIC/TANH ops and converts to int8.
    """
    import keras

    keras.utils.set_random_seed(options.seed)
    steps, d = options.sequence, x.shape[1] // options.sequence
    inputs = keras.Input(shape=(x.shape[1],), name="features")
    h = keras.layers.Reshape((steps, d))(inputs)
    h = keras.layers.LSTM(32, unroll=True)(h)
    h = keras.layers.RepeatVector(steps)(h)
    h = keras.layers.LSTM(32, return_sequences=True, unroll=True)(h)
    h = keras.layers.TimeDistributed(keras.layers.Dense(d))(h)
    model = keras.Model(inputs, keras.layers.Reshape((steps * d,))(h), name="lstm_ae")
    trained = _fit_reconstruction(model, x, options, batch_size=16)
    trained.params = {"architecture": f"LSTM 32 (unrolled) -> repeat {steps} -> LSTM 32 -> Dense {d}",
                      "sequence": steps}
    return trained


def fit_gan(x: np.ndarray, _anomalous: np.ndarray | None, options: DetectorOptions) -> Trained:
    """Generator 8 -> 32 -> 32 -> d, discriminator d -> 32 -> 16 -> 1 (logit); exported score 1 - D(x)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(options.seed)
    d, noise = x.shape[1], 8
    generator = keras.Sequential([keras.Input((noise,)), keras.layers.Dense(32, activation="relu"),
                                  keras.layers.Dense(32, activation="relu"), keras.layers.Dense(d)])
    discriminator = keras.Sequential([keras.Input((d,)), keras.layers.Dense(32), keras.layers.LeakyReLU(0.2),
                                      keras.layers.Dense(16), keras.layers.LeakyReLU(0.2), keras.layers.Dense(1)])
    g_opt, d_opt = keras.optimizers.Adam(1e-3, beta_1=0.5), keras.optimizers.Adam(1e-3, beta_1=0.5)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)

    @tf.function
    def step(real: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        z = tf.random.normal((tf.shape(real)[0], noise), seed=options.seed)
        with tf.GradientTape() as d_tape, tf.GradientTape() as g_tape:
            fake = generator(z, training=True)
            real_logit, fake_logit = discriminator(real, training=True), discriminator(fake, training=True)
            d_loss = bce(tf.ones_like(real_logit), real_logit) + bce(tf.zeros_like(fake_logit), fake_logit)
            g_loss = bce(tf.ones_like(fake_logit), fake_logit)
        d_opt.apply_gradients(zip(d_tape.gradient(d_loss, discriminator.trainable_variables),
                                  discriminator.trainable_variables, strict=True))
        g_opt.apply_gradients(zip(g_tape.gradient(g_loss, generator.trainable_variables),
                                  generator.trainable_variables, strict=True))
        return d_loss, g_loss

    rng = np.random.default_rng(options.seed)
    history: dict[str, list[float]] = {"d_loss": [], "g_loss": []}
    for _ in range(options.epochs):
        order = rng.permutation(x.shape[0])
        losses = [step(tf.constant(x[order[i : i + 16]])) for i in range(0, x.shape[0], 16)]
        history["d_loss"].append(float(np.mean([float(a) for a, _ in losses])))
        history["g_loss"].append(float(np.mean([float(b) for _, b in losses])))

    inputs = keras.Input(shape=(d,), name="features")
    score = keras.layers.Activation("sigmoid")(keras.layers.Rescaling(-1.0)(discriminator(inputs)))
    model = keras.Model(inputs, score, name="gan_score")  # sigmoid(-logit) = 1 - D(x)
    return Trained(model, "model_output", headroom(x), history=history,
                   params={"architecture": "G 8-32-32-d, D d-32-16-1, Adam 1e-3 beta1 0.5, batch 16"})
