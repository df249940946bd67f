"""utils.checkpoints: where models are saved for later chapters."""

import pytest

from utils import checkpoints


def test_model_path_per_framework(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_MODELS_DIR", str(tmp_path / "m"))
    assert checkpoints.model_path("lenet5-mnist", "torch") == tmp_path / "m" / "lenet5-mnist.pt"
    assert checkpoints.model_path("lenet5-mnist", "keras").name == "lenet5-mnist.keras"
    assert (tmp_path / "m").is_dir()


def test_default_is_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_MODELS_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert checkpoints.models_dir() == tmp_path / "neural-image-course" / "models"


@pytest.mark.parametrize("name,framework", [("../escape", "torch"), ("ok", "jax")])
def test_bad_names_are_rejected(name, framework):
    with pytest.raises(ValueError):
        checkpoints.model_path(name, framework)


def test_info_is_saved_beside_the_model(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_MODELS_DIR", str(tmp_path))
    path = checkpoints.model_path("lenet5-mnist", "torch")
    assert checkpoints.load_info(path) == {}
    written = checkpoints.save_info(path, profile="quick", test_accuracy=0.9926)
    assert written == tmp_path / "lenet5-mnist.pt.json"
    info = checkpoints.load_info(path)
    assert info["profile"] == "quick" and info["test_accuracy"] == 0.9926 and "saved" in info
    written.write_text("not json")
    assert checkpoints.load_info(path) == {}
