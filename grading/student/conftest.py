"""``python -m pytest --part 9.3.d`` runs the checks of one part only (repeat --part for several).

Here, at the top of the folder, so that pytest knows --part whichever folder or file it is given.
"""
import pytest

PARTS = ("9.3.a", "9.3.b", "9.3.c", "9.3.d", "9.3.e")


def pytest_addoption(parser):
    parser.addoption(
        "--part", action="append", choices=PARTS, default=[],
        help="run only the checks of this exercise part (repeatable), e.g. --part 9.3.d",
    )


def pytest_collection_modifyitems(config, items):
    wanted = set(config.getoption("--part"))
    if not wanted:
        return
    keep = [item for item in items if any(m.args[0] in wanted for m in item.iter_markers("part"))]
    config.hook.pytest_deselected(items=[item for item in items if item not in keep])
    items[:] = keep


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # A part not written yet is not a bug: one line naming what to implement beats a traceback.
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None and call.excinfo.errisinstance(NotImplementedError):
        report.longrepr = f"not implemented yet: {call.excinfo.value}"
