"""The dry run of the full profile (COURSE_DRY_RUN=1) for every notebook in solutions/: the full
profile's sizes and code paths, a few steps each, with what a GPU switches on forced on the CPU
(bfloat16 mixed precision where the chapter's policy says so, XLA-compiled Keras training).
This is how CI meets the GPU path without a GPU."""

import json

from utils import chapters, runner

NOTEBOOKS = [nb for chapter in chapters.CHAPTERS for nb in chapters.notebooks(chapter)]


# Known-harmless lines that must not reach the console (utils/quiet.py, utils/runner.py).
NOISE = ("absl::InitializeLog", "oneDNN custom operations", "running over TCP without encryption")


def full_profile_dry_run(notebook, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("COURSE_DRY_RUN", "1")
    monkeypatch.setenv("COURSE_PROFILE", "full")
    monkeypatch.setenv("COURSE_TB_DIR", str(tmp_path / "tb"))
    for var in ("COURSE_PRECISION", "COURSE_DEVICE"):
        monkeypatch.delenv(var, raising=False)
    run = runner.execute(notebook, tmp_path, timeout_s=900)
    assert run.ok, f"{notebook}: {run.error} (executed copy: {run.output})"
    facts = run.facts
    assert facts["profile"] == "full" and facts["dry_run"] is True
    policy = chapters.PRECISION[notebook.parent.name]
    assert facts["precision"] == ("bfloat16 mixed" if policy == "mixed" else "float32")
    if notebook.stem == "keras":
        assert facts["xla"] is True
    assert any(r.get("key") for r in run.results.values()), "no key result published"
    # The skipped quality gates announce themselves in the executed notebook.
    text = json.dumps(json.loads(run.output.read_text())["cells"])
    assert "DRY RUN" in text
    # A clean console: the kernel's own start-up noise is gone, and a PyTorch notebook never
    # loads TensorFlow (TensorBoard's writer and the runtime report leave it out).
    console = "".join(capfd.readouterr())
    assert not [n for n in NOISE if n in console], console[-2000:]
    if notebook.stem == "pytorch":
        assert facts["tensorflow_imported"] is False


# One test class per notebook: `./course test` hands the tests out to two workers by scope
# (pytest-xdist's --dist loadscope: a module, or a class), so each dry run is its own unit and the
# long ones spread over both workers instead of queueing on one.
for _notebook in NOTEBOOKS:
    _name = "TestDryRun_" + f"{_notebook.parent.name}_{_notebook.stem}".replace("-", "_")
    globals()[_name] = type(_name, (), {
        "test_full_profile_dry_run":
            lambda self, tmp_path, monkeypatch, capfd, nb=_notebook:
                full_profile_dry_run(nb, tmp_path, monkeypatch, capfd),
    })
