"""rlmx installs the way a user installs it: ``python -m build`` makes a wheel and an sdist,
the wheel goes into a clean virtualenv (no editable install, no repository on the path)
with only its base dependencies, and the CLI and the package work from there; the light
extras install and import there too, the heavy ones (their packages are the dev venv's)
import in a fresh process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

import rlmx

from conftest import repl

REPO = Path(__file__).resolve().parent.parent
LIGHT_EXTRAS = {  # extra -> a module that needs it
    "server": "rlmx.server.app",
    "eval": "rlmx.eval.report",
    "otel": "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "postgres": "rlmx.server.store_postgres",
}
HEAVY_EXTRAS = {  # extra -> the packages it brings
    "local": "llama_cpp",
    "video": "av, rapidocr, faster_whisper, scenedetect, bm25s",
    "docs": "pypdf, pypdfium2, docx, pptx, openpyxl",
    "ray": "ray",
    "train": "torch, transformers, trl, peft, datasets, gguf",
}


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 600
         ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip
    assert done.returncode == 0, f"{cmd}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The wheel and sdist built from a copy of the working tree (the repository itself
    stays untouched by build folders)."""
    root = tmp_path_factory.mktemp("build")
    source = root / "src-copy"
    files = _run(["git", "ls-files", "-co", "--exclude-standard"], REPO).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    dist = root / "dist"
    _run([sys.executable, "-m", "build", "--outdir", str(dist), str(source)], root)
    (wheel,) = dist.glob("rlmx-*.whl")
    (sdist,) = dist.glob("rlmx-*.tar.gz")
    return wheel, sdist


@pytest.fixture(scope="module")
def clean_venv(built: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv with the wheel and its base dependencies only."""
    home = tmp_path_factory.mktemp("venv")
    venv.create(home / "v", with_pip=True)
    python = home / "v" / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "-q", str(built[0])], home)
    return home / "v"


def _clean_env(tmp: Path) -> dict[str, str]:
    """No PYTHONPATH into the repository; kept runs in a folder of the test."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["RLMX_DATA_DIR"] = str(tmp / "data")
    return env


def test_the_version_is_written_once_and_the_builds_carry_it(built: tuple[Path, Path]) -> None:
    wheel, sdist = built
    assert wheel.name.startswith(f"rlmx-{rlmx.__version__}-")
    assert sdist.name == f"rlmx-{rlmx.__version__}.tar.gz"
    assert f'"{rlmx.__version__}"' in (REPO / "src/rlmx/__init__.py").read_text()
    assert 'dynamic = ["version"]' in (REPO / "pyproject.toml").read_text()
    assert f"## {rlmx.__version__}" in (REPO / "CHANGELOG.md").read_text()
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("rlmx/server/static/index.html", "rlmx/lm/pricing.json", "rlmx/py.typed"):
        assert needed in names
    assert not [n for n in names if n.startswith("tests/")]
    with tarfile.open(sdist) as tar:
        members = tar.getnames()
    assert any(m.endswith("/README.md") for m in members)
    assert any(m.endswith("/LICENSE") for m in members)


def test_the_wheel_works_in_a_clean_venv_with_base_dependencies(
    clean_venv: Path, tmp_path: Path
) -> None:
    bin_dir = clean_venv / "bin"
    env = _clean_env(tmp_path)
    shown = _run([str(bin_dir / "rlmx"), "--version"], tmp_path, env)
    assert shown.stdout.strip() == f"rlmx {rlmx.__version__}"
    where = _run([str(bin_dir / "python"), "-c", "import rlmx; print(rlmx.__file__)"],
                 tmp_path, env).stdout.strip()  # fmt: skip
    assert where.startswith(str(clean_venv)) and "site-packages" in where
    script = tmp_path / "root.json"
    script.write_text(json.dumps([repl("print(len(context))"), "FINAL(done)"]))
    asked = subprocess.run(
        [str(bin_dir / "rlmx"), "ask", "-", "-q", "How long?", "--root", f"replay:{script}",
         "--json"], input="twelve chars", cwd=tmp_path, env=env, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert asked.returncode == 0, asked.stderr[-3000:]
    result = json.loads(asked.stdout)
    assert result["answer"] == "done" and result["status"] == "final"
    missing = subprocess.run([str(bin_dir / "python"), "-c", "import torch"], cwd=tmp_path,
                             env=env, capture_output=True, text=True)  # fmt: skip
    assert missing.returncode != 0, "the base install must not bring the training stack"


def test_light_extras_install_and_import_in_the_clean_venv(
    built: tuple[Path, Path], clean_venv: Path, tmp_path: Path
) -> None:
    python = str(clean_venv / "bin" / "python")
    wanted = f"{built[0]}[{','.join(LIGHT_EXTRAS)}]"
    _run([python, "-m", "pip", "install", "-q", wanted], tmp_path)
    for extra, module in LIGHT_EXTRAS.items():
        done = subprocess.run([python, "-c", f"import {module}"], cwd=tmp_path,
                              env=_clean_env(tmp_path), capture_output=True, text=True)  # fmt: skip
        assert done.returncode == 0, f"[{extra}] {module}: {done.stderr[-2000:]}"


@pytest.mark.parametrize(("extra", "module"), sorted(HEAVY_EXTRAS.items()))
def test_heavy_extras_import_in_a_fresh_process(extra: str, module: str) -> None:
    done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, f"[{extra}] {module}: {done.stderr[-2000:]}"
