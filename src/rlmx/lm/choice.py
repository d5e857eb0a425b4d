"""Which models a run may use: the operator's table, never a spec written by untrusted text.

Model code names a model with ``llm_query(p, model="fast")``; a server client with
``"root": "openai:gpt-5-mini"``. Both names are looked up in a ``ModelTable`` built from
what the operator configured (the run's root and sub, named aliases, a server's
``--allow-model`` list). A name not in the table is refused with the names that are
allowed and is never parsed as a spec, so a prompt injection cannot point an API key at a
URL of its choosing, make the host read a replay file or load another model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .base import LM, LMConfigError

Model = str | LM


class ModelNotAllowed(LMConfigError):
    """A model name that is not in the operator's table."""


def model_name(model: Model) -> str:
    """The spec text of a model, or the name of an LM object."""
    return model if isinstance(model, str) else model.name


class ModelTable:
    """Names a caller may use for models: aliases and the spec texts of configured models.

    Args:
        aliases: name -> spec or LM, e.g. ``{"fast": "openai:gpt-5-nano"}``.
        allowed: further models usable under their own spec text (a run's root and sub).
        allow_prefixes: spec prefixes accepted as they are (``("replay:",)`` for tests).
    """

    def __init__(
        self,
        aliases: Mapping[str, Model] | None = None,
        allowed: Iterable[Model | None] = (),
        allow_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.aliases = dict(aliases or {})
        for name in self.aliases:
            if not name or name != name.strip() or any(c.isspace() for c in name):
                raise ValueError(f"model alias {name!r} must be a non-empty word")
        self.allow_prefixes = allow_prefixes
        self._table: dict[str, Model] = {}
        for model in [*allowed, *self.aliases.values()]:
            if model is not None:
                self._table.setdefault(model_name(model), model)
        self._table.update(self.aliases)

    def names(self) -> list[str]:
        """Every name that ``pick`` accepts (aliases first)."""
        return [*self.aliases, *(n for n in self._table if n not in self.aliases)]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._table or self._prefix_ok(name))

    def pick(self, name: str, role: str = "model") -> Model:
        """The model a name stands for; ModelNotAllowed (listing the allowed names) else."""
        if isinstance(name, str) and name in self._table:
            return self._table[name]
        if isinstance(name, str) and self._prefix_ok(name):
            return name
        allowed = ", ".join(repr(n) for n in self.names()) or "none"
        raise ModelNotAllowed(
            f"{role} {str(name)[:100]!r} is not allowed here; use one of {allowed}"
        )

    def _prefix_ok(self, name: str) -> bool:
        return bool(self.allow_prefixes) and name.startswith(self.allow_prefixes)
