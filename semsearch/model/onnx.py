"""Query embeddings without torch: an ONNX export of the bundled model, run through onnxruntime.

Importing sentence-transformers costs ~5 s, which a one-question CLI call pays in full. This module keeps the
same vectors (Transformer -> mean pooling -> L2 normalize, as the model folder describes) but needs only
onnxruntime, tokenizers and numpy at query time. Only `export_onnx` touches torch, once, when an index is built.

`quantize_export` turns an fp32 export into an int8 one (fused transformer ops, int8 weights per output channel,
activations quantized per call): 2.5x the abstracts per second of torch on 2 cores (scripts/bench.py), at a
cosine of ~0.995 to the fp32 vectors. An index embeds questions and documents with the same variant, and records
which.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from semsearch.errors import ModelUnavailableError
from semsearch.files import atomic_path
from semsearch.model.bundled import file_sha256 as _sha256
from semsearch.model.precision import FP32, INT8
from semsearch.progress import Progress

# tempfile, shutil and concurrent.futures are imported where they are used: a cold question needs none of them
# (about 4 ms of its start-up).

MANIFEST_NAME = "fastpath.json"
ONNX_NAME = "model.onnx"
DATA_NAME = "model.onnx.data"
TOKENIZER_NAME = "tokenizer.json"
# Bumped when the layout of an export changes, so an old export is refused rather than misread.
FORMAT_VERSION = 1
# How the int8 variant is made; recorded in its manifest. Per-channel weights keep the worst cosine to fp32 at
# 0.992 over 1,000 arXiv abstracts, where one scale per tensor drops it to 0.892 (scripts/measure_quantization.py).
# reduce_range stays off: it exists for CPUs without VNNI and costs accuracy on those with it.
QUANTIZATION = {
    "fusions": "bert",
    "weights": "int8, symmetric, per output channel",
    "activations": "uint8, dynamic (per call)",
    "operators": "MatMul, Attention",
    "reduce_range": False,
}
# Worst cosine between an int8 export and the fp32 export it came from that quantize_export accepts: the trace
# texts land at ~0.995, a broken quantization far lower.
_QUANTIZED_MIN_COSINE = 0.98
# Opset 17 has LayerNormalization as one op (fewer nodes than the decomposed form) and every onnxruntime
# since 1.13 runs it.
OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "sentence_embedding"
# Texts per onnxruntime call for documents: the same batch as SentenceTransformerEmbedder.
DOCUMENT_BATCH = 32
# Two texts of different lengths, so the exported graph is traced with real padding in the batch.
_TRACE_TEXTS = ("a short query", "a longer sentence used to trace the graph with some padding in the batch")
# Worst cosine between the torch and the onnxruntime output that export accepts; fp32 noise is ~1e-7.
_EXPORT_MIN_COSINE = 0.9999
# An export's graph as onnxruntime optimizes it (fused ops, folded constants), saved beside the export by the
# first session on a machine: later sessions load it as it is instead of optimizing the graph again, which was
# half of a cold question's session (42 -> 20 ms median on 2 cores). The same graph runs, so the vectors are the
# same bits (tests/test_quantized.py). It costs the cache folder one more copy of the weights per onnxruntime version.
OPTIMIZED_PREFIX = "optimized-"



def _describe(exc: BaseException) -> str:
    """An exception as one line, for messages the CLI prints on a single line."""
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0]}" if text else exc.__class__.__name__


def _read_json(path: Path) -> Any:
    """A JSON file's content, or None when the file is absent."""
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _model_settings(model_dir: Path) -> dict[str, Any]:
    """What the model folder says about truncation, pooling, normalization and prompts, checked for support."""
    if not (model_dir / "model.safetensors").is_file() or not (model_dir / TOKENIZER_NAME).is_file():
        raise ModelUnavailableError(f"{model_dir} has no model.safetensors or tokenizer.json; reinstall the model")
    modules = _read_json(model_dir / "modules.json") or []
    kinds = [module.get("type", "").rsplit(".", 1)[-1] for module in modules]
    # Any other module (Dense, LayerNorm, ...) would change the vectors and is not in the exported graph.
    if kinds[:2] != ["Transformer", "Pooling"] or any(kind != "Normalize" for kind in kinds[2:]):
        raise ModelUnavailableError(f"the fast path supports Transformer+Pooling(+Normalize) models, not {kinds}")
    pooling_dir = model_dir / next(m.get("path", "") for m in modules if m["type"].endswith("Pooling"))
    pooling = _read_json(pooling_dir / "config.json") or {}
    mode = pooling.get("pooling_mode")
    if mode is None:
        # Older folders (like the bundled one) spell the mode as one boolean per mode.
        active = [key for key, value in pooling.items() if key.startswith("pooling_mode_") and value]
        mode = "mean" if active == ["pooling_mode_mean_tokens"] else ",".join(active) or None
    if mode not in ("mean", ["mean"]):
        raise ModelUnavailableError(f"the fast path supports mean pooling only, the model uses {mode!r}")

    st_config = _read_json(model_dir / "sentence_bert_config.json") or {}
    max_seq_length = st_config.get("max_seq_length")
    if max_seq_length is None:
        # sentence-transformers falls back to the tokenizer's limit, capped by the position embeddings.
        tok_config = _read_json(model_dir / "tokenizer_config.json") or {}
        hf_config = _read_json(model_dir / "config.json") or {}
        limits = [tok_config.get("model_max_length"), hf_config.get("max_position_embeddings")]
        max_seq_length = min(int(v) for v in limits if isinstance(v, (int, float)) and v < 1e9)
    if st_config.get("do_lower_case"):
        raise ModelUnavailableError("the fast path does not lower-case inputs, but the model asks for it")

    # encode_query / encode_document prepend the model's prompts; pooling must then include the prompt tokens.
    meta = _read_json(model_dir / "config_sentence_transformers.json") or {}
    prompts = meta.get("prompts") or {}
    default = prompts.get(meta.get("default_prompt_name") or "", "")
    query_prompt = prompts.get("query", default)
    document_prompt = next((prompts[k] for k in ("document", "passage", "corpus") if k in prompts), default)
    if (query_prompt or document_prompt) and pooling.get("include_prompt") is False:
        raise ModelUnavailableError("the fast path cannot pool without prompt tokens (include_prompt=false)")

    hidden = _read_json(model_dir / "config.json") or {}
    return {
        "max_seq_length": int(max_seq_length),
        "pooling": "mean",
        "normalize": True,
        "dim": int(
            pooling.get("word_embedding_dimension") or pooling.get("embedding_dimension") or hidden["hidden_size"]
        ),
        "query_prompt": query_prompt or "",
        "document_prompt": document_prompt or "",
    }


def _configure_tokenizer(tokenizer: Any, max_seq_length: int) -> Any:
    """Truncate like sentence-transformers (longest first, max_seq_length) and pad to the longest in a batch."""
    # tokenizer.json ships with its own truncation (128) and fixed padding; sentence-transformers overrides both.
    tokenizer.enable_truncation(max_length=max_seq_length, stride=0, strategy="longest_first", direction="right")
    padding = tokenizer.padding or {}
    pad_token = padding.get("pad_token", "[PAD]")
    pad_id = padding.get("pad_id", tokenizer.token_to_id(pad_token) or 0)
    tokenizer.enable_padding(
        direction="right", pad_id=pad_id, pad_type_id=padding.get("pad_type_id", 0), pad_token=pad_token, length=None
    )
    return tokenizer


def _feeds(tokenizer: Any, texts: Sequence[str]) -> dict[str, np.ndarray]:
    """The three int64 input arrays for a batch of texts."""
    encodings = tokenizer.encode_batch(list(texts))
    return {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }


def _save_with_side_weights(source: Path, target: Path) -> None:
    """Rewrite the graph at `source` as `target` plus its weights in DATA_NAME beside it; removes `source`."""
    import onnx

    # Weights in a side file: onnxruntime maps it instead of copying it out of the protobuf, which takes
    # ~0.1 s (a third) off every cold query. Its name is written into the graph, so it is final here.
    onnx.save_model(
        onnx.load(str(source)),
        str(target),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=DATA_NAME,
        size_threshold=1024,
    )
    source.unlink()


def _install_checked(
    staging: Path,
    out_dir: Path,
    feeds: dict[str, np.ndarray],
    expected: np.ndarray,
    min_cosine: float,
    mismatch: str,
    tokenizer: Path,
) -> dict[str, dict]:
    """Check the staged graph against `expected`, then move it, its weights and `tokenizer` into out_dir.

    Returns the size and sha256 of each file, for the manifest the caller writes last.
    """
    import shutil

    # Checked before anything is replaced: a wrong graph must not look like a good export.
    got = _session(staging / ONNX_NAME, threads=1).run([OUTPUT_NAME], feeds)[0]
    worst = float(np.min(np.sum(expected * got, axis=1))) if got.shape == expected.shape else -1.0
    if worst < min_cosine:
        raise ModelUnavailableError(f"{mismatch} (cosine {worst:.6f})")
    shutil.copyfile(tokenizer, staging / TOKENIZER_NAME)
    files = {}
    for name in (ONNX_NAME, DATA_NAME, TOKENIZER_NAME):
        # Staging files are private (0600 from onnx and tempfile); an export is shared like the index.
        os.chmod(staging / name, 0o644)
        files[name] = {"sha256": _sha256(staging / name), "size": (staging / name).stat().st_size}
    # Same filesystem, so each replace is atomic; the weights go before the graph that refers to them.
    for name in (DATA_NAME, ONNX_NAME, TOKENIZER_NAME):
        os.replace(staging / name, out_dir / name)
    return files


def export_onnx(model_dir: Path, out_dir: Path, *, model_id: str | None = None) -> Path:
    """Export the model with pooling and normalization in the graph to out_dir/model.onnx; returns out_dir."""
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    try:
        settings = _model_settings(model_dir)
    except (ValueError, KeyError, TypeError) as exc:  # malformed JSON or a missing key in the model folder
        raise ModelUnavailableError(f"cannot read the configuration in {model_dir} ({_describe(exc)})") from exc
    # Hashed before loading, so the manifest names the weights that were actually exported.
    source_sha256 = _sha256(model_dir / "model.safetensors")
    # Never let a missing file turn into a download attempt: the weights ship in a package.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import tempfile
    import warnings
    from importlib.metadata import version

    try:
        # torch's TorchScript exporter needs onnx too; importing it here fails early with a clear message.
        import onnx  # noqa: F401
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise ModelUnavailableError(
            f"exporting the fast path needs torch, transformers and onnx ({_describe(exc)})"
        ) from exc
    from tokenizers import Tokenizer

    class _Embedder(torch.nn.Module):
        """Transformer + mean pooling over the attention mask + L2 normalize, as one graph."""

        def __init__(self, transformer: torch.nn.Module) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            """The unit sentence vectors of a batch (torch calls it on `module(...)`)."""
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            # Same clamp as sentence-transformers' Pooling, so an all-padding row cannot divide by zero.
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    from transformers.utils import logging as hf_logging

    # transformers draws a "Loading weights" bar on stderr; the CLI has its own progress output.
    bar_was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        # Eager attention: the SDPA variant exports to a graph that runs ~2x slower in onnxruntime.
        transformer = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager")
    except Exception as exc:  # any loader failure means the same thing to a user
        raise ModelUnavailableError(f"could not load {model_dir} for export ({_describe(exc)})") from exc
    finally:
        if bar_was_enabled:
            hf_logging.enable_progress_bar()
    module = _Embedder(transformer).eval()

    tokenizer = _configure_tokenizer(Tokenizer.from_file(str(model_dir / TOKENIZER_NAME)), settings["max_seq_length"])
    trace = {name: torch.from_numpy(array) for name, array in _feeds(tokenizer, _TRACE_TEXTS).items()}
    args = tuple(trace[name] for name in INPUT_NAMES)
    dynamic = {name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES} | {OUTPUT_NAME: {0: "batch"}}

    out_dir.mkdir(parents=True, exist_ok=True)
    # Gone first, so an export that dies half-way reads as missing rather than as a mix of old and new files.
    (out_dir / MANIFEST_NAME).unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".export-") as staging_name:
        staging = Path(staging_name)
        traced = staging / "traced.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            # The TorchScript exporter warns that it is deprecated (dynamo needs onnxscript and takes ~4x as
            # long to export this model), and about shape checks in transformers' mask code that are constant
            # for an encoder without a KV cache.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", UserWarning)
            torch.onnx.export(
                module,
                args,
                str(traced),
                input_names=list(INPUT_NAMES),
                output_names=[OUTPUT_NAME],
                dynamic_axes=dynamic,
                opset_version=OPSET,
                do_constant_folding=True,
                dynamo=False,
            )
            expected = module(*args).numpy()
        _save_with_side_weights(traced, staging / ONNX_NAME)
        feeds = {name: tensor.numpy() for name, tensor in trace.items()}
        files = _install_checked(
            staging,
            out_dir,
            feeds,
            expected,
            _EXPORT_MIN_COSINE,
            f"the ONNX export of {model_dir} disagrees with torch",
            model_dir / TOKENIZER_NAME,
        )

    manifest = {
        "format": FORMAT_VERSION,
        "precision": FP32,
        "model_id": model_id,
        "source_sha256": source_sha256,
        "files": files,
        "opset": OPSET,
        "inputs": list(INPUT_NAMES),
        "output": OUTPUT_NAME,
        **settings,
        "torch_version": torch.__version__,
        "onnx_version": version("onnx"),
    }
    # Written last: a manifest on disk means the files it describes are complete.
    with atomic_path(out_dir / MANIFEST_NAME, unique=True) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out_dir


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """Keep onnxruntime's tools from logging through (and configuring) the root logger, i.e. the CLI's stderr."""
    root = logging.getLogger()
    # logging.warning() installs a stderr handler on a root logger that has none; a NullHandler prevents that.
    guard = logging.NullHandler()
    level = root.level
    root.addHandler(guard)
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.removeHandler(guard)
        root.setLevel(level)


def quantize_graph(fp32_onnx: Path, out_onnx: Path, *, per_channel: bool = True) -> None:
    """Fuse the transformer ops of an fp32 graph and write it with int8 weights (the QUANTIZATION recipe)."""
    try:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.transformers import optimizer
    except ImportError as exc:
        raise ModelUnavailableError(f"quantizing the model needs onnx and onnxruntime ({_describe(exc)})") from exc
    fused = out_onnx.with_name(f".{out_onnx.name}.fused")
    try:
        with _quiet_root_logger():
            # Level 0: only the Python fusions (Attention, SkipLayerNormalization, BiasGelu, EmbedLayerNormalization),
            # so the graph does not depend on what this machine's onnxruntime would optimize on its own.
            model = optimizer.optimize_model(
                str(fp32_onnx), model_type="bert", num_heads=0, hidden_size=0, opt_level=0, use_gpu=False
            )
            model.save_model_to_file(str(fused))
            quantize_dynamic(
                str(fused),
                str(out_onnx),
                weight_type=QuantType.QInt8,
                per_channel=per_channel,
                reduce_range=False,
                op_types_to_quantize=["MatMul", "Attention"],
                # The fused contrib ops have no shape inference; their outputs are float32.
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
    finally:
        fused.unlink(missing_ok=True)


def quantize_export(fp32_dir: Path, out_dir: Path) -> Path:
    """Make an int8 export in out_dir from the fp32 export in fp32_dir (no torch needed); returns out_dir."""
    fp32_dir, out_dir = Path(fp32_dir), Path(out_dir)
    source = OnnxQueryEncoder(fp32_dir, threads=1, check_integrity=True)
    if source.manifest.get("precision", FP32) != FP32:
        raise ModelUnavailableError(f"{fp32_dir} holds a {source.manifest['precision']} export, not fp32")
    import tempfile
    from importlib.metadata import version

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST_NAME).unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".quantize-") as staging_name:
        staging = Path(staging_name)
        quantize_graph(fp32_dir / ONNX_NAME, staging / "quantized.onnx")
        _save_with_side_weights(staging / "quantized.onnx", staging / ONNX_NAME)
        feeds = _feeds(source._tokenizer, _TRACE_TEXTS)
        expected = source._session.run([OUTPUT_NAME], feeds)[0]
        files = _install_checked(
            staging, out_dir, feeds, expected, _QUANTIZED_MIN_COSINE,
            f"the int8 model made from {fp32_dir} disagrees with fp32", fp32_dir / TOKENIZER_NAME,
        )

    manifest = {
        key: value
        for key, value in source.manifest.items()
        if key not in ("files", "torch_version", "onnx_version", "opset")
    }
    manifest |= {
        "precision": INT8,
        "quantization": QUANTIZATION,
        "files": files,
        "fp32_files": source.manifest["files"],
        "onnxruntime_version": version("onnxruntime"),
        "onnx_version": version("onnx"),
    }
    with atomic_path(out_dir / MANIFEST_NAME, unique=True) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out_dir


def _threads() -> int:
    """Intra-op threads: the cores this process may use, at most 4 (more buys little for a 6-layer model)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


def _session(path: Path, threads: int, *, optimized: bool = False, save_optimized: Path | None = None) -> Any:
    """A CPU onnxruntime session for the file at `path`.

    `optimized`: the file is a graph that `save_optimized` wrote, run as it is. `save_optimized`: write the graph
    as onnxruntime optimizes it to that path, its weights to the same name plus ".data".
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    # One graph, no parallel branches: extra inter-op threads would only sit idle.
    options.inter_op_num_threads = 1
    # Spinning workers keep burning CPU after each call, stealing it from the FAISS search that follows a query.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # Warnings about unused initializers etc. would otherwise reach the CLI's stderr.
    options.log_severity_level = 3
    if optimized:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    elif save_optimized is not None:
        # Every optimization that does not depend on this machine's CPU (onnxruntime's layout ones do, and change
        # nothing in this model: the graph saved at "all" is the same), so a cache folder may move between machines.
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(save_optimized)
        options.add_session_config_entry(
            "session.optimized_model_external_initializers_file_name", save_optimized.name + ".data"
        )
        options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def optimized_name(files: dict[str, Any]) -> str:
    """The file name of an export's graph as onnxruntime optimizes it: it belongs to the export's graph and
    weights (their sha256 in the manifest's `files`) and to this onnxruntime version."""
    import onnxruntime

    hashes = "".join(str(files.get(name, {}).get("sha256"))[:8] for name in (ONNX_NAME, DATA_NAME))
    return f"{OPTIMIZED_PREFIX}ort{onnxruntime.__version__}-{hashes}.onnx"


class OnnxQueryEncoder:
    """Embeds texts with an export made by `export_onnx`; imports only onnxruntime, tokenizers and numpy."""

    def __init__(
        self,
        export_dir: Path,
        *,
        threads: int | None = None,
        check_integrity: bool = False,
        max_tokens: int | None = None,
    ) -> None:
        """Load the manifest, tokenizer and session; check_integrity also hashes the exported files (~0.1 s).

        Texts are cut at `max_tokens` word pieces (default: the model's own setting, as sentence-transformers)."""
        self.export_dir = export_dir = Path(export_dir)
        onnx_path = export_dir / ONNX_NAME
        try:
            manifest = json.loads((export_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
                raise ValueError(f"format {manifest.get('format') if isinstance(manifest, dict) else None!r}")
            self.max_seq_length = int(max_tokens or manifest["max_seq_length"])
            self.dim = int(manifest["dim"])
            self._output = str(manifest["output"])
            self._query_prompt = str(manifest.get("query_prompt", ""))
            self._document_prompt = str(manifest.get("document_prompt", ""))
            self.precision = str(manifest.get("precision", FP32))
            files = manifest["files"]
            if not isinstance(files, dict) or not {ONNX_NAME, TOKENIZER_NAME} <= files.keys():
                raise ValueError(f"the manifest lists {sorted(files) if isinstance(files, dict) else files!r}")
            for name in files:
                # A size check is free and catches truncated copies; the full hash is opt-in as it costs ~0.1 s.
                size = (export_dir / name).stat().st_size
                if size != files[name]["size"]:
                    raise ValueError(f"{name} is {size} bytes, the manifest says {files[name]['size']}")
                if check_integrity and _sha256(export_dir / name) != files[name]["sha256"]:
                    raise ValueError(f"{name} does not match the sha256 in the manifest")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelUnavailableError(
                f"the ONNX export in {export_dir} is missing or damaged ({_describe(exc)}); rebuild it"
            ) from exc
        self.manifest: dict[str, Any] = manifest
        self.model_id = manifest.get("model_id") or ""

        try:
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(export_dir / TOKENIZER_NAME))
            self._tokenizer = _configure_tokenizer(tokenizer, self.max_seq_length)
            # With check_integrity the export's own (verified) files are loaded, never a graph derived from them.
            if check_integrity:
                self._session = _session(onnx_path, threads or _threads())
            else:
                self._session = self._optimized_session(onnx_path, threads or _threads())
        except ImportError as exc:
            raise ModelUnavailableError(f"the fast path needs onnxruntime and tokenizers ({_describe(exc)})") from exc
        except Exception as exc:  # tokenizers and onnxruntime raise their own exception types
            raise ModelUnavailableError(
                f"could not load the ONNX export in {export_dir} ({_describe(exc)}); rebuild it"
            ) from exc

    def _optimized_session(self, onnx_path: Path, threads: int) -> Any:
        """A session over the saved optimized graph (OPTIMIZED_PREFIX); the first one on a machine saves it."""
        optimized = self.export_dir / optimized_name(self.manifest["files"])
        if optimized.is_file():
            try:
                return _session(optimized, threads, optimized=True)
            except Exception:  # noqa: BLE001 - a damaged or half-removed file: saved again below
                pass
        try:
            return self._save_optimized(onnx_path, optimized, threads)
        except Exception:  # noqa: BLE001 - e.g. a read-only cache: the export, optimized in memory as always
            return _session(onnx_path, threads)

    def _save_optimized(self, onnx_path: Path, optimized: Path, threads: int) -> Any:
        """A session over the export that saves its optimized graph; installed at `optimized` only when loading
        it back gives the very same vectors (weights first, so the graph never names a missing file)."""
        import tempfile

        with tempfile.TemporaryDirectory(dir=self.export_dir, prefix=".optimize-") as staging_name:
            staged = Path(staging_name) / optimized.name
            session = _session(onnx_path, threads, save_optimized=staged)
            feeds = _feeds(self._tokenizer, _TRACE_TEXTS)
            expected = session.run([self._output], feeds)[0]
            if np.array_equal(_session(staged, 1, optimized=True).run([self._output], feeds)[0], expected):
                for path in (staged.with_name(staged.name + ".data"), staged):
                    os.chmod(path, 0o644)  # shared like the export
                    os.replace(path, self.export_dir / path.name)
        return session

    def _run(self, texts: Sequence[str]) -> np.ndarray:
        """Embed one batch as an (n, dim) float32 array of unit vectors."""
        vectors = self._session.run([self._output], _feeds(self._tokenizer, texts))[0]
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one question as a (dim,) float32 unit vector, like SentenceTransformer.encode_query."""
        return self._run([self._query_prompt + text])[0]

    def embed_documents(
        self,
        texts: Sequence[str],
        progress: Progress | None = None,
        batch_size: int = DOCUMENT_BATCH,
        by_length: bool = True,
    ) -> np.ndarray:
        """Embed documents as an (n, dim) float32 array of unit vectors, batched by similar length."""
        texts = [self._document_prompt + text for text in texts]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        # Longest first, so each batch pads to a length close to its members' and memory peaks early
        # (by_length=False keeps the given order: the benchmark's baseline for this bucketing).
        order = list(range(len(texts)))
        if by_length:
            order.sort(key=lambda i: len(texts[i]), reverse=True)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            out[chunk] = self._run([texts[i] for i in chunk])
            if progress is not None:
                progress(len(chunk))
        return out

    def embed_each(
        self, texts: Sequence[str], progress: Progress | None = None, workers: int | None = None
    ) -> np.ndarray:
        """Embed documents one per call, `workers` calls at a time, as an (n, dim) float32 array of unit vectors.

        An int8 graph quantizes its activations with one scale per call, so in a padded batch a text's vector
        depends on the texts beside it (cosine down to ~0.98). One text per call makes it a function of the
        text alone, the vector `embed_query` gives the same text when the model has no prompts (the bundled one
        has none); it costs no speed, as there is no padding to compute.
        """
        from concurrent.futures import ThreadPoolExecutor

        texts = [self._document_prompt + text for text in texts]
        out = np.empty((len(texts), self.dim), dtype=np.float32)

        def embed_one(i: int) -> None:
            out[i] = self._run([texts[i]])[0]

        # onnxruntime releases the GIL while it runs, and one session serves concurrent calls.
        reported = 0
        with ThreadPoolExecutor(max_workers=workers or _threads()) as pool:
            for done, _ in enumerate(pool.map(embed_one, range(len(texts))), start=1):
                # Reported in steps of a batch, as embed_documents does, not once per text.
                if progress is not None and (done - reported == DOCUMENT_BATCH or done == len(texts)):
                    progress(done - reported)
                    reported = done
        return out

    def verify(self, model_dir: Path) -> bool:
        """Whether this export was made from the weights now in model_dir (False once they change)."""
        try:
            return _sha256(Path(model_dir) / "model.safetensors") == self.manifest.get("source_sha256")
        except OSError:
            return False
