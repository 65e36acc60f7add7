"""examples/train_digits.py end to end on a small subset: the last line it prints and the figures it saves.

A smoke test only: the accuracy and the time of a full run are measured by running the script (README).
"""
import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import layers
from layers import vectorized

SCRIPT = Path(__file__).resolve().parent.parent / "examples" / "train_digits.py"
spec = importlib.util.spec_from_file_location("train_digits", SCRIPT)
train_digits = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train_digits)


def test_two_epochs_on_a_subset_end_with_the_accuracy_and_write_the_figures(tmp_path, capsys):
    history = train_digits.main(["--epochs", "2", "--limit", "64", "--out", str(tmp_path / "figures")])
    last = capsys.readouterr().out.rstrip("\n").splitlines()[-1]
    assert re.fullmatch(r"test accuracy: [01]\.\d{4}", last), last
    assert last == f"test accuracy: {history['test_accuracy'][-1]:.4f}"
    assert len(history["loss"]) == len(history["train_accuracy"]) == len(history["test_accuracy"]) == 2
    for name in ("curves.png", "filters.png", "feature_maps.png"):
        path = tmp_path / "figures" / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{name} is not a PNG"


class Built(Exception):
    """Stops main() right after it has chosen its layers."""


@pytest.mark.parametrize("argv, conv_type", [(["--loops"], layers.Conv2D), ([], vectorized.Conv2D)])
def test_main_builds_the_network_from_the_layers_the_option_asks_for(monkeypatch, argv, conv_type):
    def build(lib):
        model = original_build(lib)
        raise Built(type(model.layers[0]), type(model.layers[2]))

    original_build = train_digits.build
    monkeypatch.setattr(train_digits, "build", build)
    with pytest.raises(Built) as built:
        train_digits.main(argv + ["--epochs", "1", "--limit", "8"])
    assert built.value.args[0] is conv_type
    assert built.value.args[1] is (layers.Maxpool2D if conv_type is layers.Conv2D else vectorized.Maxpool2D)


def test_shift_moves_each_image_by_at_most_one_pixel_and_keeps_its_input():
    X = train_digits.load(limit=20)[0]
    X_before = X.copy()
    shifted = train_digits.shift(X)
    assert shifted.shape == X.shape
    np.testing.assert_array_equal(X, X_before)
    padded = np.pad(X, ((0, 0), (1, 1), (1, 1), (0, 0)))
    for original, moved in zip(padded, shifted):
        assert any(np.array_equal(moved, original[r:r + 8, c:c + 8]) for r in range(3) for c in range(3))


def test_without_the_vectorized_layers_it_says_to_use_loops(monkeypatch):
    # as in the student release, which leaves layers/vectorized.py out
    monkeypatch.delattr(layers, "vectorized", raising=False)
    monkeypatch.setitem(sys.modules, "layers.vectorized", None)
    with pytest.raises(SystemExit, match="use --loops"):
        train_digits.layer_library(loops=False)
    assert train_digits.layer_library(loops=True) is layers
