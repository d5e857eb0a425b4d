"""What the parts of a run may see of it: the narrow interfaces ``Turns`` and
``HostCalls`` depend on, instead of the whole run object.

A run (``rlm._Run``) owns its identity, events, usage, policy and children; its tree
(``rlm._Tree``) owns the settings, the budget ledger, the LM gateway and the model table
shared by every run of a completion; ``turns.Turns`` owns the turn and cell counters, which
the run and its host calls read through ``iteration`` and ``current_cell``. A type checker
holds ``_Run`` and ``_Tree`` to these protocols where the parts are made.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..answers import AnswerSchema
    from ..environment import Environment
    from ..lm.base import LM
    from ..lm.choice import ModelTable
    from ..tools import Toolbox
    from .budget import Ledger
    from .config import RunConfig
    from .gateway import Gateway
    from .policy import Policy
    from .repairs import Repairs
    from .result import Result, UsageReport


class TreeView(Protocol):
    """The state every run of one completion shares."""

    @property
    def cfg(self) -> RunConfig: ...

    @property
    def gateway(self) -> Gateway: ...

    @property
    def ledger(self) -> Ledger: ...

    @property
    def models(self) -> ModelTable: ...

    @property
    def tools(self) -> Toolbox: ...

    def child_slot(self, depth: int) -> asyncio.Semaphore:
        """The bound on child runs alive at once at ``depth``."""
        ...


class ChildView(Protocol):
    """A child run as its parent's ``rlm_query`` starts it."""

    @property
    def run_id(self) -> str: ...

    @property
    def depth(self) -> int: ...

    async def execute(self, context: Any, query: str) -> Result:
        """Answer ``query`` about ``context`` in a workspace of its own."""
        ...


class RunView(Protocol):
    """One run as its turns and its host calls see it."""

    @property
    def tree(self) -> TreeView: ...

    @property
    def cfg(self) -> RunConfig: ...

    @property
    def root_lm(self) -> LM: ...

    @property
    def depth(self) -> int: ...

    @property
    def run_id(self) -> str: ...

    @property
    def query(self) -> str: ...

    @property
    def earlier(self) -> tuple[tuple[str, str | None], ...]: ...

    @property
    def schema(self) -> AnswerSchema | None: ...

    @property
    def attempt(self) -> int: ...

    @property
    def policy(self) -> Policy: ...

    @property
    def notes(self) -> Repairs: ...

    @property
    def usage(self) -> UsageReport: ...

    @property
    def environment(self) -> Environment | None: ...

    @property
    def current_cell(self) -> int | None:
        """The cell running now (its sub-calls and children nest under it)."""
        ...

    async def emit(self, event_type: type, **data: Any) -> None:
        """Send an event of this run to every sink of the tree."""
        ...

    def child(self, root_lm: LM) -> ChildView:
        """A child run for ``rlm_query``, one level deeper."""
        ...
