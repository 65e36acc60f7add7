"""The known mistakes: one table, read by the judge to name a likely mistake and by the corpus of buggy
submissions (``tests/submissions/corpus.py``) to say which mistake each of its bugs makes.

A row (``Mistake``) holds the name the feedback prints, a hint on where to look (words only, never the
reference's code) and how the mistake shows in what a part returns:

- ``switch``, ``ops``: the keyword that turns the mistake on in the trusted numpy variants below (small
  versions of the reference); a mismatching output equal to the variant's is named.
- ``as_if``: the hyperparameters the output's size is computed with when the mistake is made (stride 1
  when the stride is ignored, padding 0 when the padding is); an output of that shape is named, unless
  another reading of the same shape leaves the mistake in doubt.
- ``raises_on``: the cases on which the mistake raises; a part that raises on exactly those cases, or
  fails on exactly those and raises on some of them, is named.

``IN_PLACE`` has none of these: the judge compares every input before and after the call itself.
Diagnoses never decide points.
"""
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

STRIDE_IGNORED = "stride ignored"
PAD_IGNORED = "padding ignored"
ASSIGN = "= instead of +="
SHARED_MAP = "one maximum map shared by overlapping windows"
PAD_KEPT = "padding not removed"
PAD_NEG = "p:-p with p = 0"
FLIPPED = "flipped kernel"
EVERY_TIE = "gradient sent to every tied maximum"
AVERAGED = "averaged instead of summed"
IN_PLACE = "input modified in place"


@dataclass(frozen=True)
class Raises:
    """The cases a mistake raises on: those whose hyperparameter (the first of ``keys`` the case has)
    passes ``test``; ``where`` says which in words. A case with none of ``keys`` cannot tell."""

    where: str
    keys: tuple
    test: object

    def on(self, case):
        key = next((key for key in self.keys if key in case["params"]), None)
        return None if key is None else bool(self.test(case["params"][key]))


@dataclass(frozen=True)
class Mistake:
    """One row of the catalogue: see the module's docstring."""

    name: str
    hint: str
    switch: str | None = None
    ops: tuple = ()
    as_if: dict = field(default_factory=dict)
    raises_on: Raises | None = None


CATALOGUE = (
    Mistake(STRIDE_IGNORED,
            "a window starts stride steps after the previous one, in the forward and the backward pass alike, "
            "and the output has (H + 2*padding - kernel_size) // stride + 1 rows",
            switch="stride_ignored", ops=("pool_forward", "pool_grad", "conv_forward", "conv_grad"),
            as_if={"stride": 1}),
    Mistake(PAD_IGNORED,
            "pad the input before taking windows, in the forward and the backward pass alike: the windows "
            "reach past the input's edge, and the output has (H + 2*padding - kernel_size) // stride + 1 rows",
            as_if={"padding": 0},
            raises_on=Raises("padding > 0", ("padding",), lambda p: p > 0)),
    Mistake(ASSIGN,
            "overlapping windows share inputs, and an input collects the gradient of every window it is in: "
            "add to the gradient, do not overwrite it",
            switch="assign", ops=("pool_grad", "conv_grad")),
    Mistake(SHARED_MAP,
            "an input can be the maximum of one window and not of an overlapping one: route each window's "
            "gradient through that window's own mask",
            switch="shared_map", ops=("pool_grad",)),
    Mistake(PAD_KEPT,
            "dX has the shape of the unpadded input: drop the padding from the gradient before returning it",
            switch="padding_kept", ops=("conv_grad",)),
    Mistake(PAD_NEG,
            "a slice that ends at -p is empty when p = 0: count its end from the start instead",
            switch="p_minus_p", ops=("conv_grad",),
            raises_on=Raises("padding 0", ("padding", "pad"), lambda p: p == 0)),
    Mistake(FLIPPED,
            "the layer cross-correlates: apply each filter as it is, not turned by 180 degrees",
            switch="flipped", ops=("conv_forward",)),
    Mistake(EVERY_TIE,
            "when several entries tie for the maximum, only the first of them in row-major order is marked",
            switch="every_tie", ops=("pool_mask", "pool_grad")),
    Mistake(AVERAGED,
            "gradients are summed over the batch, not averaged: the loss's gradient already carries any 1/m",
            switch="averaged", ops=("conv_grad",)),
    Mistake(IN_PLACE,
            "leave the caller's arrays as they are: write into new arrays, or into a copy"),
)
BY_NAME = {mistake.name: mistake for mistake in CATALOGUE}
NAMES = tuple(BY_NAME)
# Mistakes also made together, as one loop can make both: a variant with both switches on names both.
TOGETHER = ((ASSIGN, SHARED_MAP),)


# ---------------------------------------------------------------------------------------------------
# The variants: the reference in plain numpy, each known mistake switchable
# ---------------------------------------------------------------------------------------------------

def pool_forward_variant(X, k, s, stride_ignored=False):
    m, H, W, C = X.shape
    H_out, W_out = (H - k) // s + 1, (W - k) // s + 1
    step = 1 if stride_ignored else s
    windows = sliding_window_view(X, (k, k), axis=(1, 2))[:, ::step, ::step]  # (m, h, w, C, k, k)
    return windows[:, :H_out, :W_out].max(axis=(-2, -1))


def mask_variant(window, every_tie=False):
    if every_tie:
        return (window == window.max()).astype(float)
    mask = np.zeros(window.shape)
    mask[np.unravel_index(np.argmax(window), window.shape)] = 1
    return mask


def pool_grad_variant(X, G, k, s, every_tie=False, assign=False, stride_ignored=False, shared_map=False):
    """dX. ``shared_map``: every window routes its gradient through one map, over the whole input, of
    the inputs that were the maximum of some window, instead of through its own mask."""
    m, H, W, C = X.shape
    step = 1 if stride_ignored else s

    def windows():
        for i in range(m):
            for h in range(G.shape[1]):
                for w in range(G.shape[2]):
                    for c in range(C):
                        at = (i, slice(h * step, h * step + k), slice(w * step, w * step + k), c)
                        yield at, G[i, h, w, c], mask_variant(X[at], every_tie)

    was_max = np.zeros(X.shape)
    for at, _, mask in windows() if shared_map else ():
        was_max[at] = np.maximum(was_max[at], mask)
    dX = np.zeros(X.shape)
    for at, g, mask in windows():
        share = (was_max[at] if shared_map else mask) * g
        if assign:
            dX[at] = share
        else:
            dX[at] += share
    return dX


def conv_forward_variant(X, Wt, b, s, p, stride_ignored=False, flipped=False):
    k = Wt.shape[0]
    m, H, W, _ = X.shape
    H_out, W_out = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
    step = 1 if stride_ignored else s
    X_pad = np.pad(X, ((0, 0), (p, p), (p, p), (0, 0)))
    windows = sliding_window_view(X_pad, (k, k), axis=(1, 2))[:, ::step, ::step][:, :H_out, :W_out]
    kernel = Wt[::-1, ::-1] if flipped else Wt
    return np.einsum("mhwcij,ijco->mhwo", windows, kernel) + b


def conv_grad_variant(X, Wt, G, s, p, assign=False, stride_ignored=False):
    """(dX_pad, dW, db), the padding of dX not yet removed."""
    k = Wt.shape[0]
    step = 1 if stride_ignored else s
    X_pad = np.pad(X, ((0, 0), (p, p), (p, p), (0, 0)))
    dX_pad, dW, db = np.zeros(X_pad.shape), np.zeros(Wt.shape), np.zeros(Wt.shape[3])
    for i in range(X.shape[0]):
        for h in range(G.shape[1]):
            h0 = h * step
            for w in range(G.shape[2]):
                w0 = w * step
                for c in range(G.shape[3]):
                    g = G[i, h, w, c]
                    if assign:
                        dX_pad[i, h0:h0 + k, w0:w0 + k, :] = Wt[:, :, :, c] * g
                        dW[:, :, :, c] = X_pad[i, h0:h0 + k, w0:w0 + k, :] * g
                        db[c] = g
                    else:
                        dX_pad[i, h0:h0 + k, w0:w0 + k, :] += Wt[:, :, :, c] * g
                        dW[:, :, :, c] += X_pad[i, h0:h0 + k, w0:w0 + k, :] * g
                        db[c] += g
    return dX_pad, dW, db


# One function per op: a case and the switches on -> {output: array}, or None where the switches change
# nothing the part returns.

def _pool_forward(case, **switches):
    prm = case["params"]
    return {"Z": pool_forward_variant(case["inputs"]["X"], prm["kernel_size"], prm["stride"], **switches)}


def _pool_mask(case, **switches):
    return {"mask": mask_variant(case["inputs"]["window"], **switches)}


def _pool_grad(case, **switches):
    prm, inp = case["params"], case["inputs"]
    return {"dX": pool_grad_variant(inp["X"], inp["G"], prm["kernel_size"], prm["stride"], **switches)}


def _conv_forward(case, **switches):
    prm, inp = case["params"], case["inputs"]
    return {"Z": conv_forward_variant(inp["X"], inp["W"], inp["b"], prm["stride"], prm["padding"], **switches)}


def _conv_grad(case, padding_kept=False, p_minus_p=False, averaged=False, **switches):
    prm, inp = case["params"], case["inputs"]
    X, p = inp["X"], prm["padding"]
    if p_minus_p and p:
        return None  # with p > 0, p:-p is right
    dX_pad, dW, db = conv_grad_variant(X, inp["W"], inp["G"], prm["stride"], p, **switches)
    m, H, W, _ = X.shape
    if padding_kept:
        dX = dX_pad
    elif p_minus_p:
        dX = dX_pad[:, p:-p, p:-p, :]  # empty, p being 0
    else:
        dX = dX_pad[:, p:p + H, p:p + W, :]
    scale = 1 / m if averaged else 1
    return {"dX": dX * scale, "dW": dW * scale, "db": db * scale}


VARIANTS = {"pool_forward": _pool_forward, "pool_mask": _pool_mask, "pool_grad": _pool_grad,
            "conv_forward": _conv_forward, "conv_grad": _conv_grad}


def variants(case):
    """[(names, {output: array})]: what each known mistake, or pair in ``TOGETHER``, returns on this case."""
    if case["params"].get("notebook"):
        return []  # the layer's hyperparameters and weights are the submission's own: no variant to compare
    op, found = case["op"], []
    for names in [(row.name,) for row in CATALOGUE] + list(TOGETHER):
        rows = [BY_NAME[name] for name in names]
        if all(row.switch and op in row.ops for row in rows):
            outputs = VARIANTS[op](case, **{row.switch: True for row in rows})
            if outputs is not None:
                found.append((names, outputs))
    return found


# ---------------------------------------------------------------------------------------------------
# Shapes and exceptions
# ---------------------------------------------------------------------------------------------------

def output_shape(case, params):
    """{output: shape} of a forward pass on this case's input with hyperparameters ``params``; {} for
    the other ops, whose outputs are shaped by their inputs alone."""
    X, op = case["inputs"]["X"], case["op"]
    if op not in ("pool_forward", "conv_forward"):
        return {}
    m, H, W, C = X.shape
    k, s, p = params["kernel_size"], params["stride"], params.get("padding", 0)
    C_out = case["inputs"]["W"].shape[3] if op == "conv_forward" else C
    return {"Z": (m, (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1, C_out)}


def shape_diagnoses(case, output, shape):
    """Names of the mistakes that give ``output`` the wrong ``shape`` it has, as long as the shape
    leaves no doubt: every combination of shape-changing mistakes that gives this shape includes them.

    With stride 1 ignoring the stride changes no shape, so an output shaped as without padding is named
    "padding ignored" alone; a shape that is also the right one names nothing.
    """
    if case["params"].get("notebook") or "X" not in case["inputs"]:
        return []  # the notebook's layer is built with the submission's own defaults
    prm = case["params"]
    rows = [row for row in CATALOGUE if row.as_if and set(row.as_if) <= set(prm)]
    readings = []
    for n in range(len(rows) + 1):
        for combo in combinations(rows, n):
            altered = {**prm, **{key: value for row in combo for key, value in row.as_if.items()}}
            if output_shape(case, altered).get(output) == shape:
                readings.append({row.name for row in combo})
    sure = set.intersection(*readings) if readings else set()
    return [row.name for row in rows if row.name in sure]


def raise_diagnoses(cases, raised, failed):
    """[(name, what was seen)] for the mistakes whose cases, some of ``cases`` but not all, are exactly
    the ones whose ids are in ``raised``, or exactly those in ``failed`` with some of them in ``raised``.

    The second reading is for a window cut short by the input's edge: it raises, unless a single row
    and column are left, which numpy broadcasts over the whole filter; that case then fails by value.
    """
    raised, failed, found = set(raised), set(failed), []
    for row in CATALOGUE:
        if row.raises_on is None:
            continue
        on = [row.raises_on.on(case) for case in cases]
        if None in on:
            continue
        expected = {case["id"] for case, hit in zip(cases, on) if hit}
        if not expected or len(expected) == len(cases):
            continue
        where = row.raises_on.where
        if raised == expected:
            found.append((row.name, f"your code raised on every check with {where} and on no other"))
        elif failed == expected and raised and raised <= expected:
            found.append((row.name, f"your code failed every check with {where} and no other, raising on "
                                    f"{len(raised)} of them"))
    return found
