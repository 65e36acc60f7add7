"""Attack: holds no solution of its own and takes the grader's: the reference package in the repository
the grader runs from (its path handed in by the test, as by a student who guessed it), as zero_padding,
Maxpool2D and Conv2D. Maxpool2D.py and Conv2D.py are this same file: while one part is graded, the other
files beside it are stubs.

A grader whose child can read the repository gives this submission every point.
"""
import importlib.util
import sys

GRADER = "@@GRADER_REPO@@"


def _grader_layers():
    if "stolen_layers" not in sys.modules:
        spec = importlib.util.spec_from_file_location("stolen_layers", f"{GRADER}/layers/__init__.py",
                                                      submodule_search_locations=[f"{GRADER}/layers"])
        module = importlib.util.module_from_spec(spec)
        sys.modules["stolen_layers"] = module
        try:
            spec.loader.exec_module(module)
        except OSError as exc:
            del sys.modules["stolen_layers"]
            raise ImportError(f"the grader's repository is out of reach: {type(exc).__name__}") from None
    return sys.modules["stolen_layers"]


zero_padding = _grader_layers().zero_padding
Maxpool2D = _grader_layers().Maxpool2D
Conv2D = _grader_layers().Conv2D
