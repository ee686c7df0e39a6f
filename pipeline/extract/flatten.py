"""Turn an HTML page into a plain-text page dump, the way "select all, copy" would.

Used to test the text-dump cleaner on pages whose expected article text is known, and
as the last fallback of the HTML extractor. Every visible text run is kept (menus,
footers, comment forms included); each block element starts a new line.
"""

from __future__ import annotations

import re

import lxml.html
from lxml import etree

INVISIBLE_TAGS = frozenset(
    {"head", "script", "style", "noscript", "template", "svg", "canvas", "iframe", "object",
     "select", "option", "button", "input", "textarea", "map", "audio", "video", "source"}
)
BLOCK_TAGS = frozenset(
    {"address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details",
     "dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form",
     "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "html", "legend", "li",
     "main", "menu", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "td",
     "tfoot", "th", "thead", "tr", "ul", "br"}
)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u2000-\u200b\u202f\u205f\u3000]+")


def _is_hidden(element: etree._Element) -> bool:
    if element.get("hidden") is not None:
        return True
    return bool(_HIDDEN_STYLE.search(element.get("style") or ""))


def _parse(html: str) -> etree._Element | None:
    if not html or not html.strip():
        return None
    try:
        return lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        # lxml refuses str input that carries an XML encoding declaration
        try:
            return lxml.html.document_fromstring(html.encode("utf-8", "replace"))
        except (etree.ParserError, ValueError):
            return None


def html_to_text_dump(html: str, *, blank_lines: bool = False) -> str:
    """All visible text of `html`, one line per block element; never raises."""
    root = _parse(html)
    if root is None:
        return ""
    lines: list[str] = []
    current: list[str] = []

    def flush() -> None:
        line = _SPACES.sub(" ", "".join(current)).strip()
        current.clear()
        if line:
            lines.append(line)

    walker = etree.iterwalk(root, events=("start", "end", "comment", "pi"))
    for event, element in walker:
        tag = element.tag if isinstance(element.tag, str) else ""
        tag = tag.lower()
        if event in ("comment", "pi"):
            if element.tail:
                current.append(element.tail.replace("\n", " "))
            continue
        if event == "start":
            if tag in INVISIBLE_TAGS or _is_hidden(element):
                walker.skip_subtree()  # its "end" event still comes, and adds its tail
                continue
            if tag in BLOCK_TAGS:
                flush()
            if element.text:
                current.append(element.text.replace("\n", " "))
        else:
            if tag in BLOCK_TAGS:
                flush()
            if element.tail:
                current.append(element.tail.replace("\n", " "))
    flush()
    return ("\n\n" if blank_lines else "\n").join(lines)
