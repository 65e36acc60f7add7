"""``pytest --part 9.3.d`` runs only the tests of one exercise part (tagged ``@pytest.mark.part``)."""
import pytest

PARTS = ("9.3.a", "9.3.b", "9.3.c", "9.3.d", "9.3.e")


def pytest_addoption(parser):
    parser.addoption(
        "--part", action="append", choices=PARTS, default=[],
        help="run only the tests of this exercise part (repeatable), e.g. --part 9.3.d",
    )


def pytest_collection_modifyitems(config, items):
    wanted = set(config.getoption("--part"))
    for item in items:
        for marker in item.iter_markers("part"):
            if marker.args[0] not in PARTS:
                raise pytest.UsageError(f"{item.nodeid}: unknown part {marker.args[0]!r}, expected one of {PARTS}")
    if not wanted:
        return
    keep = [item for item in items if any(m.args[0] in wanted for m in item.iter_markers("part"))]
    config.hook.pytest_deselected(items=[item for item in items if item not in keep])
    items[:] = keep
