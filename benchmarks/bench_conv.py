"""Conv2D forward + backward in float64: loop-based vs vectorized vs PyTorch CPU, side by side in one run.

    python benchmarks/bench_conv.py            # under two minutes on 2 cores
    python benchmarks/bench_conv.py --rounds 3 --loop-seconds 1

For each shape (batch m, H = W, C_in -> C_out; kernel 3, stride 1, padding 1) it prints:
- the loop-based layer's time. It needs seconds to minutes per batch, so it is timed on the first few
  examples (as many as fit in ``--loop-seconds``) and scaled linearly to the whole batch: its cost is the
  same for every example. The table says on how many examples it was measured;
- the vectorized layer's time (layers/vectorized.py) and its speedup over the loops;
- PyTorch CPU's time for ``torch.nn.functional.conv2d`` + autograd backward, with as many threads as
  numpy's BLAS, tensors converted NHWC -> NCHW before the timing, and the ratio vectorized / PyTorch
  (<= 1 means the vectorized layer is at least as fast). PyTorch is optional: not in requirements.txt;
- the vectorized layer's rate in GFLOP/s, counting ``3 * 2*m*H_out*W_out*k*k*C_in*C_out`` for forward,
  dX and dW, against numpy's float64 matrix-product rate: the best 2048 x 2048 product of the run,
  timed between the blocks of every shape, so a disturbance at one moment moves neither figure alone.

With ``--products`` it also times, for each batch that the vectorized layer handles as one chunk
(in one thread, BLAS using its own threads), the layer's three matrix products alone on its own
window matrix: in numpy's BLAS, and in PyTorch's (``torch.matmul`` on the same float64 arrays),
alternating with PyTorch's whole step. The products set a floor under the layer's time that the
rest of its work cannot lower.

Times are the best of several repetitions (time.perf_counter): on a shared machine the minimum is the
closest to the undisturbed cost. The vectorized and PyTorch repetitions alternate in blocks, so a
disturbance hits both alike.
"""
import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import layers  # noqa: E402
from layers import vectorized  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

# (m, H = W, C_in, C_out): the notebook's batch, a small MNIST-like one, and two larger ones.
SHAPES = [(14, 32, 3, 8), (64, 8, 1, 16), (32, 28, 16, 32), (64, 32, 32, 64)]
K, STRIDE, PADDING = 3, 1, 1


def numpy_blas():
    """threadpoolctl's record of the BLAS numpy calls (not one that PyTorch loads)."""
    blas = [lib for lib in threadpool_info() if lib["user_api"] == "blas"]
    for lib in blas:
        if "numpy" in lib["filepath"] or "scipy_openblas" in lib.get("prefix", ""):
            return lib
    return blas[0] if blas else {}


def load_average():
    """The 1-, 5- and 15-minute load averages, where the system reports them."""
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        return "unknown"


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def best_time(step, repeats, min_seconds=0.0):
    """The fastest of ``repeats`` calls, repeating further until ``min_seconds`` have passed."""
    times = []
    start = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return min(times)


class MatmulRate:
    """numpy's float64 matrix-product rate in GFLOP/s: the best n x n product timed so far."""

    def __init__(self, n=2048):
        rng = np.random.default_rng(0)
        self.A, self.B = rng.standard_normal((n, n)), rng.standard_normal((n, n))
        self.best = np.inf

    def measure(self, repeats=1):
        self.best = min(self.best, best_time(lambda: self.A @ self.B, repeats=repeats))

    @property
    def gflops(self):
        return 2 * len(self.A) ** 3 / self.best / 1e9


def loop_time(X, G, W, loop_seconds):
    """Seconds for the loop-based layer on the whole batch, from a timed prefix; and the prefix length."""
    layer = layers.Conv2D(W.shape[2], W.shape[3], kernel_size=K, stride=STRIDE, padding=PADDING)
    layer.W = W

    def run(n):
        t0 = time.perf_counter()
        layer(X[:n])
        layer.grad(G[:n])
        return time.perf_counter() - t0

    per_example = run(1)
    n = int(min(len(X), max(1, loop_seconds // per_example)))
    if n > 1:
        per_example = run(n) / n
    return per_example * len(X), n


def torch_step(X, G, W, b):
    """A function running PyTorch's conv2d forward and backward on NCHW copies of the same data."""
    # Fresh C-ordered NCHW copies, PyTorch's native layout: a strided view would make PyTorch pick other,
    # slower kernels (even for C_in = 1, where np.ascontiguousarray returns the view unchanged).
    x = torch.tensor(X.transpose(0, 3, 1, 2).copy(), requires_grad=True)
    w = torch.tensor(W.transpose(3, 2, 0, 1).copy(), requires_grad=True)
    bias = torch.tensor(b.copy(), requires_grad=True)
    g = torch.tensor(G.transpose(0, 3, 1, 2).copy())

    def step():
        x.grad = w.grad = bias.grad = None
        torch.nn.functional.conv2d(x, w, bias, stride=STRIDE, padding=PADDING).backward(g)

    def gradients():
        step()
        return x.grad.numpy().transpose(0, 2, 3, 1), w.grad.numpy().transpose(2, 3, 1, 0), bias.grad.numpy()

    return step, gradients


def measure(shape, rounds, loop_seconds, with_loops, matmul):
    m, H, C_in, C_out = shape
    rng = np.random.default_rng(1)
    X = rng.standard_normal((m, H, H, C_in))
    layer = vectorized.Conv2D(C_in, C_out, kernel_size=K, stride=STRIDE, padding=PADDING)
    layer.b = rng.standard_normal(C_out)
    H_out = (H + 2 * PADDING - K) // STRIDE + 1
    G = rng.standard_normal((m, H_out, H_out, C_out))

    def vectorized_step():
        layer(X)
        return layer.grad(G)

    row = {"flops": 3 * 2 * m * H_out * H_out * K * K * C_in * C_out}
    if torch is not None:
        step, gradients = torch_step(X, G, layer.W, layer.b)
        # Same numbers first: a benchmark of two different computations would mean nothing.
        for ours, theirs in zip(vectorized_step(), gradients()):
            np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9)
    # Blocks of repetitions, alternating, each long enough to reach its steady state.
    row["vectorized"] = row["torch"] = np.inf
    for _ in range(rounds):
        matmul.measure()
        row["vectorized"] = min(row["vectorized"], best_time(vectorized_step, repeats=3, min_seconds=0.2))
        if torch is not None:
            row["torch"] = min(row["torch"], best_time(step, repeats=3, min_seconds=0.2))
    if with_loops:
        row["loops"], row["loop_examples"] = loop_time(X, G, layer.W, loop_seconds)
    return row


def product_times(shape, repeats=20):
    """The vectorized layer's three matrix products on a one-chunk batch of ``shape``, and PyTorch's step.

    Returns the best times of the products in numpy's BLAS, of the same products in PyTorch's, and
    of PyTorch's whole conv step, timed alternately; None when the layer splits this batch into
    chunks (its products then run in threads). The products read the layer's own window matrix,
    where it keeps it (a view into a wider work array, as BLAS is given it in the layer).
    """
    m, H, C_in, C_out = shape
    rng = np.random.default_rng(2)
    X = rng.standard_normal((m, H, H, C_in))
    layer = vectorized.Conv2D(C_in, C_out, kernel_size=K, stride=STRIDE, padding=PADDING)
    grid = vectorized._Grid(layer, X.shape)
    if grid.n_chunks > 1:
        return None
    Z = layer(X)  # fills the layer's window matrix
    cols = layer._cols_buffer(grid, 0)[:, grid.M:grid.M + m * grid.P_out]
    W_b = np.vstack([layer.W.reshape(grid.K, C_out), layer.b])
    G = rng.standard_normal(Z.shape)
    dZ_grid = np.zeros((m, grid.H_grid, grid.W_grid, C_out))
    dZ_grid[:, :grid.H_out, :grid.W_out] = G
    dZ, dZ_grid = G.reshape(-1, C_out), dZ_grid.reshape(-1, C_out)
    Z_t, d_windows = np.empty((C_out, m * grid.P_out)), np.empty((grid.K, m * grid.P_grid))

    def numpy_products():
        np.matmul(W_b.T, cols, out=Z_t)
        cols @ dZ
        np.matmul(W_b[:grid.K], dZ_grid.T, out=d_windows)

    t_cols, t_W_b, t_dZ, t_dZ_grid = (torch.from_numpy(A) for A in (cols, W_b, dZ, dZ_grid))
    t_Z_t, t_d_windows = torch.from_numpy(Z_t), torch.from_numpy(d_windows)

    def torch_products():
        torch.matmul(t_W_b.T, t_cols, out=t_Z_t)
        t_cols @ t_dZ
        torch.matmul(t_W_b[:grid.K], t_dZ_grid.T, out=t_d_windows)

    step, _ = torch_step(X, G, layer.W, layer.b)
    best = [np.inf] * 3
    for _ in range(3):
        for which, run in enumerate((numpy_products, torch_products, step)):
            best[which] = min(best[which], best_time(run, repeats=repeats))
    return best


def seconds(t):
    return f"{t * 1e3:.2f} ms" if t < 1 else f"{t:.1f} s"


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text}")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=positive_int, default=5, help="alternating blocks of timed repetitions (default 5)")
    parser.add_argument("--loop-seconds", type=float, default=4.0,
                        help="time budget of the loop-based layer per shape (default 4 s)")
    parser.add_argument("--no-loops", action="store_true", help="skip the loop-based layer")
    parser.add_argument("--products", action="store_true",
                        help="also time the layer's matrix products alone on one-chunk batches (needs torch)")
    args = parser.parse_args(argv)
    if args.products and torch is None:
        parser.error("--products compares numpy's BLAS with PyTorch's: install torch, or leave --products out")

    blas = numpy_blas()
    threads = blas.get("num_threads", 1)
    if torch is not None:
        torch.set_num_threads(threads)
    print(f"date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"machine: {os.cpu_count()} cores, {cpu_model()}, {platform.system()} {platform.machine()}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, BLAS: {blas.get('internal_api', '?')} "
          f"{blas.get('version', '?')} ({blas.get('architecture', '?')} kernels, {threads} threads)")
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        if name in os.environ:
            print(f"  environment: {name}={os.environ[name]}")
    print(f"PyTorch: {torch.__version__ + f', {torch.get_num_threads()} threads' if torch else 'not installed'}")
    print(f"load average before: {load_average()}")
    matmul = MatmulRate()
    matmul.measure(repeats=3)
    print(f"Conv2D forward + backward, float64, kernel {K}, stride {STRIDE}, padding {PADDING}; "
          f"best of at least {3 * args.rounds} repetitions\n")

    # The last column needs the matrix-product rate of the whole run: the table follows it.
    rows = [(shape, measure(shape, args.rounds, args.loop_seconds, not args.no_loops, matmul)) for shape in SHAPES]
    print(f"numpy float64 matrix product (2048 x 2048), best of the run: {matmul.gflops:.1f} GFLOP/s\n")
    header = ["m, H=W, C_in->C_out", "loop-based", "vectorized", "speedup", "PyTorch CPU",
              "vectorized / PyTorch", "vectorized GFLOP/s", "of matmul rate"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    notes = False
    for shape, row in rows:
        m, H, C_in, C_out = shape
        gflops = row["flops"] / row["vectorized"] / 1e9
        if args.no_loops:
            loops, speedup = "not run", "-"
        else:
            loops, speedup = seconds(row["loops"]), f"{row['loops'] / row['vectorized']:,.0f}x"
            if row["loop_examples"] < m:
                loops += f" (est. from {row['loop_examples']} of {m})*"
                notes = True
        if torch is None:
            pytorch = ratio = "torch not installed"
        else:
            # three decimals here and one in the percentage: near a target, 1.004 must not print as
            # 1.00, nor 49.7 % as 50 %
            pytorch, ratio = seconds(row["torch"]), f"{row['vectorized'] / row['torch']:.3f}"
        cells = [f"{m}, {H}, {C_in}->{C_out}", loops, seconds(row["vectorized"]), speedup, pytorch, ratio,
                 f"{gflops:.1f}", f"{gflops / matmul.gflops:.1%}"]
        print("| " + " | ".join(cells) + " |")
    if notes:
        print("\n* the loop-based layer was timed on the first examples only and scaled linearly to the batch")
    if args.products:
        print("\nThe vectorized layer's three matrix products alone, on its own window matrix, for the batches it runs "
              "as one chunk; PyTorch's step timed again, alternating with them:\n")
        print("| m, H=W, C_in->C_out | products in numpy (its BLAS) | same products in PyTorch (its BLAS) "
              "| PyTorch's whole conv step | numpy's products / PyTorch's whole step |")
        print("|---|---|---|---|---|")
        for shape in SHAPES:
            times = product_times(shape)
            if times is not None:
                m, H, C_in, C_out = shape
                print(f"| {m}, {H}, {C_in}->{C_out} | {seconds(times[0])} | {seconds(times[1])} | "
                      f"{seconds(times[2])} | {times[0] / times[2]:.2f} |")
    print(f"\nload average after: {load_average()} (other processes on the machine slow every column)")


if __name__ == "__main__":
    main()
