"""Train a small CNN built from this package on scikit-learn's handwritten digits, on a CPU.

    python examples/train_digits.py            # vectorized layers (layers/vectorized.py)
    python examples/train_digits.py --loops    # the loop-based layers students write

The digits (1797 images of 8x8 pixels, 10 classes) ship inside scikit-learn: nothing is downloaded.
The network is Conv2D(1 -> 32, 3x3, padding 1) -> ReLU -> Maxpool2D(2, stride 2) -> Flatten ->
Linear(512 -> 10) -> Softmax, trained with CrossEntropy through Model.fit (SGD with momentum 0.9,
mini-batches of 32, a learning rate that decays from 0.05 to 0 along a cosine). Every epoch sees
each training digit shifted by up to one pixel at random.
Figures go to examples/figures/ (``--out``). The last line printed is ``test accuracy: 0.XXXX``.
"""
import argparse
import os
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: runs headless, in CI and over ssh
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from tqdm import tqdm  # noqa: E402

# Run as a script from anywhere: the packages live one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import layers  # noqa: E402
from activations import ReLU, Softmax  # noqa: E402
from losses import CrossEntropy  # noqa: E402
from model import Model  # noqa: E402

SEED = 0
FILTERS = 32
LEARNING_RATE = 0.05


def load(limit=None):
    """Digits as NHWC images in [0, 1], split 75/25 stratified; ``limit`` keeps the first training examples."""
    digits = load_digits()
    X = (digits.images / 16.0)[:, :, :, np.newaxis]  # (1797, 8, 8, 1); pixel values are 0..16
    X_train, X_test, y_train, y_test = train_test_split(
        X, digits.target, test_size=0.25, stratify=digits.target, random_state=0
    )
    if limit is not None:
        X_train, y_train = X_train[:limit], y_train[:limit]
    return X_train, X_test, y_train, y_test


def layer_library(loops):
    """``layers`` (loop-based) or ``layers.vectorized``, which the student release leaves out."""
    if loops:
        return layers
    try:
        from layers import vectorized
    except ModuleNotFoundError as exc:
        if exc.name != "layers.vectorized":  # a dependency missing inside it is a different problem
            raise
        sys.exit("layers/vectorized.py is not in this copy (the student release leaves it out): use --loops")
    return vectorized


def build(lib):
    """The CNN, with Conv2D and Maxpool2D taken from ``lib`` (layers or layers.vectorized)."""
    return Model(
        [
            lib.Conv2D(1, FILTERS, kernel_size=3, padding=1),  # (m, 8, 8, FILTERS)
            ReLU(),
            lib.Maxpool2D(kernel_size=2, stride=2),  # (m, 4, 4, FILTERS)
            layers.Flatten(),  # (m, 4 * 4 * FILTERS)
            layers.Linear(4 * 4 * FILTERS, 10),
            Softmax(),
        ],
        CrossEntropy(),
    )


def shift(X):
    """Each image moved by -1, 0 or +1 pixel in each direction, zeros filling in (data augmentation).

    The digits are not all centred alike; showing the network shifted copies makes it rely less on
    where a stroke lies, which is worth about half a percent of test accuracy here.
    """
    m, H, W, _ = X.shape
    X_pad = np.pad(X, ((0, 0), (1, 1), (1, 1), (0, 0)))
    rows = np.random.randint(0, 3, size=m)[:, np.newaxis] + np.arange(H)  # (m, H): the kept rows of X_pad
    cols = np.random.randint(0, 3, size=m)[:, np.newaxis] + np.arange(W)
    return X_pad[np.arange(m)[:, np.newaxis, np.newaxis], rows[:, :, np.newaxis], cols[:, np.newaxis, :]]


def learning_rate(epoch, epochs):
    """Cosine decay from LEARNING_RATE to 0: large steps early, then settling into a minimum."""
    return LEARNING_RATE * 0.5 * (1 + np.cos(np.pi * epoch / epochs))


def accuracy(model, X, y):
    return float(np.mean(model.predict(X).argmax(axis=1) == y))


def plot_curves(history, path):
    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained")
    ax_loss.plot(epochs, history["loss"], marker="o")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="training loss", yscale="log")
    ax_acc.plot(epochs, history["train_accuracy"], marker="o", label="train")
    ax_acc.plot(epochs, history["test_accuracy"], marker="o", label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(min(0.8, *history["test_accuracy"]), 1.0))
    ax_acc.legend(loc="lower right")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_filters(W, path):
    """W: (3, 3, 1, F) -> one 3x3 image per filter, on a colour scale shared by all and centred on 0."""
    F = W.shape[3]
    limit = np.abs(W).max()
    fig, axes = plt.subplots(F // 8, 8, figsize=(8, F // 8 * 1.1 + 0.5), layout="constrained")
    for f, ax in enumerate(axes.flat):
        ax.imshow(W[:, :, 0, f], cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(str(f), fontsize=8)
        ax.set_axis_off()
    fig.suptitle("learned first-layer filters (red > 0 > blue)")
    fig.savefig(path, dpi=100)
    plt.close(fig)


def mosaic(maps, scale):
    """(h, w, F) maps -> one image holding them 8 a row, each divided by its ``scale[f]``, NaN gaps between."""
    h, w, F = maps.shape
    tiles = np.full((F // 8, 8, h + 1, w + 1), np.nan)
    tiles[:, :, :h, :w] = (maps / scale).transpose(2, 0, 1).reshape(F // 8, 8, h, w)
    return tiles.transpose(0, 2, 1, 3).reshape(F // 8 * (h + 1), 8 * (w + 1))[:-1, :-1]


def plot_feature_maps(model, image, label, path):
    """One digit, its maps after Conv2D + ReLU (8x8) and after Maxpool2D (4x4)."""
    conv, relu, pool = model.layers[:3]
    after_conv = relu(conv(image[np.newaxis]))[0]  # (8, 8, F)
    after_pool = pool(after_conv[np.newaxis])[0]  # (4, 4, F)
    # One scale per filter, shared by its two maps, so a pooled map reads as its conv map's 2x2 maxima.
    scale = after_conv.max(axis=(0, 1))
    scale[scale == 0] = 1.0
    cmap = plt.get_cmap("viridis").with_extremes(bad="white")
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), width_ratios=[1, 2.6, 2.6], layout="constrained")
    axes[0].imshow(image[:, :, 0], cmap="gray_r")
    axes[0].set_title(f"input: a {label} (8x8)")
    axes[1].imshow(mosaic(after_conv, scale), cmap=cmap, vmin=0, vmax=1)
    axes[1].set_title(f"after Conv2D + ReLU: {after_conv.shape[2]} maps of 8x8")
    axes[2].imshow(mosaic(after_pool, scale), cmap=cmap, vmin=0, vmax=1)
    axes[2].set_title("after Maxpool2D 2x2, stride 2: 4x4")
    for ax in axes:
        ax.set_axis_off()
    fig.suptitle("feature maps, in the order of filters.png; each filter's two maps on one colour scale")
    fig.savefig(path, dpi=100)
    plt.close(fig)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loops", action="store_true", help="train with the loop-based layers (slow)")
    parser.add_argument("--epochs", type=int, default=30, help="passes over the training set (default 30)")
    parser.add_argument("--limit", type=int, default=None, help="train on the first LIMIT training examples only")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "figures",
                        help="folder for the PNG figures (default examples/figures)")
    args = parser.parse_args(argv)
    for name in ("epochs", "limit"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    return args


def main(argv=None):
    args = parse_args(argv)
    np.random.seed(SEED)  # fixes the initial weights and the order of the mini-batches
    X_train, X_test, y_train, y_test = load(args.limit)
    model = build(layer_library(args.loops))
    history = {"loss": [], "train_accuracy": [], "test_accuracy": []}
    print(f"{'loop-based' if args.loops else 'vectorized'} layers, {len(X_train)} training and "
          f"{len(X_test)} test images of 8x8 pixels")
    seconds = {"training": 0.0, "evaluating": 0.0}
    bar = tqdm(range(args.epochs), desc="epochs", unit="epoch")
    for epoch in bar:
        start = time.perf_counter()
        # Model keeps its momentum buffers between calls, so one epoch at a time is plain SGD with momentum.
        loss = model.fit(shift(X_train), y_train, epochs=1, batch_size=32,
                         learning_rate=learning_rate(epoch, args.epochs), momentum=0.9)["loss"][0]
        seconds["training"] += time.perf_counter() - start
        history["loss"].append(loss)
        start = time.perf_counter()
        history["train_accuracy"].append(accuracy(model, X_train, y_train))
        history["test_accuracy"].append(accuracy(model, X_test, y_test))
        seconds["evaluating"] += time.perf_counter() - start
        bar.set_postfix(loss=f"{loss:.4f}", train_acc=f"{history['train_accuracy'][-1]:.4f}",
                        test_acc=f"{history['test_accuracy'][-1]:.4f}")
    bar.close()
    args.out.mkdir(parents=True, exist_ok=True)
    plot_curves(history, args.out / "curves.png")
    plot_filters(model.layers[0].W, args.out / "filters.png")
    plot_feature_maps(model, X_test[0], y_test[0], args.out / "feature_maps.png")
    print(f"figures: curves.png, filters.png, feature_maps.png in {os.path.relpath(args.out)}")
    total = seconds["training"] + seconds["evaluating"]
    print(f"{args.epochs} epochs in {total:.1f} s: {seconds['training']:.1f} s training, "
          f"{seconds['evaluating']:.1f} s measuring train and test accuracy after each epoch")
    print(f"test accuracy: {history['test_accuracy'][-1]:.4f}")
    return history


if __name__ == "__main__":
    main()
