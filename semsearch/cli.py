"""The `semsearch` command: parses arguments, calls the library, renders results. Nothing else lives here.

Heavy modules (numpy, faiss, sentence-transformers) are imported inside commands so `--help` stays instant.
"""

from __future__ import annotations

import functools
import gc
import json
import logging
import os
import sqlite3
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from semsearch.errors import PaperNotFoundError, SemsearchError, is_disk_full
from semsearch.ingest.readers.dates import display_date
from semsearch.model.precision import PRECISIONS
from semsearch.search import fusion  # pure Python, cheap to import: the modes and their defaults

INDEX_ENVVAR = "SEMSEARCH_INDEX"
DEFAULT_INDEX = os.path.join("indexes", "default")
# Exit status of a command stopped by Ctrl-C, as a shell reports a SIGINT death.
INTERRUPTED_EXIT = 128 + 2
# The commands that checkpoint their vectors while embedding (the index keeps them for the rerun).
CHECKPOINTING_COMMANDS = ("update", "rebuild")


def _count(n: int, noun: str, plural: str | None = None) -> str:
    """A count with its noun, plural unless the count is one: "1 paper", "63 papers", "2 queries"."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


class PaperNotFound(click.ClickException):
    """An unknown or ambiguous paper: the error line, then the candidates, one per line."""

    def __init__(self, error: PaperNotFoundError) -> None:
        super().__init__(str(error))
        self.candidates = error.candidates
        self.total = error.total

    def show(self, file: Any = None) -> None:
        """The error line, each candidate, and how many more matched when the list was cut short."""
        super().show(file)
        for key, title in self.candidates:
            click.echo(f"  {key}  {title}", file=file, err=True)
        left_out = (self.total or 0) - len(self.candidates)
        if left_out > 0:
            click.echo(f"  ... and {left_out} more", file=file, err=True)


class SemsearchGroup(click.Group):
    """Turns every library error into a one-line `Error: ...` and exit code 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PaperNotFoundError as exc:
            raise PaperNotFound(exc) from exc
        except SemsearchError as exc:
            raise click.ClickException(str(exc)) from exc
        except (KeyboardInterrupt, click.Abort):
            # Not click's "Aborted!" and exit 1: say what survived, and exit as an interrupted program does.
            if ctx.invoked_subcommand in CHECKPOINTING_COMMANDS:
                click.echo(
                    "Interrupted. The vectors embedded up to the last checkpoint were kept; "
                    f"run the same `semsearch {ctx.invoked_subcommand}` again to reuse them and finish.",
                    err=True,
                )
            else:
                click.echo("Interrupted.", err=True)
            raise click.exceptions.Exit(INTERRUPTED_EXIT) from None
        except (click.ClickException, click.exceptions.Exit):
            raise
        except sqlite3.Error as exc:
            if is_disk_full(exc):
                raise click.ClickException(_disk_full(ctx, exc)) from exc
            raise click.ClickException(
                f"the index database failed ({exc}); free disk space if it is full, "
                "then run `semsearch check` to see what is wrong"
            ) from exc
        except BrokenPipeError:
            # Whoever read stdout stopped (`semsearch ask ... | head`): stop quietly, as other command-line tools do.
            # stdout now points at /dev/null so the interpreter's final flush cannot fail again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise click.exceptions.Exit(128 + 13) from None  # what a shell reports for a SIGPIPE death
        except OSError as exc:
            if is_disk_full(exc):
                raise click.ClickException(_disk_full(ctx, exc)) from exc
            raise click.ClickException(f"{exc.strerror or exc} ({exc.filename or 'no file'}); check the path "
                                       "and free disk space, then run the command again") from exc
        except Exception as exc:  # the last line of defence against a traceback
            if os.environ.get("SEMSEARCH_DEBUG"):
                raise
            raise click.ClickException(
                f"unexpected {exc.__class__.__name__}: {exc}; rerun with SEMSEARCH_DEBUG=1 for details and report it"
            ) from exc


def _disk_full(ctx: click.Context, exc: BaseException) -> str:
    """A full disk the write path did not name itself (a read, a file outside the index): say so, and where."""
    where = exc.filename if isinstance(exc, OSError) and exc.filename else "the index database"
    return f"the disk is full (writing {where}); free space and run the same command again"


def _index_path_option(help_text: str, callback: Callable | None = None) -> Callable[[Callable], Callable]:
    """`--index PATH` (or SEMSEARCH_INDEX), for the group and for each command."""
    return click.option(
        "--index",
        "index_path",
        type=click.Path(file_okay=False, path_type=Path),
        metavar="PATH",
        default=DEFAULT_INDEX,
        envvar=INDEX_ENVVAR,
        show_default=True,
        show_envvar=True,
        help=help_text,
        callback=callback,
    )


def _index_after_command_wins(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    """A command's own `--index` when given; else the group's (`semsearch --index X ask`, the variable, the default)."""
    if ctx.get_parameter_source(param.name) is ParameterSource.COMMANDLINE or ctx.parent is None:
        return value
    return ctx.parent.params.get("index_path", value)


def index_option(func: Callable) -> Callable:
    """The `--index` option every command shares; it may also come before the command."""
    return _index_path_option("Folder of the index.", _index_after_command_wins)(func)


def json_option(func: Callable) -> Callable:
    """The `--json` flag every command shares."""
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of text.")(func)


# What the reading commands print: text for a person, one JSON document, or BibTeX entries for a reference manager.
OUTPUT_FORMATS = ("text", "json", "bibtex")


def output_format_option(*formats: str) -> Callable[[Callable], Callable]:
    """`--format` among `formats` (text first, the default) and `--json`, its shorthand for `--format json`;
    handed to the command as one `output` argument."""

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def command(*args: Any, output_format: str | None, as_json: bool, **kwargs: Any) -> Any:
            if as_json and output_format not in (None, "json"):
                raise click.UsageError(f"--json is short for --format json; give one, not --format {output_format}")
            return func(*args, output="json" if as_json else output_format or formats[0], **kwargs)

        command = json_option(command)
        return click.option(
            "--format",
            "output_format",
            type=click.Choice(formats),
            default=None,
            help=f"What to print: {', '.join(formats)} (BibTeX @misc entries, one per paper).  [default: text]",
        )(command)

    return decorate


def limit_option(func: Callable) -> Callable:
    """The `-n/--limit` option of the search commands."""
    return click.option(
        "-n", "--limit", type=click.IntRange(1, 10_000), default=10, show_default=True, help="How many papers to show."
    )(func)


def filter_options(func: Callable) -> Callable:
    """`--since`, `--until` and `--digest`, handed to the command as one `filters` argument (None: no filter)."""

    @functools.wraps(func)
    def command(*args: Any, since: str | None, until: str | None, digest: str | None, **kwargs: Any) -> Any:
        from semsearch.search.filters import FilterError, PaperFilter, resolve_digest_path

        try:
            filters = PaperFilter.parse(since, until, resolve_digest_path(digest) if digest else None)
        except FilterError as exc:
            raise click.UsageError(str(exc)) from exc
        return func(*args, filters=filters, **kwargs)

    options = [
        click.option("--since", metavar="DATE", help="Only papers in a digest of this day (YYYY-MM-DD) or later."),
        click.option("--until", metavar="DATE", help="Only papers in a digest of this day (YYYY-MM-DD) or earlier."),
        click.option(
            "--digest",
            metavar="DATE_OR_FILE",
            help='Only papers of one digest: a day (2025-06-10, "May 6") or a digest file the index read.',
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def date_option(func: Callable) -> Callable:
    """The `--date` option of the commands that read digests."""
    return click.option(
        "--date",
        "default_date",
        type=click.DateTime(formats=["%Y-%m-%d"]),
        default=None,
        help="YYYY-MM-DD: gives the year to date lines without one (when the file name has none), "
        "and the date to digests without a date line.",
    )(func)


def format_option(func: Callable) -> Callable:
    """The `--format` option of the commands that read digests."""
    return click.option(
        "--format",
        "input_format",
        type=click.Choice(["auto", "text", "html", "eml", "mbox", "json", "jsonl"]),
        default="auto",
        show_default=True,
        help="How to read the inputs; auto tells each file's format from its content "
        "(digest text, saved HTML page, e-mail, mbox, JSON, JSONL; gzip too).",
    )(func)


def _embedder(
    ctx: click.Context, index_path: Path | None = None, precision: str | None = None, *, reembed: bool = False
):
    """The embedder from the context (tests inject a fake one), else the bundled model.

    Without an explicit precision, an existing index is embedded and asked with the variant it records;
    `reembed` (a rebuild that embeds every paper again) takes the current reading length.
    """
    obj = ctx.obj or {}
    if obj.get("embedder") is not None:
        return obj["embedder"]
    if index_path is None:
        from semsearch.model.embed import embedder_from_spec

        return embedder_from_spec(precision=precision)
    from semsearch.index import embedder_for

    return embedder_for(index_path, precision, reembed=reembed)


def precision_option(what: str) -> Callable[[Callable], Callable]:
    """--precision: which variant of the bundled model embeds (int8 or fp32)."""
    return click.option(
        "--precision",
        type=click.Choice(PRECISIONS),
        default=None,
        help=f"Variant of the bundled model {what}: int8 (default; ~2.5x faster to embed, same quality "
        "on SciFact) or fp32.",
    )


def ray_options(func: Callable) -> Callable:
    """--ray and its pool's size: embed on a Ray cluster instead of this process (`update`, `rebuild`)."""
    options = [
        click.option(
            "--ray",
            "ray_address",
            metavar="ADDRESS",
            default=None,
            help="Embed on a Ray cluster: `local` starts one on this machine, `auto` joins the one this machine "
            "belongs to, or give its address. Reading and the commit stay here. Needs `pip install 'semsearch[ray]'`.",
        ),
        click.option(
            "--ray-workers",
            type=click.IntRange(min=1),
            metavar="N",
            default=None,
            help="Ray workers embedding at once, each loading the model once.  [default: 1]",
        ),
        click.option(
            "--ray-cpus-per-worker",
            type=click.FloatRange(min=0, min_open=True),
            metavar="C",
            default=None,
            help="CPUs each Ray worker takes (an int8 worker embeds that many texts at a time).  [default: 1]",
        ),
        click.option(
            "--ray-gpus-per-worker",
            type=click.FloatRange(min=0),
            metavar="G",
            default=None,
            help="GPUs each Ray worker takes (fp32 indexes only: the int8 model runs on CPUs).  [default: 0]",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@contextmanager
def _on_cluster(
    embedder: Any, address: str | None, workers: int | None, cpus: float | None, gpus: float | None
) -> Iterator[Any]:
    """The embedder itself, or with --ray one that embeds documents on the cluster (shut down afterwards)."""
    if address is None:
        given = [name for name, value in (("--ray-workers", workers), ("--ray-cpus-per-worker", cpus),
                                          ("--ray-gpus-per-worker", gpus)) if value is not None]
        if given:
            raise click.UsageError(f"{given[0]} needs --ray ADDRESS (local, auto, or the cluster's address)")
        yield embedder
        return
    from semsearch.model.cluster import RayEmbedder

    with RayEmbedder(
        embedder, address, workers=workers or 1, cpus_per_worker=cpus or 1.0, gpus_per_worker=gpus or 0.0
    ) as cluster:
        yield cluster


def _print_json(document: Any) -> None:
    click.echo(json.dumps(document, ensure_ascii=False, indent=2))


def _print_bibtex(papers: list) -> None:
    from semsearch.citations import bibtex_entries

    click.echo(bibtex_entries(papers), nl=False)


@contextmanager
def _progress_bar(label: str, embedder: Any = None) -> Iterator[Callable[[int], Callable[[int], None]]]:
    """A progress factory for the library: a bar on a terminal, one line otherwise, on stderr.

    The library calls it only when there is something to embed; the embedder's one-time preparation (an ONNX
    export, say, with its notice) runs first, so the notice comes before the progress line, not inside it.
    """
    bars = []
    prepare = getattr(embedder, "prepare", None)

    def start(total: int) -> Callable[[int], None]:
        if prepare is not None:
            prepare()
        if not sys.stderr.isatty():
            click.echo(f"{label} {_count(total, 'paper')}...", err=True)
            return lambda _done: None
        bar = click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True, show_eta=True)
        bar.__enter__()
        bars.append(bar)
        return bar.update

    try:
        yield start
    finally:
        for bar in bars:
            bar.__exit__(None, None, None)


def _waiting() -> None:
    click.echo("Another semsearch update is writing to this index; waiting for it to finish...", err=True)


class _NoticeFormatter(logging.Formatter):
    """Notices (INFO) as plain lines; warnings and worse prefixed `warning:`, so only a problem reads as one."""

    def format(self, record: logging.LogRecord) -> str:
        """The record's message, prefixed when it reports a problem."""
        message = super().format(record)
        return message if record.levelno < logging.WARNING else f"warning: {message}"


@click.group(cls=SemsearchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@_index_path_option("Folder of the index, for every command; an --index after the command name wins.")
@click.version_option(package_name="semsearch")
def cli(index_path: Path) -> None:  # each command reads index_path through its own --index's callback
    """Semantic search over the abstracts of research papers from daily digests.

    Index digests with `update`, then `ask` questions or find `related` papers.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_NoticeFormatter("%(message)s"))
    logger = logging.getLogger("semsearch")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False


# -- writing ----------------------------------------------------------------------------------------------------


def _what_digests_added(report) -> str:
    """E.g. "2 new papers from 1 digest (0 updated, 61 already present)"."""
    return (
        f"{_count(report.added, 'new paper')} from {_count(report.digests, 'digest')} "
        f"({report.updated} updated, {report.already_present} already present)"
    )


def _report_update(report, as_json: bool) -> None:
    if as_json:
        _print_json(report.to_dict())
        return
    click.echo(f"Added {_what_digests_added(report)}; {_count(report.papers, 'paper')} in {report.path}")


def _report_rebuild(report, reuse_vectors: bool, as_json: bool) -> None:
    if as_json:
        _print_json(report.to_dict())
        return
    if reuse_vectors:
        # Every paper the digests did not add or change kept its stored vector.
        stored = report.papers - report.added - report.updated
        embedding = (
            f", embedding only {_count(report.embedded, 'paper')} from the digests"
            if report.embedded
            else " without embedding anything"
        )
        done = f"Rewrote the search files from {_count(stored, 'stored vector')}{embedding}"
    else:
        done = f"Rebuilt the index: re-embedded {_count(report.embedded, 'paper')}"
    added = f"; added {_what_digests_added(report)}" if report.digests else ""
    click.echo(f"{done}{added}; {_count(report.papers, 'paper')} in {report.path}")


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@index_option
@date_option
@format_option
@precision_option("for a new index (an existing one keeps the variant it records; `rebuild --precision` switches)")
@ray_options
@click.option("--no-wait", is_flag=True, help="Fail at once if another update is writing to the index.")
@json_option
@click.pass_context
def update(
    ctx: click.Context,
    inputs,
    index_path: Path,
    default_date,
    input_format: str,
    precision: str | None,
    ray_address: str | None,
    ray_workers: int | None,
    ray_cpus_per_worker: float | None,
    ray_gpus_per_worker: float | None,
    no_wait: bool,
    as_json: bool,
) -> None:
    """Add the papers of digest files or folders; papers already indexed are not embedded again.

    A folder is read recursively and its files are picked by content (digest text, saved pages, e-mails and
    mailboxes, JSON/JSONL, gzip too; hidden files skipped); - reads one digest from stdin, recorded as <stdin>.
    Records, paper blocks or files that cannot be used are reported as warnings. Every input is parsed before
    anything is written: if one cannot be read at all, nothing is stored.
    """
    from semsearch import index

    date = default_date.date() if default_date else None
    given = _with_stdin(list(inputs), date, None if input_format == "auto" else input_format)
    local = _embedder(ctx, index_path, precision)
    with (
        _on_cluster(local, ray_address, ray_workers, ray_cpus_per_worker, ray_gpus_per_worker) as embedder,
        _progress_bar("Embedding", embedder) as progress,
    ):
        report = index.update(
            index_path,
            given,
            embedder,
            default_date=date,
            progress=progress,
            wait=not no_wait,
            on_wait=_waiting,
            input_format=None if input_format == "auto" else input_format,
        )
    _report_update(report, as_json)


@cli.command()
@index_option
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="DATE",
    default=None,
    help="First day to fetch (YYYY-MM-DD).  [default: the last day fetched; for a new folder, 6 days ago]",
)
@click.option(
    "--until",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="DATE",
    default=None,
    help="Last day to fetch (YYYY-MM-DD).  [default: today, UTC]",
)
@click.option(
    "--digests",
    "digests_dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    default=None,
    help="Folder the days are saved in.  [default: INDEX/digests]",
)
@click.option("--no-wait", is_flag=True, help="Fail at once if another update is writing to the index.")
@json_option
@click.pass_context
def fetch(
    ctx: click.Context,
    index_path: Path,
    since,
    until,
    digests_dir: Path | None,
    no_wait: bool,
    as_json: bool,
) -> None:
    """Download the Daily Papers lists of new days, save one JSON file per day and index their papers.

    Days already saved (after they ended) are not fetched again, so a rerun fetches only what is missing. The API's
    address comes from SEMSEARCH_DAILY_PAPERS_URL (default https://huggingface.co/api/daily_papers).
    """
    from semsearch.index.fetched import fetch_and_index

    first = since.date() if since else None
    last = until.date() if until else None
    if first and last and first > last:
        raise click.UsageError(f"--since {first} is after --until {last}")

    def on_day(saved) -> None:
        what = f"{_count(saved.entries, 'paper')}" if saved.entries else "no list"
        state = "saved" if saved.written else "unchanged"
        click.echo(f"{saved.day}: {what} ({state} {saved.path.name})", err=True)

    def on_pause(seconds: float, why: str) -> None:
        click.echo(f"{why}; waiting {seconds:.0f} s...", err=True)

    def on_behind(days: int) -> None:
        click.echo(f"Indexing {_count(days, 'saved day')} the index does not hold yet...", err=True)

    embedder = _embedder(ctx, index_path)
    with _progress_bar("Embedding", embedder) as progress:
        fetched = fetch_and_index(
            index_path,
            embedder,
            first,
            last,
            digests_dir,
            wait=not no_wait,
            on_day=on_day,
            on_pause=on_pause,
            on_behind=on_behind,
            on_lock_wait=_waiting,
            progress=progress,
            sleep=(ctx.obj or {}).get("sleep"),  # tests inject one that does not wait
        )
    result, report, folder, failure = fetched.result, fetched.update, fetched.folder, fetched.failure
    if as_json:
        _print_json(fetched.to_dict())
    elif not result.days and not report.digests and failure is None:
        click.echo(f"Nothing new to fetch: every day asked for is saved in {folder}; "
                   f"{_count(report.papers, 'paper')} in {report.path}")
    else:
        click.echo(
            f"Fetched {_count(len(result.days), 'day')} ({result.empty_days} without a list, "
            f"{_count(len(result.written), 'file')} saved in {folder}); added {_what_digests_added(report)}; "
            f"{_count(report.papers, 'paper')} in {report.path}"
        )
    if failure is not None:
        raise click.ClickException(str(failure))


def _with_stdin(inputs: list[Path], default_date, input_format: str | None) -> list:
    """The inputs with `-` replaced by the digests read from stdin (sniffed as a file is; parsed before embedding)."""
    if sum(str(item) == "-" for item in inputs) > 1:
        raise click.UsageError("- (stdin) can be given once")
    if not any(str(item) == "-" for item in inputs):
        return inputs
    from semsearch.ingest.digest import STDIN, read_digest_bytes

    data = sys.stdin.buffer.read()
    if not data.lstrip(b"\xef\xbb\xbf").strip():
        raise click.ClickException(
            "stdin is empty: pipe a digest into `semsearch update -` (digest text, a saved page, an e-mail or JSON)"
        )
    digests = read_digest_bytes(data, STDIN, default_date, input_format)
    given: list = []
    for item in inputs:
        given.extend(digests if str(item) == "-" else [item])
    return given


@cli.command()
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@index_option
@date_option
@format_option
@click.option(
    "--reuse-vectors",
    is_flag=True,
    help="Keep the stored vectors and only rebuild the search structure from them (a fast repair).",
)
@precision_option("to re-embed with (default: the one the index records)")
@ray_options
@click.option("--no-wait", is_flag=True, help="Fail at once if another update is writing to the index.")
@json_option
@click.pass_context
def rebuild(
    ctx: click.Context,
    inputs,
    index_path: Path,
    default_date,
    input_format: str,
    reuse_vectors: bool,
    precision: str | None,
    ray_address: str | None,
    ray_workers: int | None,
    ray_cpus_per_worker: float | None,
    ray_gpus_per_worker: float | None,
    no_wait: bool,
    as_json: bool,
) -> None:
    """Re-embed every stored paper (e.g. after a model change) and swap the new index in at once.

    Digest files or folders given as INPUTS are read first and their papers included.
    """
    from semsearch import index

    local = _embedder(ctx, index_path, precision, reembed=not reuse_vectors)
    with (
        _on_cluster(local, ray_address, ray_workers, ray_cpus_per_worker, ray_gpus_per_worker) as embedder,
        _progress_bar("Embedding", embedder) as progress,
    ):
        report = index.rebuild(
            index_path,
            inputs,
            embedder,
            default_date=default_date.date() if default_date else None,
            progress=progress,
            reuse_vectors=reuse_vectors,
            wait=not no_wait,
            on_wait=_waiting,
            input_format=None if input_format == "auto" else input_format,
        )
    _report_rebuild(report, reuse_vectors, as_json)


@cli.command()
@click.argument("papers", nargs=-1, required=True)
@index_option
@click.option("--no-wait", is_flag=True, help="Fail at once if another update is writing to the index.")
@json_option
def remove(papers, index_path: Path, no_wait: bool, as_json: bool) -> None:
    """Forget papers, named by key, arXiv id or title; if one is unknown, nothing is removed."""
    from semsearch import index

    report = index.remove(index_path, papers, wait=not no_wait, on_wait=_waiting)
    if as_json:
        _print_json(report.to_dict())
        return
    click.echo(
        f"Removed {_count(len(report.removed), 'paper')} ({', '.join(report.removed)}); "
        f"{_count(report.papers, 'paper')} in {report.path}"
    )


@cli.command()
@index_option
@json_option
def check(index_path: Path, as_json: bool) -> None:
    """Check the index for damage without changing it; exits 1 when something needs repair."""
    from semsearch import index

    report = index.check(index_path)
    if as_json:
        _print_json(report.to_dict())
    else:
        for note in report.notes:
            click.echo(f"note: {note}")
        for problem in report.problems:
            click.echo(f"problem: {problem}")
        if report.ok:
            click.echo(f"OK: {_count(report.papers, 'paper')} in {report.path}")
    if not report.ok:
        raise click.ClickException(
            f"the index at {report.path} needs repair: {_count(len(report.problems), 'problem')} listed above"
        )


# -- reading ----------------------------------------------------------------------------------------------------


def _open(ctx: click.Context, index_path: Path, needs_model: bool = False):
    from semsearch.search import SearchIndex, single_threaded_searches

    # One question at a time: FAISS's thread team costs more than it saves (10 ms against 50+ ms at 82k).
    single_threaded_searches()
    return SearchIndex(index_path, _embedder(ctx, index_path) if needs_model else None)


def _render_hits(hits, output: str, show_abstracts: bool) -> None:
    # A search's notices (no word to search for, a pasted paper left out) go to stderr, with --json too: stdout
    # stays the documented array of hits, and the exit code stays 0 (no hits is not an error).
    for notice in hits.notices:
        click.echo(f"notice: {notice.message}", err=True)
    if output == "json":
        _print_json([hit.to_dict() for hit in hits])
        return
    if not hits:
        click.echo("No papers found.", err=True)
        return
    if output == "bibtex":
        _print_bibtex([hit.paper for hit in hits])
        return
    key_width = max(len(hit.paper.key) for hit in hits)
    for hit in hits:
        date = display_date(hit.paper.date)
        # The score says what it is: a cosine, a BM25 score and a fused score are on different scales.
        click.echo(
            f"{hit.rank:>3}  {hit.score_kind} {hit.score:.3f}  {date:<10}  {hit.paper.key:<{key_width}}  "
            f"{hit.paper.title}"
        )
        if hit.why is not None:
            indent = " " * 7
            matched = ", ".join(hit.why.matched_terms) or "none"
            click.echo(textwrap.fill(f"why: {hit.why.sentence}", width=100, initial_indent=indent,
                                     subsequent_indent=indent + "     "))
            click.echo(f"{indent}matched words: {matched}")
        if show_abstracts:
            click.echo(textwrap.fill(hit.paper.abstract, width=100, initial_indent=" " * 7, subsequent_indent=" " * 7))
            click.echo()


def mode_option(default_name: str, what: str) -> Callable[[Callable], Callable]:
    """The `--mode` option of `ask` and `related`, defaulting to the fusion module's constant `default_name`."""
    return click.option(
        "--mode",
        type=click.Choice(fusion.MODES),
        default=getattr(fusion, default_name),
        show_default=True,
        help=f"Rank {what} by the model's vectors (dense, cosine score), by words (lexical, BM25 score), "
        "or by both fused (hybrid).",
    )


@cli.command()
@click.argument("question")
@index_option
@limit_option
@filter_options
@mode_option("DEFAULT_MODE", "papers")
@click.option(
    "--why",
    is_flag=True,
    help="Show, for each paper, its abstract sentence nearest to QUESTION and the words it matched.",
)
@click.option("-a", "--abstracts", is_flag=True, help="Show each paper's abstract.")
@output_format_option(*OUTPUT_FORMATS)
@click.pass_context
def ask(
    ctx: click.Context,
    question: str,
    index_path: Path,
    limit: int,
    filters,
    mode: str,
    why: bool,
    abstracts: bool,
    output: str,
) -> None:
    """Print the papers nearest to QUESTION: rank, score (cosine, bm25 or fused), date, key and title."""
    with _open(ctx, index_path, needs_model=True) as search_index:
        hits = search_index.ask(question, limit, filters=filters, mode=mode, why=why)
    _render_hits(hits, output, abstracts)


@cli.command()
@click.argument("paper")
@index_option
@limit_option
@filter_options
@mode_option("RELATED_MODE", "neighbours")
@click.option("-a", "--abstracts", is_flag=True, help="Show each paper's abstract.")
@output_format_option(*OUTPUT_FORMATS)
@click.pass_context
def related(
    ctx: click.Context, paper: str, index_path: Path, limit: int, filters, mode: str, abstracts: bool, output: str
) -> None:
    """Print the papers nearest to PAPER, never PAPER itself.

    PAPER is a key, an arXiv id, an exact or unambiguous partial title, or - to read an abstract from stdin.
    """
    if paper == "-":
        text = sys.stdin.read()
        with _open(ctx, index_path, needs_model=True) as search_index:
            hits = search_index.related_to_text(text, limit, filters=filters, mode=mode)
    else:
        with _open(ctx, index_path) as search_index:
            source, hits = search_index.related(paper, limit, filters=filters, mode=mode)
        if output != "json":
            click.echo(f"Related to {source.key}: {source.title}", err=True)
    _render_hits(hits, output, abstracts)


@cli.command()
@click.argument("paper")
@index_option
@output_format_option(*OUTPUT_FORMATS)
@click.pass_context
def show(ctx: click.Context, paper: str, index_path: Path, output: str) -> None:
    """Print one paper: key, title, dates, digests and abstract. PAPER is a key, an arXiv id or a title."""
    with _open(ctx, index_path) as search_index:
        record = search_index.show(paper)
    if output == "json":
        _print_json(record.to_dict())
        return
    if output == "bibtex":
        _print_bibtex([record])
        return
    click.echo(f"key       {record.key}")
    click.echo(f"title     {record.title}")
    if record.authors:
        click.echo(f"authors   {', '.join(record.authors)}")
    if record.arxiv_id:
        click.echo(f"arxiv     https://arxiv.org/abs/{record.arxiv_id}")
    click.echo(f"dates     {', '.join(display_date(date) for date in record.dates) or '-'}")
    for number, source in enumerate(record.sources):
        click.echo(f"{'digests' if number == 0 else '':<10}{source}")
    click.echo()
    click.echo(textwrap.fill(record.abstract, width=100))


def _human_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def _reading_hint(model_id: str) -> str:
    """For an index embedded reading less of each abstract than the model now does: how to re-embed it."""
    from semsearch.model.bundled import MAX_TOKENS, variant_of

    variant = variant_of(model_id)
    if variant is None or variant[1] >= MAX_TOKENS:
        return ""
    return f"; reads {variant[1]} word pieces: `semsearch rebuild` re-embeds it to read {MAX_TOKENS}"


@cli.command()
@index_option
@json_option
@click.pass_context
def info(ctx: click.Context, index_path: Path, as_json: bool) -> None:
    """Print what the index holds: path, model, papers, digests, date range and size on disk."""
    with _open(ctx, index_path) as search_index:
        summary = search_index.info()
    if as_json:
        _print_json(summary.to_dict())
        return
    per_paper = f" ({_human_size(summary.size_bytes / summary.papers)} per paper)" if summary.papers else ""
    dates = "-"
    if summary.first_date:
        dates = display_date(summary.first_date)
        if summary.last_date != summary.first_date:
            dates += f" to {display_date(summary.last_date)}"
        if summary.first_date.startswith("--"):
            dates += " (year unknown)"
    click.echo(f"index     {summary.path}")
    click.echo(f"state     {summary.state}" + (f": {summary.state_message}" if summary.state_message else ""))
    click.echo(f"model     {summary.model} ({summary.dim}-d{_reading_hint(summary.model)})")
    click.echo(f"papers    {summary.papers}")
    click.echo(f"digests   {summary.digests}")
    click.echo(f"dates     {dates}")
    click.echo(f"size      {_human_size(summary.size_bytes)}{per_paper}")
    recent = f"; {_count(summary.unindexed, 'recent paper')} searched beside it" if summary.unindexed else ""
    if summary.vector_file:
        click.echo(
            f"vectors   {summary.vector_file} ({summary.index_factory}, format {summary.format_version}{recent})"
        )
    else:
        click.echo(f"vectors   none yet ({summary.no_vector_file_because}; format {summary.format_version}{recent})")
    click.echo(f"updated   {summary.updated_at or 'not yet (no update has committed papers)'}")


# -- the reader's feed: watches, likes, news ----------------------------------------------------------------------


@cli.group()
def watch() -> None:
    """Saved questions that `news` ranks new papers by."""


@watch.command("add")
@click.argument("question")
@index_option
@click.option("--name", help="Name of the watch (default: the question's first words).")
@json_option
def watch_add(question: str, index_path: Path, name: str | None, as_json: bool) -> None:
    """Save QUESTION: `news` picks the new papers that match it."""
    from semsearch import feed

    saved = feed.add_watch(index_path, question, name)
    if as_json:
        _print_json(saved.to_dict())
        return
    click.echo(f"Watching {saved.name}: {saved.question}")


@watch.command("list")
@index_option
@json_option
def watch_list(index_path: Path, as_json: bool) -> None:
    """Print the saved questions: name and question."""
    from semsearch import feed

    saved = feed.watches(index_path)
    if as_json:
        _print_json([item.to_dict() for item in saved])
        return
    if not saved:
        click.echo('No watches; add one with `semsearch watch add "QUESTION"`.', err=True)
        return
    width = max(len(item.name) for item in saved)
    for item in saved:
        click.echo(f"{item.name:<{width}}  {item.question}")


@watch.command("remove")
@click.argument("name")
@index_option
@json_option
def watch_remove(name: str, index_path: Path, as_json: bool) -> None:
    """Forget the saved question NAME."""
    from semsearch import feed

    removed = feed.remove_watch(index_path, name)
    if as_json:
        _print_json(removed.to_dict())
        return
    click.echo(f"Removed watch {removed.name}: {removed.question}")


def _set_liked(papers: tuple[str, ...], index_path: Path, as_json: bool, liked: bool) -> None:
    from semsearch import feed

    changed = feed.set_liked(index_path, papers, liked)
    if as_json:
        _print_json([{"key": paper.key, "title": paper.title, "changed": did} for paper, did in changed])
        return
    for paper, did in changed:
        verb = ("Liked" if did else "Already liked") if liked else ("Unliked" if did else "Was not liked")
        click.echo(f"{verb} {paper.key}: {paper.title}")


@cli.command()
@click.argument("papers", nargs=-1, required=True)
@index_option
@json_option
def like(papers: tuple[str, ...], index_path: Path, as_json: bool) -> None:
    """Mark papers as liked, named by key, arXiv id or title; `news` picks new papers like them."""
    _set_liked(papers, index_path, as_json, liked=True)


@cli.command()
@click.argument("papers", nargs=-1, required=True)
@index_option
@json_option
def unlike(papers: tuple[str, ...], index_path: Path, as_json: bool) -> None:
    """Take back likes, named by key, arXiv id or title."""
    _set_liked(papers, index_path, as_json, liked=False)


@cli.command()
@index_option
@json_option
def likes(index_path: Path, as_json: bool) -> None:
    """Print the liked papers: date, key and title."""
    from semsearch import feed

    liked = feed.likes(index_path)
    if as_json:
        _print_json([item.to_dict() for item in liked])
        return
    if not liked:
        click.echo("No liked papers; like one with `semsearch like PAPER`.", err=True)
        return
    width = max(len(item.paper.key) for item in liked)
    for item in liked:
        click.echo(f"{display_date(item.paper.date):<10}  {item.paper.key:<{width}}  {item.paper.title}")


@cli.command()
@index_option
@click.option(
    "--since", metavar="DATE", help="Look at the papers of a digest of this day (YYYY-MM-DD) or later instead."
)
@click.option("--peek", is_flag=True, help="Do not move the last-seen mark: the same papers count as new next time.")
@click.option(
    "-n", "--limit", type=click.IntRange(1, 10_000), default=10, show_default=True, help="How many picks to show."
)
@click.option("--all", "include_all", is_flag=True, help="Also list the new papers that matched nothing.")
@output_format_option(*OUTPUT_FORMATS)
@click.pass_context
def news(
    ctx: click.Context, index_path: Path, since: str | None, peek: bool, limit: int, include_all: bool, output: str
) -> None:
    """Print the papers new since the last `news`, ranked by the watches and likes they match, with why.

    New means entered the index since (a fetched backlog counts); the mark moves unless --peek or --since.
    """
    from semsearch import feed
    from semsearch.search.filters import FilterError, parse_date

    if since is not None:
        try:
            parse_date(since, "--since date")
        except FilterError as exc:
            raise click.UsageError(str(exc)) from exc
    needs_model = bool(feed.watches(index_path))
    with _open(ctx, index_path, needs_model=needs_model) as search_index:
        picks = feed.news(search_index, since=since, peek=peek, limit=limit, include_all=include_all)
    if not picks.watches and not picks.likes:
        click.echo(
            'notice: no watches or likes yet: add a question with `semsearch watch add "QUESTION"` or like a paper '
            "with `semsearch like PAPER`; the new papers by date follow",
            err=True,
        )
    if output == "json":
        _print_json([pick.to_dict() for pick in picks])
        return
    if output == "bibtex":
        _print_bibtex([pick.paper for pick in picks])
    if not picks:
        click.echo("No new papers." if not picks.new_papers else "No new paper matched a watch or a like.", err=True)
        return
    if output == "bibtex":
        return
    key_width = max(len(pick.paper.key) for pick in picks)
    unmatched_shown = False
    for pick in picks:
        if not pick.matched and not unmatched_shown and (picks.watches or picks.likes):
            click.echo("-- new papers that matched nothing --")
            unmatched_shown = True
        date = display_date(pick.paper.date)
        click.echo(f"{pick.rank:>3}  {pick.score:5.2f}  {date:<10}  {pick.paper.key:<{key_width}}  {pick.paper.title}")
        if pick.matched:
            indent = " " * 7
            matched = ", ".join(f"{match.kind} {match.name} ({match.score:.2f})" for match in pick.matched)
            click.echo(f"{indent}matched: {matched}")
            if pick.why is not None:
                click.echo(textwrap.fill(f"why: {pick.why.sentence}", width=100, initial_indent=indent,
                                         subsequent_indent=indent + "     "))
                click.echo(f"{indent}matched words: {', '.join(pick.why.matched_terms) or 'none'}")
    shown = sum(1 for pick in picks if pick.matched)
    click.echo(f"{_count(shown, 'pick')} among {_count(picks.new_papers, 'new paper')}", err=True)


@cli.command()
@index_option
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on; this machine only by default."
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 16),
    default=2,
    show_default=True,
    help="Searches answered at once, one core each (each thread holds its own copy of the vector index).",
)
@click.pass_context
def serve(ctx: click.Context, index_path: Path, host: str, port: int, threads: int) -> None:
    """Serve a search page and a JSON API over the index, and print its URL; Ctrl-C stops it.

    The page is at / and the API under /api/ (described at /openapi.json). Papers added by `semsearch update`
    are served as soon as the update finishes.
    """
    from semsearch.web.server import is_loopback
    from semsearch.web.server import serve as serve_index

    if not is_loopback(host):
        click.echo(
            f"warning: listening on {host}: anyone who can reach this address can search the index", err=True
        )
    click.echo("Loading the index and the model...", err=True)

    def ready(url: str) -> None:
        click.echo(f"Serving {index_path} at {url}")
        sys.stdout.flush()

    serve_index(index_path, _embedder(ctx, index_path), host=host, port=port, threads=threads, on_ready=ready)


@cli.command("mcp")
@index_option
@click.pass_context
def mcp_command(ctx: click.Context, index_path: Path) -> None:
    """Serve the index to an AI assistant as MCP tools over stdin/stdout (the assistant starts this command).

    Tools: search_papers, related_papers, get_paper, index_status and fetch_daily_papers (the one that writes).
    Nothing but the protocol goes to stdout; notices and errors go to stderr.
    """
    from semsearch.mcp import run_stdio

    run_stdio(index_path, lambda: _embedder(ctx, index_path))


_MEASURE_LABELS = {"ndcg@10": "nDCG@10", "recall@10": "Recall@10", "recall@100": "Recall@100", "mrr@10": "MRR@10"}


@cli.command("eval")
@click.argument("dataset", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--split", default="test", show_default=True, help="The judgments to score against: DATASET/qrels/SPLIT.tsv."
)
@click.option(
    "--mode",
    "modes",
    multiple=True,
    type=click.Choice(fusion.MODES),
    help="Score only this mode (repeatable); every mode by default.",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    envvar="SEMSEARCH_CACHE_DIR",
    show_envvar=True,
    help="Where corpus embeddings are cached, by model and text.  [default: $XDG_CACHE_HOME/semsearch or "
    "~/.cache/semsearch]",
)
@click.option("--no-cache", is_flag=True, help="Embed the corpus afresh and cache nothing.")
@precision_option("to score")
@json_option
@click.pass_context
def eval_command(
    ctx: click.Context,
    dataset: Path,
    split: str,
    modes,
    cache_dir: Path | None,
    no_cache: bool,
    precision: str | None,
    as_json: bool,
) -> None:
    """Score each search mode on a BEIR folder's judged queries: nDCG@10, Recall@10, Recall@100, MRR@10.

    DATASET holds corpus.jsonl, queries.jsonl and qrels/SPLIT.tsv (e.g. ../shared/data/scifact). The corpus goes
    into a throwaway index; your own index is not touched.
    """
    from semsearch.evaluation.evaluate import default_cache_dir, evaluate

    cache = None if no_cache else (cache_dir or default_cache_dir())
    embedder = _embedder(ctx, precision=precision)
    with _progress_bar("Embedding", embedder) as progress:
        report = evaluate(
            dataset,
            embedder,
            split=split,
            cache_dir=cache,
            modes=list(modes) or None,
            progress=progress,
        )
    if as_json:
        _print_json(report.to_dict())
        return
    click.echo(
        f"{report.dataset} ({report.split}): {_count(report.queries, 'judged query', 'judged queries')} over "
        f"{_count(report.documents, 'document')}; "
        f"`ask` uses {report.default}"
    )
    click.echo(f"{'mode':<9}" + "".join(f"{label:>12}" for label in _MEASURE_LABELS.values()))
    for mode, measures in report.modes.items():
        click.echo(f"{mode:<9}" + "".join(f"{measures[name]:>12.4f}" for name in _MEASURE_LABELS))


# numpy's OpenBLAS starts a thread per core as numpy loads, and an idle thread spins for 2**28 cycles (~0.1 s)
# before it sleeps, waiting for products semsearch rarely asks for. On 2 busy cores that spinning took ~60 ms
# from a cold `ask` (scripts/cold_start.py). 2**20 cycles (under a millisecond) changes nothing else: the same
# threads split the same products, to the same bits. A value the user sets wins.
BLAS_SPIN_ENVVAR = "OPENBLAS_THREAD_TIMEOUT"
BLAS_SPIN_LOG2_CYCLES = "20"


def main() -> None:
    """Entry point of the console script."""
    os.environ.setdefault(BLAS_SPIN_ENVVAR, BLAS_SPIN_LOG2_CYCLES)  # before anything imports numpy
    try:
        cli(prog_name="semsearch")
    finally:
        # As the interpreter exits it searches every object for reference cycles, several times over, while it
        # tears the modules down: ~60 ms once numpy, onnxruntime and faiss are loaded (scripts/cold_start.py).
        # Frozen objects are left out of that search. Nothing needs it: the command has closed its files and
        # connections, exit handlers still run and the standard streams are still flushed; a cycle left over
        # goes with the process, as it would at any exit.
        gc.freeze()
