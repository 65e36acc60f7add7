"""What runs inside the sandboxed child: import the workspace's layers, run one part's cases, save arrays.

Run as ``python -I -S _harness.py NUMPY_SITE_DIR`` with the workspace as the working directory. ``-I -S``
keep the interpreter blind to the environment, the user's site and every ``.pth`` file, so the only
importable code is the standard library, the workspace and the one directory numpy lives in.

Reads ``job.json`` (written by the judge) and ``inputs.npz``; writes ``results.npz`` holding, per case,
the raw outputs, every input as it is after the calls (to detect in-place modification) and, when the
student's code raised, the message as utf-8 bytes. ``progress.txt`` names the case being run, so that a
timeout can say where it happened. Nothing here is trusted by the judge beyond being arrays of numbers:
the student's code runs in this very process and may have replaced anything, including this module's
globals.
"""
import json
import os
import resource
import sys
import traceback

# Under bubblewrap the grader cannot set the process limit on bwrap itself: not root, that limit would
# count every process of the grader's user and stop bwrap from starting. Set here, inside the sandbox's
# user namespace, it counts the sandbox's processes alone; it comes before any of the student's code.
if os.environ.get("GRADING_NPROC"):
    _nproc = int(os.environ["GRADING_NPROC"])
    resource.setrlimit(resource.RLIMIT_NPROC, (_nproc, _nproc))

WORKSPACE = os.getcwd()
sys.path.insert(0, WORKSPACE)
sys.path.append(sys.argv[1])

import numpy as np  # noqa: E402

# Bound before the student's code is imported, so patching numpy's module attributes cannot reach them.
_array, _float64, _load, _savez, _zeros = np.array, np.float64, np.load, np.savez, np.zeros
_frombuffer, _uint8 = np.frombuffer, np.uint8
_seed = np.random.seed


def _here(name):
    # absolute, so that a student's os.chdir does not send the results elsewhere
    return os.path.join(WORKSPACE, name)


def _message(exc):
    """A short, one-line account of an exception, with the student's innermost frame."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if f.filename.startswith(WORKSPACE) and not f.filename.endswith("_harness.py")]
    # A SyntaxError names its own file and line; the frame that imported the file would only mislead.
    where = "" if isinstance(exc, SyntaxError) or not own else \
        f" (line {own[-1].lineno} of {os.path.relpath(own[-1].filename, WORKSPACE)})"
    text = str(exc)
    return (f"{type(exc).__name__}: {text}" if text else f"{type(exc).__name__}")[:400] + where


def _numbers(value, what):
    try:
        out = _array(value, dtype=_float64)
    except BaseException as exc:  # noqa: BLE001 - anything a conversion raises means "not numbers"
        raise TypeError(f"{what} returned {type(value).__name__}, not an array of numbers ({exc})") from None
    return out


def _run_case(case, inputs, layers):
    """Return ``{name: array}`` for one case; the student's exceptions propagate."""
    op, prm = case["op"], case["params"]
    get = {name: inputs[f"{case['id']}.{name}"] for name in case["inputs"]}
    out = {}
    try:
        if op == "pad":
            out["Z"] = _numbers(layers.zero_padding(get["X"], prm["pad"]), "zero_padding")
        elif op == "pool_forward":
            out["Z"] = _numbers(_maxpool(layers, prm)(get["X"]), "Maxpool2D.__call__")
        elif op == "pool_mask":
            out["mask"] = _numbers(layers.Maxpool2D().create_mask(get["window"]), "create_mask")
        elif op == "pool_grad":
            layer = _maxpool(layers, prm)
            _forward_or_cache(layer, get["X"])
            out["dX"] = _numbers(layer.grad(get["G"]), "Maxpool2D.grad")
        elif op in ("conv_forward", "conv_grad"):
            layer = _conv(layers, prm, get)
            if op == "conv_forward":
                out["Z"] = _numbers(layer(get["X"]), "Conv2D.__call__")
            else:
                _forward_or_cache(layer, get["X"])
                grads = layer.grad(get["G"])
                if not isinstance(grads, (tuple, list)) or len(grads) != 3:
                    raise TypeError(f"Conv2D.grad should return (dX, dW, db), got {type(grads).__name__}")
                for name, value in zip(("dX", "dW", "db"), grads):
                    out[name] = _numbers(value, f"Conv2D.grad's {name}")
        else:
            raise ValueError(f"unknown op {op!r}")
    finally:
        # Whatever happened, report the inputs as they are now: an in-place change is evidence too.
        for name, value in get.items():
            out[f"{name}_after"] = _array(value, dtype=_float64)
    return out


def _maxpool(layers, prm):
    if prm.get("notebook"):
        return layers.Maxpool2D()  # the notebook's call: the defaults are the student's
    return layers.Maxpool2D(kernel_size=prm["kernel_size"], stride=prm["stride"])


def _conv(layers, prm, get):
    if prm.get("notebook"):
        # the notebook's call: the default kernel_size and the weights drawn by the student's __init__
        _seed(prm["seed"])
        return layers.Conv2D(in_channels=prm["in_channels"], out_channels=prm["out_channels"],
                             padding=prm["padding"], stride=prm["stride"])
    layer = layers.Conv2D(prm["in_channels"], prm["out_channels"], kernel_size=prm["kernel_size"],
                          stride=prm["stride"], padding=prm["padding"])
    layer.W, layer.b = get["W"], get["b"]
    return layer


def _forward_or_cache(layer, X):
    """Grade ``grad`` on its own: if the student's forward pass fails, cache X as the scaffolding does."""
    try:
        layer(X)
    except Exception:  # noqa: BLE001 - the forward pass is graded in its own part
        layer.cache = X.copy()


def main():
    with open(_here("job.json")) as f:
        job = json.load(f)
    with _load(_here("inputs.npz"), allow_pickle=False) as data:
        inputs = {key: data[key] for key in data.files}
    results = {}
    try:
        import layers  # the student's file and the reference's siblings
        import_error = None
    except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt at import included
        layers, import_error = None, f"importing layers failed: {_message(exc)}"
    for case in job["cases"]:
        with open(_here("progress.txt"), "w") as f:
            f.write(case["id"])
        if import_error is not None:
            results[f"{case['id']}.error"] = _frombuffer(import_error.encode(), dtype=_uint8)
            continue
        try:
            for name, value in _run_case(case, inputs, layers).items():
                results[f"{case['id']}.{name}"] = value
        except BaseException as exc:  # noqa: BLE001
            results[f"{case['id']}.error"] = _frombuffer(_message(exc).encode(), dtype=_uint8)
            for name in case["inputs"]:
                results.setdefault(f"{case['id']}.{name}_after", _array(inputs[f"{case['id']}.{name}"]))
    results["_meta.vmpeak_kb"] = _zeros(1) + _vmpeak_kb()
    _savez(_here("results.tmp.npz"), **results)
    os.replace(_here("results.tmp.npz"), _here("results.npz"))
    # Skip interpreter shutdown: atexit handlers or threads the student left behind must not run on.
    os._exit(0)


def _vmpeak_kb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmPeak:"):
                    return float(line.split()[1])
    except OSError:
        pass
    return 0.0


if __name__ == "__main__":
    main()
