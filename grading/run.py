"""Running one part in the sandbox: the reference's run (its outputs are the expected ones, its time and
memory set the limits) and a submission's, judged by ``grading/judge.py``.
"""
from pathlib import Path

import numpy as np

from . import sandbox
from .judge import judge_part, scrub
from .rubric import REFERENCE_SIBLINGS, RUBRIC, STUDENT_FILES


def run_reference(part, cases, timeout):
    """The reference's arrays for ``cases``, its wall time and its peak address space (bytes)."""
    ws = sandbox.make_workspace(reference=STUDENT_FILES)
    try:
        sandbox.write_job(ws, part, cases)
        child = sandbox.run_child(ws, timeout=timeout)
    finally:
        sandbox.remove_workspace(ws)
    if child.status != "ok":
        return {"part": part, "problem": f"the reference's process {child.problem}: {child.output_tail[-300:]}"}
    peak = float(child.arrays.pop("_meta.vmpeak_kb", np.zeros(1))[0]) * 1024
    return {"part": part, "arrays": child.arrays, "seconds": child.wall, "peak_bytes": peak, "problem": None}


MAX_FILE_BYTES = 2**20


def student_file_problem(path):
    """Why ``path``, in the grader's own copy of a submission (``__main__.take``, which follows no link),
    cannot be graded as a student's file (missing, too large), or None."""
    path = Path(path)
    if not path.is_file():
        return f"layers/{path.name} is missing from the submission"
    if path.stat().st_size > MAX_FILE_BYTES:
        return f"layers/{path.name} is larger than {MAX_FILE_BYTES // 2**20} MB"
    return None


def run_part(submission, part, cases, expected, timeout, memory_bytes):
    """Grade one part of one submission in its own sandboxed child; a dict for the JSON report."""
    spec = RUBRIC[part]
    result = {"points": 0.0, "max": spec.points, "title": spec.title, "feedback": [], "diagnoses": [],
              "seconds": 0.0, "status": "missing"}
    path = Path(submission) / "layers" / spec.file
    problem = student_file_problem(path)
    if problem:
        result["feedback"] = [f"{problem}: 0 points for this part"]
        return result
    ws = sandbox.make_workspace({spec.file: path}, reference=REFERENCE_SIBLINGS.get(part, ()))
    try:
        sandbox.write_job(ws, part, cases)
        child = sandbox.run_child(ws, timeout=timeout, memory_bytes=memory_bytes)
    finally:
        sandbox.remove_workspace(ws)
    try:
        points, feedback, diagnoses = judge_part(part, cases, expected, child)
    except Exception as exc:  # noqa: BLE001 - a grader bug must cost one part, not the batch, and show
        points, feedback, diagnoses = 0.0, [scrub(f"the grader could not judge the results ({type(exc).__name__}: "
                                                  f"{exc}); please report this to your instructor")], []
    result.update(points=points, feedback=feedback, diagnoses=diagnoses, seconds=round(child.wall, 2),
                  status=child.status)
    return result
