"""Markdown structure: the headings of Markdown-flavoured text (every parser writes its headings as `#` lines)."""

from __future__ import annotations

import re

from ingestion_assets.parsing.document import Section

_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")


def markdown_sections(text: str, atx: bool = True) -> list[Section]:
    """Headings of Markdown text: `#` lines outside fenced code blocks (when `atx`) and
    underlined (setext) headings, `===` for level 1 and `---` for level 2."""
    sections: list[Section] = []
    fence: str | None = None
    position = 0
    previous: tuple[int, str] | None = None  # (offset, text) of the previous non-blank line
    for line in text.splitlines(keepends=True):
        stripped = line.rstrip("\r\n")
        start, position = position, position + len(line)
        marker = _FENCE.match(stripped)
        if fence is not None:
            if marker and marker.group(1)[0] == fence[0] and len(marker.group(1)) >= len(fence):
                fence = None
            previous = None
            continue
        if marker:
            fence = marker.group(1)
            previous = None
            continue
        if atx:
            match = _ATX.match(stripped)
            if match:
                title = clean_heading(match.group(2))
                if title:
                    sections.append(Section(start, len(match.group(1)), title))
                previous = None
                continue
        underline = _SETEXT.match(stripped)
        if underline and previous is not None and (underline.group(1)[0] == "=" or len(underline.group(1)) >= 3):
            offset, heading = previous
            if not heading.lstrip().startswith(("|", "-", "*", ">")) and len(heading) <= 120:
                sections.append(Section(offset, 1 if underline.group(1)[0] == "=" else 2, clean_heading(heading)))
            previous = None
            continue
        previous = (start, stripped) if stripped.strip() else None
    return sections


def clean_heading(text: str) -> str:
    text = re.sub(r"[*_`]+", "", text)
    return " ".join(text.split())


def first_heading(sections: list[Section], level: int) -> str:
    return next((s.title for s in sections if s.level == level), "")


def title_heading(sections: list[Section]) -> str:
    """The top-level heading of a PDF if it occurs once (a title, not "1 Introduction")."""
    if not sections:
        return ""
    top = min(s.level for s in sections)
    tops = [s.title for s in sections if s.level == top]
    return tops[0] if len(tops) == 1 else ""
