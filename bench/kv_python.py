# Python kohakuvault 0.8 side of bench/kv.ts: same workload, prints one JSON object.
# usage: kv_python.py <dir> <count> <size> <repeats>
import json, os, sys, time
from kohakuvault import KVault

d, n, size, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
keys = [f"k:{i:08d}".encode() for i in range(n)]
value = b"\x01" * size
out = {}

def med(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]

for cache in (False, True):
    puts, gets = [], []
    for r in range(repeats):
        path = os.path.join(d, f"py-{int(cache)}-{size}-{r}.db")
        kv = KVault(path)
        if cache:
            kv.enable_cache()
        t0 = time.perf_counter()
        for k in keys:
            kv[k] = value
        if cache:
            kv.flush_cache()
        puts.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for k in keys:
            v = kv[k]
        gets.append(time.perf_counter() - t0)
        assert len(v) == size
        kv.close()
        for ext in ("", "-wal", "-shm"):  # a 16 KiB run is ~800 MB: keep disk use flat
            if os.path.exists(path + ext):
                os.remove(path + ext)
    tag = "cache on" if cache else "cache off"
    out[f"put|{tag}"] = med(puts)
    out[f"get|{tag}"] = med(gets)
print(json.dumps(out))
