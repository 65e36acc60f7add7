"""Submissions written for testing the grader: common bugs, correct alternatives, hostile code.

A bug is the reference with textual mutations (``old -> new``) applied inside the student region
(``### BEGIN SOLUTION`` ... ``### END SOLUTION``) of a function, so the corpus follows the reference
as it changes; a mutation whose ``old`` text is no longer there exactly once raises ``MutationError``
instead of silently producing a correct "bug". A bug whose loops are built another way, and a correct
alternative, replace whole regions (``Region``): only the bodies are stored, and the scaffolding around
them (docstrings, validation, caching) is always the reference's. Hostile
submissions that need code outside the regions (at import) are hand-written files in
``files/<name>/layers/``; the files an entry does not provide are copied from the reference.

    build(dest, names=None) -> {name: Submission}
        writes dest/<name>/layers/{utils.py, Maxpool2D.py, Conv2D.py} for each selected entry.

Each entry says what a correct grader must do with it:

- ``lose``: the parts that must lose points (for hostile entries: the parts they attack, which must
  score 0). Every other part keeps full marks, except
- ``may_also_lose``: parts that call the broken code (Conv2D calls ``zero_padding``; ``grad`` needs a
  forward pass first). Whether they lose points depends on how the grader isolates parts, so a test
  accepts either outcome for them.
- ``diagnosis``: for bugs, the known mistake the grader's feedback should name (a name of the
  catalogue in ``grading/mistakes.py``, the ``DIAGNOSES`` here), or None where no listed name fits.

Attacks (kind ``attack``) go after the grader's containment rather than a part: they solve nothing (the
files they do not provide are the release's stubs), so every point they score is stolen. They are graded
by ``tests/test_isolation.py`` only, under each containment the machine has, never in the ordinary corpus
batch: without containment they would reach the grader's own processes and files. Their files carry
placeholders (``PLACEHOLDERS``) that ``build`` fills in.
"""
from __future__ import annotations

import ast
import contextlib
import os
import shutil
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from grading import mistakes
from grading.notebook_values import CONV_Z_MEAN
from grading.release import BEGIN, ReleaseError, find_regions
from grading.rubric import RUBRIC, STUDENT_FILES

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]  # tests/submissions/corpus.py -> the repository root
FILES = HERE / "files"
GRADED_FILES = tuple(f"layers/{name}" for name in STUDENT_FILES)
PARTS = tuple(RUBRIC)
KINDS = ("bug", "correct", "hostile", "attack")
DIAGNOSES = mistakes.NAMES  # what the grader can name: the catalogue's rows


# 9.3.d's printed mean, from the one copy of the notebook's values. test_corpus.py checks it against the
# reference's own output, so a change of the reference cannot leave this value behind unnoticed.
NOTEBOOK_CONV_Z_MEAN = CONV_Z_MEAN


# What an attack's files say instead of a value the test chooses: a marker to find its processes and files
# by, the port of a listener, the repository the grader runs from.
PLACEHOLDERS = ("@@MARKER@@", "@@LISTENER_PORT@@", "@@GRADER_REPO@@")

@contextlib.contextmanager
def run_as_utils(code):
    """Run ``code`` as a submission's ``layers/utils.py`` for 9.3.a in a sandboxed child (``from .real_utils
    import zero_padding`` gives it the reference's); yield ``(workspace, ChildResult)`` while the
    workspace is still there to look at."""
    from grading import cases, sandbox

    with tempfile.TemporaryDirectory() as folder:
        student = Path(folder) / "utils.py"
        student.write_text(code)
        ws = sandbox.make_workspace({"utils.py": student})
        try:
            shutil.copyfile(REPO / "layers" / "utils.py", ws / "layers" / "real_utils.py")
            sandbox.write_job(ws, "9.3.a", cases.make_plan(1, parts=["9.3.a"])["9.3.a"])
            yield ws, sandbox.run_child(ws, timeout=30, memory_bytes=2**30)
        finally:
            sandbox.remove_workspace(ws)


def processes_with(marker):
    """Pids of the processes whose command line holds ``marker`` (an attack's processes, say)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            pass
    return found


def files_with(marker, roots=("/tmp", "/var/tmp", "/dev/shm", "/run/lock")):
    """Paths directly in ``roots`` whose name holds ``marker``: what an attack left behind, each of which
    starts there (a walk below would meet the attack's own folders, nested thousands deep). The roots are
    written out here, not taken from ``sandbox.LITTER_ROOTS``: a folder the sandbox forgot to clear must
    still be looked in."""
    found = []
    for root in roots:
        try:
            found += [os.path.join(root, name) for name in os.listdir(root) if marker in name]
        except OSError:
            pass
    return found


# Where hostile_leak's files (which name it too) leave and look for the leaked files; a test that grades
# hostile_leak empties it before and after.
HOSTILE_LEAK_DIR = Path("/tmp/grading-hostile-leak")


class MutationError(ValueError):
    """A mutation no longer fits the reference: update the corpus along with the reference."""


@dataclass(frozen=True)
class Mutation:
    """Replace ``old`` by ``new`` in the student region of ``scope`` (``"Class.method"`` or ``"function"``)."""

    file: str
    scope: str
    old: str
    new: str

    def apply(self, source):
        """Return ``source`` mutated; raise ``MutationError`` unless ``old`` occurs exactly once there."""
        start, end = _solution_region(source, self.scope, self.file)
        region = source[start:end]
        count = region.count(self.old)
        if count != 1:
            raise MutationError(
                f"{self.file} {self.scope}: expected {self.old!r} exactly once in the student region, "
                f"found it {count} times — the reference changed; update tests/submissions/corpus.py"
            )
        mutated = source[:start] + region.replace(self.old, self.new) + source[end:]
        try:
            ast.parse(mutated)
        except SyntaxError as error:
            raise MutationError(f"{self.file} {self.scope}: {self.old!r} -> {self.new!r} breaks the syntax: {error}")
        return mutated


@dataclass(frozen=True)
class Region:
    """Replace the whole student region of ``scope`` by ``body`` (any indentation; re-indented to the
    region's own)."""

    file: str
    scope: str
    body: str

    def apply(self, source):
        """Return ``source`` with the region replaced; raise ``MutationError`` if it no longer fits."""
        start, end = _solution_region(source, self.scope, self.file)
        indent = source[source.rindex("\n", 0, end) + 1:end]  # the END marker's indentation
        body = textwrap.indent(textwrap.dedent(self.body).strip("\n") + "\n", indent)
        replaced = source[:start] + "\n" + body + indent + source[end:]
        try:
            ast.parse(replaced)
        except SyntaxError as error:
            raise MutationError(f"{self.file} {self.scope}: the alternative region breaks the syntax: {error}")
        return replaced


def _solution_region(source, scope, file):
    """Character span of the student region of the function ``scope`` in ``source``: from the end of its
    BEGIN marker to the start of its END marker (found as the release finds them)."""
    try:
        regions = [region for region in find_regions(source, file) if region["qualname"] == scope]
    except ReleaseError as error:
        raise MutationError(f"{file}: {error}") from None
    if not regions:
        raise MutationError(f"{file}: no function {scope} with a solution region — the reference changed; "
                            "update the corpus")
    lines = source.splitlines(keepends=True)
    begin, end = (sum(len(line) for line in lines[:regions[0][key] - 1]) for key in ("begin", "end"))
    return begin + lines[regions[0]["begin"] - 1].index(BEGIN) + len(BEGIN), end + len(regions[0]["indent"])


@dataclass
class Submission:
    """One submission: ``kind`` in KINDS, ``lose`` / ``may_also_lose`` part ids, ``diagnosis`` in DIAGNOSES
    or None; a bug has ``mutations`` of the reference or ``regions``, a correct alternative ``regions``, a
    hostile entry ``regions`` or its files in ``files_dir``."""

    name: str
    kind: str
    lose: list
    diagnosis: str | None
    description: str
    may_also_lose: list = field(default_factory=list)
    mutations: list = field(default_factory=list)
    regions: list = field(default_factory=list)
    link_layers: bool = False  # the submission's layers/ is a symbolic link to the repository's


    @property
    def files_dir(self):
        """Hand-written files of this entry (correct and hostile kinds), laid out like a submission."""
        return FILES / self.name

    def sources(self):
        """``{relative path: text}`` of the three graded files of this submission."""
        result = stubbed_sources() if self.kind == "attack" else reference_sources()
        for relative in GRADED_FILES:
            own = self.files_dir / relative
            if own.is_file():
                result[relative] = own.read_text()
        for change in self.regions + self.mutations:
            result[change.file] = change.apply(result[change.file])
        return result


def reference_sources():
    """``{relative path: text}`` of the reference's three graded files, read from the repository."""
    return {relative: (REPO / relative).read_text() for relative in GRADED_FILES}


def stubbed_sources():
    """``{relative path: text}`` of the three graded files as the student release has them."""
    from grading.release import stub_source
    return {relative: stub_source(text, relative)[0] for relative, text in reference_sources().items()}


def build(dest, names=None, fill=None):
    """Write the submissions ``names`` (all by default) as ``dest/<name>/layers/*.py``, with each
    placeholder of ``PLACEHOLDERS`` replaced by ``fill[placeholder]`` (by default: the marker
    ``grading-attack``, port 9, this repository).

    Returns ``{name: Submission}`` for what was written; an unknown name raises ``KeyError``.
    """
    fill = {"@@MARKER@@": "grading-attack", "@@LISTENER_PORT@@": "9", "@@GRADER_REPO@@": str(REPO), **(fill or {})}
    by_name = {entry.name: entry for entry in SUBMISSIONS}
    names = list(by_name) if names is None else list(names)
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise KeyError(f"no submission named {unknown} in the corpus; known: {sorted(by_name)}")
    written = {}
    for name in names:
        entry = by_name[name]
        if entry.link_layers:
            (Path(dest) / name).mkdir(parents=True)
            (Path(dest) / name / "layers").symlink_to(REPO / "layers", target_is_directory=True)
        else:
            for relative, text in entry.sources().items():
                for placeholder in PLACEHOLDERS:
                    text = text.replace(placeholder, fill[placeholder])
                path = Path(dest) / name / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        written[name] = entry
    return written


def _bug(name, lose, diagnosis, description, *changes, may_also_lose=()):
    return Submission(name, "bug", list(lose), diagnosis, description, list(may_also_lose),
                      [c for c in changes if isinstance(c, Mutation)], [c for c in changes if isinstance(c, Region)])


def _correct(name, description, *regions):
    return Submission(name, "correct", [], None, description, regions=list(regions))


def _hostile(name, lose, description, *regions, may_also_lose=()):
    return Submission(name, "hostile", list(lose), None, description, list(may_also_lose), regions=list(regions))


def _attack(name, description, link_layers=False):
    return Submission(name, "attack", list(PARTS), None, description, link_layers=link_layers)


POOL, CONV, UTILS = "layers/Maxpool2D.py", "layers/Conv2D.py", "layers/utils.py"
NUMPY_PAD = "np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0))"
# Conv2D calls zero_padding in forward and backward, so a broken zero_padding may cost those too.
NEEDS_PADDING = ("9.3.d", "9.3.e")

SUBMISSIONS = [
    # --- bugs: one mistake each, in the part(s) named by `lose` ---
    _bug("maxpool_forward_stride_ignored", ["9.3.b"], mistakes.STRIDE_IGNORED,
         "Maxpool2D.__call__ starts every window at (h, w) instead of (h*s, w*s)",
         Mutation(POOL, "Maxpool2D.__call__", "h0 = h * s", "h0 = h"),
         Mutation(POOL, "Maxpool2D.__call__", "w0 = w * s", "w0 = w")),
    _bug("maxpool_grad_stride_ignored", ["9.3.c"], mistakes.STRIDE_IGNORED,
         "Maxpool2D.grad ignores the stride while the forward pass uses it",
         Mutation(POOL, "Maxpool2D.grad", "h0 = h * s", "h0 = h"),
         Mutation(POOL, "Maxpool2D.grad", "w0 = w * s", "w0 = w")),
    _bug("conv_forward_stride_ignored", ["9.3.d"], mistakes.STRIDE_IGNORED,
         "Conv2D.__call__ starts every window at (h, w) instead of (h*s, w*s)",
         Mutation(CONV, "Conv2D.__call__", "h0 = h * s", "h0 = h"),
         Mutation(CONV, "Conv2D.__call__", "w0 = w * s", "w0 = w")),
    _bug("conv_backward_stride_ignored", ["9.3.e"], mistakes.STRIDE_IGNORED,
         "Conv2D.grad ignores the stride while the forward pass uses it",
         Mutation(CONV, "Conv2D.grad", "h0 = h * s", "h0 = h"),
         Mutation(CONV, "Conv2D.grad", "w0 = w * s", "w0 = w")),
    _bug("maxpool_grad_assign", ["9.3.c"], mistakes.ASSIGN,
         "Maxpool2D.grad overwrites dX, so overlapping windows keep only the last gradient",
         Mutation(POOL, "Maxpool2D.grad", "dX[i, h0:h1, w0:w1, c] += mask", "dX[i, h0:h1, w0:w1, c] = mask")),
    _bug("conv_grad_assign_dX", ["9.3.e"], mistakes.ASSIGN,
         "Conv2D.grad overwrites dX_pad instead of accumulating every window's and filter's share",
         Mutation(CONV, "Conv2D.grad", "dX_pad[i, h0:h1, w0:w1, :] += self.W",
                  "dX_pad[i, h0:h1, w0:w1, :] = self.W")),
    _bug("conv_grad_p_minus_p", ["9.3.e"], mistakes.PAD_NEG,
         "Conv2D.grad removes the padding with p:-p, an empty slice when padding is 0",
         Mutation(CONV, "Conv2D.grad", "dX = dX_pad[:, p:p + H, p:p + W, :]", "dX = dX_pad[:, p:-p, p:-p, :]")),
    _bug("conv_grad_padding_not_removed", ["9.3.e"], mistakes.PAD_KEPT,
         "Conv2D.grad returns dX_pad, shaped like the padded input",
         Mutation(CONV, "Conv2D.grad", "dX = dX_pad[:, p:p + H, p:p + W, :]", "dX = dX_pad")),
    # The form many templates use: each example's padded gradient cut to size as it is assigned. With
    # padding 0 the slice is empty and the assignment raises instead of returning an empty dX.
    _bug("conv_grad_p_minus_p_per_example", ["9.3.e"], mistakes.PAD_NEG,
         "Conv2D.grad builds one padded gradient per example and assigns it with p:-p, which raises when "
         "padding is 0",
         Region(CONV, "Conv2D.grad", """
         X_pad = zero_padding(X, p)
         dX = np.zeros(X.shape)
         dW = np.zeros(self.W.shape)
         db = np.zeros(self.b.shape)
         for i in range(m):
             dX_pad_i = np.zeros(X_pad.shape[1:])
             for h in range(H_out):
                 h0 = h * s
                 h1 = h0 + k
                 for w in range(W_out):
                     w0 = w * s
                     w1 = w0 + k
                     for c in range(self.out_channels):
                         g = in_gradient[i, h, w, c]
                         dX_pad_i[h0:h1, w0:w1, :] += self.W[:, :, :, c] * g
                         dW[:, :, :, c] += X_pad[i, h0:h1, w0:w1, :] * g
                         db[c] += g
             dX[i, :, :, :] = dX_pad_i[p:-p, p:-p, :]
         """)),
    _bug("zero_padding_p_minus_p", ["9.3.a"], mistakes.PAD_NEG,
         "zero_padding copies X into the middle of a zeros array with pad:-pad, which raises when pad is 0",
         Region(UTILS, "zero_padding", """
         m, H, W, C = X.shape
         X_pad = np.zeros((m, H + 2 * pad, W + 2 * pad, C))
         X_pad[:, pad:-pad, pad:-pad, :] = X
         """),
         may_also_lose=NEEDS_PADDING),
    # Output size and windows of the unpadded input: Z too small whenever padding > 0.
    _bug("conv_forward_padding_ignored", ["9.3.d"], mistakes.PAD_IGNORED,
         "Conv2D.__call__ never pads: it sizes Z and takes its windows from the unpadded X",
         Region(CONV, "Conv2D.__call__", """
         H_out = (H - k) // s + 1
         W_out = (W - k) // s + 1
         Z = np.zeros((m, H_out, W_out, self.out_channels))
         for i in range(m):
             for h in range(H_out):
                 h0 = h * s
                 h1 = h0 + k
                 for w in range(W_out):
                     w0 = w * s
                     w1 = w0 + k
                     for c in range(self.out_channels):
                         Z[i, h, w, c] = np.sum(X[i, h0:h1, w0:w1, :] * self.W[:, :, :, c]) + self.b[c]
         """)),
    # The output size is the scaffolding's, so the last windows reach past the unpadded input (by at least
    # 2*padding - stride + 1 rows, and every case of the grader has 2*padding >= stride): a case with
    # padding raises a broadcast error, or, in the forward pass, gets a wrong Z where a single row and
    # column are left (numpy broadcasts them over the filter); every case without padding passes.
    _bug("conv_forward_not_padded", ["9.3.d"], mistakes.PAD_IGNORED,
         "Conv2D.__call__ takes its windows from the unpadded input",
         Mutation(CONV, "Conv2D.__call__", "X_pad = zero_padding(X, p)", "X_pad = X"),
         may_also_lose=["9.3.e"]),
    _bug("conv_grad_padding_ignored", ["9.3.e"], mistakes.PAD_IGNORED,
         "Conv2D.grad takes its windows from the unpadded input",
         Mutation(CONV, "Conv2D.grad", "X_pad = zero_padding(X, p)", "X_pad = X")),
    _bug("conv_forward_no_stride", ["9.3.d"], mistakes.STRIDE_IGNORED,
         "Conv2D.__call__ slides the window one step at a time: Z has the size of a stride-1 output",
         Region(CONV, "Conv2D.__call__", """
         X_pad = zero_padding(X, p)
         H_out = H + 2 * p - k + 1
         W_out = W + 2 * p - k + 1
         Z = np.zeros((m, H_out, W_out, self.out_channels))
         for i in range(m):
             for h in range(H_out):
                 for w in range(W_out):
                     for c in range(self.out_channels):
                         Z[i, h, w, c] = np.sum(X_pad[i, h:h + k, w:w + k, :] * self.W[:, :, :, c]) + self.b[c]
         """)),
    # One map of "was the maximum of some window" for the whole input, then = per window: an input that
    # was the maximum of an earlier window gets the gradient of the last window over it, even where it
    # is not that window's maximum.
    _bug("maxpool_grad_shared_max_map", ["9.3.c"], mistakes.SHARED_MAP,
         "Maxpool2D.grad marks every input that was the maximum of some window in one map, then assigns "
         "each window's gradient through that map with =",
         Region(POOL, "Maxpool2D.grad", """
         was_max = np.zeros(X.shape, dtype=bool)
         for i in range(m):
             for h in range(H_out):
                 for w in range(W_out):
                     for c in range(C):
                         window = X[i, h * s:h * s + k, w * s:w * s + k, c]
                         was_max[i, h * s:h * s + k, w * s:w * s + k, c] |= self.create_mask(window) == 1
         dX = np.zeros(X.shape)
         for i in range(m):
             for h in range(H_out):
                 for w in range(W_out):
                     for c in range(C):
                         dX[i, h * s:h * s + k, w * s:w * s + k, c] = (
                             was_max[i, h * s:h * s + k, w * s:w * s + k, c] * in_gradient[i, h, w, c])
         """)),
    _bug("conv_flipped_kernel", ["9.3.d"], mistakes.FLIPPED,
         "Conv2D.__call__ flips the filter (true convolution) instead of cross-correlating",
         Mutation(CONV, "Conv2D.__call__", "self.W[:, :, :, c]) + self.b[c]", "self.W[::-1, ::-1, :, c]) + self.b[c]")),
    _bug("mask_every_tied_maximum", ["9.3.c"], mistakes.EVERY_TIE,
         "create_mask marks every entry equal to the maximum, so a tie counts the gradient twice",
         Mutation(POOL, "Maxpool2D.create_mask", "mask[np.unravel_index(np.argmax(window), window.shape)] = 1",
                  "mask[window == np.max(window)] = 1")),
    _bug("conv_dW_averaged", ["9.3.e"], mistakes.AVERAGED,
         "Conv2D.grad divides dW by the batch size",
         Mutation(CONV, "Conv2D.grad", "dW[:, :, :, c] += X_pad[i, h0:h1, w0:w1, :] * g",
                  "dW[:, :, :, c] += X_pad[i, h0:h1, w0:w1, :] * g / m")),
    _bug("conv_db_averaged", ["9.3.e"], mistakes.AVERAGED,
         "Conv2D.grad divides db by the batch size",
         Mutation(CONV, "Conv2D.grad", "db[c] += g", "db[c] += g / m")),
    _bug("conv_grad_no_bias", ["9.3.e"], None,
         "Conv2D.grad forgets the bias gradient: db stays zeros (dX and dW are right)",
         Mutation(CONV, "Conv2D.grad", "\n                        db[c] += g", "")),
    _bug("zero_padding_channel_axis", ["9.3.a"], None,
         "zero_padding also pads the channel axis",
         Mutation(UTILS, "zero_padding", NUMPY_PAD, "np.pad(X, ((0, 0), (pad, pad), (pad, pad), (pad, pad))"),
         may_also_lose=NEEDS_PADDING),
    _bug("zero_padding_batch_axis", ["9.3.a"], None,
         "zero_padding also pads the batch axis, adding all-zero images",
         Mutation(UTILS, "zero_padding", NUMPY_PAD, "np.pad(X, ((pad, pad), (pad, pad), (pad, pad), (0, 0))"),
         may_also_lose=NEEDS_PADDING),
    _bug("zero_padding_pad_plus_one", ["9.3.a"], None,
         "zero_padding pads pad + 1 zeros on each side",
         Mutation(UTILS, "zero_padding", NUMPY_PAD,
                  "np.pad(X, ((0, 0), (pad + 1, pad + 1), (pad + 1, pad + 1), (0, 0))"),
         may_also_lose=NEEDS_PADDING),
    # Z is computed first, then the caller's X is doubled: a power of two keeps every window's order
    # and ties exactly, so Z and the gradient (through the cached copy) stay right and only the
    # "input unchanged" check can catch it. A grader that passes read-only inputs makes the forward
    # pass raise instead, which may also cost 9.3.c.
    _bug("maxpool_input_modified", ["9.3.b"], mistakes.IN_PLACE,
         "Maxpool2D.__call__ rescales the caller's X in place after computing Z",
         Mutation(POOL, "Maxpool2D.__call__", "Z[i, h, w, c] = np.max(X[i, h0:h1, w0:w1, c])\n",
                  "Z[i, h, w, c] = np.max(X[i, h0:h1, w0:w1, c])\n        X *= 2\n"),
         may_also_lose=["9.3.c"]),
    # Right shape for every input and the notebook's printed mean: passes a mean-only notebook check,
    # fails on any fresh input.
    _bug("conv_hardcoded_output", ["9.3.d"], None,
         "Conv2D.__call__ returns the notebook's printed mean everywhere",
         Mutation(CONV, "Conv2D.__call__",
                  "Z[i, h, w, c] = np.sum(X_pad[i, h0:h1, w0:w1, :] * self.W[:, :, :, c]) + self.b[c]",
                  f"Z[i, h, w, c] = {NOTEBOOK_CONV_Z_MEAN!r}")),
    # --- correct alternatives: full marks ---
    _correct("correct_two_loops",
             "Maxpool2D and Conv2D loop over output rows and columns only, vectorized over examples and "
             "channels (np.max over axes, np.tensordot)",
             Region(POOL, "Maxpool2D.__call__", """
             Z = np.zeros((m, H_out, W_out, C))
             for h in range(H_out):
                 h0 = h * s
                 h1 = h0 + k
                 for w in range(W_out):
                     w0 = w * s
                     w1 = w0 + k
                     Z[:, h, w, :] = np.max(X[:, h0:h1, w0:w1, :], axis=(1, 2))
             """),
             Region(POOL, "Maxpool2D.grad", """
             dX = np.zeros(X.shape)
             for h in range(H_out):
                 h0 = h * s
                 h1 = h0 + k
                 for w in range(W_out):
                     w0 = w * s
                     w1 = w0 + k
                     # (m, k*k, C): argmax over axis 1 is the first maximum in row-major order, as create_mask
                     windows = X[:, h0:h1, w0:w1, :].reshape(m, k * k, C)
                     mask = np.zeros(windows.shape)
                     np.put_along_axis(mask, np.argmax(windows, axis=1)[:, np.newaxis, :], 1.0, axis=1)
                     dX[:, h0:h1, w0:w1, :] += mask.reshape(m, k, k, C) * in_gradient[:, h:h + 1, w:w + 1, :]
             """),
             Region(CONV, "Conv2D.__call__", """
             X_pad = zero_padding(X, p)
             Z = np.zeros((m, H_out, W_out, self.out_channels))
             for h in range(H_out):
                 h0 = h * s
                 h1 = h0 + k
                 for w in range(W_out):
                     w0 = w * s
                     w1 = w0 + k
                     # (m, k, k, C_in) . (k, k, C_in, C_out) -> (m, C_out)
                     Z[:, h, w, :] = np.tensordot(X_pad[:, h0:h1, w0:w1, :], self.W, axes=3) + self.b
             """),
             Region(CONV, "Conv2D.grad", """
             X_pad = zero_padding(X, p)
             dX_pad = np.zeros(X_pad.shape)
             dW = np.zeros(self.W.shape)
             for h in range(H_out):
                 h0 = h * s
                 h1 = h0 + k
                 for w in range(W_out):
                     w0 = w * s
                     w1 = w0 + k
                     g = in_gradient[:, h, w, :]  # (m, C_out)
                     # (m, C_out) . (k, k, C_in, C_out) over C_out -> (m, k, k, C_in)
                     dX_pad[:, h0:h1, w0:w1, :] += np.tensordot(g, self.W, axes=([1], [3]))
                     # (m, k, k, C_in) . (m, C_out) over m -> (k, k, C_in, C_out)
                     dW += np.tensordot(X_pad[:, h0:h1, w0:w1, :], g, axes=([0], [0]))
             db = in_gradient.sum(axis=(0, 1, 2))
             dX = dX_pad[:, p:p + H, p:p + W, :]
             """)),
    _correct("correct_vectorized",
             "no Python loops: sliding_window_view + einsum, scatter-add with np.add.at; create_mask "
             "compares flat positions with np.argmax",
             Region(POOL, "Maxpool2D.__call__", """
             from numpy.lib.stride_tricks import sliding_window_view
             # (m, H_out, W_out, C, k, k): the windows of every stride-th position
             windows = sliding_window_view(X, (k, k), axis=(1, 2))[:, ::s, ::s]
             Z = windows.max(axis=(4, 5)).astype(np.float64)
             """),
             Region(POOL, "Maxpool2D.create_mask", """
             # np.argmax indexes the flattened window, so compare it with every flat position
             mask = (np.arange(window.size).reshape(window.shape) == np.argmax(window)).astype(np.float64)
             """),
             Region(POOL, "Maxpool2D.grad", """
             from numpy.lib.stride_tricks import sliding_window_view
             windows = sliding_window_view(X, (k, k), axis=(1, 2))[:, ::s, ::s]
             # (m, H_out, W_out, C): flat position of each window's first maximum
             first = windows.reshape(m, H_out, W_out, C, k * k).argmax(axis=-1)
             i = np.arange(m)[:, None, None, None]
             rows = np.arange(H_out)[None, :, None, None] * s + first // k
             cols = np.arange(W_out)[None, None, :, None] * s + first % k
             c = np.arange(C)[None, None, None, :]
             dX = np.zeros(X.shape)
             # add.at accumulates where overlapping windows share a maximum (plain fancy += would not)
             np.add.at(dX, (i, rows, cols, c), in_gradient)
             """),
             Region(CONV, "Conv2D.__call__", """
             from numpy.lib.stride_tricks import sliding_window_view
             # (m, H_out, W_out, C_in, k, k)
             windows = sliding_window_view(zero_padding(X, p), (k, k), axis=(1, 2))[:, ::s, ::s]
             Z = np.einsum("mhwcij,ijcd->mhwd", windows, self.W) + self.b
             """),
             Region(CONV, "Conv2D.grad", """
             X_pad = zero_padding(X, p)
             from numpy.lib.stride_tricks import sliding_window_view
             windows = sliding_window_view(X_pad, (k, k), axis=(1, 2))[:, ::s, ::s]
             dW = np.einsum("mhwcij,mhwd->ijcd", windows, in_gradient)
             db = in_gradient.sum(axis=(0, 1, 2))
             # (m, H_out, W_out, k, k, C_in): what each output sends back to each element of its window
             shares = np.einsum("mhwd,ijcd->mhwijc", in_gradient, self.W)
             rows = (np.arange(H_out) * s)[:, None] + np.arange(k)  # (H_out, k): padded row of each share
             cols = (np.arange(W_out) * s)[:, None] + np.arange(k)  # (W_out, k)
             dX_pad = np.zeros(X_pad.shape)
             # the two index arrays broadcast to (H_out, W_out, k, k); add.at accumulates overlapping windows
             np.add.at(dX_pad, (slice(None), rows[:, None, :, None], cols[None, :, None, :]), shares)
             dX = dX_pad[:, p:p + H, p:p + W, :]
             """)),
    _correct("correct_channels_outermost",
             "the four loops in another order: channels/filters outermost, then examples, rows, columns",
             Region(POOL, "Maxpool2D.__call__", """
             Z = np.zeros((m, H_out, W_out, C))
             for c in range(C):
                 for i in range(m):
                     for h in range(H_out):
                         for w in range(W_out):
                             Z[i, h, w, c] = X[i, h * s:h * s + k, w * s:w * s + k, c].max()
             """),
             Region(POOL, "Maxpool2D.create_mask", """
             mask = np.zeros(window.shape)
             row, col = np.unravel_index(np.argmax(window), window.shape)
             mask[row, col] = 1
             """),
             Region(POOL, "Maxpool2D.grad", """
             dX = np.zeros(X.shape)
             for c in range(C):
                 for i in range(m):
                     for h in range(H_out):
                         for w in range(W_out):
                             window = X[i, h * s:h * s + k, w * s:w * s + k, c]
                             dX[i, h * s:h * s + k, w * s:w * s + k, c] += self.create_mask(window) * in_gradient[i, h, w, c]
             """),
             Region(CONV, "Conv2D.__call__", """
             X_pad = zero_padding(X, p)
             Z = np.zeros((m, H_out, W_out, self.out_channels))
             for c in range(self.out_channels):
                 kernel = self.W[:, :, :, c]
                 for i in range(m):
                     for h in range(H_out):
                         for w in range(W_out):
                             Z[i, h, w, c] = (X_pad[i, h * s:h * s + k, w * s:w * s + k, :] * kernel).sum() + self.b[c]
             """),
             Region(CONV, "Conv2D.grad", """
             X_pad = zero_padding(X, p)
             dX_pad = np.zeros(X_pad.shape)
             dW = np.zeros(self.W.shape)
             db = np.zeros(self.b.shape)
             for c in range(self.out_channels):
                 for i in range(m):
                     for h in range(H_out):
                         for w in range(W_out):
                             g = in_gradient[i, h, w, c]
                             dX_pad[i, h * s:h * s + k, w * s:w * s + k, :] += self.W[:, :, :, c] * g
                             dW[:, :, :, c] += X_pad[i, h * s:h * s + k, w * s:w * s + k, :] * g
                             db[c] += g
             dX = dX_pad[:, p:p + H, p:p + W, :]
             """)),
    _correct("correct_slice_padding", "zero_padding by slice assignment into a zeros array instead of np.pad",
             Region(UTILS, "zero_padding", """
             m, H, W, C = X.shape
             X_pad = np.zeros((m, H + 2 * pad, W + 2 * pad, C), dtype=X.dtype)
             X_pad[:, pad:pad + H, pad:pad + W, :] = X
             """)),
    _correct("correct_flat_mask", "create_mask sets the flat position np.argmax gives, then reshapes",
             Region(POOL, "Maxpool2D.create_mask", """
             mask = np.zeros(window.size)
             mask[np.argmax(window)] = 1  # np.argmax indexes the flattened window
             mask = mask.reshape(window.shape)
             """)),
    # --- hostile: must score 0 in `lose`, be survived in bounded time, keep the other parts intact ---
    _hostile("hostile_infinite_loop", ["9.3.d"], "Conv2D.__call__ never returns (while True)",
             Region(CONV, "Conv2D.__call__", """
             while True:
                 pass
             """),
             may_also_lose=["9.3.e"]),
    _hostile("hostile_os_exit", ["9.3.c"], "Maxpool2D.grad calls os._exit(0): the process ends with status 0",
             Region(POOL, "Maxpool2D.grad", """
             import os
             os._exit(0)
             """)),
    _hostile("hostile_sys_exit_import", ["9.3.a"],
             "layers/utils.py calls sys.exit() at import, before zero_padding is defined; the reference "
             "layers/__init__.py and Conv2D.py import it, so any part may fail to import",
             may_also_lose=["9.3.b", "9.3.c", "9.3.d", "9.3.e"]),
    _hostile("hostile_numpy_patch", list(PARTS),
             "every file patches numpy's comparisons (allclose, isclose, array_equal, testing), print and "
             "pytest at import, and every function returns zeros of the right shape"),
    # The issue: "100 MB of printing costs only that part" — the output is right, the flood costs it.
    # A grader that reads the output into memory or lets it block a pipe hangs or runs out of memory.
    _hostile("hostile_output_flood", ["9.3.b"], "Maxpool2D.__call__ prints 100 MB, then returns the right Z",
             Region(POOL, "Maxpool2D.__call__", """
             line = "flood " * 174 + "\\n"  # 1 045 bytes
             for _ in range(100 * 1000):
                 print(line, end="")
             Z = np.zeros((m, H_out, W_out, C))
             for i in range(m):
                 for h in range(H_out):
                     for w in range(W_out):
                         for c in range(C):
                             Z[i, h, w, c] = np.max(X[i, h * s:h * s + k, w * s:w * s + k, c])
             """),
             may_also_lose=["9.3.c"]),
    # Code run for 9.3.a copies the sibling files of its workspace out, Conv2D.py runs the copy for 9.3.d:
    # a grader whose 9.3.a workspace holds the reference Conv2D.py would hand over 9.3.d and 9.3.e.
    _hostile("hostile_leak", ["9.3.d", "9.3.e"],
             f"layers/utils.py copies the Conv2D.py and Maxpool2D.py beside it to {HOSTILE_LEAK_DIR} at import; "
             "layers/Conv2D.py runs the copied Conv2D.py, or raises ImportError when there is none"),
    # One 50 GiB np.ones: a grader without a memory limit on a machine that large would hand it over.
    # Where the machine cannot give it, np.ones raises MemoryError at once; either way 9.3.d is lost.
    _hostile("hostile_huge_alloc", ["9.3.d"], "Conv2D.__call__ allocates and fills 50 GiB before computing Z",
             Region(CONV, "Conv2D.__call__", """
             hog = np.ones(50 * 2**30 // 8)  # 50 GiB of float64, every page written
             X_pad = zero_padding(X, p)
             Z = np.zeros((m, H_out, W_out, self.out_channels))
             for i in range(m):
                 for h in range(H_out):
                     for w in range(W_out):
                         for c in range(self.out_channels):
                             window = X_pad[i, h * s:h * s + k, w * s:w * s + k, :]
                             Z[i, h, w, c] = np.sum(window * self.W[:, :, :, c]) + self.b[c]
             """),
             may_also_lose=["9.3.e"]),
    # --- attacks on the containment: tests/test_isolation.py grades them, in two batches ---
    _attack("attack_process_chain",
            "layers/utils.py starts, at import, a chain of processes that outgrows a worker's cleanup; for 45 s "
            "it copies every grading child's solution files to /dev/shm and /tmp and kills that child"),
    _attack("attack_load_stolen", "loads Conv2D, Maxpool2D and zero_padding from what attack_process_chain copied"),
    _attack("attack_read_grader", "loads Conv2D, Maxpool2D and zero_padding from the repository the grader runs from"),
    _attack("attack_litter_network",
            "layers/utils.py leaves 100 files in each of /tmp, /var/tmp, /dev/shm and sends a message to a "
            "listener on 127.0.0.1 and ::1"),
    _attack("attack_linked_layers", "layers/ is a symbolic link to the repository's layers/", link_layers=True),
    _attack("attack_side_channels",
            "layers/utils.py tries, at import, a socket of any family, a kernel key, a POSIX message queue, a "
            "System V segment and a user namespace, and says which it opened"),
]
