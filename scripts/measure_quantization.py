"""What the int8 variant costs in vectors and in retrieval quality, against fp32, on real text.

    .venv/bin/python scripts/measure_quantization.py              # everything (~6 min on 2 cores)
    .venv/bin/python scripts/measure_quantization.py --skip-eval  # vectors only (~2 min)

1. Cosine between fp32 and int8 vectors of N arXiv abstracts, for semsearch's recipe (weights scaled per output
   channel) and for one scale per tensor (the default of onnxruntime's quantize_dynamic), each after the same
   operator fusions.
2. The int8 query path against the int8 document path on N real titles and SciFact claims: an int8 index must
   be asked with the vectors it was built with. Also against padded batches, which semsearch does not use
   for int8 because a text's vector would then depend on the other texts in its batch.
3. SciFact test nDCG@10 per search mode at fp32 and at int8 (`semsearch eval --precision`), and the difference;
   int8 is the default only while every difference stays within 0.005.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))

TOLERANCE = 0.005


def arxiv_texts(n: int) -> tuple[list[str], list[str]]:
    """The first n arXiv records as (document texts, titles)."""
    from semsearch.keys import document_text

    documents, titles = [], []
    with gzip.open(DATA / "arxiv" / "papers.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            documents.append(document_text(record["title"], record["abstract"]))
            titles.append(record["title"])
            if len(documents) == n:
                break
    return documents, titles


def claims(n: int) -> list[str]:
    """The first n SciFact claims: real questions."""
    with open(DATA / "scifact" / "queries.jsonl", encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line, _ in zip(handle, range(n))]


def cosine_line(label: str, a: np.ndarray, b: np.ndarray) -> str:
    """min / mean / 1st percentile of the row-wise cosine between two sets of unit vectors."""
    cos = np.sum(a * b, axis=1)
    return f"  {label}: min {cos.min():.4f}, 1st pct {np.percentile(cos, 1):.4f}, mean {cos.mean():.4f}"


def main() -> None:
    """Print the three measurements."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="abstracts, titles and claims to compare")
    parser.add_argument("--skip-eval", action="store_true", help="skip the SciFact evaluation")
    args = parser.parse_args()

    from semsearch.model import bundled, embed, onnx
    from semsearch.model.precision import FP32, INT8

    # Both exports made (or checked) the way an index makes them.
    embed.bundled_embedder(INT8).embed_query("prepare the exports")
    fp32 = onnx.OnnxQueryEncoder(bundled.fast_query_dir(FP32), max_tokens=bundled.MAX_TOKENS)
    int8 = onnx.OnnxQueryEncoder(bundled.fast_query_dir(INT8), max_tokens=bundled.MAX_TOKENS)
    documents, titles = arxiv_texts(args.n)
    reference = fp32.embed_documents(documents)

    print(f"1. fp32 against int8, {len(documents)} arXiv abstracts (title + abstract)")
    # Both int8 variants embed one text per call, as semsearch does.
    print(cosine_line("per-channel weights (semsearch)", reference, int8.embed_each(documents)))
    with tempfile.TemporaryDirectory() as scratch:
        per_tensor = Path(scratch)
        onnx.quantize_graph(bundled.fast_query_dir(FP32) / onnx.ONNX_NAME, per_tensor / onnx.ONNX_NAME,
                                per_channel=False)
        for name in (onnx.TOKENIZER_NAME, onnx.MANIFEST_NAME):
            (per_tensor / name).write_bytes((bundled.fast_query_dir(INT8) / name).read_bytes())
        # The copied manifest describes the per-channel export; list this one's files instead (sizes are checked).
        manifest = json.loads((per_tensor / onnx.MANIFEST_NAME).read_text())
        manifest["files"] = {
            name: {"size": (per_tensor / name).stat().st_size} for name in (onnx.ONNX_NAME, onnx.TOKENIZER_NAME)
        }
        (per_tensor / onnx.MANIFEST_NAME).write_text(json.dumps(manifest))
        tensor_vectors = onnx.OnnxQueryEncoder(per_tensor, max_tokens=bundled.MAX_TOKENS).embed_each(documents)
    print(cosine_line("one scale per tensor", reference, tensor_vectors))

    texts = titles + claims(args.n)
    print(f"\n2. int8 questions against int8 documents, {len(titles)} titles + {len(texts) - len(titles)} claims")
    questions = np.stack([int8.embed_query(text) for text in texts])
    documents_path = embed.bundled_embedder(INT8).embed_documents(texts)
    print(cosine_line("embed_query vs the document path (one text per call)", questions, documents_path))
    # Why documents are not batched: the activations' scale is shared by every text in a call.
    print(cosine_line("embed_query vs padded batches of 32 (not used)", questions, int8.embed_documents(texts)))

    if args.skip_eval:
        return
    print("\n3. SciFact test nDCG@10 (semsearch eval; corpus vectors cached per variant)")
    scores = {}
    for precision in (FP32, INT8):
        result = subprocess.run(
            [sys.executable, "-m", "semsearch", "eval", str(DATA / "scifact"), "--precision", precision, "--json"],
            capture_output=True, text=True, check=True, cwd=ROOT,
        )
        scores[precision] = {mode: m["ndcg@10"] for mode, m in json.loads(result.stdout)["modes"].items()}
    worst = 0.0
    for mode in scores[FP32]:
        delta = scores[INT8][mode] - scores[FP32][mode]
        worst = max(worst, abs(delta))
        print(f"  {mode:8s} fp32 {scores[FP32][mode]:.4f}  int8 {scores[INT8][mode]:.4f}  difference {delta:+.4f}")
    verdict = "within" if worst <= TOLERANCE else "OUTSIDE"
    print(f"  largest difference {worst:.4f}: {verdict} the {TOLERANCE} tolerance")


if __name__ == "__main__":
    main()
