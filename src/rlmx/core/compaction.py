"""Compaction of a root's history (``RunConfig.compaction``): once the conversation passes
a fraction of the root's window, its earlier turns are summarised by the sub-model and
replaced by that summary and the list of the REPL's variables, so that a long exploration
keeps what it learned instead of dropping old turns unread (``turns.fit_history`` still
trims, after this, whatever does not fit).

The summary goes at the end of the task message (the first messages, the system prompt and
the worked examples, are never touched), so that user and assistant turns still alternate
for backends that require it. The last exchange is always kept as it was.
"""

from __future__ import annotations

from ..lm.base import CHARS_PER_TOKEN, LM, Message, prompt_tokens

SUMMARY_MARK = "[rlmx: a summary of the earlier turns, which were removed to save room]"
SUMMARY_PROMPT = """\
Below are the earlier turns of an agent that explores data with Python code in a REPL: its \
replies (code) and the outputs it got. Summarise them for the agent to go on without them: \
what it found (exact numbers, names, IDs, file names, line numbers), which approaches \
worked or failed and why, and what is left to do. Do not answer the task yourself. At most \
300 words.

The task: {query}

The turns:
{turns}"""
SHOW_VARIABLES = "print(SHOW_VARS())"
MAX_TURNS_CHARS = 60_000  # of the removed turns the summariser reads (their ends kept)
SUMMARY_TOKENS = 600


def due(lm: LM, messages: list[Message], head: int, threshold: float | None) -> bool:
    """Whether the history should be compacted now: compaction is on, the root's window is
    known, the prompt passes ``threshold`` of it, and there is more than one exchange
    after the first ``head`` messages."""
    if threshold is None or lm.context_window is None or len(messages) < head + 4:
        return False
    return prompt_tokens(lm, messages) > threshold * lm.context_window


def summary_request(query: str, removed: list[Message], window: int | None) -> str:
    """The sub-model's prompt for the turns to remove, cut (middle out) to what fits its
    ``window`` with room for the summary."""
    most = MAX_TURNS_CHARS
    if window is not None:
        most = min(most, max(window - SUMMARY_TOKENS - 512, 256) * CHARS_PER_TOKEN)
    turns = "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in removed)
    if len(turns) > most:
        half = most // 2
        turns = f"{turns[:half]}\n[... middle turns left out ...]\n{turns[-half:]}"
    return SUMMARY_PROMPT.format(query=query, turns=turns)


def compacted(
    messages: list[Message], head: int, task: str, summary: str, variables: str
) -> tuple[list[Message], int]:
    """The conversation with the turns after ``head`` but the last exchange replaced by the
    summary (added to the task message, the ``head``-th); how many messages went."""
    kept = messages[-2:]
    removed = len(messages) - head - 2
    note = f"{SUMMARY_MARK}\n{summary.strip()}\n\nVariables in the REPL now:\n{variables}"
    task_message: Message = {**messages[head - 1], "content": f"{task}\n\n{note}"}
    return [*messages[: head - 1], task_message, *kept], removed
