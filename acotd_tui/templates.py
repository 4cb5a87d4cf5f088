"""Versioned prompt templates.

A template is a text file with `### system` / `### user` sections and `{{name}}`
placeholders. Its version is the file name plus a short hash of its content, stored with
every attempt, grade and CoT it produced, so editing a template never silently mixes
outputs of two prompts. A project can add or override templates in `<project>/prompts/`.
Placeholders are replaced literally: values full of LaTeX braces and dollars are safe.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .errors import ConfigError

_SECTION = re.compile(r"^### (system|user|assistant)\s*$", re.MULTILINE)
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    text: str

    @property
    def version(self) -> str:
        return f"{self.name}@{hashlib.sha256(self.text.encode()).hexdigest()[:8]}"

    @property
    def placeholders(self) -> set[str]:
        return set(_PLACEHOLDER.findall(self.text))

    def render(self, **values: str) -> tuple[dict[str, str], ...]:
        missing = self.placeholders - set(values)
        if missing:
            raise ConfigError(f"prompt {self.name}: no value for {{{{{sorted(missing)[0]}}}}}")
        parts = _SECTION.split(self.text)
        if len(parts) < 3:
            raise ConfigError(f"prompt {self.name}: needs at least a '### user' section")
        messages = []
        for role, body in zip(parts[1::2], parts[2::2], strict=True):
            content = _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), body.strip("\n"))
            messages.append({"role": role, "content": content.strip()})
        return tuple(messages)


def load_template(name: str, project_root: Path | None = None) -> PromptTemplate:
    if project_root is not None:
        own = project_root / "prompts" / f"{name}.txt"
        if own.exists():
            return PromptTemplate(name, own.read_text(encoding="utf-8"))
    bundled = resources.files("acotd_tui") / "prompts" / f"{name}.txt"
    if not bundled.is_file():
        raise ConfigError(
            f"no prompt template {name!r} (bundled or in {project_root or '.'}/prompts/)"
        )
    return PromptTemplate(name, bundled.read_text(encoding="utf-8"))
