"""A second way of making a text dump from a page, independent of `pipeline.extract.flatten`.

The dump cleaner is scored on pages flattened by the project's own flattener (one line per block
element, every list item and table cell on a line of its own). A cleaner tuned to that one habit
may fit it and not the text people really drop in, so the evaluation also flattens every page the
way a browser's "save as text" or a copy from a rendered page does:

- each innermost block (a paragraph, a heading, a list item that is not a menu entry) is one line,
  made with lxml's `text_content()`, so a `<br>` inside a paragraph is a space, not a line break;
- a list whose items are all short (a menu, a tag list, a share bar) is one line, items side by
  side; a table row is one line, cells side by side;
- blocks are separated by a blank line; text directly inside a container (a `<div>` with text
  and blocks mixed) is a line of its own;
- invisible elements (scripts, styles, forms' controls, `hidden`, `display:none`) are left out.
"""

from __future__ import annotations

import re

import lxml.html
from lxml import etree

_INVISIBLE = frozenset(
    {"head", "script", "style", "noscript", "template", "svg", "canvas", "iframe", "object",
     "select", "option", "button", "input", "textarea", "map", "audio", "video", "source", "title"}
)
_BLOCKS = frozenset(
    {"address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details",
     "dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2",
     "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "html", "legend", "li", "main", "menu", "nav",
     "ol", "p", "pre", "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul"}
)
_LISTS = frozenset({"ul", "ol", "menu", "nav"})
# A list whose every item is at most this many characters is a menu: written on one line.
MENU_ITEM_CHARS = 40
_HIDDEN = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_SPACES = re.compile(r"\s+")


def _tag(element) -> str:
    return element.tag.lower() if isinstance(element.tag, str) else ""


def _text(element) -> str:
    return _SPACES.sub(" ", element.text_content()).strip()


def _has_block_inside(element) -> bool:
    return any(_tag(child) in _BLOCKS for child in element.iterdescendants())


def _is_menu(element) -> bool:
    items = [child for child in element if _tag(child) in ("li", "a")]
    texts = [_text(item) for item in items]
    return len(items) >= 2 and all(len(text) <= MENU_ITEM_CHARS for text in texts)


def browser_text_dump(html: str) -> str:
    """All visible text of `html` as a browser's "save as text" gives it; never raises."""
    if not html or not html.strip():
        return ""
    try:
        root = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):  # lxml refuses a str that declares an XML encoding
        try:
            root = lxml.html.document_fromstring(html.encode("utf-8", "replace"))
        except (etree.ParserError, ValueError):
            return ""
    for element in list(root.iter()):
        if element.getparent() is None:
            continue
        if _tag(element) in _INVISIBLE or element.get("hidden") is not None or _HIDDEN.search(element.get("style") or ""):
            element.drop_tree()  # keeps its tail
        elif not isinstance(element.tag, str):  # comments and processing instructions
            element.drop_tree()
    blocks: list[str] = []
    loose: list[str] = []  # text directly inside a container, between its blocks

    def flush_loose() -> None:
        line = _SPACES.sub(" ", "".join(loose)).strip()
        loose.clear()
        if line:
            blocks.append(line)

    def walk(element) -> None:
        tag = _tag(element)
        if tag in _LISTS and _is_menu(element):
            blocks.append(" ".join(_text(item) for item in element if _text(item)))
        elif tag == "tr":
            blocks.append("\t".join(_text(cell) for cell in element if _text(cell)))
        elif tag in _BLOCKS and not _has_block_inside(element):
            blocks.append(_text(element))
        else:
            loose.append(element.text or "")
            for child in element:
                if _tag(child) in _BLOCKS:
                    flush_loose()
                    walk(child)
                else:
                    walk_inline(child)
                loose.append(child.tail or "")
            if tag in _BLOCKS:
                flush_loose()

    def walk_inline(element) -> None:
        if not _has_block_inside(element):
            loose.append(element.text_content())
            return
        walk(element)  # an inline element wrapping blocks (an <a> around a teaser's <div>s)

    walk(root)
    flush_loose()
    return "\n\n".join(block for block in blocks if block)
