"""The catalogue of known mistakes (``grading/mistakes.py``): its variants, shape rules and exception rules,
on hand-made cases whose answers are worked out here, and as the judge prints them.

That every row names the bug of the corpus that makes it is shown by ``tests/test_grading.py``, which
grades the corpus; that every row has such a bug, by ``tests/submissions/test_corpus.py``.
"""
import numpy as np
import pytest

from grading import cases, judge, mistakes
from grading.mistakes import ASSIGN, PAD_IGNORED, PAD_NEG, SHARED_MAP, STRIDE_IGNORED
from grading.release import solution_lines
from grading.rubric import STUDENT_FILES
from grading.sandbox import REPO, ChildResult


def conv_case(H, W, k, s, p, m=2, C_in=1, C_out=3):
    params = {"in_channels": C_in, "out_channels": C_out, "kernel_size": k, "stride": s, "padding": p}
    inputs = {"X": np.zeros((m, H, W, C_in)), "W": np.zeros((k, k, C_in, C_out)), "b": np.zeros(C_out)}
    return {"id": "r0", "op": "conv_forward", "params": params, "label": "", "inputs": inputs}


# --- the shared maximum map, worked out by hand ------------------------------------------------------

# One example, one channel, k = 2, stride 1: the first window's maximum is 3 at (0, 1), the second's 4
# at (1, 2); (0, 1) lies in both windows, and the second window covers it last.
X = np.array([[1.0, 3.0, 2.0], [0.0, 0.0, 4.0]]).reshape(1, 2, 3, 1)
G = np.array([10.0, 100.0]).reshape(1, 1, 2, 1)


@pytest.mark.parametrize("switches, dX", [
    ({}, [[0, 10, 0], [0, 0, 100]]),                                     # the reference
    ({"assign": True}, [[0, 0, 0], [0, 0, 100]]),                        # the second window overwrites (0, 1)
    ({"assign": True, "shared_map": True}, [[0, 100, 0], [0, 0, 100]]),  # (0, 1) was a maximum: it gets 100
    ({"shared_map": True}, [[0, 110, 0], [0, 0, 100]]),                  # ... added to the first window's 10
])
def test_pool_grad_variants_on_a_hand_worked_case(switches, dX):
    got = mistakes.pool_grad_variant(X, G, 2, 1, **switches)
    np.testing.assert_array_equal(got, np.array(dX, dtype=float).reshape(X.shape))


def test_the_shared_map_with_assignment_is_named_by_both_its_mistakes():
    case = {"id": "r0", "op": "pool_grad", "params": {"kernel_size": 2, "stride": 1}, "label": "",
            "inputs": {"X": X, "G": G}}
    named = [names for names, outputs in mistakes.variants(case)
             if np.array_equal(outputs["dX"], np.array([[0, 100, 0], [0, 0, 100]], dtype=float).reshape(X.shape))]
    assert named == [(ASSIGN, SHARED_MAP)]


@pytest.mark.parametrize("seed", [0, 1])
def test_every_switch_changes_what_its_ops_return(seed):
    """A switch that changed nothing for an op it is listed with could never name a mistake there."""
    plan = cases.make_plan(seed, notebook_conv=False)
    drawn = [case for part_cases in plan.values() for case in part_cases if case["id"] != "nb"]
    for row in mistakes.CATALOGUE:
        for op in row.ops:
            def changes(case):
                variant = mistakes.VARIANTS[op](case, **{row.switch: True})
                right = mistakes.VARIANTS[op](case)
                return variant is not None and any(
                    variant[n].shape != right[n].shape or not np.allclose(variant[n], right[n]) for n in right)
            assert any(changes(case) for case in drawn if case["op"] == op), (row.name, op)


# --- shapes --------------------------------------------------------------------------------------

@pytest.mark.parametrize("size, shape, named", [
    # H 7, W 6, kernel 3, stride 2, padding 1: right (4, 3); no padding (3, 2); stride 1 (7, 6); neither (5, 4)
    ((7, 6, 3, 2, 1), (2, 3, 2, 3), [PAD_IGNORED]),
    ((7, 6, 3, 2, 1), (2, 7, 6, 3), [STRIDE_IGNORED]),
    ((7, 6, 3, 2, 1), (2, 5, 4, 3), [STRIDE_IGNORED, PAD_IGNORED]),
    ((7, 6, 3, 2, 1), (2, 6, 6, 3), []),                  # no mistake gives this shape
    ((7, 6, 3, 2, 1), (3, 3, 2, 3), []),                  # another batch size
    # stride 1: ignoring the stride changes no shape, so (3, 4) is padding ignored, with or without it
    ((5, 6, 3, 1, 1), (2, 3, 4, 3), [PAD_IGNORED]),
    # padding 0: ignoring it changes no shape, so (5, 4) is the stride ignored, with or without it
    ((7, 6, 3, 2, 0), (2, 5, 4, 3), [STRIDE_IGNORED]),
    ((7, 6, 3, 1, 0), (2, 4, 4, 3), []),
    # H 6, W 6, kernel 3, stride 3, padding 1: without padding the shape is the right one, (2, 2)
    ((6, 6, 3, 3, 1), (2, 2, 2, 3), []),
    ((6, 6, 3, 3, 1), (2, 6, 6, 3), [STRIDE_IGNORED]),
])
def test_a_shape_names_a_mistake_only_when_it_leaves_no_doubt(size, shape, named):
    assert mistakes.shape_diagnoses(conv_case(*size), "Z", shape) == named


def test_pooling_shapes_name_the_stride_and_never_the_padding():
    case = {"id": "r0", "op": "pool_forward", "params": {"kernel_size": 2, "stride": 2}, "label": "",
            "inputs": {"X": np.zeros((2, 6, 5, 3))}}  # right (3, 2), stride 1 (5, 4)
    assert mistakes.shape_diagnoses(case, "Z", (2, 5, 4, 3)) == [STRIDE_IGNORED]
    assert mistakes.shape_diagnoses(case, "Z", (2, 2, 2, 3)) == []
    notebook = {**case, "params": {"notebook": True}}
    assert mistakes.shape_diagnoses(notebook, "Z", (2, 5, 4, 3)) == []


def test_the_judge_names_a_shape_and_still_reports_it():
    case = conv_case(7, 6, 3, 2, 1)
    got = {"Z": np.zeros((2, 7, 6, 3)), **{f"{name}_after": value for name, value in case["inputs"].items()}}
    ok, message, found = judge.judge_case("9.3.d", case, {"Z": np.zeros((2, 4, 3, 3))}, got)
    assert not ok and "Z has shape (2, 7, 6, 3), expected (2, 4, 3, 3)" in message
    assert found == [STRIDE_IGNORED]


# --- exceptions ----------------------------------------------------------------------------------

def padded(*paddings, key="padding"):
    return [{"id": f"c{n}", "params": {key: p}} for n, p in enumerate(paddings)]


RAISED_ON_ALL = "your code raised on every check with {} and on no other"
FAILED_ON_ALL = "your code failed every check with {} and no other, raising on {} of them"


@pytest.mark.parametrize("part_cases, raised, failed, named", [
    (padded(0, 1, 0, 2), ["c0", "c2"], ["c0", "c2"], [(PAD_NEG, RAISED_ON_ALL.format("padding 0"))]),
    (padded(0, 1, 0, 2), ["c0", "c2"], ["c0", "c1", "c2", "c3"], [(PAD_NEG, RAISED_ON_ALL.format("padding 0"))]),
    (padded(0, 1, 0, 2), ["c1", "c3"], ["c1", "c3"], [(PAD_IGNORED, RAISED_ON_ALL.format("padding > 0"))]),
    (padded(0, 1, 0, 2), ["c1"], ["c1", "c3"], [(PAD_IGNORED, FAILED_ON_ALL.format("padding > 0", 1))]),
    (padded(0, 1, 0, 2), ["c1"], ["c0", "c1", "c3"], []),       # a case without padding fails too
    (padded(0, 1, 0, 2), ["c0"], ["c0"], []),                   # not every case with padding 0
    (padded(0, 1, 0, 2), ["c0", "c1", "c2"], ["c0", "c1", "c2"], []),  # and one with padding
    (padded(0, 1, 0, 2), [], ["c1", "c3"], []),                 # failing without raising: the values tell
    (padded(0, 1, 0, 2), ["c0", "c1", "c2", "c3"], ["c0", "c1", "c2", "c3"], []),  # nothing to tell apart
    (padded(0, 0), ["c0", "c1"], ["c0", "c1"], []),             # no case with padding to compare with
    (padded(0, 2, 1, key="pad"), ["c0"], ["c0"], [(PAD_NEG, RAISED_ON_ALL.format("padding 0"))]),  # zero_padding
    (padded(0, 2, 1, key="pad"), ["c1", "c2"], ["c1", "c2"], []),  # padding ignored is Conv2D's windows only
    ([{"id": "c0", "params": {"kernel_size": 2, "stride": 1}}, {"id": "c1", "params": {}}], ["c0"], ["c0"], []),
])
def test_a_part_that_raises_on_exactly_the_cases_of_a_mistake_is_named(part_cases, raised, failed, named):
    assert mistakes.raise_diagnoses(part_cases, raised, failed) == named


def test_the_feedback_says_which_cases_raised_and_gives_the_hint():
    right = mistakes.VARIANTS["conv_grad"]  # no switch on: the reference (test_grading.py shows it)
    drawn = cases.make_plan(4, parts=["9.3.e"], notebook_conv=False)["9.3.e"]
    assert {case["params"]["padding"] for case in drawn} >= {0, 1}
    arrays = {}
    for case in drawn:
        arrays.update({f"{case['id']}.{name}_after": value for name, value in case["inputs"].items()})
        if case["params"]["padding"] == 0:
            arrays[f"{case['id']}.error"] = np.frombuffer(b"ValueError: could not broadcast", dtype=np.uint8)
        else:
            arrays.update({f"{case['id']}.{name}": value for name, value in right(case).items()})
    expected = {key: value for key, value in arrays.items() if not key.endswith(".error")}
    expected.update({f"{case['id']}.{name}": value for case in drawn for name, value in right(case).items()})
    child = ChildResult(arrays, "ok", 0.1, "", None, None)
    points, feedback, diagnoses = judge.judge_part("9.3.e", drawn, expected, child)
    assert points == 0 and diagnoses == [PAD_NEG]
    assert feedback[-1] == (f"likely mistake: {PAD_NEG} ({RAISED_ON_ALL.format('padding 0')}) — "
                            f"{mistakes.BY_NAME[PAD_NEG].hint}")


# --- the hints -----------------------------------------------------------------------------------

def test_no_hint_shows_a_line_of_the_reference_solution():
    solution = solution_lines({f"layers/{name}": (REPO / "layers" / name).read_text() for name in STUDENT_FILES})
    assert solution
    for row in mistakes.CATALOGUE:
        assert row.hint and "\n" not in row.hint
        assert not [line for line in solution if line in row.hint], row.name
