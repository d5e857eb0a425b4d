"""One RunConfig for every run: built in one place, and every surface sets every setting."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields, replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rlmx import RLM, Budget, Limits, RunConfig
from rlmx.cli import app
from rlmx.cli.run_flags import FLAGS, SETTING_FLAGS
from rlmx.lm.choice import ModelNotAllowed
from rlmx.server.app import ServerSettings
from rlmx.server.runs import RunOptions, RunRequest

from conftest import repl

# every command that starts runs
RUN_COMMANDS = ["ask", "chat", "batch", "serve", "mcp", "eval run"]
LOOPBACK = "openai:{}@http://127.0.0.1:9/v1"  # a spec that needs no key


def test_every_setting_has_its_flags() -> None:
    assert set(SETTING_FLAGS) == {f.name for f in fields(RunConfig)}
    made = [flag for flags in SETTING_FLAGS.values() for flag in flags]
    assert sorted(made) == sorted(FLAGS), "a flag that makes no setting, or one missing"


@pytest.mark.parametrize("command", RUN_COMMANDS)
def test_each_command_takes_each_run_flag(command: str) -> None:
    shown = CliRunner().invoke(app, [*command.split(), "--help"], terminal_width=200).output
    for name in FLAGS:
        flag = "--" + name.replace("_", "-")
        assert flag in shown, f"rlmx {command} has no {flag}"


def test_build_fills_defaults_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("RLMX_ROOT", LOOPBACK.format("a"))
    config = RunConfig.build(sandbox="process")
    assert (config.root, config.sub) == (LOOPBACK.format("a"), LOOPBACK.format("a"))
    assert config.sandbox == "process" and config.limits == Limits()
    given = RunConfig.build(root=LOOPBACK.format("a"), sub=LOOPBACK.format("b"))
    assert given.sub == LOOPBACK.format("b")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_depth": 0}, "max_depth must be positive"),
        ({"max_output_chars": 50}, "at least 100"),
        ({"schema_retries": -1}, "schema_retries must be >= 0"),
        ({"policy": "nosuch"}, "unknown policy"),
        ({"root": "nosuch:model"}, "provider"),
        ({"sandbox": "jail"}, "unknown sandbox mode"),
        ({"telemetry": "ftp://x"}, "OTLP endpoint"),
    ],
)
def test_bad_settings_are_refused_with_the_reason(settings: dict, message: str) -> None:
    with pytest.raises(Exception, match=message):
        RunConfig.build(**settings)


def test_unknown_settings_and_bad_limits_are_refused() -> None:
    with pytest.raises(TypeError, match="unknown settings: cell_timeout"):
        RunConfig.build(cell_timeout=3)
    with pytest.raises(ValueError, match=r"Limits\.cell_seconds must be positive"):
        Limits(cell_seconds=0)
    with pytest.raises(TypeError, match="either config= or settings"):
        RLM(config=RunConfig.build(), max_depth=2)


def test_a_replaced_setting_is_checked_again() -> None:
    with pytest.raises(ValueError, match="max_iterations"):
        replace(RunConfig.build(), max_iterations=0)


def test_the_server_keeps_every_operator_setting_and_a_client_only_narrows(replay) -> None:
    """The server once dropped cell_timeout, policy and sub_calls: now each request starts
    from the operator's RunConfig, and a client changes only what it may."""
    operator = RunConfig.build(
        root=replay([]), policy="compact", sub_calls=False, limits=Limits(cell_seconds=7),
        budget=Budget(max_usd=1.0, max_calls=50), models={"fast": LOOPBACK.format("nano")},
    )  # fmt: skip
    settings = ServerSettings(run=operator, max_run_seconds=600)
    asked = RunRequest("q", "c", RunOptions(max_depth=2, budget_usd=5.0, max_seconds=60))
    config = settings.build_rlm(asked).config
    assert (config.policy, config.sub_calls, config.limits.cell_seconds) == ("compact", False, 7)
    assert config.max_depth == 2
    assert config.budget == Budget(max_usd=1.0, max_calls=50, max_seconds=60)  # never raised
    fast = settings.build_rlm(RunRequest("q", "c", root="fast")).config
    assert (fast.root, fast.sub) == (LOOPBACK.format("nano"), LOOPBACK.format("nano"))
    with pytest.raises(ModelNotAllowed):
        settings.build_rlm(RunRequest("q", "c", root=LOOPBACK.format("other")))


@pytest.mark.parametrize(
    ("asked", "message"),
    [({"max_depth": 6}, "max_depth must be between 1 and 5"),
     ({"max_iterations": 501}, "max_iterations must be between 1 and 500"),
     ({"max_depth": -1}, "max_depth must be between")],
)  # fmt: skip
def test_a_client_cannot_ask_for_unbounded_depth_or_turns(replay, asked, message) -> None:
    """An MCP call reaches for_client without the HTTP request's field bounds."""
    operator = RunConfig.build(root=replay([]))
    with pytest.raises(ValueError, match=message):
        operator.for_client(operator.model_table(), **asked)
    assert operator.for_client(operator.model_table(), max_depth=5).max_depth == 5


def test_a_cli_flag_reaches_the_run(replay, tmp_path: Path) -> None:
    """--cell-timeout becomes Limits.cell_seconds, which the sandbox enforces."""
    root = replay([repl("while True: pass"), repl("FINAL('stopped')")])
    proc = subprocess.run(
        [sys.executable, "-m", "rlmx.cli", "ask", "-", "-q", "q", "--root", root,
         "--sandbox", "process", "--cell-timeout", "0.5", "--json", "--no-record"],
        input="ctx", capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert '"answer": "stopped"' in proc.stdout


def test_a_config_with_tools_and_a_cache_travels_to_other_processes(tmp_path: Path) -> None:
    """Ray workers get the run's config pickled: tools and the call cache included."""
    import pickle

    from rlmx import CallCache

    config = RunConfig.build(root=LOOPBACK.format("a"), cache=CallCache(tmp_path),
                             tools=["os.path:basename"])  # fmt: skip
    copy = pickle.loads(pickle.dumps(config))
    assert copy.cache == config.cache and copy.tools[0].name == "basename"
    assert copy.tools[0].checked("/a/b") == "b"
