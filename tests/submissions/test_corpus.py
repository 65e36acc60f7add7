"""Self-tests of the submission corpus, without the grader.

They show that the corpus means what it says: every mutation still fits the reference, every bug
really changes what its part computes (and nothing the entry does not declare), every correct
alternative computes what the reference computes. Each submission runs in its own interpreter (its
files merged over a copy of the reference's `layers/`), never in this process. Hostile entries are
only checked to exist here; the grader's tests run them.
"""
import ast
import os
import pickle
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from submissions.corpus import (
    DIAGNOSES, FILES, GRADED_FILES, HOSTILE_LEAK_DIR, KINDS, PARTS, REPO, SUBMISSIONS, Mutation, MutationError,
    Region, build, reference_sources,
)

PROBE = Path(__file__).with_name("probe.py")
BY_KIND = {kind: [entry for entry in SUBMISSIONS if entry.kind == kind] for kind in KINDS}
NOTEBOOK_CONV = {"reference", "conv_hardcoded_output"}  # the slow notebook 9.3.d case only where needed


def ids(entries):
    return [entry.name for entry in entries]


# --- the corpus's shape --------------------------------------------------------------------------

def test_build_writes_the_three_graded_files_of_every_submission(tmp_path):
    written = build(tmp_path)
    assert sorted(written) == sorted(entry.name for entry in SUBMISSIONS)
    reference = reference_sources()
    for name, entry in written.items():
        if entry.link_layers:
            assert (tmp_path / name / "layers").is_symlink()
            continue
        for relative in GRADED_FILES:
            text = (tmp_path / name / relative).read_text()
            ast.parse(text)  # hostile files too must be valid Python: they attack at run time
        changed = [rel for rel in GRADED_FILES if (tmp_path / name / rel).read_text() != reference[rel]]
        assert changed, f"{name} is the reference itself"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(written)


def test_build_writes_only_the_names_asked_for(tmp_path):
    written = build(tmp_path, ["conv_flipped_kernel", "correct_vectorized"])
    assert sorted(written) == ["conv_flipped_kernel", "correct_vectorized"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conv_flipped_kernel", "correct_vectorized"]
    with pytest.raises(KeyError, match="no_such_submission"):
        build(tmp_path, ["no_such_submission"])


def test_names_are_unique():
    names = [entry.name for entry in SUBMISSIONS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("entry", SUBMISSIONS, ids=ids(SUBMISSIONS))
def test_entry_is_well_formed(entry):
    assert entry.kind in KINDS
    assert set(entry.lose) <= set(PARTS) and set(entry.may_also_lose) <= set(PARTS)
    assert not set(entry.lose) & set(entry.may_also_lose)
    assert entry.diagnosis is None or entry.diagnosis in DIAGNOSES
    own_files = sorted(p.relative_to(entry.files_dir).as_posix() for p in entry.files_dir.rglob("*") if p.is_file())
    assert set(own_files) <= set(GRADED_FILES), f"{entry.name}: stray files {own_files}"
    if entry.kind == "bug":
        assert entry.lose and (entry.mutations or entry.regions) and not own_files  # never by hand
    elif entry.kind == "correct":
        # whole regions only: the scaffolding around them is always the reference's
        assert entry.regions and not entry.mutations and not own_files and not entry.lose
    elif entry.kind == "hostile":
        assert entry.lose and not entry.mutations and (entry.regions or own_files)
    else:  # an attack solves nothing: every part must score 0
        assert entry.lose == list(PARTS) and not entry.mutations and not entry.regions
        assert bool(own_files) != entry.link_layers
    assert entry.diagnosis is None or entry.kind == "bug"
    assert not entry.link_layers or entry.kind == "attack"


def test_every_known_mistake_is_made_by_a_bug():
    # The grader's catalogue and the corpus cannot drift apart: a new row needs a bug that makes it.
    assert {entry.diagnosis for entry in BY_KIND["bug"]} - {None} == set(DIAGNOSES)


def test_every_folder_of_hand_written_files_belongs_to_an_entry():
    names = {entry.name for entry in SUBMISSIONS}
    assert {p.name for p in FILES.iterdir() if p.is_dir()} <= names


# --- mutations -----------------------------------------------------------------------------------

@pytest.mark.parametrize("entry", BY_KIND["bug"], ids=ids(BY_KIND["bug"]))
def test_every_mutation_applies_exactly_once(entry):
    sources = reference_sources()
    for mutation in entry.regions + entry.mutations:
        mutated = mutation.apply(sources[mutation.file])  # raises MutationError unless found exactly once
        assert mutated != sources[mutation.file]
        sources[mutation.file] = mutated


@pytest.mark.parametrize("old, count", [
    ("h0 = h * 3", 0),                 # not there at all
    ("for ", 4),                       # four loops: ambiguous
    ("Forgetting the stride", 0),      # in the docstring, outside the student region: not student code
])
def test_a_mutation_that_does_not_fit_exactly_once_raises(old, count):
    source = reference_sources()["layers/Maxpool2D.py"]
    with pytest.raises(MutationError, match=f"found it {count} times"):
        Mutation("layers/Maxpool2D.py", "Maxpool2D.__call__", old, "x").apply(source)


def test_a_mutation_of_a_missing_function_raises():
    source = reference_sources()["layers/Maxpool2D.py"]
    with pytest.raises(MutationError, match="no function Maxpool2D.forward"):
        Mutation("layers/Maxpool2D.py", "Maxpool2D.forward", "h0 = h * s", "h0 = h").apply(source)


# --- behaviour, each submission in its own interpreter -----------------------------------------------

def _probe(workdir, name, notebook_conv):
    """Merge submission ``name`` (or none, for "reference") over a copy of `layers/` and probe it."""
    package = workdir / "merged" / name
    shutil.copytree(REPO / "layers", package / "layers", ignore=shutil.ignore_patterns("__pycache__"))
    if name != "reference":
        build(workdir / "built", [name])
        for relative in GRADED_FILES:
            shutil.copyfile(workdir / "built" / name / relative, package / relative)
    out = package / "records.pkl"
    command = [sys.executable, "-E", "-c", PROBE.read_text(), str(out), str(REPO / "tests")]
    done = subprocess.run(command + (["--notebook-conv"] if notebook_conv else []), cwd=package,
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"probing {name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return pickle.loads(out.read_bytes())


@pytest.fixture(scope="module")
def probes(tmp_path_factory):
    """Records of the reference, every bug and every correct alternative, probed in parallel."""
    workdir = tmp_path_factory.mktemp("corpus")
    names = ["reference"] + ids(BY_KIND["bug"]) + ids(BY_KIND["correct"])
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = pool.map(lambda name: _probe(workdir, name, name in NOTEBOOK_CONV), names)
        return dict(zip(names, results))


def _same(a, b):
    if isinstance(a, tuple) or isinstance(b, tuple):
        return isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                and a.dtype == b.dtype and np.allclose(a, b, rtol=1e-7, atol=1e-10))
    return a == b


def differing_parts(reference, records):
    """The parts with at least one record that is missing, extra or different."""
    keys = set(reference) | set(records)
    return {key.split()[0] for key in keys
            if key not in reference or key not in records or not _same(reference[key], records[key])}


def test_the_comparison_sees_a_difference_and_ignores_rounding():
    reference = {"9.3.d case: Z": np.ones((2, 2)), "9.3.b case: Z inputs unchanged": True}
    assert differing_parts(reference, {**reference, "9.3.d case: Z": np.ones((2, 2)) * (1 + 1e-12)}) == set()
    assert differing_parts(reference, {**reference, "9.3.d case: Z": np.ones((2, 2)) * 1.01}) == {"9.3.d"}
    assert differing_parts(reference, {**reference, "9.3.b case: Z inputs unchanged": False}) == {"9.3.b"}
    assert differing_parts(reference, {**reference, "9.3.d case: Z": "raised ValueError"}) == {"9.3.d"}
    assert differing_parts(reference, {**reference, "9.3.d case: Z": np.ones((2, 2), dtype=int)}) == {"9.3.d"}


def reference_for(name, probes):
    """The reference's records, without the notebook 9.3.d case unless ``name`` was probed with it."""
    reference = probes["reference"]
    if name in NOTEBOOK_CONV:
        return reference
    return {key: value for key, value in reference.items() if not key.startswith("9.3.d notebook")}


def test_the_reference_probe_covers_every_part(probes):
    assert {key.split()[0] for key in probes["reference"]} == set(PARTS)
    assert not any(isinstance(value, str) for value in probes["reference"].values()), "the reference raised"


@pytest.mark.parametrize("entry", BY_KIND["bug"], ids=ids(BY_KIND["bug"]))
def test_bug_changes_its_parts_and_no_others(entry, probes):
    differing = differing_parts(reference_for(entry.name, probes), probes[entry.name])
    assert set(entry.lose) <= differing, f"{entry.name} computes what the reference does in {set(entry.lose) - differing}"
    assert differing <= set(entry.lose) | set(entry.may_also_lose), \
        f"{entry.name} also changes {differing - set(entry.lose) - set(entry.may_also_lose)}, not declared"


@pytest.mark.parametrize("entry", BY_KIND["correct"], ids=ids(BY_KIND["correct"]))
def test_correct_alternative_agrees_with_the_reference_everywhere(entry, probes):
    assert differing_parts(reference_for(entry.name, probes), probes[entry.name]) == set()


def test_hard_coded_output_passes_the_notebook_mean_check(probes):
    # A grader that checks only the printed mean would pass it; its random cases must not.
    reference, hardcoded = probes["reference"], probes["conv_hardcoded_output"]
    assert hardcoded["9.3.d notebook: Z"].shape == reference["9.3.d notebook: Z"].shape
    assert hardcoded["9.3.d notebook: mean"] == pytest.approx(reference["9.3.d notebook: mean"], rel=1e-9)


# --- hostile: present, valid Python, different from the reference --------------------------------

@pytest.mark.parametrize("entry", BY_KIND["hostile"], ids=ids(BY_KIND["hostile"]))
def test_hostile_files_exist(entry):
    reference, sources = reference_sources(), entry.sources()
    own = [relative for relative in GRADED_FILES if (entry.files_dir / relative).is_file()]
    own += [region.file for region in entry.regions]
    assert own, f"{entry.name}: neither files in {entry.files_dir} nor regions"
    for relative in own:
        ast.parse(sources[relative])
        assert sources[relative] != reference[relative]


def test_a_region_of_a_missing_function_raises():
    with pytest.raises(MutationError, match="no function Maxpool2D.forward"):
        Region("layers/Maxpool2D.py", "Maxpool2D.forward", "Z = 0").apply(reference_sources()["layers/Maxpool2D.py"])


def test_a_region_keeps_the_reference_scaffolding_and_replaces_the_body_only():
    source = reference_sources()["layers/utils.py"]
    replaced = Region("layers/utils.py", "zero_padding", """
        X_pad = X.copy()
    """).apply(source)
    head, _, rest = replaced.partition("### BEGIN SOLUTION\n")
    body, _, tail = rest.partition("### END SOLUTION")
    assert head == source.partition("### BEGIN SOLUTION\n")[0]
    assert tail == source.partition("### END SOLUTION")[2]
    assert body == "    X_pad = X.copy()\n    "


def test_the_leak_folder_is_the_one_the_hostile_files_name():
    entry = next(e for e in SUBMISSIONS if e.name == "hostile_leak")
    for relative in ("layers/utils.py", "layers/Conv2D.py"):
        assert str(HOSTILE_LEAK_DIR) in (entry.files_dir / relative).read_text()


@pytest.mark.parametrize("entry", BY_KIND["attack"], ids=ids(BY_KIND["attack"]))
def test_attacks_hold_no_solution_and_fill_every_placeholder(entry, tmp_path):
    """Every point an attack scores is stolen: none of its lines is a line of a solution region."""
    from grading.release import solution_lines
    solution = solution_lines(reference_sources())
    build(tmp_path, [entry.name], {"@@MARKER@@": "m-1", "@@LISTENER_PORT@@": "1234", "@@GRADER_REPO@@": "/nowhere"})
    if entry.link_layers:
        return
    for relative in GRADED_FILES:
        text = (tmp_path / entry.name / relative).read_text()
        ast.parse(text)
        assert not {line.strip() for line in text.splitlines()} & solution, (entry.name, relative)
        assert "@@" not in text, (entry.name, relative)
