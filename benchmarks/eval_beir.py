#!/usr/bin/env python3
"""benchmarks/eval_beir.py — retrieval quality of ragdb on a BEIR-layout set.

    python3 benchmarks/eval_beir.py ../shared/data/manpages [--ragdb build/release/ragdb]
                                    [--db DIR] [--k 100] [--json]

Creates a knowledge base (a temporary one unless --db), ingests corpus.jsonl
with `ragdb ingest --format jsonl --id-field _id --text-field text
--title-field title`, runs every query of queries.jsonl through
`ragdb search --batch`, folds chunk hits into document hits (a document ranks
where its best chunk ranks) and prints nDCG@10, Recall@10, Recall@100 and
MRR@10 against qrels.tsv (or qrels/test.tsv). nDCG uses the qrel score as a
linear gain and a log2 discount, as trec_eval and BEIR do. The qrels are read
only here, for the metrics.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from beir_metrics import evaluate, fold, load_qrels  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--ragdb", default=os.environ.get("RAGDB_BIN", "build/release/ragdb"))
    ap.add_argument("--db")
    ap.add_argument("--k", type=int, default=100, help="chunks retrieved per query")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--init-args", default="", help="extra arguments for ragdb init")
    ap.add_argument("--ingest-args", default="", help="extra arguments for ragdb ingest")
    ap.add_argument("--search-args", default="",
                    help="extra arguments for ragdb search, e.g. \"--mode bm25\"")
    a = ap.parse_args()

    qrels = load_qrels(a.dir)
    tmp = None
    db = a.db
    if not db:
        tmp = tempfile.mkdtemp(prefix="ragdb-eval-")
        db = os.path.join(tmp, "kb")
    try:
        if not os.path.exists(os.path.join(db, "data.mdb")):
            subprocess.run([a.ragdb, "init", "--db", db] + a.init_args.split(), check=True,
                           stdout=subprocess.DEVNULL)
        t0 = time.time()
        subprocess.run([a.ragdb, "ingest", "--db", db, "--quiet", "--format", "jsonl",
                        "--id-field", "_id", "--text-field", "text", "--title-field", "title",
                        os.path.join(a.dir, "corpus.jsonl")] + a.ingest_args.split(),
                       check=True, stdout=subprocess.DEVNULL)
        ingest_s = time.time() - t0
        t0 = time.time()
        out = subprocess.run([a.ragdb, "search", "--db", db, "--batch",
                              os.path.join(a.dir, "queries.jsonl"), "-k", str(a.k), "--no-text"]
                             + a.search_args.split(),
                             check=True, stdout=subprocess.PIPE, text=True).stdout
        search_s = time.time() - t0
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    runs = {}
    for line in out.splitlines():
        r = json.loads(line)
        runs[r["query_id"]] = fold(hit["id"] for hit in r["results"])

    n_judged, m = evaluate(runs, qrels)
    sa = a.search_args.split()
    mode = sa[sa.index("--mode") + 1] if "--mode" in sa[:-1] else "default"
    result = {"set": os.path.basename(os.path.normpath(a.dir)), "mode": mode,
              "queries": n_judged, "ingest_s": round(ingest_s, 2),
              "search_s": round(search_s, 2), **{k: round(v, 4) for k, v in m.items()}}
    if a.json:
        print(json.dumps(result))
    else:
        print(f"{result['set']}: {n_judged} queries, ingest {ingest_s:.1f} s, "
              f"search {search_s:.1f} s")
        print("  mode     nDCG@10  Recall@10  Recall@100  MRR@10")
        print(f"  {mode:<8} {m['ndcg@10']:.4f}   {m['recall@10']:.4f}     "
              f"{m['recall@100']:.4f}      {m['mrr@10']:.4f}")


if __name__ == "__main__":
    main()
