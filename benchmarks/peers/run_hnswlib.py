#!/usr/bin/python3
# benchmarks/peers/run_hnswlib.py — hnswlib (Debian python3-hnswlib) for
# bench_peers.sh: build an HNSW graph (space "ip" on L2-normalised vectors)
# into a file in one process; in a new one, load it (cold start =
# load_index + the first query) and measure an ef sweep.
#
#   run_hnswlib.py build BASE.fbin INDEX_FILE [--M M] [--ef-construction E] [--threads T]
#   run_hnswlib.py query INDEX_FILE Q.fbin GT.ibin [--sweep a,b,..] [--threads T]
#                        [--single-seconds S] [--k K]
import argparse, os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np
import common
import hnswlib


def build(o):
    base = common.read_fbin(o.base)
    n, d = base.shape
    t0 = time.perf_counter()
    idx = hnswlib.Index(space="ip", dim=d)
    idx.init_index(max_elements=n, ef_construction=o.ef_construction, M=o.M)
    idx.add_items(base, np.arange(n), num_threads=o.threads)
    idx.save_index(o.index_file)
    t = time.perf_counter() - t0
    common.emit({"system": "hnswlib", "kind": f"M{o.M}", "build_s": round(t, 3),
                 "build_rss_mb": common.memory()["rss_mb"],
                 "disk_mb": common.disk_mb(o.index_file), "M": o.M,
                 "efConstruction": o.ef_construction})


def query(o):
    q = common.read_fbin(o.queries)
    gt = common.read_ibin(o.gt)
    k = o.k
    common.warm(o.index_file)
    sweep = [int(x) for x in o.sweep.split(",")]
    t0 = time.perf_counter()
    idx = hnswlib.Index(space="ip", dim=q.shape[1])
    idx.load_index(o.index_file)
    idx.set_ef(max(sweep[0], k))
    idx.knn_query(q[:1], k=k, num_threads=1)
    cold = (time.perf_counter() - t0) * 1e3
    for ef in sweep:
        idx.set_ef(max(ef, k))
        r = common.measure(lambda x: idx.knn_query(x, k=k, num_threads=1)[0][0],
                           lambda x: idx.knn_query(x, k=k, num_threads=o.threads)[0],
                           q, gt, k, o.single_seconds, o.batch_seconds)
        r.update({"system": "hnswlib", "kind": f"M{o.M}", "param": ef, "threads": o.threads,
                  "cold_ms": round(cold, 3)})
        r.update(common.memory())
        common.emit(r)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["build", "query"])
    ap.add_argument("args", nargs="+")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=100)
    ap.add_argument("--sweep", default="10,20,40,80,160,320")
    ap.add_argument("--single-seconds", type=float, default=3.0)
    ap.add_argument("--batch-seconds", type=float, default=120.0)
    ap.add_argument("--k", type=int, default=10)
    o = ap.parse_args()
    if o.mode == "build":
        o.base, o.index_file = o.args
        build(o)
    else:
        o.index_file, o.queries, o.gt = o.args
        query(o)


if __name__ == "__main__":
    main()
