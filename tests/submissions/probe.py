"""Record what a `layers` package computes, part by part, for comparing a submission with the reference.

Run in a fresh interpreter whose working directory holds the package to probe, so that the package,
and not the repository's, is the one imported:

    python -E -c "<this file's text>" OUT_PICKLE TESTS_DIR [--notebook-conv]

It pickles ``{"<part> <case>: <what>": value}`` to OUT_PICKLE, a value being an array, a tuple of
arrays, a bool ("inputs unchanged") or ``"raised <Exception>"``. Every case draws its inputs from its
own seed before any student code runs, so one failing call cannot shift the inputs of the next.
``--notebook-conv`` adds the notebook's 9.3.d mean (a second of loops, so only on request).
"""
import os
import pickle
import sys

import numpy as np


def main(out_path, tests_dir, notebook_conv):
    sys.path.append(os.path.dirname(tests_dir))  # appended: the working directory's `layers` must win
    import layers
    from grading import notebook_values as nv
    from grading.cases import CONV_CASES, POOL_CASES, conv_case_id, pool_case_id, with_ties

    here = os.path.realpath(os.getcwd())
    if not os.path.realpath(layers.__file__).startswith(here + os.sep):
        raise SystemExit(f"probe: imported {layers.__file__}, not the package in {here}")
    records = {}

    def record(key, call, *inputs):
        """Store ``call()`` under ``key`` (or the exception it raised) and whether ``inputs`` survived."""
        before = [np.array(x, copy=True) for x in inputs]
        try:
            result = call()
        except Exception as error:  # a bug may raise; that is a result to compare, not a probe failure
            records[key] = f"raised {type(error).__name__}"
            return None
        records[key] = tuple(np.array(r, copy=True) for r in result) if isinstance(result, tuple) else np.array(result, copy=True)
        if inputs:
            records[key + " inputs unchanged"] = all(np.array_equal(a, b) for a, b in zip(inputs, before))
        return result

    # 9.3.a zero_padding
    for seed, (shape, pad, dtype) in enumerate([((2, 3, 4, 2), 0, float), ((2, 3, 4, 2), 1, float),
                                                ((1, 5, 2, 3), 2, float), ((2, 2, 3, 1), 1, np.int64)]):
        X = (np.random.default_rng(seed).standard_normal(shape) * 5).astype(dtype)
        key = f"9.3.a {shape} pad={pad} {np.dtype(dtype).name}"
        X_pad = record(f"{key}: X_pad", lambda: layers.zero_padding(X, pad), X)
        if X_pad is not None:
            records[f"{key}: new array"] = not np.shares_memory(X_pad, X)
    np.random.seed(nv.NUMPY_RANDOM_SEED)
    image_batch = np.random.randn(*nv.IMAGE_BATCH_SHAPE)
    record("9.3.a notebook: X_pad", lambda: layers.zero_padding(image_batch, 2), image_batch)

    # 9.3.b Maxpool2D forward and 9.3.c its backward, on random inputs and on inputs full of ties
    for seed, case in enumerate(POOL_CASES):
        m, H, W, C, k, s = case
        rng = np.random.default_rng(100 + seed)
        for kind, X in (("randn", rng.standard_normal((m, H, W, C))), ("ties", with_ties(rng, (m, H, W, C)))):
            G = rng.standard_normal((m, (H - k) // s + 1, (W - k) // s + 1, C))
            key = f"{pool_case_id(case)} {kind}"
            pool = layers.Maxpool2D(kernel_size=k, stride=s)
            if record(f"9.3.b {key}: Z", lambda: pool(X), X) is None:
                records[f"9.3.c {key}: dX"] = "forward raised"
                continue
            record(f"9.3.c {key}: dX", lambda: pool.grad(G), G)
    pool = layers.Maxpool2D()
    windows = {"seed example": np.array([[3.0, 1.0], [2.0, 4.0]]), "tie": np.array([[1.0, 0.0], [1.0, 1.0]]),
               "all zeros": np.zeros((2, 2)), "3x3": np.random.default_rng(200).standard_normal((3, 3))}
    for name, window in windows.items():
        record(f"9.3.c create_mask {name}: mask", lambda: pool.create_mask(window), window)
    np.random.seed(nv.NUMPY_RANDOM_SEED)
    X = np.random.randn(*nv.MAXPOOL_X_SHAPE)
    maxpool2D = layers.Maxpool2D()
    forward_ok = record("9.3.b notebook: Z", lambda: maxpool2D(X), X) is not None
    np.random.seed(nv.NUMPY_RANDOM_SEED)
    X_in_grad = np.random.randn(*nv.MAXPOOL_OUT_SHAPE)
    if forward_ok:
        record("9.3.c notebook: dX", lambda: maxpool2D.grad(X_in_grad), X_in_grad)

    # 9.3.d Conv2D forward and 9.3.e its backward; W and b set explicitly (b non-zero, so a lost bias shows)
    for seed, case in enumerate(CONV_CASES):
        m, H, W, C_in, C_out, k, s, p = case
        rng = np.random.default_rng(300 + seed)
        X = rng.standard_normal((m, H, W, C_in))
        weights, bias = rng.standard_normal((k, k, C_in, C_out)), rng.standard_normal(C_out)
        G = rng.standard_normal((m, (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1, C_out))
        key = conv_case_id(case)
        conv = layers.Conv2D(C_in, C_out, kernel_size=k, stride=s, padding=p)
        conv.W, conv.b = weights.copy(), bias.copy()
        if record(f"9.3.d {key}: Z", lambda: conv(X), X) is None:
            records[f"9.3.e {key}: dX, dW, db"] = "forward raised"
            continue
        record(f"9.3.e {key}: dX, dW, db", lambda: conv.grad(G), G)
    if notebook_conv:
        np.random.seed(nv.NUMPY_RANDOM_SEED)
        conv_layer = layers.Conv2D(in_channels=3, out_channels=8, padding=1, stride=1)
        np.random.seed(nv.NUMPY_RANDOM_SEED)
        X = np.random.randn(*nv.CONV_X_SHAPE)
        Z = record("9.3.d notebook: Z", lambda: conv_layer(X), X)
        if Z is not None:
            records["9.3.d notebook: mean"] = float(np.mean(Z))

    with open(out_path, "wb") as file:
        pickle.dump(records, file)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], "--notebook-conv" in sys.argv[3:])
