"""The rubric: what each exercise part is worth and which code it grades. Edit this table to re-weight.

The notebook's heading announces 6 points while the parts add up to 7: a submission is graded out of
``MAX_POINTS`` = 6 and whatever it earns above that is a bonus (a full solution scores 7/6).
"""
from collections import namedtuple

Part = namedtuple("Part", "points file functions title")

RUBRIC = {
    "9.3.a": Part(1, "utils.py", ("zero_padding",), "zero padding"),
    "9.3.b": Part(1, "Maxpool2D.py", ("Maxpool2D.__call__",), "max pooling, forward"),
    "9.3.c": Part(2, "Maxpool2D.py", ("Maxpool2D.create_mask", "Maxpool2D.grad"), "max pooling, backward"),
    "9.3.d": Part(1, "Conv2D.py", ("Conv2D.__call__",), "convolution, forward"),
    "9.3.e": Part(2, "Conv2D.py", ("Conv2D.grad",), "convolution, backward"),
}

MAX_POINTS = 6
TOTAL_POINTS = sum(part.points for part in RUBRIC.values())  # 7: a full solution's score

# The three files a submission hands in, under its layers/ folder.
STUDENT_FILES = ("utils.py", "Maxpool2D.py", "Conv2D.py")

# The reference files a part's code calls, put beside the student's file when that part is graded; every
# other student file in the part's workspace is stubbed (solution regions replaced by the release's
# NotImplementedError), so no part's workspace holds a solution it does not need. Conv2D calls
# zero_padding, so 9.3.d and 9.3.e get the reference utils.py: zero padding is one np.pad call, a leak
# of the solution to 9.3.a accepted so that a wrong zero_padding costs 9.3.a only.
REFERENCE_SIBLINGS = {"9.3.d": ("utils.py",), "9.3.e": ("utils.py",)}
