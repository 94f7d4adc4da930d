"""Quantization throughput through the Python API (not a test).

    python python/benchmarks/bench_quant.py [--n 4096] [--repeat 7] [--json]

Times, at one thread, the calls of bitnet.quant on an n x n float32 matrix
and reports GB/s of float32 (n*n*4 bytes / the best time of --repeat runs).
Targets of issue #14: quantize >= 1 GB/s, dequantize >= 2 GB/s.
"""
import argparse
import json
import os
import platform
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from bitnet import quant  # noqa: E402


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def best(fn, repeat):
    """Best wall time, median wall time, best CPU time of this thread (the
    calls run in the calling thread: on a shared machine the CPU time is the
    figure that does not count the time other processes held the core)."""
    fn()  # warm up: page faults, caches
    ts, cs = [], []
    for _ in range(repeat):
        c0, t0 = time.thread_time(), time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
        cs.append(time.thread_time() - c0)
    return min(ts), float(np.median(ts)), min(cs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    n = a.n
    w = (np.random.default_rng(0).standard_normal((n, n)) * 0.02).astype(np.float32)
    tw = quant.quantize_weights_ternary(w)
    tg = quant.quantize_weights_ternary(w, group_size=128)
    qa = quant.quantize_activations_int8(w)
    out = np.empty_like(w)
    cases = {
        "quantize_weights_ternary (per tensor)": lambda: quant.quantize_weights_ternary(w),
        "quantize_weights_ternary (group 128)": lambda: quant.quantize_weights_ternary(
            w, group_size=128),
        "dequantize_weights (per tensor, out=)": lambda: quant.dequantize_weights(tw, out=out),
        "dequantize_weights (per tensor, new array)": lambda: quant.dequantize_weights(tw),
        "dequantize_weights (group 128, out=)": lambda: quant.dequantize_weights(tg, out=out),
        "quantize_activations_int8 (per token)": lambda: quant.quantize_activations_int8(w),
        "dequantize_activations (per token, out=)": lambda: quant.dequantize_activations(
            qa, out=out),
    }
    gb = w.nbytes / 1e9
    rows = []
    for name, fn in cases.items():
        t, med, cpu = best(fn, a.repeat)
        rows.append({"case": name, "best_ms": t * 1e3, "median_ms": med * 1e3,
                     "gb_per_s": gb / t, "cpu_ms": cpu * 1e3,
                     "gb_per_cpu_s": gb / cpu if cpu > 0 else float("inf")})
    info = {"cpu": cpu_name(), "threads": 1, "matrix": [n, n], "float32_bytes": w.nbytes,
            "numpy": np.__version__, "results": rows}
    if a.json:
        print(json.dumps(info, indent=2))
        return
    print(f"{info['cpu']}, 1 thread, {n}x{n} float32 ({w.nbytes / 2**20:.0f} MiB), "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"  {'':<44} {'wall (best)':>20}  {'CPU time (best)':>20}")
    for r in rows:
        print(f"  {r['case']:<44} {r['best_ms']:8.2f} ms {r['gb_per_s']:6.2f} GB/s"
              f"  {r['cpu_ms']:8.2f} ms {r['gb_per_cpu_s']:6.2f} GB/s")


if __name__ == "__main__":
    main()
