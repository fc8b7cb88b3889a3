"""Donut (Xu et al., WWW 2018) in TensorFlow 2 / Keras 3, as the paper and its reference code do it.

- q(z|x) and p(x|z): two hidden layers of 100 ReLU units with L2 1e-3 each; Gaussian heads with
  std = softplus(.) + 1e-4; prior N(0, I); window 120, latent 5. The exported networks output the
  pre-softplus value: an int8 output would round small std values to 0 and wreck the log-probability,
  while the raw value quantizes well; the gateway applies softplus + 1e-4 in NumPy.
- M-ELBO: reconstruction terms masked on missing and labelled points; the prior term scaled by the
  window's normal fraction (beta); one SGVB sample of z per window.
- Missing-data injection: each epoch, 1 % of the training points are set to 0 and marked missing.
- Adam 1e-3, x0.75 every 10 epochs, each gradient clipped to norm 10, the series split by time
  into 70 % training and 30 % validation, and the weights of the best validation loss kept.
Scoring (MCMC imputation and the L latent samples) runs on the gateway: ``edge.detectors.donut``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class DonutConfig:
    window: int = 120
    latent: int = 5
    hidden: tuple[int, ...] = (100, 100)
    l2: float = 1e-3
    std_epsilon: float = 1e-4
    injection_rate: float = 0.01
    learning_rate: float = 1e-3
    lr_decay: float = 0.75
    lr_decay_epochs: int = 10
    clip_norm: float = 10.0
    batch_size: int = 256
    max_epochs: int = 256
    patience: int = 30  # stop after this many epochs without a better validation loss
    valid_fraction: float = 0.3
    seed: int = 0


@dataclass
class DonutModels:
    encoder: Any  # (n, window) -> [z_mean (n, latent), z_std_raw (n, latent)]; std = softplus(raw) + eps
    decoder: Any  # (n, latent) -> [x_mean (n, window), x_std_raw (n, window)]
    history: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int = 0


def build_donut(config: DonutConfig) -> DonutModels:
    import keras

    reg = keras.regularizers.L2(config.l2)

    def net(inputs: Any) -> Any:
        h = inputs
        for width in config.hidden:
            h = keras.layers.Dense(width, activation="relu", kernel_regularizer=reg)(h)
        return h

    x = keras.Input(shape=(config.window,), name="x")
    hx = net(x)
    encoder = keras.Model(x, [keras.layers.Dense(config.latent, name="z_mean")(hx),
                              keras.layers.Dense(config.latent, name="z_std_raw")(hx)], name="donut_q")
    z = keras.Input(shape=(config.latent,), name="z")
    hz = net(z)
    decoder = keras.Model(z, [keras.layers.Dense(config.window, name="x_mean")(hz),
                              keras.layers.Dense(config.window, name="x_std_raw")(hz)], name="donut_p")
    return DonutModels(encoder, decoder)


def sliding_windows(values: np.ndarray, window: int) -> np.ndarray:
    """(n,) -> (n - window + 1, window) zero-copy view."""
    return np.lib.stride_tricks.sliding_window_view(values, window)


def fit_donut(values: list[np.ndarray], excluded: list[np.ndarray], config: DonutConfig, *,
              progress: bool = False) -> DonutModels:
    """Train on standardized series (each (n_i,)), with excluded (n_i,) bool = missing or labelled points.

    Several series (records) never share a window. Missing points must already be 0 (Donut's
    convention); the last valid_fraction of each series (by time) is validation data.
    progress: a bar on stderr with the time per epoch and the latest the early stop can come.
    history["epoch_seconds"] holds the wall time of each epoch.
    """
    import time

    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    models = build_donut(config)
    params = models.encoder.trainable_variables + models.decoder.trainable_variables
    cuts = [len(v) - int(len(v) * config.valid_fraction) for v in values]
    train_x = [v[:c].astype(np.float32) for v, c in zip(values, cuts, strict=True)]
    train_y = [e[:c] for e, c in zip(excluded, cuts, strict=True)]
    valid_x = np.concatenate([sliding_windows(v[c:], config.window) for v, c in zip(values, cuts, strict=True)])
    valid_y = np.concatenate([sliding_windows(e[c:], config.window) for e, c in zip(excluded, cuts, strict=True)])
    valid_x, valid_y = valid_x.astype(np.float32), valid_y.astype(np.float32)
    steps_per_epoch = -(-sum(max(len(x) - config.window + 1, 0) for x in train_x) // config.batch_size)
    schedule = keras.optimizers.schedules.ExponentialDecay(  # x0.75 every 10 epochs, as Donut's trainer
        config.learning_rate, decay_steps=steps_per_epoch * config.lr_decay_epochs, decay_rate=config.lr_decay,
        staircase=True)
    optimizer = keras.optimizers.Adam(learning_rate=schedule)

    def melbo_loss(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        z_mean, z_raw = models.encoder(x, training=True)
        z_std = tf.nn.softplus(z_raw) + config.std_epsilon
        eps = tf.random.normal(tf.shape(z_mean))
        z = z_mean + z_std * eps
        x_mean, x_raw = models.decoder(z, training=True)
        x_std = tf.nn.softplus(x_raw) + config.std_epsilon
        log_px = -0.5 * LOG_2PI - tf.math.log(x_std) - 0.5 * tf.square((x - x_mean) / x_std)
        alpha = 1.0 - y
        beta = tf.reduce_mean(alpha, axis=-1)
        log_pz = tf.reduce_sum(-0.5 * LOG_2PI - 0.5 * tf.square(z), axis=-1)
        log_qz = tf.reduce_sum(-0.5 * LOG_2PI - tf.math.log(z_std) - 0.5 * tf.square(eps), axis=-1)
        elbo = tf.reduce_sum(alpha * log_px, axis=-1) + beta * log_pz - log_qz
        return -tf.reduce_mean(elbo)

    @tf.function
    def train_step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = melbo_loss(x, y) + tf.add_n(models.encoder.losses + models.decoder.losses)
        grads = [tf.clip_by_norm(g, config.clip_norm) for g in tape.gradient(loss, params)]
        optimizer.apply_gradients(zip(grads, params, strict=True))
        return loss

    @tf.function
    def valid_loss(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        return melbo_loss(x, y)

    rng = np.random.default_rng(config.seed)
    best, best_weights, waited = np.inf, None, 0
    history: dict[str, list[float]] = {"loss": [], "val_loss": [], "epoch_seconds": []}
    bar = _progress_bar(config.max_epochs, sum(len(x) for x in train_x)) if progress else None
    for epoch in range(config.max_epochs):
        started = time.perf_counter()
        x_parts, y_parts = [], []
        for x_seg, y_seg in zip(train_x, train_y, strict=True):
            inject = rng.random(x_seg.shape) < config.injection_rate
            x_parts.append(sliding_windows(np.where(inject, np.float32(0.0), x_seg), config.window))
            y_parts.append(sliding_windows(y_seg | inject, config.window))
        x_win = np.concatenate(x_parts).astype(np.float32)
        y_win = np.concatenate(y_parts).astype(np.float32)
        order = rng.permutation(len(x_win))
        losses = [float(train_step(x_win[order[i : i + config.batch_size]], y_win[order[i : i + config.batch_size]]))
                  for i in range(0, len(order), config.batch_size)]
        val = float(np.mean([float(valid_loss(valid_x[i : i + 1024], valid_y[i : i + 1024]))
                             for i in range(0, len(valid_x), 1024)]))
        history["loss"].append(float(np.mean(losses)))
        history["val_loss"].append(val)
        if val < best:
            best, waited, models.best_epoch = val, 0, epoch
            best_weights = [v.numpy() for v in params]
        else:
            waited += 1
        history["epoch_seconds"].append(time.perf_counter() - started)
        if bar is not None:
            last = min(config.max_epochs, models.best_epoch + config.patience + 1)
            left = (last - epoch - 1) * float(np.mean(history["epoch_seconds"][-5:]))
            bar.set_postfix_str(f"val {val:.2f}, best epoch {models.best_epoch + 1}, stops by epoch {last} "
                                f"unless it improves (~{left:.0f} s more)", refresh=False)
            bar.update(1)
        if waited >= config.patience:
            break
    if bar is not None:
        bar.close()
    if best_weights is not None:
        for var, value in zip(params, best_weights, strict=True):
            var.assign(value)
    models.history = history
    return models


def _progress_bar(epochs: int, points: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=epochs, desc=f"Donut, {points} training points", unit="epoch", leave=True,
                bar_format="{desc}: epoch {n_fmt}/{total_fmt} [{elapsed}<{remaining} at most]{postfix}")
