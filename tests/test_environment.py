"""pyproject.toml and environment.yml name the same dependencies; ranges, not pins."""

import re

import tomllib
import yaml

from utils.chapters import ROOT


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + [d for extra in ("cpu", "test", "lab")
                                      for d in project["optional-dependencies"][extra]]
    return deps, project


def _conda():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    return conda, [p for p in pip if not p.startswith("-")]


def test_same_dependencies_in_both_files():
    deps, _ = _pyproject()
    conda, pip = _conda()
    names = {_name(d) for d in conda + pip} - {"python", "pip"}
    assert names == {_name(d) for d in deps}


def test_same_version_ranges_in_both_files():
    deps, _ = _pyproject()
    _, pip = _conda()
    assert sorted(d.replace(" ", "") for d in pip) == sorted(d.replace(" ", "") for d in deps)


def test_ranges_not_pins():
    deps, project = _pyproject()
    gpu = project["optional-dependencies"]["gpu"]
    for dep in deps + gpu:
        assert "==" not in dep.split(";")[0], f"{dep}: use a version range for libraries"
        assert re.search(r">=", dep), f"{dep}: give a lower bound"
    assert {_name(d) for d in project["optional-dependencies"]["cpu"]} >= {"torch",
                                                                           "tensorflow-cpu",
                                                                           "keras"}
    assert any(d.startswith("tensorflow[and-cuda]") for d in gpu)
