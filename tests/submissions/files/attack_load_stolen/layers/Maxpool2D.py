"""Attack: see Conv2D.py; this file loads a stolen Maxpool2D (self-contained: its siblings are stubs
while its part is graded)."""
import glob
import importlib.util

MARKER = "@@MARKER@@"


def _stolen(name):
    for path in sorted(glob.glob(f"/dev/shm/{MARKER}/{name}.py") + glob.glob(f"/tmp/{MARKER}/{name}.py")):
        spec = importlib.util.spec_from_file_location(f"layers._stolen_{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    raise ImportError(f"no stolen {name}.py in /dev/shm/{MARKER} or /tmp/{MARKER}")


Maxpool2D = _stolen("Maxpool2D").Maxpool2D
