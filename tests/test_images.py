"""Images in sub-calls: model code names image files (a folder context's, a tool's), the
host opens only those, and sends them as image parts; a loopback server checks the payload."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from rlmx import RLM
from rlmx.lm.anthropic import AnthropicLM

from chat_server import ChatServer
from conftest import repl

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000050001a5f645400000000049454e44ae426082"
)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    (root / "pics").mkdir(parents=True)
    (root / "pics" / "dot.png").write_bytes(PNG)
    (root / "pics" / "shelf.jpg").write_bytes(JPEG)
    (root / "pics" / "fake.png").write_bytes(b"not an image at all")
    (root / "notes.txt").write_text("the shelf photo is pics/shelf.jpg")
    (tmp_path / "secret.png").write_bytes(PNG)
    (root / "pics" / "escape.png").symlink_to(tmp_path / "secret.png")
    return root


def picture() -> bytes:
    """A tool that returns an image."""
    return PNG


def test_folder_images_and_tool_images_reach_the_sub_model(replay, folder: Path) -> None:
    code = (
        "a = llm_query('What is in these?', images=['pics/dot.png', 'pics/shelf.jpg'])\n"
        "b = llm_query('And this?', images=picture())\n"
        "c = llm_query_batched(['one', 'two'], images=[['pics/dot.png'], None])\n"
        "FINAL(f'{a}|{b}|{c}')"
    )
    with ChatServer(default={"reply": "a red dot"}) as server:
        sub = f"vllm:eyes@{server.base_url}"
        rlm = RLM(replay([repl(code)]), sub, tools=[picture])
        result = rlm.completion(folder, "q")
        bodies = list(server.requests)
    assert result.answer == "a red dot|a red dot|['a red dot', 'a red dot']"
    first = bodies[0]["messages"][0]["content"]
    assert first[0] == {"type": "text", "text": "What is in these?"}
    urls = [part["image_url"]["url"] for part in first[1:]]
    assert urls == [f"data:image/png;base64,{base64.b64encode(PNG).decode()}",
                    f"data:image/jpeg;base64,{base64.b64encode(JPEG).decode()}"]  # fmt: skip
    assert bodies[1]["messages"][0]["content"][1]["image_url"]["url"].startswith("data:image/png")
    batched = [b["messages"][0]["content"] for b in bodies[2:4]]
    plain = [content for content in batched if isinstance(content, str)]
    assert plain == ["two"]  # None: a plain prompt
    assert [c[0]["text"] for c in batched if isinstance(c, list)] == ["one"]
    assert len(bodies) == 4


def test_bad_image_paths_are_the_cells_error(replay, folder: Path, tmp_path: Path) -> None:
    code = (
        "for bad in ('/etc/hostname', '../secret.png', 'pics/escape.png', 'pics/fake.png',\n"
        "            'pics/none.png'):\n"
        "    try:\n        llm_query('x', images=[bad])\n    except ToolError as e:\n"
        "        print(e.type_name, '|', e.message)\n"
        "try:\n    llm_query('x', images=['pics/dot.png'] * 9)\nexcept ValueError as e:\n"
        "    print(e)\n"
        "FINAL(llm_query('x', images=['pics/dot.png']))"
    )
    trajectory = tmp_path / "run.jsonl"
    result = RLM(replay([repl(code)]), trajectory=trajectory).completion(folder, "q")
    assert result.answer.startswith("[rlmx error] ") and "takes no images" in result.answer
    output = next(json.loads(line) for line in trajectory.read_text().splitlines()
              if '"code_executed"' in line)["output"].splitlines()  # fmt: skip
    assert output[0].startswith("ValueError | no image '/etc/hostname'")
    assert output[1].startswith("ValueError | no image '../secret.png'")
    assert output[2].startswith("ValueError | no image 'pics/escape.png'")  # a link out of it
    assert output[3] == "ValueError | 'pics/fake.png' is not a PNG, JPEG, GIF or WebP image"
    assert output[4].startswith("ValueError | no image 'pics/none.png'")
    assert output[5] == "llm_query: 9 images (at most 8)"


async def test_anthropic_gets_image_blocks() -> None:
    with ChatServer(default={"reply": "a dot"}) as server:
        lm = AnthropicLM("claude-sonnet-4-5", api_key="k", base_url=server.base_url[:-3])
        url = f"data:image/png;base64,{base64.b64encode(PNG).decode()}"
        content = [{"type": "text", "text": "What?"},
                   {"type": "image_url", "image_url": {"url": url}}]  # fmt: skip
        response = await lm.complete([{"role": "user", "content": content}], max_tokens=20)
        sent = server.requests[0]["messages"][0]["content"]
    assert response.text == "a dot"
    assert sent[1] == {
        "type": "image",
        "source": {
            "type": "base64",
            "media_type": "image/png",
            "data": base64.b64encode(PNG).decode(),
        },
    }


def test_pdf_pages_are_rendered_confined_and_shown(replay, folder: Path) -> None:
    from test_documents import make_pdf

    make_pdf(folder / "report.pdf", ["Revenue grew 12 percent.", "Costs fell."])
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 nothing else")
    code = (
        "page = pdf_page('report.pdf', 2)\n"
        "print(page['document'], page['page'], open(page['path'], 'rb').read()[:4])\n"
        "for bad in (\"pdf_page('report.pdf', 3)\", \"pdf_page('notes.txt')\",\n"
        "            \"pdf_page('../secret.png')\", \"pdf_page('broken.pdf')\", 'pdf_page()'):\n"
        "    try:\n        eval(bad)\n    except ToolError as e:\n"
        "        print(e.type_name, '|', e.message[:60])\n"
        "FINAL(llm_query('What does it say?', images=[page]))"
    )
    with ChatServer(default={"reply": "Costs fell."}) as server:
        rlm = RLM(replay([repl(code)]), f"vllm:eyes@{server.base_url}")
        trajectory = folder.parent / "run.jsonl"
        result = RLM(rlm.config.root, rlm.config.sub, trajectory=trajectory).completion(folder, "q")
        sent = server.requests[0]["messages"][0]["content"][1]["image_url"]["url"]
    assert result.answer == "Costs fell."
    assert sent.startswith("data:image/png;base64,")
    output = next(json.loads(line) for line in trajectory.read_text().splitlines()
                  if '"code_executed"' in line)["output"].splitlines()  # fmt: skip
    assert output[0] == "report.pdf 2 b'\\x89PNG'"
    assert output[1] == "ValueError | the PDF has 2 pages; there is no page 3"
    assert output[2].startswith("ValueError | 'notes.txt' is not a PDF of the context")
    assert output[3].startswith("ValueError | '../secret.png' is not a PDF of the context")
    assert output[4].startswith("ValueError | ")  # a damaged PDF: pdfium's own error
    assert output[5].startswith("ValueError | the context is not a PDF")
