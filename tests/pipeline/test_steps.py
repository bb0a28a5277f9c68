"""The demo step runner: resumable, re-runs exactly what a changed input touches, per-step
seconds in ``timings.json``, one-line errors; and every demo is a chain of real ``hepxai``
command lines."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from hepxai.core.errors import HepxaiError, Interrupted
from hepxai.pipeline.steps import STATE, TIMINGS, Step, finished, option, run_steps


class FakeHepxai:
    """Stands in for ``hepxai.cli.app.main``: ``cat OUT IN...`` writes the inputs' text into
    OUT; ``fail`` prints an error and exits 2; ``nothing`` exits 0 and writes nothing;
    ``usage`` exits as argparse does; ``interrupt`` exits as after Ctrl-C."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str]) -> int:
        self.calls.append(list(argv))
        verb, *rest = argv
        if verb == "cat":
            out, *inputs = map(Path, rest)
            time.sleep(0.002)  # every run takes a measurable, distinct time
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text("".join(p.read_text() for p in inputs) + f"{time.perf_counter()}\n")
            return 0
        if verb == "fail":
            print("hepxai: error: the step's own message", file=sys.stderr)
            return 2
        if verb == "usage":
            raise SystemExit(2)
        if verb == "interrupt":
            return 130
        if verb == "fault":  # a failure that is not the user's (an I/O error, say)
            print("hepxai: error: input/output error", file=sys.stderr)
            return 1
        return 0

    def ran(self) -> list[str]:
        """The output file name of each ``cat`` called, the verb of other commands."""
        return [Path(argv[1]).name if argv[0] == "cat" else argv[0] for argv in self.calls]


@pytest.fixture
def hepxai(monkeypatch: pytest.MonkeyPatch) -> FakeHepxai:
    fake = FakeHepxai()
    monkeypatch.setattr("hepxai.cli.app.main", fake)
    return fake


def chain(run: Path) -> list[Step]:
    """a <- source, b <- a, c <- other (independent), d <- b and c."""
    source, other = run / "source.txt", run / "other.txt"
    files = {name: run / "out" / f"{name}.txt" for name in "abcd"}

    def cat(name: str, *inputs: Path) -> Step:
        return Step(name, ["cat", files[name], *inputs], [files[name]], list(inputs))

    return [cat("a", source), cat("b", files["a"]), cat("c", other),
            cat("d", files["b"], files["c"])]


@pytest.fixture
def run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "source.txt").write_text("source\n")
    (run / "other.txt").write_text("other\n")
    return run


def timings(run: Path) -> dict[str, float]:
    return json.loads((run / TIMINGS).read_text())


def test_a_fresh_run_runs_every_step_in_order_and_times_each(run, hepxai):
    lines: list[str] = []
    seconds = run_steps(chain(run), run, echo=lines.append)
    assert hepxai.ran() == ["a.txt", "b.txt", "c.txt", "d.txt"]
    assert list(seconds) == ["a", "b", "c", "d"] and all(s > 0 for s in seconds.values())
    recorded = timings(run)
    assert list(recorded) == ["a", "b", "c", "d"]  # the report's order: step order
    assert recorded == pytest.approx(seconds, rel=0, abs=0)
    assert [line.split(":")[0] for line in lines] == [f"[demo] {n}" for n in "aabbccdd"]
    assert lines[0] == f"[demo] a: hepxai cat {run / 'out' / 'a.txt'} {run / 'source.txt'}"
    assert lines[1].startswith("[demo] a: done in ") and lines[1].endswith(" s")


def test_a_rerun_runs_no_command_and_keeps_the_seconds(run, hepxai):
    run_steps(chain(run), run, echo=lambda _: None)
    first = timings(run)
    hepxai.calls.clear()
    lines: list[str] = []
    seconds = run_steps(chain(run), run, echo=lines.append)
    assert hepxai.calls == []
    assert seconds == {"a": 0.0, "b": 0.0, "c": 0.0, "d": 0.0}
    assert timings(run) == first  # a skipped step keeps the seconds of the run that made it
    assert all("up to date, skipped" in line for line in lines) and len(lines) == 4


def test_a_changed_input_reruns_its_step_and_everything_downstream(run, hepxai):
    run_steps(chain(run), run, echo=lambda _: None)
    first = timings(run)
    hepxai.calls.clear()
    (run / "source.txt").write_text("a longer source\n")
    seconds = run_steps(chain(run), run, echo=lambda _: None)
    assert hepxai.ran() == ["a.txt", "b.txt", "d.txt"]  # c does not read source.txt
    assert seconds["c"] == 0.0 and all(seconds[n] > 0 for n in "abd")
    now = timings(run)
    assert list(now) == ["a", "b", "c", "d"] and now["c"] == first["c"]
    assert all(now[n] != first[n] for n in "abd")
    hepxai.calls.clear()
    (run / "other.txt").write_text("another other\n")
    run_steps(chain(run), run, echo=lambda _: None)
    assert hepxai.ran() == ["c.txt", "d.txt"]


def test_a_changed_command_line_or_a_deleted_output_reruns_the_step(run, hepxai):
    run_steps(chain(run), run, echo=lambda _: None)
    hepxai.calls.clear()
    (run / "out" / "c.txt").unlink()
    run_steps(chain(run), run, echo=lambda _: None)
    assert hepxai.ran() == ["c.txt", "d.txt"]  # d: its input c.txt is a new file
    hepxai.calls.clear()
    steps = chain(run)
    steps[1].argv.append(str(run / "source.txt"))  # b now also reads source.txt
    run_steps(steps, run, echo=lambda _: None)
    assert hepxai.ran() == ["b.txt", "d.txt"]


def test_a_failing_step_is_one_line_and_keeps_the_finished_steps(run, hepxai, capsys):
    steps = chain(run)
    good = [s.outputs[0].read_text() if s.outputs[0].exists() else None for s in steps]
    assert good == [None] * 4
    broken = [*steps[:2], Step("c", ["fail"], steps[2].outputs, steps[2].inputs), steps[3]]
    with pytest.raises(HepxaiError) as error:
        run_steps(broken, run, echo=lambda _: None)
    message = str(error.value)
    assert "\n" not in message and "'c' failed (exit 2)" in message
    assert "finished steps are kept" in message
    assert "the step's own message" in capsys.readouterr().err  # printed by the step itself
    assert hepxai.ran() == ["a.txt", "b.txt", "fail"]  # d never ran
    assert all(s.outputs[0].exists() for s in steps[:2]) and not steps[3].outputs[0].exists()
    assert list(timings(run)) == ["a", "b"]
    assert set(json.loads((run / STATE).read_text())) == {"a", "b"}
    hepxai.calls.clear()
    run_steps(chain(run), run, echo=lambda _: None)  # fixed: resumes at the failed step
    assert hepxai.ran() == ["c.txt", "d.txt"]
    assert list(timings(run)) == ["a", "b", "c", "d"]


def test_a_step_that_reruns_is_not_finished_until_it_succeeds_again(run, hepxai):
    """Its outputs may be half rewritten: a failed re-run is not undone by restoring the old
    inputs."""
    run_steps(chain(run), run, echo=lambda _: None)
    (run / "source.txt").write_text("a longer source\n")
    broken = [Step("a", ["fail"], chain(run)[0].outputs, chain(run)[0].inputs)]
    with pytest.raises(HepxaiError):
        run_steps(broken, run, echo=lambda _: None)
    (run / "source.txt").write_text("source\n")
    hepxai.calls.clear()
    run_steps(chain(run), run, echo=lambda _: None)
    assert hepxai.ran()[0] == "a.txt"


@pytest.mark.parametrize(("argv", "expected"), [
    (["nothing"], "finished without"), (["usage"], r"failed \(exit 2\)")])
def test_a_step_without_its_outputs_or_with_a_bad_option_is_an_error(run, hepxai, argv,
                                                                     expected):
    with pytest.raises(HepxaiError, match=expected):
        run_steps([Step("x", argv, [run / "x.txt"])], run, echo=lambda _: None)
    assert not (run / TIMINGS).exists()


def test_an_interrupted_step_interrupts_the_demo(run, hepxai):
    steps = chain(run)
    with pytest.raises(Interrupted):  # the step printed the message; the demo does not
        run_steps([steps[0], Step("b", ["interrupt"], steps[1].outputs)], run,
                  echo=lambda _: None)
    assert list(timings(run)) == ["a"]


def test_the_run_directory_must_not_be_a_file(tmp_path, hepxai):
    path = tmp_path / "file"
    path.write_text("")
    with pytest.raises(HepxaiError, match="is a file, not a directory"):
        run_steps(chain(path), path, echo=lambda _: None)
    assert hepxai.calls == []


def test_a_damaged_output_is_not_skipped_as_up_to_date(run, hepxai):
    """A truncated ``best.pt`` must not pass for a finished step: the outputs' sizes and
    modification times are part of the state."""
    run_steps(chain(run), run, echo=lambda _: None)
    hepxai.calls.clear()
    output = run / "out" / "b.txt"
    output.write_text(output.read_text()[:3])  # truncated in place
    run_steps(chain(run), run, echo=lambda _: None)
    assert hepxai.ran() == ["b.txt", "d.txt"]


@pytest.mark.parametrize("state", [
    "{not json", "[1, 2]", '{"a": 5, "b": {"fingerprint": 1, "seconds": "x"}}',
    "FIRST_RUNNER"])
def test_a_damaged_or_old_state_file_reruns_the_steps_it_cannot_vouch_for(run, hepxai, state):
    run_steps(chain(run), run, echo=lambda _: None)
    if state == "FIRST_RUNNER":  # the first runner kept a bare fingerprint per step
        saved = json.loads((run / STATE).read_text())
        state = json.dumps({k: v["fingerprint"] for k, v in saved.items()})
    (run / STATE).write_text(state)
    hepxai.calls.clear()
    run_steps(chain(run), run, echo=lambda _: None)
    assert hepxai.ran() == ["a.txt", "b.txt", "c.txt", "d.txt"]
    hepxai.calls.clear()
    run_steps(chain(run), run, echo=lambda _: None)  # and the state is whole again
    assert hepxai.calls == []


def test_the_real_command_line_reports_its_own_error_then_the_step(tmp_path, capsys):
    with pytest.raises(HepxaiError, match="demo step 'report' failed"):
        run_steps([Step("report", ["report", "susy", tmp_path / "nothing"],
                        [tmp_path / "report.html"])], tmp_path, echo=lambda _: None)
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("hepxai: error:")


def test_helpers():
    assert option("--epochs", None) == [] and option("--epochs", 3) == ["--epochs", "3"]
    step = Step("s", ["train", Path("x"), 3], ["out"], ["in"])
    assert step.argv == ["train", "x", "3"] and step.outputs == [Path("out")]
    assert step.inputs == [Path("in")]
    line = finished({"a": 1.5, "b": 0.0}, time.perf_counter(), Path("run/report.html"))
    assert line.startswith("demo finished in 0 s (1 steps run, 1 reused): open run")


# -- the three demos: chains of hepxai commands ------------------------------------------------
def _muon(out: Path) -> list[Step]:
    from hepxai.usecases.muon.demo import SIZES, muon_steps

    return muon_steps(out, SIZES["quick"], 1)


def _darkjet(out: Path) -> list[Step]:
    from hepxai.usecases.darkjet.demo import DemoSettings, darkjet_steps

    return darkjet_steps(out, DemoSettings(influence_validation=True, threads=1, epochs=1))


def _susy(out: Path) -> list[Step]:
    from hepxai.usecases.susy.demo import susy_steps

    return susy_steps(out, "quick", jobs=1)


@pytest.mark.parametrize("make", [_muon, _darkjet, _susy], ids=["muon", "darkjet", "susy"])
def test_every_demo_is_a_chain_of_hepxai_commands(make, tmp_path):
    """Each step is a command line hepxai accepts; every input is made by an earlier step (a
    file it declares, or a directory holding one, or a file in one's directory); no step
    writes into a directory an earlier step fingerprints."""
    from hepxai.cli.app import build_parser

    parser = build_parser()
    steps = make(tmp_path)
    assert len({s.name for s in steps}) == len(steps)
    made: list[Path] = []
    watched: list[tuple[str, Path]] = []
    for step in steps:
        args = parser.parse_args(step.argv)
        assert (args.verb, args.use_case) == tuple(step.argv[:2])
        assert step.outputs and all(tmp_path in p.parents for p in step.outputs)
        for output in step.outputs:
            for name, folder in watched:
                assert folder not in output.parents, f"{step.name} writes into {name}'s input"
        for p in step.inputs:
            assert any(o == p or p in o.parents or o.parent in p.parents for o in made), \
                f"{step.name}: {p} is made by no earlier step"
            if any(p in o.parents for o in made):
                watched.append((step.name, p))
        made += step.outputs
    assert steps[0].inputs == [] and steps[-1].argv[0] == "report"


@pytest.mark.parametrize("verb,code", [("fail", 2), ("fault", 1), ("usage", 2)])
def test_a_failing_step_keeps_whose_fault_it_was_in_the_exit_code(run, hepxai, verb, code):
    steps = [Step("broken", [verb], [run / "never.txt"])]
    with pytest.raises(HepxaiError) as error:
        run_steps(steps, run, echo=lambda _: None)
    assert getattr(error.value, "exit_code", 2) == code
