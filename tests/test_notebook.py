"""The notebook, run once by a real Jupyter kernel: it runs cleanly, prints the values of
``expected_values`` part by part, draws the padding figure, and still holds the seed's cells."""
import json
import re
import subprocess
import sys
from pathlib import Path

import nbclient
import nbformat
import numpy as np
import pytest

import expected_values as ev
import oracle

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "exercise_9_3.ipynb"
SHARED = ROOT.parent / "shared"
SEED = SHARED / "seed" / "exercise_9_3.txt"
CHECKER = SHARED / "tools" / "check_notebook.py"

NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"

# Each part's code cell, recognised by a line of its source.
CELL_MARKERS = {
    "9.3.a": "image_batch_padded = zero_padding(image_batch, 2)",
    "9.3.b": "out = maxpool2D(X)",
    "9.3.c": "maxpool2D.grad(X_in_grad)",
    "9.3.d": "Z = conv_layer(X)",
    "9.3.e": "conv_layer.grad(Z)",
}


@pytest.fixture(scope="module")
def executed():
    """The notebook after one top-to-bottom run in a fresh python3 kernel started in the repository
    root; run on an in-memory copy, so the file on disk is never written."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=120, allow_errors=True,
        resources={"metadata": {"path": str(ROOT)}},
    )
    client.execute()
    return nb


def code_cell(nb, part):
    cells = [c for c in nb.cells if c.cell_type == "code" and CELL_MARKERS[part] in c.source]
    assert len(cells) == 1, f"expected one code cell of {part} containing {CELL_MARKERS[part]!r}, found {len(cells)}"
    return cells[0]


def stdout_of(cell):
    errors = [o for o in cell.outputs if o.output_type == "error"]
    assert not errors, f"the cell raised {errors[0].ename}: {errors[0].evalue}"
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


def printed_value(text, label):
    """The number printed after ``label`` (e.g. ``"dX mean ="``)."""
    match = re.search(re.escape(label) + r"\s*(" + NUMBER + ")", text)
    assert match, f"{label!r} not found in the cell's output:\n{text}"
    return float(match.group(1))


def printed_array(text, label):
    """The numbers of the array printed after ``label`` up to its closing brackets."""
    start = text.index(label) + len(label)
    depth, end = 0, start
    for end in range(start, len(text)):
        depth += {"[": 1, "]": -1}.get(text[end], 0)
        if depth == 0 and text[end] == "]":
            break
    return np.array([float(x) for x in re.findall(NUMBER, text[start:end + 1])])


def printed_shapes(text):
    return [tuple(int(n) for n in s.split(",") if n.strip()) for s in re.findall(r"\(([\d,\s]+)\)", text)]


def test_no_cell_raised(executed):
    errors = [(i, o.ename, o.evalue) for i, c in enumerate(executed.cells) if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    assert not errors, f"cells raised: {errors}"
    assert all(c.execution_count for c in executed.cells if c.cell_type == "code"), "a cell did not run"


@pytest.mark.part("9.3.a")
def test_9_3_a_prints_the_padded_shapes(executed):
    text = stdout_of(code_cell(executed, "9.3.a"))
    shape = re.search(r"image_batch\.shape = (\(.*?\))", text).group(1)
    padded_shape = re.search(r"image_batch_padded\.shape = (\(.*?\))", text).group(1)
    assert printed_shapes(shape) == [ev.IMAGE_BATCH_SHAPE]
    assert printed_shapes(padded_shape) == [ev.IMAGE_BATCH_PADDED_SHAPE]
    np.random.seed(ev.NUMPY_RANDOM_SEED)
    image_row = np.random.randn(*ev.IMAGE_BATCH_SHAPE)[1, 1]
    np.testing.assert_allclose(printed_array(text, "image_batch[1,1] ="), image_row.ravel(), atol=1e-8)
    # row 1 of a batch padded by 2 is still padding
    np.testing.assert_array_equal(printed_array(text, "image_batch_padded[1,1] ="), np.zeros(7 * 3))


@pytest.mark.part("9.3.a")
def test_9_3_a_draws_the_figure(executed):
    cell = code_cell(executed, "9.3.a")
    stdout_of(cell)
    assert any("image/png" in o.get("data", {}) for o in cell.outputs if o.output_type == "display_data"), \
        "the 9.3.a cell displayed no image"


@pytest.mark.part("9.3.b")
def test_9_3_b_prints_the_pooled_array(executed):
    out = printed_array(stdout_of(code_cell(executed, "9.3.b")), "out =")
    assert out.size == np.prod(ev.MAXPOOL_OUT_SHAPE)
    # numpy prints 8 decimals: each entry is off by at most 5e-9, and so is the mean
    assert np.mean(out) == pytest.approx(ev.MAXPOOL_OUT_MEAN, abs=1e-8)
    np.random.seed(ev.NUMPY_RANDOM_SEED)
    expected = oracle.maxpool_forward(np.random.randn(5, 5, 3, 2), 2, 1)
    np.testing.assert_allclose(out, expected.ravel(), atol=1e-8)


@pytest.mark.part("9.3.c")
def test_9_3_c_prints_the_mean_gradient(executed):
    text = stdout_of(code_cell(executed, "9.3.c"))
    assert float(text.strip()) == pytest.approx(ev.MAXPOOL_GRAD_MEAN_FIRST_EXAMPLE, rel=ev.RTOL)


@pytest.mark.part("9.3.d")
def test_9_3_d_prints_mean_and_shape(executed):
    text = stdout_of(code_cell(executed, "9.3.d"))
    assert printed_value(text, "Mean Z =") == pytest.approx(ev.CONV_Z_MEAN, rel=ev.RTOL)
    assert printed_shapes(text) == [ev.CONV_Z_SHAPE]


@pytest.mark.part("9.3.e")
def test_9_3_e_prints_the_gradients_means(executed):
    text = stdout_of(code_cell(executed, "9.3.e"))
    assert printed_shapes(text) == [ev.CONV_Z_SHAPE]
    assert printed_value(text, "dX mean =") == pytest.approx(ev.CONV_DX_MEAN, rel=ev.RTOL)
    assert printed_value(text, "dW mean =") == pytest.approx(ev.CONV_DW_MEAN, rel=ev.RTOL)
    assert printed_value(text, "db mean =") == pytest.approx(ev.CONV_DB_MEAN, rel=ev.RTOL)


def test_committed_notebook_has_no_outputs_and_a_python3_kernel():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert len(code) == 1 + len(CELL_MARKERS), "the seed has six code cells"
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), \
        "the committed notebook stores outputs"


def test_notebook_still_holds_the_seed():
    if not CHECKER.exists() or not SEED.exists():
        pytest.skip("../shared (seed text and check_notebook.py) is not beside the repository")
    result = subprocess.run([sys.executable, str(CHECKER), str(SEED), str(NOTEBOOK)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_notebook_cells_are_the_stored_seed_cells():
    # tests/notebook_cells.json holds the seed's cells (checked against ../shared by the test above
    # wherever ../shared is beside the repository), so a clone without ../shared still notices an edit.
    stored = json.loads((ROOT / "tests" / "notebook_cells.json").read_text(encoding="utf-8"))
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    cells = [{"cell_type": c["cell_type"], "source": "".join(c["source"])} for c in nb["cells"]]
    assert cells == stored, "exercise_9_3.ipynb's cells differ from the seed's (tests/notebook_cells.json)"
