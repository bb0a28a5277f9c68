"""The output lock: one holder per directory across processes and threads, re-entrant in one
thread, and no directory left behind by a run that wrote nothing."""

from __future__ import annotations

import threading

import pytest

from hepxai.core.errors import HepxaiError
from hepxai.core.lock import LOCK_NAME, exclusive


def test_a_run_that_wrote_nothing_leaves_none_of_the_directories_it_made(tmp_path):
    with exclusive(tmp_path / "new" / "a" / "b", "a refused command"):
        assert (tmp_path / "new" / "a" / "b" / LOCK_NAME).exists()
    assert not (tmp_path / "new").exists()
    with exclusive(tmp_path / "kept" / "a", "a command that wrote"):
        (tmp_path / "kept" / "a" / "result.json").write_text("{}")
    assert (tmp_path / "kept" / "a" / "result.json").exists()
    assert not (tmp_path / "kept" / "a" / LOCK_NAME).exists()


def test_the_same_thread_re_enters_another_thread_is_refused(tmp_path):
    seen: list[str] = []

    def other_thread() -> None:
        try:
            with exclusive(tmp_path, "the second thread"):
                seen.append("entered")
        except HepxaiError as error:
            seen.append(str(error))

    with exclusive(tmp_path, "the first thread"):
        with exclusive(tmp_path, "a nested step"):  # re-entered, not refused
            pass
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
    assert len(seen) == 1 and "is being written by another hepxai run" in seen[0]
    assert "the first thread" in seen[0]
    with exclusive(tmp_path, "after the release"):  # free again
        pass


def test_an_out_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(HepxaiError, match="is a file, not a directory"):
        with exclusive(tmp_path / "file", "a command"):
            pass
