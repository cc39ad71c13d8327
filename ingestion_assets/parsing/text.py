"""Plain text, Markdown, reStructuredText, Org and AsciiDoc in whatever encoding they come in: headings as `#` lines (none in .txt)."""

from __future__ import annotations

import codecs
import re
import unicodedata
from pathlib import PurePosixPath

from ingestion_assets.parsing.document import ParsedDocument, ParseError, ParseLimits, with_empty_warning
from ingestion_assets.parsing.markdown import _ATX, _FENCE, _SETEXT, first_heading, markdown_sections

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
)
_WIDE = (
    ("utf-32-le", "UTF-32-LE", 4, (1, 2, 3)),
    ("utf-32-be", "UTF-32-BE", 4, (0, 1, 2)),
    ("utf-16-le", "UTF-16-LE", 2, (1,)),
    ("utf-16-be", "UTF-16-BE", 2, (0,)),
)
"""Encodings recognised without a byte order mark: (codec, name, code unit, byte positions that are
NUL in every unit of Latin text)."""
_LEGACY = (
    ("cp1252", "Windows-1252"),
    ("cp1250", "Windows-1250 (Central European)"),
    ("cp1251", "Windows-1251 (Cyrillic)"),
    ("koi8_r", "KOI8-R (Cyrillic)"),
)
"""Single-byte encodings tried when the bytes are not UTF-8, the first preferred on a tie."""
_SAMPLE = 1 << 20
_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\b\t\n\v\f\r\x1a\x1b")
_NON_ASCII_TOKEN = re.compile(r"\S*[^\x00-\x7f]\S*")
_WORD_EDGES = "".join(chr(c) for c in range(33, 127) if not chr(c).isalnum()) + "«»„“”‘’‚‹›…–—¡¿"


def decode_text(data: bytes, declared: str | None = None) -> tuple[str, list[str]]:
    """Decode by BOM, else the `declared` charset, else UTF-16/32 without BOM, UTF-8 or a legacy
    single-byte encoding (warning which one was assumed); binary content is a ParseError."""
    text, _, warnings = _decode(data, declared)
    return text, warnings


def _decode(data: bytes, declared: str | None = None) -> tuple[str, str, list[str]]:
    """(text, the encoding it was decoded from, warnings), as `decode_text`."""
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec), name, []
            except UnicodeDecodeError as exc:
                return (
                    data.decode(codec, errors="replace"),
                    name,
                    [f"invalid {name} (byte {exc.start}): damaged characters replaced"],
                )
    reason = codec = ""
    if declared:
        try:
            codec = codecs.lookup(declared).name
            codec = "cp1252" if codec == "iso8859-1" else codec
            return data.decode(codec), declared, []
        except UnicodeError as exc:
            if codec == "cp1252":
                return data.decode("latin-1"), declared, []
            label = declared.encode("ascii", errors="backslashreplace").decode()[:40]
            reason = f"not valid {label}" + (f" (byte {exc.start})" if isinstance(exc, UnicodeDecodeError) else "")
        except (LookupError, ValueError):
            reason = f"unknown charset {ascii(declared[:40])}"
    text, name, detected = _detect(data)
    if reason:
        return text, name, [f"{reason}; decoded as {name}"]
    return text, name, [detected] if detected else []


def _detect(data: bytes) -> tuple[str, str, str]:
    """(text, encoding name, a warning when the encoding was a guess)."""
    sample = data[:_SAMPLE]
    if b"\x00" in data:
        for codec, name, unit, zeros in _WIDE:
            text = _wide(data, sample, codec, unit, zeros)
            if text is not None:
                return text, name, f"no byte order mark; decoded as {name}"
        from ingestion_assets.parsing.containers import sniff

        what = sniff(data)
        raise ParseError(
            "binary content (NUL bytes), not text" + ("" if what == "unrecognised content" else f": {what}")
        )
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    if controls >= 4 and controls * 20 > len(sample):
        raise ParseError(f"binary content ({controls} control bytes in {len(sample)}), not text")
    try:
        return data.decode("utf-8"), "UTF-8", ""
    except UnicodeDecodeError as exc:
        invalid = f"not valid UTF-8 (byte {exc.start})"
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    good = len(text) - len(text.encode("ascii", errors="ignore")) - bad
    if good >= 3 and good >= 2 * bad:
        return text, "UTF-8", f"{invalid}; decoded as UTF-8 with {bad} damaged characters replaced"
    head = sample[: 1 << 16]
    scores = [(_oddities(head.decode(codec, errors="replace")), i) for i, (codec, _) in enumerate(_LEGACY)]
    codec, name = _LEGACY[min(scores)[1]]
    return data.decode(codec, errors="replace"), name, f"{invalid}; decoded as {name}"


def _wide(data: bytes, sample: bytes, codec: str, unit: int, zeros: tuple[int, ...]) -> str | None:
    """`data` decoded as UTF-16/32 if its NUL bytes fall where that encoding puts them and it reads as text."""
    units = len(sample) // unit
    if not units or len(data) % unit:
        return None
    nul_at = [sample[i::unit].count(0) for i in range(unit)]
    expected = sum(nul_at[i] for i in zeros)
    elsewhere = sum(nul_at) - expected
    if unit == 4 and nul_at[zeros[-1] if codec.endswith("le") else zeros[0]] < units:
        return None
    if not expected or elsewhere * 10 > expected + 10:
        return None
    try:
        text = data.decode(codec)
    except UnicodeDecodeError:
        return None
    check = text[: _SAMPLE // unit]
    odd = sum(1 for ch in check if unicodedata.category(ch) in ("Cc", "Cn", "Co") and ch not in "\t\n\v\f\r")
    return text if odd * 100 <= len(check) else None


def _oddities(text: str) -> int:
    """How unlike natural text a decoding is: undefined bytes, symbols inside words, words mixing
    scripts, long words of accented Latin letters only (Cyrillic read as Windows-1252) and a lower
    case letter before an upper case one (KOI8-R read as Windows-1251, and the reverse)."""
    score = 3 * text.count("\ufffd")
    for match in _NON_ASCII_TOKEN.finditer(text):
        word = match.group().strip(_WORD_EDGES)
        scripts = set()
        previous_lower = False
        for ch in word:
            if ch.isalpha():
                scripts.add(_script(ch))
                if ch.isupper() and previous_lower and ord(ch) > 127:
                    score += 1
                previous_lower = ch.islower()
            elif ord(ch) > 127 and unicodedata.category(ch) not in ("Pd", "Pi", "Pf") and ch != "·":
                score += 1
        score += len(scripts) > 1
        if len(word) >= 4 and all(ch.isalpha() and "\u00c0" <= ch <= "\u024f" for ch in word):
            score += 1
    return score


def _script(ch: str) -> str:
    if ch < "\u0250":
        return "latin"
    if "\u0370" <= ch < "\u0400":
        return "greek"
    if "\u0400" <= ch < "\u0530":
        return "cyrillic"
    return "other"


_RST_ADORNMENT = re.compile(r"^([!-/:-@\[-`{-~])\1{2,}[ \t]*$")
_ORG_HEADING = re.compile(r"^(\*+)[ \t]+(.*?)(?:[ \t]+:[\w@#%:]+:)?[ \t]*$")
_ORG_BLOCK = re.compile(r"^[ \t]*#\+(begin|end)_(src|example)\b[ \t]*(\S*)", re.IGNORECASE)
_ORG_KEYWORD = re.compile(r"^#\+(title|author):[ \t]*(.*)$", re.IGNORECASE)
_ADOC_HEADING = re.compile(r"^(={1,6}|#{1,6})[ \t]+(\S.*?)[ \t]*$")
_ADOC_ATTRIBUTE = re.compile(r"^:([\w-]+)!?:[ \t]*(.*)$")
_ADOC_SOURCE = re.compile(r"^\[source(?:,[ \t]*([\w+#-]+))?[^\]]*\][ \t]*$")
_ADOC_DELIMITER = re.compile(r"^(-{4,}|\.{4,}|={4,}|\*{4,}|_{4,}|\+{4,}|/{4,}|--)[ \t]*$")
Headings = dict[int, tuple[int, str]]
"""Line index -> (level, title)."""


def _rst(text: str) -> tuple[list[str], Headings, dict[str, str]]:
    """reStructuredText section titles (underlined, or over- and underlined): levels in the order
    their adornment styles first appear."""
    lines = text.splitlines()
    out: list[str] = []
    headings: Headings = {}
    styles: list[tuple[str, bool]] = []
    i = 0
    while i < len(lines):
        line, following = lines[i], lines[i + 1] if i + 1 < len(lines) else ""
        adornment = _RST_ADORNMENT.match(line)
        if adornment and i + 2 < len(lines) and lines[i + 1].strip() and lines[i + 2].strip() == line.strip():
            style, title, i = (line.strip()[0], True), lines[i + 1].strip(), i + 3
        elif (
            line.strip()
            and not line[0].isspace()
            and not adornment
            and _RST_ADORNMENT.match(following)
            and (not out or not out[-1].strip())
        ):
            style, title, i = (following.strip()[0], False), line.strip(), i + 2
        else:
            out.append(line)
            i += 1
            continue
        if style not in styles:
            styles.append(style)
        headings[len(out)] = (styles.index(style) + 1, title)
        out.append(title)
    return out, headings, {}


def _org(text: str) -> tuple[list[str], Headings, dict[str, str]]:
    """Org headings (`*` lines; below the `#+TITLE:` when there is one), source and example blocks as fenced code."""
    out: list[str] = []
    headings: Headings = {}
    metadata: dict[str, str] = {}
    block = False
    for line in text.splitlines():
        marker = _ORG_BLOCK.match(line)
        if marker and (marker.group(1).lower() == "begin") != block:
            block = not block
            out.append("```" + (marker.group(3) if block else ""))
        elif block:
            out.append(line)
        elif keyword := _ORG_KEYWORD.match(line):
            name, value = keyword.group(1).lower(), keyword.group(2).strip()
            if value and name not in metadata:
                metadata[name] = value
                if name == "title":
                    headings[len(out)] = (0, value)
                    out.append(value)
        elif heading := _ORG_HEADING.match(line):
            headings[len(out)] = (len(heading.group(1)), heading.group(2))
            out.append(heading.group(2))
        else:
            out.append(line)
    if block:
        out.append("```")
    shift = 1 if "title" in metadata else 0
    return out, {i: (level + shift, title) for i, (level, title) in headings.items()}, metadata


def _adoc(text: str) -> tuple[list[str], Headings, dict[str, str]]:
    """AsciiDoc section titles (`=` or `#` lines), listing and literal blocks as fenced code; comments
    and attribute entries dropped (the author kept as metadata)."""
    out: list[str] = []
    headings: Headings = {}
    metadata: dict[str, str] = {}
    block: str | None = None
    for line in text.splitlines():
        stripped = line.rstrip()
        if block is not None:
            if stripped == block:
                if block[0] != "/":
                    out.append("```")
                block = None
            elif block[0] != "/":
                out.append(line)
            continue
        if _ADOC_DELIMITER.match(stripped):
            if stripped[0] in "-./" and len(stripped) >= 4:
                block = stripped
                source = _ADOC_SOURCE.match(out[-1]) if out else None
                if source:
                    out[-1] = "```" + (source.group(1) or "")
                elif block[0] != "/":
                    out.append("```")
            else:
                out.append("")
        elif stripped.startswith("//"):
            continue
        elif attribute := _ADOC_ATTRIBUTE.match(stripped):
            if attribute.group(1) == "author" and attribute.group(2).strip():
                metadata["author"] = attribute.group(2).strip()
        elif heading := _ADOC_HEADING.match(stripped):
            headings[len(out)] = (len(heading.group(1)), heading.group(2))
            out.append(heading.group(2))
        else:
            out.append(line)
    if block is not None and block[0] != "/":
        out.append("```")
    return out, headings, metadata


_MARKUP = {".rst": _rst, ".rest": _rst, ".org": _org, ".adoc": _adoc, ".asciidoc": _adoc}


def _markdown(lines: list[str], headings: Headings) -> str:
    """`lines` with `headings` as `#` lines between blank lines, and every other line that Markdown
    would read as a heading escaped; a code fence left open is closed."""
    out: list[str] = []
    fence: str | None = None
    for i, line in enumerate(lines):
        if i in headings:
            level, title = headings[i]
            if out and out[-1].strip():
                out.append("")
            out.append("#" * min(max(level, 1), 6) + " " + " ".join(title.split()))
            if i + 1 < len(lines) and lines[i + 1].strip():
                out.append("")
            continue
        marker = _FENCE.match(line)
        if fence is not None:
            if marker and marker.group(1)[0] == fence[0] and len(marker.group(1)) >= len(fence):
                fence = None
        elif marker:
            fence = marker.group(1)
        elif _ATX.match(line) or (_SETEXT.match(line) and out and out[-1].strip() and not out[-1].startswith("#")):
            line = re.sub(r"^( *)", r"\1\\", line, count=1)
        out.append(line)
    if fence is not None:
        out.append(fence)
    return "\n".join(out) + "\n"


def parse(key: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    suffix = PurePosixPath(key).suffix.lower()
    text, warnings = decode_text(data)
    metadata: dict[str, str] = {}
    if suffix in _MARKUP:
        lines, headings, metadata = _MARKUP[suffix](text)
        text = _markdown(lines, headings)
    sections = markdown_sections(text, atx=suffix != ".txt")
    title = metadata.pop("title", "") or first_heading(sections, 1) or PurePosixPath(key).stem
    doc = ParsedDocument(suffix.lstrip("."), text, [0], warnings, title, sections, metadata=metadata)
    return with_empty_warning(doc)
