"""benchmarks/beir_metrics.py — BEIR-layout loading and retrieval metrics
shared by eval_beir.py (ragdb through its CLI) and eval_xapian.py (the
Xapian BM25 baseline), so both are scored by the same code. The C version
used by `ragdb eval` (tools/cli/eval_metrics.c) implements the same
definitions:

  nDCG@k   DCG@k / ideal DCG@k, DCG = sum of gain / log2(rank + 1), the qrel
           score as a linear gain (as trec_eval and BEIR compute it)
  Recall@k judged documents in the top k / judged documents
  MRR@k    1 / rank of the first judged document in the top k, else 0

Scores are averaged over the queries that have judgements (score > 0); the
qrels are read only here.
"""
import json
import math
import os
import sys


def qrels_path(root):
    for rel in ("qrels.tsv", os.path.join("qrels", "test.tsv")):
        path = os.path.join(root, rel)
        if os.path.exists(path):
            return path
    sys.exit(f"no qrels.tsv or qrels/test.tsv in {root}")


def load_qrels(root):
    """{query id: {doc id: score > 0}}; a header line and TREC's 4 columns
    (qid 0 docid score) are accepted."""
    qrels = {}
    with open(qrels_path(root), encoding="utf-8") as f:
        for i, line in enumerate(f):
            parts = line.split()
            if not parts:
                continue
            if i == 0 and not parts[-1].lstrip("-+").isdigit():
                continue  # header
            if len(parts) == 4:
                parts = [parts[0], parts[2], parts[3]]
            qid, did, score = parts[0], parts[1], int(parts[2])
            if score > 0:
                qrels.setdefault(qid, {})[did] = score
    return qrels


def load_jsonl(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def load_queries(root):
    """[(query id, text)] in file order."""
    return [(str(q["_id"]), q["text"]) for q in load_jsonl(os.path.join(root, "queries.jsonl"))]


def ndcg_at(ranked, rels, k):
    dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(rels.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at(ranked, rels, k):
    return len(set(ranked[:k]) & set(rels)) / len(rels) if rels else 0.0


def mrr_at(ranked, rels, k):
    for i, d in enumerate(ranked[:k]):
        if d in rels:
            return 1.0 / (i + 1)
    return 0.0


def fold(doc_ids):
    """Chunk hits -> documents: a document ranks where its best chunk ranks."""
    seen, ranked = set(), []
    for d in doc_ids:
        if d not in seen:
            seen.add(d)
            ranked.append(d)
    return ranked


def evaluate(runs, qrels):
    """runs: {query id: [doc ids, best first]}. Returns (judged query count,
    {"ndcg@10", "recall@10", "recall@100", "mrr@10"})."""
    m = {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    judged = [q for q in qrels if q in runs]
    for q in judged:
        ranked, rels = runs[q], qrels[q]
        m["ndcg@10"] += ndcg_at(ranked, rels, 10)
        m["recall@10"] += recall_at(ranked, rels, 10)
        m["recall@100"] += recall_at(ranked, rels, 100)
        m["mrr@10"] += mrr_at(ranked, rels, 10)
    n = max(len(judged), 1)
    return len(judged), {k: v / n for k, v in m.items()}
