# The Python kohakuvault side of bench/columns.ts: the same workloads, timed here, printed as
# JSON ({row: seconds}). Usage: python columns_kv.py DIR N_SMALL N_BIG N_APPEND N_DEEP
# (uncached single appends use the first N_APPEND values: one transaction each is slow everywhere;
# `deep_append` is 1,000 of them into a column already holding N_DEEP values)
import json
import os
import random
import sys
import time

from kohakuvault import ColumnVault

out_dir, n_small, n_big, n_append, n_deep = sys.argv[1], *map(int, sys.argv[2:6])
res = {}


def timed(key, fn):
    t0 = time.perf_counter()
    r = fn()
    res[key] = time.perf_counter() - t0
    return r


def values(dtype, n):
    if dtype == "i64":
        return list(range(n))
    if dtype == "f64":
        return [i * 0.5 for i in range(n)]
    if dtype == "bytes:32":
        return [i.to_bytes(8, "little") * 4 for i in range(n)]
    if dtype == "str:utf8":
        return [f"value number {i}" for i in range(n)]
    return [{"i": i, "tag": "x"} for i in range(n)]


for dtype in ["i64", "f64", "bytes:32", "str:utf8", "msgpack"]:
    vals = values(dtype, n_small)
    for mode in ["append", "append_cached", "extend"]:
        path = os.path.join(out_dir, f"kv_{dtype.replace(':', '_')}_{mode}.db")
        cv = ColumnVault(path)
        col = cv.create_column("c", dtype)

        def run():
            if mode == "extend":
                col.extend(vals)
            elif mode == "append":
                for v in vals[:n_append]:
                    col.append(v)
            else:
                with col.cache():
                    for v in vals:
                        col.append(v)

        try:
            timed(f"{dtype}|{mode}", run)
        except Exception as e:  # cache API differences: report, do not guess
            res[f"{dtype}|{mode}"] = None
            res[f"{dtype}|{mode}|error"] = str(e)[:200]
    col = ColumnVault(os.path.join(out_dir, f"kv_{dtype.replace(':', '_')}_extend.db"))["c"]
    rnd = random.Random(1)
    idx = [rnd.randrange(n_small) for _ in range(10_000)]
    timed(f"{dtype}|get", lambda: [col[i] for i in idx])
    starts = [rnd.randrange(n_small - 100) for _ in range(1_000)]
    timed(f"{dtype}|slice100", lambda: [col[s : s + 100] for s in starts])

for dtype in ["f64", "str:utf8"]:
    cv = ColumnVault(os.path.join(out_dir, f"kv_deep_{dtype.replace(':', '_')}.db"))
    col = cv.create_column("c", dtype)
    col.extend(values(dtype, n_deep))
    more = values(dtype, 1_000)
    timed(f"{dtype}|deep_append", lambda: [col.append(v) for v in more])

big = [i * 0.5 for i in range(n_big)]
cv = ColumnVault(os.path.join(out_dir, "kv_big.db"))
col = cv.create_column("x", "f64")
timed("big|extend", lambda: col.extend(big))
timed("big|read", lambda: col[0:n_big])
print(json.dumps(res))
