"""Command layout and error handling of ``hepxai``.

Every command is ``hepxai VERB USE_CASE [options]`` (``hepxai simulate muon``,
``hepxai train darkjet``...). Each use case's CLI module (:attr:`UseCase.cli`) registers its
commands with :func:`register`; the verbs are created on first use, so adding a verb or a use
case renames nothing.

The parser is lazy: importing a use case's CLI module only registers names, help lines and
functions, and a command's options are declared (its ``add_arguments`` called) when the
command line names that command, so ``hepxai --help`` and ``hepxai VERB USE_CASE --help``
import neither torch nor any other heavy library. The shared options are declared in
:mod:`hepxai.cli.options`.

Errors a user can fix (:class:`HepxaiError`, bad options) print one line and exit with code 2;
an interrupt exits with 130 and keeps every file already finished.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from hepxai import __version__
from hepxai.cli import options
from hepxai.core.errors import HepxaiError, Interrupted, os_error_line

VERBS = {
    "simulate": "generate a data set with the built-in physics simulator",
    "import": "convert files in a published layout into hepxai files",
    "export": "write hepxai files in a published layout",
    "baselines": "evaluate the classical, non-ML references",
    "train": "train a model",
    "evaluate": "evaluate trained models: metrics, tables, figures, speed",
    "sweep": "train a grid of model variants and compare them",
    "explain": "explain predictions: attributions, decision flow, judging and convergence",
    "sanity": "sanity checks of the explanations: do the maps change when the model's layers "
              "are randomized or its labels shuffled; how stable are stochastic methods",
    "influence": "data influence of training examples (TracIn), validated by retraining",
    "demo": "run a use case's whole study end to end and write its report",
    "report": "build the HTML report of a run directory ('hepxai report RUN_DIR' reads the "
              "use case from the run's data files)",
    "export-model": "export a trained torch model to ONNX, checked and timed against PyTorch "
                    "('hepxai export-model --checkpoint CKPT' reads the use case from it)",
}
USAGE_ERROR = 2


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (and exit code 2), not usage dumps."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Shows an option's default in its help when there is one worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in help_text:
            help_text += " (default: %(default)s)"
        return help_text


Handler = Callable[[argparse.Namespace], int | None]
_COMMANDS: list[tuple[str, str, str, Callable[[argparse.ArgumentParser], None], Handler]] = []


def register(verb: str, use_case: str, help: str,
             add_arguments: Callable[[argparse.ArgumentParser], None], run: Handler) -> None:
    """Add ``hepxai VERB USE_CASE``: ``add_arguments(parser)`` declares its options and
    ``run(args)`` does the work (returning an exit code or None)."""
    _COMMANDS.append((verb, use_case, help, add_arguments, run))


class _LazyCommands(argparse._SubParsersAction):
    """The use-case subparsers of one verb; a command's options are declared (its
    ``add_arguments`` called) only when the command line chooses it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pending: dict[str, Callable[[argparse.ArgumentParser], None]] = {}

    def add_command(self, name: str, help_text: str,
                    add_arguments: Callable[[argparse.ArgumentParser], None],
                    handler: Handler) -> None:
        sub = self.add_parser(name, help=help_text, description=help_text,
                              formatter_class=DefaultsHelpFormatter)
        sub.set_defaults(handler=handler)
        self._pending[name] = add_arguments

    def command(self, name: str) -> argparse.ArgumentParser:
        """The parser of command ``name``, its options declared."""
        add_arguments = self._pending.pop(name, None)
        if add_arguments is not None:
            add_arguments(self._name_parser_map[name])
        return self._name_parser_map[name]

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        self.command(values[0])
        super().__call__(parser, namespace, values, option_string)


def _load_commands() -> None:
    """Import every use case's CLI module: each registers its commands (names and functions
    only; the modules import nothing heavy)."""
    from importlib import import_module

    from hepxai import usecases

    for case in usecases.all_use_cases():
        import_module(case.cli)


def build_parser() -> argparse.ArgumentParser:
    """The ``hepxai`` parser: every verb and use case, each command's options declared when a
    command line chooses it (so building and ``--help`` stay fast)."""
    from hepxai import usecases

    _load_commands()
    cases = usecases.all_use_cases()
    width = max(len(case.name) for case in cases) + 2
    listing = "\n".join(f"  {case.name:<{width}}{case.summary}" for case in cases)
    parser = OneLineParser(
        prog="hepxai", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Convergent explainable AI for high-energy physics: simulate or import "
                    "data, run baselines,\ntrain, evaluate and explain models.",
        epilog=f"use cases:\n{listing}\n\n"
               "Run 'hepxai VERB USE_CASE --help' for the options of a command.")
    parser.add_argument("--version", action="version", version=f"hepxai {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True,
                                  parser_class=OneLineParser)
    registered = {verb for verb, *_ in _COMMANDS}
    order = [verb for verb in VERBS if verb in registered]
    order += sorted(registered - set(order))
    commands: dict[str, _LazyCommands] = {}
    for verb in order:
        verb_parser = verbs.add_parser(verb, help=VERBS.get(verb, ""),
                                       description=VERBS.get(verb, ""))
        commands[verb] = verb_parser.add_subparsers(
            dest="use_case", metavar="USE_CASE", required=True, parser_class=OneLineParser,
            action=_LazyCommands)
    for verb, use_case, help_text, add_arguments, handler in _COMMANDS:
        commands[verb].add_command(use_case, help_text, add_arguments, handler)
    parser.commands = commands  # type: ignore[attr-defined]
    return parser


def command_parser(parser: argparse.ArgumentParser, verb: str,
                   use_case: str) -> argparse.ArgumentParser:
    """The parser of ``hepxai VERB USE_CASE`` in ``parser`` (a :func:`build_parser`), its
    options declared: what ``--help`` shows, for docs and tests."""
    return parser.commands[verb].command(use_case)  # type: ignore[attr-defined]


def _use_case_from_run_dir(argv: list[str]) -> list[str]:
    """``hepxai report RUN_DIR`` -> ``hepxai report USE_CASE RUN_DIR`` (the use case read from
    the run directory's data files), and ``hepxai export-model --checkpoint CKPT ...`` ->
    ``hepxai export-model USE_CASE ...`` (read from the checkpoint, or a SUSY run's
    ``model.json``)."""
    from hepxai.usecases import of_run_dir

    use_cases = {use_case for verb, use_case, *_ in _COMMANDS if verb == argv[:1][0]} \
        if argv else set()
    if len(argv) > 1 and argv[0] == "report" and argv[1] not in use_cases \
            and not argv[1].startswith("-"):
        return ["report", of_run_dir(argv[1]), *argv[1:]]
    if len(argv) > 1 and argv[0] == "export-model" and argv[1] not in use_cases \
            and "--checkpoint" in argv[1:-1] and not {"-h", "--help"} & set(argv):
        from hepxai.models import use_case_of

        return ["export-model", use_case_of(argv[argv.index("--checkpoint") + 1]), *argv[1:]]
    return argv


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> str:
    """Warnings on the command line as one line each, like the errors (not file:line and the
    source line of the library that raised them)."""
    return f"hepxai: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    import warnings

    previous, warnings.formatwarning = warnings.formatwarning, _one_line_warning
    try:
        return _main(argv)
    finally:  # a caller running commands in-process keeps its own warning format
        warnings.formatwarning = previous


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv = _use_case_from_run_dir(argv)
    except HepxaiError as exc:
        print(f"hepxai: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    args = parser.parse_args(argv)
    try:
        options.prepare(args)
        with options.output_lock(args):
            return int(args.handler(args) or 0)
    except HepxaiError as exc:
        print(f"hepxai: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", USAGE_ERROR)
    except OSError as exc:  # disk full, read-only, permission...: one line, never a traceback
        message, code = os_error_line(exc)
        print(f"hepxai: error: {message}", file=sys.stderr)
        return code
    except KeyboardInterrupt as exc:
        if not isinstance(exc, Interrupted):
            # a training resumes only when asked: the same command line would start afresh
            again = "add --resume to the same command" if getattr(args, "verb", None) == \
                "train" and not getattr(args, "resume", False) else "run the same command again"
            print(f"hepxai: interrupted; finished files are kept, {again} to resume",
                  file=sys.stderr)
        return 130

