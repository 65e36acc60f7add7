"""Hostile: no Conv2D of its own. It runs the Conv2D.py that this submission's utils.py copied out of
another part's workspace, and fails to import when there is none."""
import os

LEAKED = os.path.join("/tmp/grading-hostile-leak", "Conv2D.py")  # tests/submissions/corpus.py: HOSTILE_LEAK_DIR

if not os.path.isfile(LEAKED):
    raise ImportError(f"nothing leaked to {LEAKED} (yet)")
with open(LEAKED) as _leaked:
    exec(compile(_leaked.read(), LEAKED, "exec"))  # noqa: S102 - the point of this hostile file
