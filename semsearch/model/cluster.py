"""Embedding on a Ray cluster: documents go through Ray Data `map_batches` over a pool of actors, each loading the
model once; questions, reading, planning and the commit stay in the calling process.

Ray is an optional extra (`pip install 'semsearch[ray]'`) and is imported only when a cluster is used, so the CLI's
`--help` and every local command stay as fast as without it. A worker builds the very embedder the index records
(the int8 ONNX model embeds one text per call, as a local update does, so its vectors are the local ones) and
refuses to start when its model is not the index's.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from semsearch.errors import ClusterError, SemsearchError
from semsearch.model.bundled import precision_of, variant_of
from semsearch.model.embed import EMBEDDER_ENVVAR, Embedder, bundled_embedder, embedder_from_spec
from semsearch.model.precision import INT8
from semsearch.progress import Progress

log = logging.getLogger("semsearch")

RAY_INSTALL_HINT = "pip install 'semsearch[ray]'"
# `--ray local` starts a Ray instance in this process's machine; `auto` joins the cluster this machine belongs to.
LOCAL, AUTO = "local", "auto"
# Texts per actor call: enough to keep a worker's threads (or a GPU) busy between calls, few enough that vectors
# stream back to the checkpoints steadily.
DEFAULT_BATCH = 128
GPU_BATCH = 512


def import_ray() -> Any:
    """The `ray` module with Ray Data, or a ClusterError saying in one line what to install."""
    try:
        import ray
        import ray.data  # noqa: F401 - the extra's Data library, not only Ray core
    except ImportError as exc:
        raise ClusterError(
            f"embedding on a Ray cluster needs Ray, which is not installed ({exc.name or exc}); "
            f"install it with `{RAY_INSTALL_HINT}`"
        ) from exc
    return ray


class _EmbedWorker:
    """One actor of the pool: builds and loads its embedder once, then embeds each batch Ray Data hands it."""

    def __init__(self, make_embedder: Callable[[], Embedder], model_id: str, dim: int) -> None:
        import ray

        self._embedder = make_embedder()
        if (self._embedder.model_id, self._embedder.dim) != (model_id, dim):
            # A worker never embeds with a model the index was not built with.
            raise SemsearchError(
                f"a Ray worker built {self._embedder.model_id} ({self._embedder.dim}-d), but the index records "
                f"{model_id} ({dim}-d); install the same semsearch and model package on every node"
            )
        self._embedder.embed_documents(["warm up"])  # loads the model now, once, not inside the first batch
        self._node = ray.get_runtime_context().get_node_id()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Vectors of the batch's texts, with their positions and the node that made them."""
        vectors = self._embedder.embed_documents([str(text) for text in batch["text"]])
        return {
            "position": batch["position"],
            "vector": vectors,
            "node": np.array([self._node] * len(vectors)),
        }


def _worker_embedder(local: Embedder, device: str, threads: int) -> Callable[[], Embedder]:
    """How a worker builds the index's embedder: the bundled model at its recorded variant, or the
    SEMSEARCH_EMBEDDER factory this process uses."""
    variant = variant_of(local.model_id)
    if variant is not None:
        precision, max_tokens = variant
        return functools.partial(bundled_embedder, precision, device, threads, max_tokens)
    spec = os.environ.get(EMBEDDER_ENVVAR, "")
    if spec:
        return functools.partial(embedder_from_spec, spec)
    raise ClusterError(
        f"the embedder {local.model_id} cannot be rebuilt on Ray workers; "
        f"name it with {EMBEDDER_ENVVAR}=module:factory or pass worker_embedder"
    )


class RayEmbedder:
    """Embeds documents on a Ray cluster and questions locally, with the model the index records.

    `address` is `local` (start Ray on this machine), `auto` (join this machine's cluster) or a cluster address.
    Ray is connected lazily, on the first embedding, and shut down by `close()` when this object connected it.
    """

    def __init__(
        self,
        local: Embedder,
        address: str,
        workers: int = 1,
        gpus_per_worker: float = 0.0,
        cpus_per_worker: float = 1.0,
        worker_embedder: Callable[[], Embedder] | None = None,
        batch_size: int | None = None,
    ) -> None:
        self._ray = import_ray()
        if workers < 1 or gpus_per_worker < 0 or cpus_per_worker <= 0:
            raise ClusterError(
                f"a Ray pool needs at least 1 worker with some CPU and no negative GPU count "
                f"(got {workers} workers, {cpus_per_worker} CPUs and {gpus_per_worker} GPUs each)"
            )
        if gpus_per_worker and precision_of(local.model_id) == INT8:
            raise ClusterError(
                f"the index records {local.model_id}, whose int8 model runs on CPU workers only; drop "
                "--ray-gpus-per-worker, or re-embed with `semsearch rebuild --precision fp32` to use GPUs"
            )
        self.model_id = local.model_id
        self.dim = local.dim
        self.address = address
        self.workers = workers
        self.gpus_per_worker = gpus_per_worker
        self.cpus_per_worker = cpus_per_worker
        self.batch_size = batch_size or (GPU_BATCH if gpus_per_worker else DEFAULT_BATCH)
        self._local = local
        device = "cuda" if gpus_per_worker else "cpu"
        self._make_worker_embedder = worker_embedder or _worker_embedder(local, device, max(1, int(cpus_per_worker)))
        self._connected_here = False
        # Texts embedded per Ray node in the last run (node id -> count): where the work went.
        self.texts_per_node: Counter[str] = Counter()

    def prepare(self) -> None:
        """Connect to the cluster now (starting a local one for `local`), before the progress line."""
        ray = self._ray
        if not ray.is_initialized():
            self._connect()
        context = ray.data.DataContext.get_current()
        # semsearch draws its own progress bar on stderr; Ray Data's bars and per-run notices would interleave, and
        # a worker's failure is reported as one error line (embed_stream), not also as Ray Data's stack traces.
        # Ray Data keeps all of it in its own log file (/tmp/ray/session_latest/logs/ray-data).
        context.enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.CRITICAL)

    def _connect(self) -> None:
        ray = self._ray
        # Workers' output stays in Ray's session logs (/tmp/ray/session_latest/logs): a worker's failure reaches
        # this process as one error line (below), not as a traceback for each retry on stderr.
        settings: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
        if self.address == LOCAL:
            log.info("Starting a local Ray instance...")
            settings["include_dashboard"] = False
        else:
            log.info("Connecting to the Ray cluster at %s...", self.address)
            # Ray tries an address nobody answers at 20 times, about 35 s each, and no signal stops it meanwhile;
            # one try makes it a one-line error in under a minute (a value set by the user wins).
            os.environ.setdefault("RAY_gcs_server_port_wait_time_s", "1")
        try:
            ray.init(address=self.address, **settings)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ClusterError(
                f"could not reach the Ray cluster at {self.address!r} ({_first_line(exc)}); start one with "
                "`ray start --head`, or embed on this machine with `--ray local`"
            ) from exc
        self._connected_here = True

    def close(self) -> None:
        """Shut Ray down if this embedder started or joined it (a cluster itself keeps running)."""
        if self._connected_here:
            self._ray.shutdown()
            self._connected_here = False

    def __enter__(self) -> RayEmbedder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def embed_stream(
        self, texts: Sequence[str], progress: Progress | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(positions in `texts`, their vectors) as the workers finish them, in no fixed order; every text once."""
        self.texts_per_node = Counter()
        if not texts:
            return  # nothing to embed is no reason to start or join a cluster
        self.prepare()
        ray = self._ray
        dataset = ray.data.from_items([{"position": i, "text": text} for i, text in enumerate(texts)])
        embedded = dataset.map_batches(
            _EmbedWorker,
            fn_constructor_args=(self._make_worker_embedder, self.model_id, self.dim),
            compute=ray.data.ActorPoolStrategy(size=self.workers),
            num_cpus=self.cpus_per_worker,
            num_gpus=self.gpus_per_worker or None,
            batch_size=self.batch_size,
            batch_format="numpy",
        )
        seen = np.zeros(len(texts), dtype=bool)
        try:
            for batch in embedded.iter_batches(batch_size=None, batch_format="numpy"):
                positions = np.asarray(batch["position"], dtype=np.int64)
                vectors = np.asarray(batch["vector"], dtype=np.float32).reshape(len(positions), self.dim)
                fresh = ~seen[positions]  # a batch Ray ran twice after losing a worker is taken once
                seen[positions] = True
                self.texts_per_node.update(str(node) for node in batch["node"][fresh])
                if fresh.any():
                    yield positions[fresh], vectors[fresh]
                    if progress is not None:
                        progress(int(fresh.sum()))
        except SemsearchError:
            raise
        except Exception as exc:  # noqa: BLE001 - Ray wraps a worker's error in its own exception types
            kind, message = _worker_error(exc)
            if kind.startswith("semsearch."):
                raise ClusterError(message) from exc
            raise ClusterError(
                f"embedding on the Ray cluster failed ({kind.rpartition('.')[2]}: {message}); "
                "the vectors embedded up to the last checkpoint are kept, so run the same command again"
            ) from exc
        if not seen.all():
            raise ClusterError(
                f"the Ray cluster returned {int(seen.sum())} of {len(texts)} vectors; run the same command again"
            )

    def embed_documents(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Embed documents on the cluster as an (n, dim) float32 array, in the order given."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for positions, vectors in self.embed_stream(texts, progress):
            out[positions] = vectors
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one question here: a cluster round trip would only add latency."""
        return self._local.embed_query(text)


# The last line of a Python traceback: `module.ErrorType: message`.
_ERROR_LINE = re.compile(r"^((?:\w+\.)*\w*(?:Error|Exception)): (.+)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _worker_error(exc: BaseException) -> tuple[str, str]:
    """The type and message of the error a worker raised, read from the exceptions Ray wrapped it in.

    A worker's exception reaches this process as text: Ray keeps its traceback in the message of the error it
    raises here (ActorDiedError for a failed start, RayTaskError for a failed batch) and chains its own on top.
    """
    found: tuple[str, str] | None = None
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for line in _ANSI.sub("", str(current)).splitlines():
            match = _ERROR_LINE.match(line.strip())
            if match and not match.group(1).startswith("ray."):
                found = (match.group(1), match.group(2))
        inner = getattr(current, "cause", None)
        current = current.__cause__ or (inner if isinstance(inner, BaseException) else None) or current.__context__
    return found or (exc.__class__.__name__, _first_line(exc))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__
