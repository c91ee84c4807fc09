#!/usr/bin/env python3
"""benchmarks/eval_xapian.py — the Xapian BM25 baseline on a BEIR-layout set.

    python3 benchmarks/eval_xapian.py ../shared/data/manpages [--title-weight 2] [--json]

Indexes corpus.jsonl with Xapian 1.4 (Debian python3-xapian, installed with
tools/deps.sh when missing) in an in-memory database: English Snowball
stemmer, the title indexed with extra weight (its terms get wdf
--title-weight per occurrence, the text 1), default BM25 parameters
(xapian.BM25Weight()). Each query of queries.jsonl goes through a
QueryParser with the same stemmer, STEM_SOME and the default operator OR;
the top 100 documents are scored with the metric code of beir_metrics.py,
the same as eval_beir.py (and `ragdb eval`'s C metrics). The qrels are read
only for the metrics.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from beir_metrics import evaluate, load_jsonl, load_qrels, load_queries  # noqa: E402

SYSTEM_PYTHON = "/usr/bin/python3"


def import_xapian():
    """The Debian module lives in the system Python's dist-packages: install it
    if missing, and re-run this script under the system Python when the
    interpreter running it (a pyenv or venv one) cannot see it."""
    try:
        import xapian  # noqa: F401
        return xapian
    except ImportError:
        pass
    dist = "/usr/lib/python3/dist-packages"
    if not os.path.exists(os.path.join(dist, "xapian")):
        deps = os.path.join(HERE, "..", "tools", "deps.sh")
        print("eval_xapian: installing python3-xapian", file=sys.stderr)
        subprocess.run(["bash", deps, "python3-xapian"], check=True)
    if os.path.realpath(sys.executable) != os.path.realpath(SYSTEM_PYTHON) and \
            os.path.exists(SYSTEM_PYTHON) and not os.environ.get("EVAL_XAPIAN_REEXEC"):
        os.environ["EVAL_XAPIAN_REEXEC"] = "1"
        os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON] + sys.argv)
    import xapian  # noqa: F811
    return xapian


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--title-weight", type=int, default=2,
                    help="wdf of each title term occurrence (text terms: 1)")
    ap.add_argument("--k", type=int, default=100, help="documents retrieved per query")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    xapian = import_xapian()

    qrels = load_qrels(a.dir)
    queries = load_queries(a.dir)
    stemmer = xapian.Stem("english")

    t0 = time.time()
    db = xapian.WritableDatabase("", xapian.DB_BACKEND_INMEMORY)
    tg = xapian.TermGenerator()
    tg.set_stemmer(stemmer)
    tg.set_stemming_strategy(xapian.TermGenerator.STEM_SOME)
    n_docs = 0
    for d in load_jsonl(os.path.join(a.dir, "corpus.jsonl")):
        doc = xapian.Document()
        tg.set_document(doc)
        title = d.get("title") or ""
        if title:
            tg.index_text(title, a.title_weight)
            tg.increase_termpos()
        tg.index_text(d.get("text") or "")
        doc.set_data(str(d["_id"]))
        db.add_document(doc)
        n_docs += 1
    index_s = time.time() - t0

    t0 = time.time()
    qp = xapian.QueryParser()
    qp.set_stemmer(stemmer)
    qp.set_stemming_strategy(xapian.QueryParser.STEM_SOME)
    qp.set_default_op(xapian.Query.OP_OR)
    qp.set_database(db)
    enq = xapian.Enquire(db)
    enq.set_weighting_scheme(xapian.BM25Weight())
    runs = {}
    for qid, text in queries:
        # Plain words: a query is not Xapian syntax (no boolean operators,
        # no phrases), as for a user typing into a search box.
        enq.set_query(qp.parse_query(text, 0))
        runs[qid] = [m.document.get_data().decode("utf-8") for m in enq.get_mset(0, a.k)]
    search_s = time.time() - t0

    n_judged, m = evaluate(runs, qrels)
    result = {"set": os.path.basename(os.path.normpath(a.dir)), "engine": "xapian",
              "version": xapian.version_string(), "documents": n_docs,
              "queries": n_judged, "index_s": round(index_s, 2), "search_s": round(search_s, 2),
              **{k: round(v, 4) for k, v in m.items()}}
    if a.json:
        print(json.dumps(result))
    else:
        print(f"{result['set']}: Xapian {result['version']} BM25, {n_docs} documents, "
              f"{n_judged} queries, index {index_s:.1f} s, search {search_s:.1f} s")
        print("  engine   nDCG@10  Recall@10  Recall@100  MRR@10")
        print(f"  xapian   {m['ndcg@10']:.4f}   {m['recall@10']:.4f}     "
              f"{m['recall@100']:.4f}      {m['mrr@10']:.4f}")


if __name__ == "__main__":
    main()
