#!/usr/bin/python3
# benchmarks/peers/report.py — the table of bench_peers.sh: reads
# OUT/results/SET/ROW.{build.json,query.jsonl,error} and OUT/peers.txt,
# prints one table per data set (approximate indexes at their operating
# point: the cheapest sweep point with recall@10 >= 0.95, else the most
# accurate one), their recall/QPS curves, and the ratios of issue #6 measured
# in this run; writes OUT/results.csv (every point) and OUT/results.json.
#
#   report.py OUT [--threads T] [--cmd "the command that ran"]
import argparse, csv, glob, json, os, platform, subprocess

ORDER = ["ragdb-f32", "ragdb-bf16", "ragdb-int8", "ragdb-binary", "ragdb-ivf",
         "faiss-flat", "faiss-sq8", "faiss-ivf", "faiss-hnsw", "hnswlib-M16", "hnswlib-M32",
         "sqlite-vec", "usearch-M16"]
LABEL = {
    "ragdb-f32": "ragdb f32 (exact)", "ragdb-bf16": "ragdb bf16 (+rescore)",
    "ragdb-int8": "ragdb int8 (+rescore)", "ragdb-binary": "ragdb binary (+rescore)",
    "ragdb-ivf": "ragdb IVF (nprobe)", "faiss-flat": "FAISS IndexFlatIP",
    "faiss-sq8": "FAISS SQ 8bit (flat)", "faiss-ivf": "FAISS IVFFlat (nprobe)",
    "faiss-hnsw": "FAISS HNSWFlat M32 (ef)", "hnswlib-M16": "hnswlib M16 (ef)",
    "hnswlib-M32": "hnswlib M32 (ef)", "sqlite-vec": "sqlite-vec vec0 (brute)",
    "usearch-M16": "usearch M16 (ef)"}
TARGET = 0.95


def load(out):
    sets = {}
    for sd in sorted(glob.glob(os.path.join(out, "results", "*"))):
        name = os.path.basename(sd)
        meta = {}
        if os.path.exists(os.path.join(sd, "set.json")):
            meta = json.load(open(os.path.join(sd, "set.json")))
        rows = {}
        inter = None
        if os.path.exists(os.path.join(sd, "interleave.json")):
            inter = json.load(open(os.path.join(sd, "interleave.json")))
        for f in sorted(os.listdir(sd)):
            if f in ("set.json", "interleave.json"):
                continue
            row, kind = f.split(".", 1)
            r = rows.setdefault(row, {"build": None, "points": [], "error": None})
            path = os.path.join(sd, f)
            if kind == "build.json":
                r["build"] = json.load(open(path))
            elif kind == "query.jsonl":
                for line in open(path):
                    if line.strip():
                        p = json.loads(line)
                        if "param" not in p:
                            p["param"] = p.get("nprobe") if row == "ragdb-ivf" else None
                        if row == "ragdb-ivf" and p["param"] == 0:
                            p["param"] = "auto"
                        r["points"].append(p)
            elif kind == "error":
                r["error"] = open(path).read().strip()
        sets[name] = {"meta": meta, "rows": rows, "interleave": inter}
    return sets


def operating(points):
    """The cheapest point reaching the target (sweeps go from cheap to
    expensive), else the most accurate; None without points."""
    pts = [p for p in points if p["param"] != "auto"] or points
    for p in pts:
        if p.get("recall", 0) >= TARGET:
            return p
    return max(pts, key=lambda p: p.get("recall", 0)) if pts else None


def best_at(points, key):
    """Highest `key` QPS among points with recall >= TARGET, or None."""
    ok = [p for p in points if p.get("recall", 0) >= TARGET and p.get(key)]
    return max(ok, key=lambda p: p[key]) if ok else None


def fmt(v, nd=1):
    if v is None:
        return "-"
    if isinstance(v, float) and v >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "n/a"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--threads", default="?")
    ap.add_argument("--cmd", default="")
    o = ap.parse_args()
    sets = load(o.out)
    peers = []
    pf = os.path.join(o.out, "peers.txt")
    if os.path.exists(pf):
        for line in open(pf):
            name, status, *rest = line.split(" ", 2)
            peers.append({"peer": name, "status": status, "detail": " ".join(rest).strip()})
    cpu = ""
    try:
        cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")][0]
    except (OSError, IndexError):
        pass
    load_avg = " ".join(open("/proc/loadavg").read().split()[:3]) if os.path.exists("/proc/loadavg") else "?"
    print(f"bench_peers: {o.cmd}")
    print(f"machine: {cpu}, {os.cpu_count()} cores, {platform.platform()}; load average at the end {load_avg}")
    print(f"threads: batch calls and ragdb's scans use {o.threads}; single queries of FAISS, "
          f"hnswlib, usearch, sqlite-vec run on 1 thread (their libraries parallelise across "
          f"queries, not within one); ragdb single queries use {o.threads}")
    for p in peers:
        print(f"  {p['peer']:<11} {'ok' if p['status'] == 'ok' else 'NOT AVAILABLE'}: {p['detail']}")
    csv_rows = []
    ratios = {}
    for sname, s in sets.items():
        m = s["meta"]
        print()
        print(f"== {sname}: {m.get('n', '?')} x {m.get('dim', '?')}, 1 query set, recall@10 against "
              f"the exact top-10 by inner product (IVF nlist {m.get('nlist', '?')})")
        hdr = (f"{'engine / index':<26}{'param':>6}{'QPS 1q':>10}{'QPS batch':>14}{'recall':>8}"
               f"{'build s':>9}{'build RSS':>10}{'RSS MB':>8}{'anon MB':>8}{'disk MB':>9}{'cold ms':>9}")
        print(hdr)
        print("-" * len(hdr))
        rows = s["rows"]
        names = [r for r in ORDER if r in rows] + sorted(r for r in rows if r not in ORDER)
        for rn in names:
            r = rows[rn]
            b = r["build"] or {}
            op = operating(r["points"])
            for p in r["points"]:
                csv_rows.append({"set": sname, "row": rn, "param": p["param"],
                                 "threads": p.get("threads"), "qps1": p.get("qps1"),
                                 "qps1_1t": p.get("qps1_1t"),
                                 "n_single": p.get("n_single"), "qps_batch": p.get("qps_batch"),
                                 "batch_n": p.get("batch_n", p.get("queries")),
                                 "recall": p.get("recall"), "recall_single": p.get("recall_single"),
                                 "build_s": b.get("build_s"), "build_rss_mb": b.get("build_rss_mb"),
                                 "disk_mb": b.get("disk_mb"), "cold_ms": p.get("cold_ms"),
                                 "rss_mb": p.get("rss_mb"), "rss_anon_mb": p.get("rss_anon_mb"),
                                 "rss_file_mb": p.get("rss_file_mb"), "error": r["error"] or ""})
            if op is None:
                print(f"{LABEL.get(rn, rn):<26}  {r['error'] or 'no result'}")
                if r["error"]:
                    csv_rows.append({"set": sname, "row": rn, "error": r["error"]})
                continue
            qb = op.get("qps_batch")
            qbs = fmt(qb) if qb else "n/a"
            if qb and op.get("batch_n") and op["batch_n"] < m.get("nq", 1000):
                qbs += f"({op['batch_n']})"
            print(f"{LABEL.get(rn, rn):<26}{fmt(op['param']):>6}{fmt(op.get('qps1')):>10}{qbs:>14}"
                  f"{fmt(op.get('recall'), 4):>8}{fmt(b.get('build_s')):>9}{fmt(b.get('build_rss_mb'), 0):>10}"
                  f"{fmt(op.get('rss_mb'), 0):>8}{fmt(op.get('rss_anon_mb'), 0):>8}"
                  f"{fmt(b.get('disk_mb')):>9}{fmt(op.get('cold_ms')):>9}")
        curves = [rn for rn in names if len(rows[rn]["points"]) > 1]
        if curves:
            print(f"\n  recall@10 / QPS single / QPS batch along each sweep ({sname}):")
            for rn in curves:
                pts = "  ".join(f"{p['param']}: {p.get('recall', 0):.3f}/{fmt(p.get('qps1'), 0)}/"
                                f"{fmt(p.get('qps_batch'), 0)}" for p in rows[rn]["points"])
                print(f"  {LABEL.get(rn, rn):<26}{pts}")

        def pt(rn):
            return operating(rows[rn]["points"]) if rn in rows else None

        f32, ff = pt("ragdb-f32"), pt("faiss-flat")
        rt = {}
        print(f"\n  ratios ({sname}, measured in this run):")
        if f32:
            n, d = m.get("n", 0), m.get("dim", 0)
            gbs = n * d * 4 * f32["qps1"] / 1e9
            print(f"  ragdb f32 single query: {1e3 / f32['qps1']:.2f} ms, {gbs:.2f} GB/s of vectors "
                  f"scanned ({o.threads} threads; compare with the read bandwidth bench_search measures)")
            rt["f32_gbs"] = round(gbs, 3)
            if f32.get("qps_batch"):
                gf = 2.0 * n * d * f32["qps_batch"] / 1e9
                rt["f32_batch_gflops"] = round(gf, 1)
                print(f"  ragdb f32 batch of {m.get('nq', '?')}: {gf:.1f} GFLOP/s on {o.threads} threads "
                      f"(compare with the one-core FMA peak bench_search measures, x threads)")
        if f32 and ff:
            rt["f32_vs_faiss_flat_single"] = ratio(f32["qps1"], ff["qps1"])
            rt["f32_vs_faiss_flat_batch"] = ratio(f32.get("qps_batch"), ff.get("qps_batch"))
            rt["cold_faiss_flat_over_ragdb"] = ratio(ff.get("cold_ms"), f32.get("cold_ms"))
            print(f"  ragdb f32 / FAISS IndexFlatIP, single query QPS: {rt['f32_vs_faiss_flat_single']}"
                  f"   (issue target >= 3x)")
            if f32.get("qps1_1t"):
                rt["f32_1t_vs_faiss_flat_single"] = ratio(f32["qps1_1t"], ff["qps1"])
                print(f"    the same with ragdb on 1 thread, as FAISS: {rt['f32_1t_vs_faiss_flat_single']}"
                      f" ({fmt(f32['qps1_1t'])} QPS)")
            print(f"  ragdb f32 / FAISS IndexFlatIP, batch of 1,000 QPS: {rt['f32_vs_faiss_flat_batch']}"
                  f"   (target > 1x)")
            print(f"  cold start (open + first query): ragdb {f32['cold_ms']:.1f} ms, FAISS read_index "
                  f"+ search {ff['cold_ms']:.1f} ms: FAISS / ragdb = {rt['cold_faiss_flat_over_ragdb']}"
                  f"   (target >= 10x)")
            print(f"  resident memory serving: ragdb {f32.get('rss_mb')} MB of which "
                  f"{f32.get('rss_file_mb')} MB is the file map and {f32.get('rss_anon_mb')} MB its own; "
                  f"FAISS {ff.get('rss_mb')} MB ({ff.get('rss_anon_mb')} MB anonymous: a copy)")
        inter = {d["quantize"]: d for d in (s.get("interleave") or {}).get("dbs", [])}
        if inter:
            iq = s["interleave"].get("queries")
            print(f"  single queries taking turns on the f32, bf16, int8 and binary knowledge bases "
                  f"({iq} rounds, bench_interleave): median ms " +
                  ", ".join(f"{k} {v['median_ms']:.2f}" for k, v in inter.items()))
        for q, tgt in (("bf16", "1.8x"), ("int8", "3.5x"), ("binary", "state it")):
            qp = pt(f"ragdb-{q}")
            if f32 and qp:
                rt[f"{q}_vs_f32_single"] = ratio(qp["qps1"], f32["qps1"])
                rt[f"{q}_vs_f32_batch"] = ratio(qp.get("qps_batch"), f32.get("qps_batch"))
                turns = ""
                if q in inter and "f32" in inter and inter[q]["median_ms"] > 0:
                    rt[f"{q}_vs_f32_single_interleaved"] = ratio(inter["f32"]["median_ms"],
                                                                 inter[q]["median_ms"])
                    turns = f" (taking turns: {rt[f'{q}_vs_f32_single_interleaved']})"
                print(f"  ragdb {q} / f32: single {rt[f'{q}_vs_f32_single']}{turns}, batch "
                      f"{rt[f'{q}_vs_f32_batch']}, recall@10 {qp['recall']:.4f} (single queries "
                      f"{qp.get('recall_single', 0):.4f})   (target {tgt}, recall >= 0.99)")
        for key, what in (("qps1", "single query"), ("qps_batch", "batch")):
            parts = []
            for rn in ("ragdb-ivf", "faiss-ivf", "faiss-hnsw", "hnswlib-M16", "hnswlib-M32", "usearch-M16"):
                if rn in rows and rows[rn]["points"]:
                    bp = best_at(rows[rn]["points"], key)
                    parts.append(f"{LABEL[rn].split(' (')[0]} " +
                                 (f"{fmt(bp[key], 0)} (at {bp['param']}, recall {bp['recall']:.3f})"
                                  if bp else "never reaches it"))
                    if bp:
                        rt[f"{rn}_{key}_at_{TARGET}"] = bp[key]
            if parts:
                print(f"  best {what} QPS at recall@10 >= {TARGET}: " + "; ".join(parts))
        a, b = rt.get(f"ragdb-ivf_qps1_at_{TARGET}"), rt.get(f"faiss-ivf_qps1_at_{TARGET}")
        if a and b:
            rt["ivf_vs_faiss_ivf_single"] = ratio(a, b)
            rt["ivf_vs_faiss_ivf_batch"] = ratio(rt.get(f"ragdb-ivf_qps_batch_at_{TARGET}"),
                                                 rt.get(f"faiss-ivf_qps_batch_at_{TARGET}"))
            print(f"  ragdb IVF / FAISS IVFFlat at recall >= {TARGET}: single {rt['ivf_vs_faiss_ivf_single']}, "
                  f"batch {rt['ivf_vs_faiss_ivf_batch']}   (target >= 1x)")
        ratios[sname] = rt
    fields = ["set", "row", "param", "threads", "qps1", "qps1_1t", "n_single", "qps_batch", "batch_n", "recall",
              "recall_single", "build_s", "build_rss_mb", "disk_mb", "cold_ms", "rss_mb", "rss_anon_mb",
              "rss_file_mb", "error"]
    with open(os.path.join(o.out, "results.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in csv_rows:
            w.writerow(r)
    json.dump({"command": o.cmd, "machine": cpu, "threads": o.threads, "peers": peers,
               "sets": sets, "ratios": ratios}, open(os.path.join(o.out, "results.json"), "w"), indent=1)
    print("\nColumns: QPS 1q = single queries one after another; QPS batch = 1,000 queries in one "
          "call (a number in parentheses: fewer, the batch was cut to bound the time); RSS MB = peak "
          "RSS of the process that opened the index and searched (anon MB: its own memory, the rest "
          "is file map); build s / build RSS = import or index build into the file; cold ms = open "
          "from the page cache + the first query, in-process.")


if __name__ == "__main__":
    main()
