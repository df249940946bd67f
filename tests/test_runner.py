"""The headless runner and benchmark table: papermill parameters, collected results, failures."""

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from utils import report, runner
from utils.__main__ import main
from utils.chapters import resolve


def _notebook(path, body):
    nb = new_notebook(cells=[
        new_code_cell("PROFILE = None", metadata={"tags": ["parameters"]}),
        new_code_cell("from utils import report\n" + body),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}})
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_execute_collects_results_and_injects_profile(tmp_path):
    nb = _notebook(tmp_path / "src" / "99_demo" / "pytorch.ipynb",
                   "report.fact(profile=PROFILE, dataset='toy')\n"
                   "report.result('accuracy', 0.875, key=True, fmt='{:.1%}')\n"
                   "report.result('loss', 0.25)")
    run = runner.execute(nb, tmp_path / "build", profile="smoke")
    assert run.ok and run.chapter == "99_demo" and run.framework == "pytorch"
    assert run.facts == {"profile": "smoke", "dataset": "toy", "tensorflow_imported": False}
    assert run.results["accuracy"]["value"] == 0.875 and run.key_result() == "accuracy = 87.5%"
    assert run.output.is_file()  # the executed copy, with outputs
    executed = nbformat.read(run.output, as_version=4)
    assert any("[result] accuracy = 87.5%" in o.get("text", "")
               for c in executed.cells for o in c.get("outputs", []))


def test_execute_reports_failure_without_raising(tmp_path):
    nb = _notebook(tmp_path / "src" / "99_demo" / "keras.ipynb",
                   "report.result('a', 1, key=True)\nraise ValueError('boom')")
    run = runner.execute(nb, tmp_path / "build")
    assert not run.ok and "boom" in run.error and run.results["a"]["value"] == 1.0


def _run(chapter, framework, seconds, ok=True, profile="quick"):
    return runner.Run(chapter, framework, ok, seconds, runner.BUILD / "x.ipynb",
                      {"profile": profile, "device": "cpu", "dataset": "mnist"},
                      {"acc": {"value": 0.5, "key": True, "fmt": "{:.0%}"}})


def test_table_and_time_ratio():
    runs = [_run("00_setup", "pytorch", 30), _run("00_setup", "keras", 20),
            _run("01_cnn", "pytorch", 10), _run("01_cnn", "keras", 5, ok=False)]
    assert runner.time_ratios(runs) == {"00_setup": 1.5}  # failed runs are not compared
    text = runner.table(runs)
    assert ("| 00_setup | pytorch | ok | cpu | quick | float32 | mnist | acc = 50% | — | 30 s |"
            in text)
    assert "| 01_cnn | keras | FAILED |" in text and "00_setup 1.50" in text
    runs[0].facts.update(dry_run=True, profile="full", precision="bfloat16 mixed")
    assert "| ok | cpu | full (dry run) | bfloat16 mixed | mnist |" in runner.table(runs)


def test_benchmarks_keep_one_section_per_profile_and_merge_chapters(tmp_path):
    runner.write_benchmarks([_run("00_setup", "pytorch", 3, profile="smoke")], "smoke", tmp_path)
    runner.write_benchmarks([_run("00_setup", "pytorch", 9), _run("00_setup", "keras", 6)],
                            None, tmp_path)
    md = runner.write_benchmarks([_run("01_cnn", "pytorch", 5)], "quick", tmp_path)
    text = md.read_text()
    assert text.index("## Profile: smoke") < text.index("## Profile: quick")
    assert "## Profile: full" in text and "Not yet measured" in text
    assert "| 00_setup | keras | ok |" in text and "| 01_cnn | pytorch | ok |" in text
    assert "00_setup 1.50" in text  # the earlier chapter's same-run ratio is kept
    assert "| 01_cnn | pytorch | acc | 50% |" in text  # every published result is listed
    data = json.loads((tmp_path / "benchmarks.json").read_text())
    assert data["quick"]["00_setup"]["runs"][0]["seconds"] == 9
    assert data["quick"]["01_cnn"]["machine"]["cores"]
    runner.write_benchmarks([_run("00_setup", "keras", 8)], "quick", tmp_path)  # re-measured
    data = json.loads((tmp_path / "benchmarks.json").read_text())
    assert [r["seconds"] for r in data["quick"]["00_setup"]["runs"]] == [8]


def test_report_without_runner_only_prints(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("COURSE_REPORT_FILE", raising=False)
    report.result("x", 0.5, fmt="{:.0%}")
    assert capsys.readouterr().out == "[result] x = 50%\n"


def test_chapter_names_resolve():
    assert resolve(["01", "cnn", "00_setup"]) == ["01_cnn", "01_cnn", "00_setup"]
    with pytest.raises(SystemExit, match="Unknown chapter 'gans'"):
        resolve(["gans"])


def test_cli_exercises_check_and_doctor(capsys):
    assert main(["exercises", "--check"]) == 0
    assert main(["doctor"]) == 0
    assert "Profile" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["run", "--profile", "huge"])


def test_chapter_00_runs_offline_on_the_embedded_sample(tmp_path, monkeypatch):
    """No dataset copy and no network: the notebook still runs, and says what it used."""
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setenv("COURSE_TB_DIR", str(tmp_path / "tb"))
    nb = runner.course.notebooks("00_setup")[0]
    run = runner.execute(nb, tmp_path / "build", profile="smoke")
    assert run.ok, run.error
    assert "embedded sample" in run.facts["dataset"]
    assert run.results["test_accuracy"]["value"] > 0.5
    executed = nbformat.read(run.output, as_version=4)
    text = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert "NOTICE: using the embedded MNIST sample" in text


@pytest.mark.parametrize("env,argv,says", [
    ({"COURSE_DRY_RUN": "yes"}, ["run", "00_setup"], "COURSE_DRY_RUN='yes'"),
    ({"COURSE_DRY_RUN": "1"}, ["run", "00_setup", "--profile", "quick"], "--profile quick"),
    ({"COURSE_DRY_RUN": "1"}, ["bench", "00_setup"], "measures nothing"),
    ({"COURSE_PRECISION": "fp8"}, ["doctor"], "COURSE_PRECISION"),
])
def test_command_line_rejects_bad_settings_in_one_line(monkeypatch, capsys, env, argv, says):
    from utils.__main__ import main

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(runner, "run_chapters", lambda *a: pytest.fail("must not run"))
    assert main(argv) == 2
    out = capsys.readouterr()
    assert says in out.out + out.err


def test_targets_are_reported_never_raised_and_listed(tmp_path):
    nb = _notebook(tmp_path / "src" / "99_demo" / "pytorch.ipynb",
                   "report.target('acc', 0.9, 0.95, fmt='{:.0%}')\n"
                   "report.target('nll', 85.0, 86.0, higher_is_better=False)\n"
                   "report.result('after', 1, key=True)")
    run = runner.execute(nb, tmp_path / "build")
    assert run.ok and run.results["after"]["value"] == 1.0  # the miss did not stop it
    assert run.missed() == ["acc"] and run.targets["nll"]["met"]
    assert "1/2 met (missed: acc)" in runner.table([run])
    assert "| target acc (≥ 95%) | 90% MISSED |" in runner.all_results([run])


def test_run_chapters_filters_frameworks(monkeypatch, tmp_path):
    ran = []
    monkeypatch.setattr(runner, "execute", lambda nb, *a, **k: ran.append(nb.stem) or
                        runner.Run("00_setup", nb.stem, True, 1.0, nb))
    runner.run_chapters(["00"], frameworks=["pytorch"])
    assert ran == ["pytorch"]


def test_published_tables_reach_the_benchmarks(tmp_path, monkeypatch, capsys):
    rows = [{"model": "DCGAN", "FID-style": 12.345, "accuracy": None},
            {"model": "DDIM", "FID-style": 6.5, "accuracy": 0.91}]
    nb = _notebook(tmp_path / "src" / "99_demo" / "pytorch.ipynb",
                   f"report.table('leaderboard', {rows!r}, fmt={{'FID-style': '{{:.1f}}'}}, "
                   "note='equal wall time')\nreport.result('a', 1, key=True)")
    run = runner.execute(nb, tmp_path / "build", profile="smoke")
    assert run.ok, run.error
    assert "| DCGAN | 12.3 | — |" in run.tables["leaderboard"]
    md = runner.write_benchmarks([run], "smoke", tmp_path / "docs").read_text()
    assert "### 99_demo · pytorch: leaderboard" in md and "| DDIM | 6.5 | 0.91 |" in md
    assert "equal wall time" in md
    monkeypatch.delenv("COURSE_REPORT_FILE", raising=False)
    with pytest.raises(ValueError, match="columns"):
        report.table("bad", [{"a": 1}, {"b": 2}])
    with pytest.raises(ValueError, match="no rows"):
        report.table("empty", [])
    with pytest.raises(ValueError, match="unknown columns"):
        report.table("bad", [{"a": 1}], fmt={"b": "{:.1f}"})
