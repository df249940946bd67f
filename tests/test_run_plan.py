"""`./course run`: the plan and expected time before it starts, a line per notebook, Ctrl-C
keeps what finished, and `--resume` continues from the first notebook not yet done."""

import json
from pathlib import Path

import pytest

from utils import __main__ as cli
from utils import runner


def fake_execute(calls, interrupt_at=None):
    def execute(nb, out_dir, profile=None, timeout_s=None):
        calls.append(f"{nb.parent.name}/{nb.stem}")
        if interrupt_at is not None and len(calls) == interrupt_at:
            raise KeyboardInterrupt
        return runner.Run(nb.parent.name, nb.stem, True, 1.0, out_dir / nb.name,
                          {"profile": "smoke"}, {"acc": {"value": 0.9, "key": True,
                                                         "fmt": "{:.0%}"}})
    return execute


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "STATE", tmp_path / "run-state.json")
    monkeypatch.setattr(runner, "BUILD", runner.course.ROOT / "build")
    return tmp_path


def test_plan_names_each_notebook_and_the_expected_time(sandbox, monkeypatch, capsys):
    docs = sandbox / "docs"
    docs.mkdir()
    machine = {"cpu": "Some CPU", "cores": "2", "gpu": "none"}
    (docs / "benchmarks.json").write_text(json.dumps({"smoke": {"00_setup": {
        "date": "2026-01-02", "machine": machine, "command": "x",
        "runs": [{"framework": "pytorch", "ok": True, "seconds": 65.0},
                 {"framework": "keras", "ok": True, "seconds": 3600.0}]}}}))
    monkeypatch.setattr(runner, "expected_seconds",
                        lambda p, docs=docs, f=runner.expected_seconds: f(p, docs))
    calls = []
    monkeypatch.setattr(runner, "execute", fake_execute(calls))
    runner.run_chapters(["00"], "smoke")
    out = capsys.readouterr().out
    assert "plan: 2 notebook(s) in profile smoke" in out
    assert "expected 1 h 01 min" in out and "measured 2026-01-02 on Some CPU (2 cores)" in out
    assert "00_setup/pytorch.ipynb  1 min 05 s" in out
    assert "1/2 00_setup/pytorch.ipynb" in out and "≈ 1 h 01 min left" in out
    assert calls == ["00_setup/pytorch", "00_setup/keras"]


def test_unmeasured_profile_says_unknown(sandbox, monkeypatch, capsys):
    monkeypatch.setattr(runner, "expected_seconds", lambda p: ({}, ""))
    monkeypatch.setattr(runner, "execute", fake_execute([]))
    runner.run_chapters(["00"], "full")
    assert "expected unknown" in capsys.readouterr().out


def test_ctrl_c_keeps_what_finished_and_resume_continues(sandbox, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(runner, "execute", fake_execute(calls, interrupt_at=3))
    code = cli.main(["run", "00", "01", "--profile", "smoke"])
    assert code == 130 and calls == ["00_setup/pytorch", "00_setup/keras", "01_cnn/pytorch"]
    out = capsys.readouterr().out
    assert "stopped (Ctrl-C): 2 notebook(s) finished" in out and "--resume" in out
    state = json.loads(runner.STATE.read_text())
    assert list(state["done"]) == ["00_setup/pytorch", "00_setup/keras"]

    calls.clear()
    monkeypatch.setattr(runner, "execute", fake_execute(calls))
    assert cli.main(["run", "00", "01", "--profile", "smoke", "--resume"]) == 0
    assert calls == ["01_cnn/pytorch", "01_cnn/keras"]  # from the first one not done
    out = capsys.readouterr().out
    assert "--resume: 2 notebook(s) already done in profile smoke" in out
    assert out.count("| 00_setup |") == 2 and out.count("| 01_cnn |") == 2  # all four rows

    calls.clear()  # a resume in another profile starts from the beginning
    assert cli.main(["run", "00", "--profile", "quick", "--resume"]) == 0
    assert calls == ["00_setup/pytorch", "00_setup/keras"]


def test_a_plain_run_starts_over(sandbox, monkeypatch):
    calls = []
    monkeypatch.setattr(runner, "execute", fake_execute(calls))
    runner.run_chapters(["00"], "smoke")
    runner.run_chapters(["00"], "smoke")
    assert len(calls) == 4
    assert Path(runner.STATE).is_file()


def test_clock():
    assert [runner.clock(s) for s in (None, 7, 65, 3600, 6130)] == [
        "unknown", "7 s", "1 min 05 s", "1 h 00 min", "1 h 42 min"]


def test_kernels_get_their_own_local_sockets():
    """Two notebooks executed at once from one folder (the test suite's two workers) must not
    share socket paths: each kernel manager gets a unique prefix in the temporary folder."""
    import os

    manager = runner._kernel_manager_class()
    a, b = manager(), manager()
    if os.name == "posix":
        assert a.transport == b.transport == "ipc"
        assert a.ip != b.ip and os.path.isabs(a.ip)
    else:
        assert a.transport == "tcp"
