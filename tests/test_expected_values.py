"""The notebook's printed values have one copy, ``grading/notebook_values.py``: the tests' module and the
grader's judge both read it, so they cannot drift apart."""
import expected_values as ev
from grading import cases, judge
from grading import notebook_values as nv

NAMES = [name for name in vars(nv) if name.isupper()]


def test_the_tests_read_the_graders_values():
    assert NAMES
    for name in NAMES:
        assert getattr(ev, name) is getattr(nv, name), name


def test_the_grader_judges_with_the_same_values():
    assert judge.NOTEBOOK["9.3.a"][1] == nv.IMAGE_BATCH_PADDED_SHAPE
    assert judge.NOTEBOOK["9.3.b"][1] == nv.MAXPOOL_OUT_MEAN
    assert judge.NOTEBOOK["9.3.c"][1] == nv.MAXPOOL_GRAD_MEAN_FIRST_EXAMPLE
    assert judge.NOTEBOOK["9.3.d"][1] == nv.CONV_Z_MEAN and judge.NOTEBOOK_Z_SHAPE == nv.CONV_Z_SHAPE
    assert judge.NOTEBOOK["9.3.e"][1] == (nv.CONV_DX_MEAN, nv.CONV_DW_MEAN, nv.CONV_DB_MEAN)


def test_the_notebook_cells_the_grader_replays_draw_the_notebooks_inputs():
    X_pool = cases.notebook_cases("9.3.b")[0]["inputs"]["X"]
    assert X_pool.shape == nv.MAXPOOL_X_SHAPE and ev.notebook_9_3_b()[1].shape == nv.MAXPOOL_OUT_SHAPE
    assert cases.notebook_cases("9.3.a")[0]["inputs"]["X"].tolist() == ev.notebook_9_3_a()[0].tolist()


def test_the_readme_shows_the_values_of_notebook_values():
    """The README's table of printed values is for readers; this keeps it from drifting off the one copy."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for name in NAMES:
        value = getattr(nv, name)
        if isinstance(value, float):
            assert repr(value) in readme, f"README.md does not show {name} = {value!r}"
