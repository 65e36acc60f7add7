"""Attack: see Conv2D.py; this file loads a stolen zero_padding (self-contained: its siblings are stubs
while its part is graded)."""
import glob
import importlib.util

MARKER = "@@MARKER@@"


def _load():
    for path in sorted(glob.glob(f"/dev/shm/{MARKER}/utils.py") + glob.glob(f"/tmp/{MARKER}/utils.py")):
        spec = importlib.util.spec_from_file_location("layers._stolen_utils", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    raise ImportError(f"no stolen utils.py in /dev/shm/{MARKER} or /tmp/{MARKER}")


zero_padding = _load().zero_padding
