"""The server with the `openai` client: `rlmx serve` speaks the OpenAI chat API, so any
OpenAI client asks an RLM; the run shows in the web UI at the same address.

Starts `rlmx serve` on a free loopback port (a scripted root by default), sends a long
document and a question with the official `openai` package, prints the answer and the
run id, and stops the server.

Usage: python examples/server_openai.py [--root SPEC]
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

from _scripted import arguments, repl, root_spec
from openai import OpenAI

DOCUMENT = "Minutes. " * 2000 + "The vote passed 7 to 2. " + "More minutes. " * 2000
SCRIPT = [
    repl("import re\nvote = re.search(r'passed (\\d+) to (\\d+)', context)\nprint(vote.group(0))"),
    repl("FINAL(vote.group(0))"),
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(f"{url}/v1/models", timeout=2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def main() -> None:
    args = arguments(__doc__)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "rlmx.cli", "serve", "--port", str(port),
               "--root", root_spec(args.root, SCRIPT) or ""]  # fmt: skip
    if args.sub:
        command += ["--sub", args.sub]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(url)
        client = OpenAI(base_url=f"{url}/v1", api_key="unused")
        reply = client.chat.completions.create(model="rlmx", messages=[
            {"role": "user", "content": DOCUMENT},
            {"role": "user", "content": "How did the vote go?"},
        ])  # fmt: skip
        print(f"answer: {reply.choices[0].message.content}")
        extra = reply.model_extra or {}
        print(f"run: {url}/#/run/{extra.get('rlmx', {}).get('run_id')}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
