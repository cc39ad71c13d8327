"""Search quality floor: the retrieval evaluation (bench/retrieval.py) through the real product."""

from bench.retrieval import evaluate


def test_structure_and_context_headers_keep_retrieval_above_its_floor(tmp_path):
    results = evaluate(tmp_path, modes=["product"], speed=False)["modes"]["product"]
    hybrid, vector = results["hybrid"], results["vector"]
    # Before structure-aware chunks and context headers: passage-answer MRR@10 0.777 (vector) and 0.831 (hybrid).
    assert hybrid["passage-answer"]["mrr@10"] >= 0.90
    assert vector["passage-answer"]["mrr@10"] >= 0.88
    assert hybrid["document"]["hit@3"] >= 0.95
    assert hybrid["passage"]["mrr@10"] >= 0.97
    assert hybrid["passage-answer"]["mrr@10"] >= vector["passage-answer"]["mrr@10"]
