"""``rlmx video index | synth``: perception cache warm-up and synthetic test videos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ..repl.context import ContextError
from ..video.options import VideoOptions
from .common import app, fail, progress_bar

video_app = typer.Typer(no_args_is_help=True, help="Long videos: synthetic test videos, indexing.")
app.add_typer(video_app, name="video")


@video_app.command("index")
def video_index(
    video: Annotated[Path, typer.Argument(help="The video file.")],
    every: Annotated[float, typer.Option(min=0.1, help="Seconds between OCR frames.")] = 5.0,
    segment_seconds: Annotated[float, typer.Option(min=1.0, help="Caption span.")] = 10.0,
) -> None:
    """Precompute on-screen text, the transcript, scenes and captions into the cache."""
    from ..environment import open_environment

    options = VideoOptions(ocr_every=every, segment_seconds=segment_seconds)
    try:
        tools: Any = open_environment(video, options, None)
    except ContextError as exc:
        raise fail(str(exc)) from None
    if tools is None:
        raise fail(f"{video} is not a video file (by its suffix)")
    bar, update = progress_bar(counts=True)
    try:
        with bar:
            stats = tools.index(every, update)
    finally:
        tools.close()
    typer.echo(json.dumps(stats))


@video_app.command("synth")
def video_synth(
    out_dir: Annotated[Path, typer.Argument(help="Folder for the .mp4 and ground_truth.json.")],
    scenes: Annotated[int, typer.Option(help="Number of scenes (1-12).")] = 6,
    scene_seconds: Annotated[float, typer.Option(help="Seconds per scene (>= 6).")] = 10.0,
    size: Annotated[str, typer.Option(help="WIDTHxHEIGHT.")] = "1280x720",
    seed: Annotated[int, typer.Option(help="Chooses the topics and their order.")] = 0,
) -> None:
    """Write a synthetic news video with a topic, headline, clock and narration per scene."""
    from ..video.synth import SynthError, synthesize

    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise fail(f"--size must be WIDTHxHEIGHT, e.g. 1280x720, not {size!r}") from None
    try:
        path = synthesize(out_dir, scenes, scene_seconds, (width, height), seed=seed)
    except SynthError as exc:
        raise fail(str(exc)) from None
    typer.echo(path)
