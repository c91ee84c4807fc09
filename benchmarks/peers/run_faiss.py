#!/usr/bin/python3
# benchmarks/peers/run_faiss.py — FAISS (Debian python3-faiss) for
# bench_peers.sh: build one index into a file (one process), then in a new
# process read it back and measure it (cold start = read_index + the first
# query; single queries; a batch; recall@k; a parameter sweep for the
# approximate ones). Vectors are L2-normalised, metric inner product.
#
#   run_faiss.py build KIND BASE.fbin INDEX_FILE [--threads T] [--nlist N] [--M M]
#   run_faiss.py query KIND INDEX_FILE Q.fbin GT.ibin [--threads T] [--sweep a,b,..]
#                      [--single-seconds S] [--k K]
# KIND: flat (IndexFlatIP), ivf (IndexIVFFlat, nprobe sweep), hnsw
# (IndexHNSWFlat, efSearch sweep), sq8 (IndexScalarQuantizer QT_8bit).
# One JSON line per result on stdout.
import argparse, math, os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np
import common
import faiss


def build(o):
    base = common.read_fbin(o.base)
    n, d = base.shape
    ip = faiss.METRIC_INNER_PRODUCT
    t0 = time.perf_counter()
    info = {}
    if o.kind == "flat":
        idx = faiss.IndexFlatIP(d)
    elif o.kind == "sq8":
        idx = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_8bit, ip)
        idx.train(base)
    elif o.kind == "hnsw":
        idx = faiss.IndexHNSWFlat(d, o.M, ip)
        idx.hnsw.efConstruction = o.ef_construction
        info.update(M=o.M, efConstruction=o.ef_construction)
    elif o.kind == "ivf":
        nlist = o.nlist or max(1, int(round(4 * math.sqrt(n))))
        q = faiss.IndexFlatIP(d)
        idx = faiss.IndexIVFFlat(q, d, nlist, ip)
        idx.cp.niter = o.niter
        # k-means on a sample of train_per_list points per list (FAISS's
        # own default is up to 256), so that training stays bounded at 1M.
        m = min(n, o.train_per_list * nlist)
        sample = base[np.random.default_rng(1).choice(n, m, replace=False)] if m < n else base
        idx.train(sample)
        info.update(nlist=nlist, train_points=m, niter=o.niter)
    idx.add(base)
    faiss.write_index(idx, o.index_file)
    t = time.perf_counter() - t0
    rec = {"system": "faiss", "kind": o.kind, "build_s": round(t, 3),
           "build_rss_mb": common.memory()["rss_mb"], "disk_mb": common.disk_mb(o.index_file)}
    rec.update(info)
    common.emit(rec)


def query(o):
    q = common.read_fbin(o.queries)
    gt = common.read_ibin(o.gt)
    k = o.k
    common.warm(o.index_file)
    sweep = [int(x) for x in o.sweep.split(",")] if o.sweep else [None]

    def setp(idx, p):
        if p is None:
            return
        if o.kind == "ivf":
            idx.nprobe = p
        elif o.kind == "hnsw":
            idx.hnsw.efSearch = p

    faiss.omp_set_num_threads(1)
    t0 = time.perf_counter()
    idx = faiss.read_index(o.index_file)
    setp(idx, sweep[0])
    idx.search(q[:1], k)
    cold = (time.perf_counter() - t0) * 1e3
    for p in sweep:
        setp(idx, p)
        # Single queries on one thread (FAISS parallelises across queries;
        # OpenMP threads spinning for one query only slow it down), the batch
        # on --threads.
        faiss.omp_set_num_threads(1)

        def batch(x):
            faiss.omp_set_num_threads(o.threads)
            return idx.search(x, k)[1]
        r = common.measure(lambda x: idx.search(x, k)[1][0], batch, q, gt, k, o.single_seconds, o.batch_seconds)
        r.update({"system": "faiss", "kind": o.kind, "param": p, "threads": o.threads,
                  "cold_ms": round(cold, 3)})
        r.update(common.memory())
        common.emit(r)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["build", "query"])
    ap.add_argument("kind", choices=["flat", "ivf", "hnsw", "sq8"])
    ap.add_argument("args", nargs="+")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--nlist", type=int, default=0)
    ap.add_argument("--niter", type=int, default=10)
    ap.add_argument("--train-per-list", type=int, default=40)
    ap.add_argument("--M", type=int, default=32)
    ap.add_argument("--ef-construction", type=int, default=100)
    ap.add_argument("--sweep", default="")
    ap.add_argument("--single-seconds", type=float, default=3.0)
    ap.add_argument("--batch-seconds", type=float, default=120.0)
    ap.add_argument("--k", type=int, default=10)
    o = ap.parse_args()
    faiss.omp_set_num_threads(o.threads)
    if o.mode == "build":
        o.base, o.index_file = o.args
        build(o)
    else:
        o.index_file, o.queries, o.gt = o.args
        query(o)


if __name__ == "__main__":
    main()
