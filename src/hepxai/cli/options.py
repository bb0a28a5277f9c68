"""The options many ``hepxai`` commands share, each declared once: one flag, one type, one help.

A use case's CLI calls these with only what really differs between its commands: the default
path, what a directory holds, which of its files a command reads. The argument types are
:mod:`hepxai.cli.arguments`. Nothing here imports torch: building a parser stays fast.

:func:`prepare` applies, after parsing and before the command runs, the options that act on
the process rather than on the command: ``--threads`` / ``--jobs`` set torch's CPU threads
(the one place that does) and ``--device`` is checked against this machine.
:func:`hepxai.cli.app.main` calls it.

    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="hepxai train example")
    >>> data(parser, "data/example", reads="train.h5 trains")
    >>> seed(parser)
    >>> parser.parse_args(["--seed", "7"])
    Namespace(data=PosixPath('data/example'), seed=7)
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from hepxai.cli.arguments import checked_device, count, device_name
from hepxai.cli.arguments import seed as seed_number
from hepxai.core.errors import HepxaiError

#: a parser or one of its argument groups
Parser = argparse.ArgumentParser | argparse._ArgumentGroup


def data(parser: Parser, default: str | os.PathLike[str], *, reads: str | None = None) -> None:
    """``--data DIR``: the data directory a command reads; ``reads``: which of its files, and
    what for."""
    parser.add_argument("--data", type=Path, default=Path(default),
                        help="data directory" + (f" ({reads})" if reads else ""))


def out(parser: Parser, holds: str, default: str | os.PathLike[str] | None = None, *,
        default_text: str | None = None, required: bool = False,
        default_from: Callable[[argparse.Namespace], os.PathLike[str]] | None = None,
        anchor: str | Callable[[argparse.Namespace], str | None] | None = None) -> None:
    """``--out DIR``: the directory a command writes; ``holds``: what it writes there;
    ``default_text``: how the default is made when it depends on other options, and
    ``default_from(args)`` makes it (:func:`prepare` sets ``args.out`` from it, so a default
    place is checked and locked like a given one); ``anchor``: the option naming the input the
    default lies beside (``checkpoint``, ``run``), without which it is not locked (or made), or
    ``anchor(args)`` naming it (``None``: the default lies beside no input)."""
    parser.add_argument("--out", type=Path, default=None if default is None else Path(default),
                        required=required,
                        help=f"directory for {holds}"
                             + (f" (default: {default_text})" if default_text else ""))
    parser.set_defaults(out_is_directory=True,  # held under its lock: see output_lock
                        **({"out_from": default_from, "out_anchor": anchor}
                           if default_from is not None else {}))


def run_dir(parser: Parser, use_case: str, *, same_as: str | None = None) -> None:
    """``RUN_DIR``: the run directory a report is built from (``same_as``: an option that also
    gives it, which makes the argument optional)."""
    extra = {"nargs": "?", "default": None} if same_as else {}
    parser.add_argument("run_dir", type=Path,
                        help=f"run directory of 'hepxai demo {use_case}'"
                             + (f" (same as {same_as})" if same_as else ""), **extra)


def checkpoint(parser: Parser, of: str, *, repeat: bool = False) -> None:
    """``--checkpoint FILE``: a model checkpoint (``repeat``: one or more, each given after its
    own ``--checkpoint``)."""
    parser.add_argument("--checkpoint", type=Path, required=True,
                        action="append" if repeat else "store",
                        help=f"checkpoint of {of}" + (" (repeat for several)" if repeat else ""))


def seed(parser: Parser, default: int = 1, *, of: str | None = None) -> None:
    """``--seed N``; ``of``: what it seeds, when not everything random in the command."""
    parser.add_argument("--seed", type=seed_number, default=default,
                        help=f"{'random seed' if of is None else 'seed of ' + of} "
                             "(0 <= seed < 2**63)")


def max_events(parser: Parser, of: str, *, default: int | None = None,
               unit: str = "events") -> None:
    """``--max-events N`` (``--max-jets`` with ``unit="jets"``): use only the first N of
    ``of``."""
    parser.add_argument(f"--max-{unit}", type=count, default=default, metavar="N",
                        help=f"use only the first N {of}")


def val_events(parser: Parser, default: int = 20_000, *, unit: str = "events") -> None:
    """``--val-events N`` (``--val-jets``): the validation set of every training epoch."""
    parser.add_argument(f"--val-{unit}", type=count, default=default, metavar="N",
                        help=f"validate every epoch on the first N validation {unit}")


def epochs(parser: Parser, *, model: str | None = None) -> None:
    """``--epochs N``; ``model``: the model kind it applies to when not every one."""
    parser.add_argument("--epochs", type=count, default=None, metavar="N",
                        help=(f"{model}: " if model else "")
                             + "override the preset's number of epochs")


def device(parser: Parser) -> None:
    """``--device cpu|cuda|cuda:N``, checked against this machine by :func:`prepare`."""
    parser.add_argument("--device", type=device_name, default="cpu",
                        help="cpu, cuda or cuda:N")


def threads(parser: Parser) -> None:
    """``--threads N``: torch's CPU threads (set by :func:`prepare`)."""
    parser.add_argument("--threads", type=count, default=None, metavar="N",
                        help="torch CPU threads (default: torch's choice; 1 on a busy machine)")


def jobs(parser: Parser) -> None:
    """``--jobs N``: the CPU threads of every library a command uses (XGBoost, numba, torch;
    torch's set by :func:`prepare`)."""
    parser.add_argument("--jobs", type=count, default=None, metavar="N",
                        help="CPU threads (default: all cores)")


def overwrite(parser: Parser) -> None:
    """``--overwrite``: without it, results made with other settings stop the command."""
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing files made with other settings")


def resume(parser: Parser) -> None:
    """``--resume``: continue an interrupted training run."""
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its last epoch checkpoint")


def ntuple_import(parser: Parser, *, use_case: str, splits: tuple[str, ...],
                  fractions: str, tree: str, also: str = "") -> None:
    """The sources and options of ``hepxai import USE_CASE`` from ntuples: ROOT (or open-data
    HDF5) files split by ``--fractions`` (default ``fractions``), or a directory of one file
    per split; ``--tree`` (default ``tree``), ``--branches``, ``--seed``, ``--overwrite``;
    ``also``: what else a source may be."""
    per_split = ", ".join(f"{s}.root" for s in splits)
    parser.add_argument("sources", type=Path, nargs="+", metavar="SOURCE",
                        help=f"ROOT files (TTree or RNTuple) or open-data .h5 files, or a "
                             f"directory holding {per_split} (what 'hepxai export {use_case} "
                             f"--format root' writes){also}")
    out(parser, f"the hepxai files ({', '.join(f'{s}.h5' for s in splits)})",
        f"data/{use_case}-imported")
    parser.add_argument("--tree", default=None,
                        help=f"tree name (default: the mapping file's, else '{tree}')")
    parser.add_argument("--branches", type=Path, default=None, metavar="MAP",
                        help="TOML or JSON file renaming branches: a [branches] table of "
                             "hepxai field = branch name, optional tree = NAME (the fields "
                             "and default names are in the README)")
    parser.add_argument("--fractions", default=fractions,
                        help=f"shares of the entries for {', '.join(splits)}, drawn by a "
                             "seeded hash of the entry number (files, not a directory)")
    seed(parser, of="the split of the entries")
    overwrite(parser)


def export_format(parser: Parser, formats: tuple[str, ...], *, holds: str) -> None:
    """``--format`` of ``hepxai export``: the file type of the published layout."""
    parser.add_argument("--format", default=formats[0], choices=formats,
                        help=f"file type: {holds}")


def sanity(parser: Parser, *, twin: str, methods: str, stochastic: str,
           orders_default: str | None = "cascading,independent", twin_note: str = "") -> None:
    """The options every ``hepxai sanity USE_CASE`` shares: ``--shuffled`` (``twin``: what
    names the model trained with ``--shuffle-labels``, ``checkpoint`` or ``run``), ``--methods``
    (``methods``: the default, in words), ``--orders`` (``orders_default`` ``None``: the use
    case decides) and ``--seeds`` (``stochastic``: the methods whose seeds are compared)."""
    from hepxai.cli.arguments import whole_number

    note = f" ({twin_note})" if twin_note else ""
    parser.add_argument("--shuffled", type=Path, default=None, metavar=twin.upper(),
                        help=f"{twin} of the same model trained with --shuffle-labels: adds "
                             f"the data-randomization check{note}")
    parser.add_argument("--methods", default=None,
                        help=f"comma-separated methods (default: {methods})")
    parser.add_argument("--orders", default=orders_default,
                        help="layer randomizations: cascading (from the output layer down, "
                             "cumulative) and/or independent (one layer at a time)"
                             + ("" if orders_default else "; default both, none for a BDT"))
    parser.add_argument("--seeds", type=whole_number, default=4,
                        help=f"seeds of {stochastic} for the seed-stability study; below 2: "
                             "none")


def judging_seeds(parser: Parser, stochastic: str) -> None:
    """``--seeds N`` of an explain command: ``stochastic`` (the methods, in words) run with N
    seeds, and the judging's means and intervals cover the seed-to-seed spread."""
    from hepxai.cli.arguments import count

    parser.add_argument("--seeds", type=count, default=1, metavar="N",
                        help=f"run {stochastic} with N seeds (--seed, --seed + 1, ...): its "
                             "judging means average them and its 95 %% intervals resample "
                             "seeds as well as events (default 1: intervals over events only)")


def prepare(args: argparse.Namespace) -> None:
    """Apply the options that act on the process: ``--threads`` / ``--jobs`` set torch's CPU
    threads, ``--device`` is checked (one-line :class:`~hepxai.core.errors.HepxaiError` for a
    device this machine lacks), and ``--out`` must be a place this process can write, so a
    typo or a read-only disk fails in one line before any work instead of after it. torch is
    imported only when one of them asks for it. A ``--out`` or ``--store`` left out is set
    here from the command's own default (``out_from`` / ``store_from``), so it is checked and
    locked as if it had been given."""
    args.defaulted = {}  # option -> the option of the input its default lies beside
    if getattr(args, "out", None) is None and getattr(args, "out_from", None) is not None:
        args.out = Path(args.out_from(args))
        anchor = getattr(args, "out_anchor", None)
        args.defaulted["out"] = anchor(args) if callable(anchor) else anchor
    if getattr(args, "store", None) is None and getattr(args, "store_from", None) is not None:
        store = args.store_from(args)
        args.store = None if store is None else Path(store)
        args.defaulted["store"] = "run"
    if getattr(args, "out", None) is not None:
        check_writable(Path(args.out))
    n_threads = getattr(args, "threads", None) or getattr(args, "jobs", None)
    if n_threads:
        set_threads(n_threads)
    if getattr(args, "device", None) not in (None, "cpu"):
        args.device = checked_device(args.device)


def output_lock(args: argparse.Namespace) -> contextlib.AbstractContextManager:
    """The locks of the directories the command writes (:func:`hepxai.core.lock.exclusive`),
    held while it runs, so a second run into the same place is refused in one line naming the
    first: ``--out`` where it is a directory, and the ``--store`` a TracIn precompute fills.
    A default (:func:`prepare`) is locked too, except one made beside an input that is
    missing (explain/ next to a checkpoint, RUN/influence): that place is not created, so the
    command's own one-line error about the input is what the user sees. An existing file in
    their place is refused in one line."""
    defaulted = getattr(args, "defaulted", {})

    def lockable(name: str) -> bool:
        place, anchor = getattr(args, name, None), defaulted.get(name)
        return place is not None and (anchor is None or Path(getattr(args, anchor)).exists())

    places = []
    if lockable("out") and getattr(args, "out_is_directory", False):
        places.append(("--out", args.out))
    if getattr(args, "step", None) == "precompute" and lockable("store"):
        places.append(("--store", args.store))
    if not places:
        return contextlib.nullcontext()
    from hepxai.core.lock import exclusive  # which refuses a place that is a file

    stack = contextlib.ExitStack()
    try:
        for flag, place in places:
            stack.enter_context(exclusive(place, f"hepxai {args.verb} {args.use_case} "
                                                 f"{flag} {place}"))
    except BaseException:
        stack.close()
        raise
    return stack


def check_writable(out: Path) -> None:
    """A one-line :class:`~hepxai.core.errors.HepxaiError` unless ``out`` (a file or directory
    still to be written) exists or can be created: its nearest existing ancestor must be a
    directory this process may write into."""
    from hepxai.core.atomic import nearest_existing

    existing = nearest_existing(out)
    if existing == out:
        return  # already there: the command decides whether it may be replaced
    if not existing.is_dir():
        raise HepxaiError(f"--out {out}: {existing} is a file, not a directory; choose another "
                          "--out")
    if os.statvfs(existing).f_flag & os.ST_RDONLY:
        raise HepxaiError(f"--out {out}: {existing} is on a read-only file system; choose a "
                          "writable --out")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise HepxaiError(f"--out {out}: no permission to write in {existing}; choose another "
                          "--out")


def set_threads(n: int) -> None:
    """torch's CPU threads (intra-op)."""
    import torch

    torch.set_num_threads(n)


def tracin(parser: argparse.ArgumentParser, *, steps: dict[str, str], use_case: str,
           unit: str, reads: str,
           run_default: str, store_default: str, out_default: str, checkpoints_example: str,
           batch_default: int | None, batch_help: str, splits: tuple[str, ...],
           figures: int, seeds: str, n_train: str, n_test: str,
           out_from: Callable[[argparse.Namespace], os.PathLike[str]],
           store_from: Callable[[argparse.Namespace], os.PathLike[str] | None]
           ) -> dict[str, Parser]:
    """The options every ``hepxai influence USE_CASE STEP`` shares, in their groups (``run``,
    ``precompute``, ``query``, ``study``), returned so the use case adds its own: the run and
    its store, the checkpoints, the query's split, top-k, figures, explained model and draw,
    and the retraining studies' pool, test set, seeds and random sets. ``unit``: what the
    examples are called (``events``, ``jets``); ``seeds``: the studies' default seeds;
    ``n_train`` / ``n_test``: their default sizes, as text; ``steps``: name -> what it does;
    ``out_from`` / ``store_from``: the default ``--out`` and ``--store`` of a command line
    (``store_from`` ``None`` where the step reads no store), which ``out_default`` and
    ``store_default`` describe."""
    from hepxai.cli.arguments import int_list, whole_number

    listed = "; ".join(f"{name}: {text}" for name, text in steps.items())
    parser.add_argument("step", choices=list(steps), metavar="STEP",
                        help=f"what to do ({listed})")
    groups = {"run": parser.add_argument_group("run and store"),
              "precompute": parser.add_argument_group("precompute"),
              "query": parser.add_argument_group("query and categories"),
              "study": parser.add_argument_group("validation studies (small models retrained)")}
    run = groups["run"]
    run.add_argument("--run", type=Path, default=Path(run_default),
                     help="training run directory (its checkpoints/epoch_NNN.pt are used)")
    data(run, f"data/{use_case}", reads=reads)
    run.add_argument("--store", type=Path, default=None,
                     help=f"precompute directory (default: {store_default})")
    run.set_defaults(store_from=store_from)
    # a step's default inside RUN lies beside the run; lsor's, kappa's and datamodels' do not
    out(run, "the results", default_text=out_default, default_from=out_from,
        anchor=lambda args: "run" if Path(args.out).is_relative_to(args.run) else None)
    device(run)
    threads(run)
    pre = groups["precompute"]
    pre.add_argument("--checkpoints", default=None,
                     help=f"comma-separated epochs ({checkpoints_example}) or checkpoint paths "
                          "(default: --n-checkpoints spread over the run)")
    pre.add_argument("--n-checkpoints", type=count, default=3, metavar="N",
                     help="checkpoints spread over the run when --checkpoints is not given")
    pre.add_argument("--batch-size", type=count, default=batch_default, metavar="N",
                     help=batch_help)
    overwrite(pre)
    query = groups["query"]
    query.add_argument("--split", choices=splits, default=splits[0],
                       help=f"file of the test {unit}")
    query.add_argument("--top-k", type=count, default=10, metavar="N",
                       help=f"proponents and opponents per test {unit[:-1]}")
    query.add_argument("--figures", type=whole_number, default=figures, metavar="N",
                       help=f"query: draw the figure of the first N {unit} (0: none)")
    query.add_argument("--model-checkpoint", type=Path, default=None,
                       help="explained model for predictions and categories (default: "
                            "RUN/best.pt, else the store's last checkpoint)")
    query.add_argument("--pool", type=count, default=5000, metavar="N",
                       help=f"categories: draw the {unit} from the first N of --split")
    seed(query, 0, of=f"the categories' draw of {unit} and the studies' retraining")
    study = groups["study"]
    study.add_argument("--n-train", type=count, default=None, metavar="N",
                       help=f"training pool: the first N {unit} of train.h5 (default "
                            f"{n_train})")
    study.add_argument("--n-test", type=count, default=None, metavar="N",
                       help=f"test {unit} studied (default {n_test})")
    study.add_argument("--seeds", type=int_list, default=seeds,
                       help="lsor: training seeds (the uncertainty is over seeds)")
    study.add_argument("--n-random", type=count, default=2, metavar="N",
                       help="random removal sets per seed (or per fraction)")
    epochs(study)
    return groups
