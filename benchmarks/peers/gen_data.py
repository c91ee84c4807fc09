#!/usr/bin/python3
# benchmarks/peers/gen_data.py — the data sets of bench_peers.sh, written
# reproducibly as .fbin (int32 n, int32 d, n x d float32), with 1,000
# held-out queries and their exact top-k by inner product (.ibin: int32 n,
# int32 k, n x k int32 row numbers).
#
#   gen_data.py syn N D OUTDIR [--seed S] [--queries Q] [--k K]
#   gen_data.py fvecs BASE.fvecs QUERY.fvecs OUTDIR [--k K]
#
# syn: a seeded Gaussian mixture — 1,000 random unit centres; each point is
# a centre plus Gaussian noise whose norm is about 0.6 times a per-cluster
# factor in [0.7, 1.3] (so clusters differ in spread), then L2-normalised;
# queries come from the same mixture after the base points (held out).
# fvecs: an existing set (sift5k), L2-normalised so that inner product is
# cosine, as ragdb stores it. Every peer gets exactly these vectors.
#
# Ground truth: float32 matrix products give the top 4k candidates of each
# query, which are rescored in float64 and the top k kept, so float32
# rounding does not decide near ties. OUTDIR/meta.json records what was
# made; an OUTDIR whose meta.json matches is left as it is (the cache).
import argparse, json, os, sys, time
import numpy as np

CENTRES = 1000


def write_bin(path, a, dtype):
    a = np.ascontiguousarray(a, dtype=dtype)
    with open(path + ".tmp", "wb") as f:
        np.array(a.shape, dtype=np.int32).tofile(f)
        a.tofile(f)
    os.replace(path + ".tmp", path)


def read_fvecs(path):
    raw = np.fromfile(path, dtype=np.int32)
    d = int(raw[0])
    return raw.reshape(-1, d + 1)[:, 1:].view(np.float32).copy()


def mixture(n, d, q, seed):
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((CENTRES, d), dtype=np.float32)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    spread = (0.6 / np.sqrt(d)) * rng.uniform(0.7, 1.3, CENTRES).astype(np.float32)
    out = np.empty((n + q, d), dtype=np.float32)
    step = 65536
    for s in range(0, n + q, step):
        e = min(n + q, s + step)
        lab = rng.integers(0, CENTRES, e - s)
        x = c[lab] + rng.standard_normal((e - s, d), dtype=np.float32) * spread[lab, None]
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[s:e] = x
    return out[:n], out[n:]


def exact_topk(base, queries, k):
    cand = 4 * k
    nq = len(queries)
    best_s = np.full((nq, cand), -np.inf, dtype=np.float32)
    best_i = np.zeros((nq, cand), dtype=np.int64)
    step = 32768
    for s in range(0, len(base), step):
        sc = queries @ base[s:s + step].T
        m = min(cand, sc.shape[1])
        part = np.argpartition(-sc, m - 1, axis=1)[:, :m]
        ps = np.take_along_axis(sc, part, axis=1)
        alls = np.concatenate([best_s, ps], axis=1)
        alli = np.concatenate([best_i, part + s], axis=1)
        keep = np.argpartition(-alls, cand - 1, axis=1)[:, :cand]
        best_s = np.take_along_axis(alls, keep, axis=1)
        best_i = np.take_along_axis(alli, keep, axis=1)
    q64 = queries.astype(np.float64)
    gt = np.empty((nq, k), dtype=np.int32)
    for i in range(nq):
        ids = best_i[i]
        s64 = base[ids].astype(np.float64) @ q64[i]
        order = np.lexsort((ids, -s64))[:k]  # score desc, then smaller id
        gt[i] = ids[order]
    return gt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["syn", "fvecs"])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--k", type=int, default=10)
    o = ap.parse_args()
    meta = {"kind": o.kind, "a": o.a, "b": o.b, "seed": o.seed, "queries": o.queries,
            "k": o.k, "version": 1}
    mp = os.path.join(o.outdir, "meta.json")
    if os.path.exists(mp):
        try:
            if json.load(open(mp)).get("made") == meta:
                print(f"gen_data: {o.outdir} is up to date", file=sys.stderr)
                return
        except ValueError:
            pass
    os.makedirs(o.outdir, exist_ok=True)
    t0 = time.time()
    if o.kind == "syn":
        n, d = int(o.a), int(o.b)
        base, queries = mixture(n, d, o.queries, o.seed + 7919 * d + n)
    else:
        base, queries = read_fvecs(o.a), read_fvecs(o.b)
        base /= np.linalg.norm(base, axis=1, keepdims=True)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    t1 = time.time()
    gt = exact_topk(base, queries, o.k)
    t2 = time.time()
    write_bin(os.path.join(o.outdir, "base.fbin"), base, np.float32)
    write_bin(os.path.join(o.outdir, "queries.fbin"), queries, np.float32)
    write_bin(os.path.join(o.outdir, "gt.ibin"), gt, np.int32)
    json.dump({"made": meta, "n": len(base), "dim": base.shape[1], "nq": len(queries),
               "gen_s": round(t1 - t0, 2), "gt_s": round(t2 - t1, 2)}, open(mp, "w"))
    print(f"gen_data: {o.outdir}: {len(base)} x {base.shape[1]}, {len(queries)} queries "
          f"(generated in {t1 - t0:.1f} s, exact top-{o.k} in {t2 - t1:.1f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
