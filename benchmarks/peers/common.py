# benchmarks/peers/common.py — what every Python peer driver of
# bench_peers.sh shares: reading the .fbin/.ibin files, the measurement loop
# (cold start, single queries bounded in time, one batch of all queries,
# recall@k against the exact lists) and the process's memory figures, so
# every peer is measured the same way as ragdb's bench_vectors.c.
import json, os, resource, sys, time
import numpy as np


def read_bin(path, dtype):
    with open(path, "rb") as f:
        n, d = np.fromfile(f, dtype=np.int32, count=2)
        return np.fromfile(f, dtype=dtype, count=int(n) * int(d)).reshape(int(n), int(d))


def read_fbin(path):
    return read_bin(path, np.float32)


def read_ibin(path):
    return read_bin(path, np.int32)


def hits(found, truth, k):
    """How many of the first k ids in found are among the first k of truth."""
    t = set(int(x) for x in truth[:k])
    return sum(1 for x in list(found)[:k] if int(x) in t)


def memory():
    """Peak RSS (getrusage) and the current anonymous / file-backed split, MB."""
    out = {"rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)}
    try:
        for line in open("/proc/self/status"):
            key = line.split(":")[0]
            if key in ("RssAnon", "RssFile"):
                out[key == "RssAnon" and "rss_anon_mb" or "rss_file_mb"] = \
                    round(int(line.split()[1]) / 1024.0, 1)
    except OSError:
        pass
    return out


def measure(search1, search_batch, queries, gt, k, single_seconds, batch_seconds=120.0):
    """Single queries one after another (until all ran or single_seconds
    passed, at least 5), then all queries in one call if search_batch is
    given. search1(row) and search_batch(matrix) return ids (row numbers).
    A batch that the single-query speed says would take longer than
    batch_seconds is cut to the queries that fit (at least 20), and says so
    in batch_n, so one slow peer cannot hold the whole run up."""
    n = len(queries)
    got = 0
    done = 0
    t0 = time.perf_counter()
    el = 0.0
    while done < n and (done < 5 or el < single_seconds):
        got += hits(search1(queries[done:done + 1]), gt[done], k)
        done += 1
        el = time.perf_counter() - t0
    r = {"n_single": done, "qps1": round(done / el, 3), "recall_single": round(got / (done * k), 5)}
    if search_batch is not None:
        nb = n
        if n / r["qps1"] > batch_seconds:
            nb = min(n, max(20, int(r["qps1"] * batch_seconds)))
        t0 = time.perf_counter()
        ids = search_batch(queries[:nb])
        tb = time.perf_counter() - t0
        r["qps_batch"] = round(nb / tb, 3)
        r["batch_s"] = round(tb, 4)
        r["batch_n"] = nb
        r["recall"] = round(sum(hits(ids[i], gt[i], k) for i in range(nb)) / (nb * k), 5)
    else:
        r["qps_batch"] = None
        r["recall"] = r["recall_single"]
    return r


def emit(rec):
    print(json.dumps(rec), flush=True)


def disk_mb(path):
    if os.path.isdir(path):
        tot = sum(os.stat(os.path.join(dp, f)).st_blocks * 512
                  for dp, _, fs in os.walk(path) for f in fs)
    else:
        tot = os.stat(path).st_blocks * 512
    return round(tot / 1048576.0, 1)


def warm(path):
    """Read a file once so that a cold start finds it in the page cache."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass
