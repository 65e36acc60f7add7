"""``pytest --part 9.3.d`` runs only the tests of one exercise part (tagged ``@pytest.mark.part``).

The parts are the markers' own: the option knows no list of its own to keep up to date.
"""
import pytest


def pytest_addoption(parser):
    parser.addoption(
        "--part", action="append", default=[], metavar="PART",
        help="run only the tests of this exercise part (repeatable), e.g. --part 9.3.d",
    )


def pytest_collection_modifyitems(config, items):
    wanted = config.getoption("--part")
    if not wanted:
        return
    known = sorted({marker.args[0] for item in items for marker in item.iter_markers("part")})
    unknown = [part for part in wanted if part not in known]
    if unknown:
        raise pytest.UsageError(f"--part {unknown[0]}: no test is tagged with it; the parts are {', '.join(known)}")
    keep = [item for item in items if any(m.args[0] in wanted for m in item.iter_markers("part"))]
    config.hook.pytest_deselected(items=[item for item in items if item not in keep])
    items[:] = keep
