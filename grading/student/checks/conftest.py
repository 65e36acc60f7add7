"""A part not written yet fails its checks with one line naming what to implement, not a traceback;
the first lines of the run show the numpy in use beside the one grading uses.

The ``--part`` option lives in the release's top-level conftest.py, a copy of the repository's
tests/conftest.py. This hook is the students' only: the repository's tests run against the reference,
where nothing raises NotImplementedError.
"""
from pathlib import Path

import numpy as np
import pytest
from packaging.requirements import Requirement  # installed with pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None and call.excinfo.errisinstance(NotImplementedError):
        report.longrepr = f"not implemented yet: {call.excinfo.value}"


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    # Grading runs the numpy of requirements.txt; another version can accept code that grading rejects.
    # (Said here, after "collected N items": pytest asks for header lines before it loads this file.)
    lines = (Path(session.config.rootpath) / "requirements.txt").read_text(encoding="utf-8").splitlines()
    wanted = next(line.split("#")[0].strip() for line in lines if line.startswith("numpy"))
    if Requirement(wanted).specifier.contains(np.__version__):
        note = f"numpy {np.__version__}, as grading uses ({wanted})"
    else:
        note = f"numpy {np.__version__}, but grading uses {wanted}: run  pip install -r requirements.txt"
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(note)
