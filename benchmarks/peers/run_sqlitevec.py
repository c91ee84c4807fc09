#!/usr/bin/python3
# benchmarks/peers/run_sqlitevec.py — sqlite-vec (the npm package's prebuilt
# vec0 extension, loaded into Debian's python3 sqlite3 module) for
# bench_peers.sh: a vec0 virtual table in a database file, brute-force KNN
# (L2 distance on L2-normalised vectors ranks as inner product does).
# sqlite-vec has no batch call: the batch column is left empty.
#
#   run_sqlitevec.py build EXT BASE.fbin DB_FILE
#   run_sqlitevec.py query EXT DB_FILE Q.fbin GT.ibin [--single-seconds S] [--k K]
import argparse, os, sqlite3, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common


def connect(ext, path):
    c = sqlite3.connect(path)
    c.enable_load_extension(True)
    c.load_extension(ext)
    c.enable_load_extension(False)
    return c


def build(o):
    base = common.read_fbin(o.base)
    n, d = base.shape
    for p in (o.db, o.db + "-journal", o.db + "-wal"):
        if os.path.exists(p):
            os.remove(p)
    t0 = time.perf_counter()
    c = connect(o.ext, o.db)
    c.execute(f"create virtual table items using vec0(embedding float[{d}])")
    step = 10000
    for s in range(0, n, step):
        c.executemany("insert into items(rowid, embedding) values (?, ?)",
                      ((s + i + 1, base[s + i].tobytes()) for i in range(min(step, n - s))))
    c.commit()
    c.close()
    t = time.perf_counter() - t0
    common.emit({"system": "sqlite-vec", "kind": "vec0", "build_s": round(t, 3),
                 "build_rss_mb": common.memory()["rss_mb"], "disk_mb": common.disk_mb(o.db)})


def query(o):
    q = common.read_fbin(o.queries)
    gt = common.read_ibin(o.gt)
    k = o.k
    common.warm(o.db)
    sql = "select rowid from items where embedding match ? and k = ? order by distance"
    t0 = time.perf_counter()
    c = connect(o.ext, o.db)
    c.execute(sql, (q[0].tobytes(), k)).fetchall()
    cold = (time.perf_counter() - t0) * 1e3

    def one(x):
        return [r[0] - 1 for r in c.execute(sql, (x[0].tobytes(), k))]

    r = common.measure(one, None, q, gt, k, o.single_seconds)
    r.update({"system": "sqlite-vec", "kind": "vec0", "param": None, "threads": 1,
              "cold_ms": round(cold, 3), "version": c.execute("select vec_version()").fetchone()[0]})
    r.update(common.memory())
    common.emit(r)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["build", "query"])
    ap.add_argument("args", nargs="+")
    ap.add_argument("--single-seconds", type=float, default=3.0)
    ap.add_argument("--k", type=int, default=10)
    o = ap.parse_args()
    if o.mode == "build":
        o.ext, o.base, o.db = o.args
        build(o)
    else:
        o.ext, o.db, o.queries, o.gt = o.args
        query(o)


if __name__ == "__main__":
    main()
