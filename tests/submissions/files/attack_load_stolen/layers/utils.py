"""Attack: holds no solution of its own, and loads whatever solution files an earlier submission
(attack_process_chain) copied to /dev/shm or /tmp, as zero_padding, Maxpool2D and Conv2D. Maxpool2D.py
and Conv2D.py are this same file: while one part is graded, the other files beside it are stubs.

A grader that lets files or processes outlive a part gives this submission the reference's points.
"""
import glob
import importlib.util

MARKER = "@@MARKER@@"


def _stolen(name):
    for path in sorted(glob.glob(f"/dev/shm/{MARKER}/{name}.py") + glob.glob(f"/tmp/{MARKER}/{name}.py")):
        spec = importlib.util.spec_from_file_location(f"layers._stolen_{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # its relative imports resolve within layers
        return module
    raise ImportError(f"no stolen {name}.py in /dev/shm/{MARKER} or /tmp/{MARKER}")


zero_padding = _stolen("utils").zero_padding
Maxpool2D = _stolen("Maxpool2D").Maxpool2D
Conv2D = _stolen("Conv2D").Conv2D
