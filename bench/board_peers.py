"""Peers for bench/board.ts: the same workloads through Python trackers.

Usage: python board_peers.py <baseDir> <quick 0|1>. Prints one JSON line:
{ tracker: { latency: {...} | "error", workload: {...} | "error", stress: {...} | "error" } }.
Every peer is timed to durable: its own finish/flush/close returned.
"""
import json
import os
import sys
import time
import traceback

import numpy as np

# mlflow 3 refuses its file store unless asked; the file store is the row this bench measures.
os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")

BASE = sys.argv[1]
QUICK = sys.argv[2] == "1"
LAT_CALLS = 2_000 if QUICK else 20_000
# Peers are far slower than ambervault: the stress row runs fewer calls and reports the rate.
STRESS_CALLS = {"kohakuboard": 20_000 if QUICK else 100_000, "tensorboardX": 5_000 if QUICK else 30_000, "mlflow": 2_000 if QUICK else 10_000}

rng = np.random.default_rng(1)
HIST = [rng.uniform(-1, 1, 10_000).astype(np.float32) for _ in range(4)]
IMG = rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
TEN = rng.random((256, 512), dtype=np.float32)
NAMES32 = [f"train/m{k}" for k in range(32)]
NAMES10 = [f"m{k}" for k in range(10)]


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def timed_calls(n, call):
    ts = []
    for i in range(n):
        a = time.perf_counter_ns()
        call(i)
        ts.append(time.perf_counter_ns() - a)
    return {"p50_ns": pct(ts, 0.5), "p99_ns": pct(ts, 0.99), "calls": n}


# ---- kohakuboard -------------------------------------------------------------------------
def kb_board(run):
    from kohakuboard.client import Board

    return Board(name=run, project="bench", base_dir=os.path.join(BASE, "kohakuboard", run), capture_output=False)


def kb_latency():
    b = kb_board("latency")
    vals = {k: 0.0 for k in NAMES10}
    for i in range(2000):
        b.log(**vals)

    def call(i):
        vals["m0"] = float(i)
        b.log(**vals)

    r = timed_calls(LAT_CALLS, call)
    b.finish()
    return r


def kb_workload():
    from kohakuboard.client import Histogram, Media, TensorLog

    t0 = time.perf_counter()
    in_log = 0.0
    b = kb_board("workload")
    for i in range(4000):
        vals = {k: i * 0.001 + j for j, k in enumerate(NAMES32)}
        a = time.perf_counter()
        b.log(**vals)
        if i % 10 == 0:
            b.log(**{"grads/h": Histogram(HIST[i % 4])})
        if i % 20 == 0:
            b.log(samples=Media(IMG))
        if i % 20 == 10:
            b.log(**{"acts/t": TensorLog(TEN)})
        in_log += time.perf_counter() - a
        b.step()
    b.finish()
    return {"total_ms": (time.perf_counter() - t0) * 1000, "in_log_ms": in_log * 1000}


def kb_stress():
    n = STRESS_CALLS["kohakuboard"]
    b = kb_board("stress")
    vals = {k: 0.0 for k in NAMES10}
    t0 = time.perf_counter()
    for i in range(n):
        vals["m0"] = float(i)
        b.log(**vals)
    b.finish()
    dt = time.perf_counter() - t0
    return {"scalars": n * 10, "total_ms": dt * 1000, "scalars_per_s": n * 10 / dt}


# ---- tensorboardX ------------------------------------------------------------------------
def tb_writer(run):
    from tensorboardX import SummaryWriter

    return SummaryWriter(os.path.join(BASE, "tensorboardX", run))


def tb_latency():
    w = tb_writer("latency")

    def call(i):
        for k in NAMES10:
            w.add_scalar(k, float(i), i)

    r = timed_calls(LAT_CALLS, call)
    w.close()
    return r


def tb_workload():
    t0 = time.perf_counter()
    in_log = 0.0
    w = tb_writer("workload")
    for i in range(4000):
        a = time.perf_counter()
        for j, k in enumerate(NAMES32):
            w.add_scalar(k, i * 0.001 + j, i)
        if i % 10 == 0:
            w.add_histogram("grads/h", HIST[i % 4], i)
        if i % 20 == 0:
            w.add_image("samples", IMG, i, dataformats="HWC")
        if i % 20 == 10:
            # No tensor type: the closest it stores is a histogram of the values.
            w.add_histogram("acts/t", TEN, i)
        in_log += time.perf_counter() - a
    w.close()
    return {"total_ms": (time.perf_counter() - t0) * 1000, "in_log_ms": in_log * 1000}


def tb_stress():
    n = STRESS_CALLS["tensorboardX"]
    w = tb_writer("stress")
    t0 = time.perf_counter()
    for i in range(n):
        for k in NAMES10:
            w.add_scalar(k, float(i), i)
    w.close()
    dt = time.perf_counter() - t0
    return {"scalars": n * 10, "total_ms": dt * 1000, "scalars_per_s": n * 10 / dt}


# ---- mlflow (file store) -----------------------------------------------------------------
def ml_start(run):
    import mlflow

    mlflow.set_tracking_uri("file:" + os.path.join(BASE, "mlflow"))
    mlflow.set_experiment("bench")
    return mlflow, mlflow.start_run(run_name=run)


def ml_latency():
    mlflow, _ = ml_start("latency")
    n = max(200, LAT_CALLS // 20)

    def call(i):
        mlflow.log_metrics({k: float(i) for k in NAMES10}, step=i)

    r = timed_calls(n, call)
    mlflow.end_run()
    return r


def ml_workload():
    t0 = time.perf_counter()
    in_log = 0.0
    mlflow, _ = ml_start("workload")
    for i in range(4000):
        a = time.perf_counter()
        mlflow.log_metrics({k: i * 0.001 + j for j, k in enumerate(NAMES32)}, step=i)
        if i % 20 == 0:
            mlflow.log_image(IMG, key="samples", step=i)
        if i % 20 == 10:
            # No tensor type: stored as an .npy artifact.
            path = os.path.join(BASE, "_ml_t.npy")
            np.save(path, TEN)
            mlflow.log_artifact(path, f"acts/{i}")
        # histograms: no mlflow type; not logged (row marked).
        in_log += time.perf_counter() - a
    mlflow.end_run()
    return {"total_ms": (time.perf_counter() - t0) * 1000, "in_log_ms": in_log * 1000, "note": "no histograms"}


def ml_stress():
    mlflow, _ = ml_start("stress")
    n = STRESS_CALLS["mlflow"]
    t0 = time.perf_counter()
    for i in range(n):
        mlflow.log_metrics({k: float(i) for k in NAMES10}, step=i)
    mlflow.end_run()
    dt = time.perf_counter() - t0
    return {"scalars": n * 10, "total_ms": dt * 1000, "scalars_per_s": n * 10 / dt}


def guarded(fn):
    try:
        return fn()
    except Exception as e:  # a peer failing is reported, not fatal
        traceback.print_exc(file=sys.stderr)
        return f"error: {type(e).__name__}: {e}"


out = {}
for name, fns in {
    "kohakuboard": (kb_latency, kb_workload, kb_stress),
    "tensorboardX": (tb_latency, tb_workload, tb_stress),
    "mlflow (file store)": (ml_latency, ml_workload, ml_stress),
}.items():
    out[name] = {"latency": guarded(fns[0]), "workload": guarded(fns[1]), "stress": guarded(fns[2])}
    print(f"{name} done", file=sys.stderr)
print(json.dumps(out))
