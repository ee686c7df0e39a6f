"""Turn an HTML page into a plain-text page dump, the way "select all, copy" would.

Used to test the text-dump cleaner on pages whose expected article text is known, and
as the last fallback of the HTML extractor. Every visible text run is kept (menus,
footers, comment forms included); each block element starts a new line.
"""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser

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


# libxml2, under lxml and trafilatura, stops building the tree 256 elements deep and drops
# everything below; pages (or hostile files) nested deeper lose their article.
WRAPPER_TAGS = frozenset(
    {"div", "span", "section", "article", "main", "font", "center", "header", "footer", "aside",
     "figure", "form", "fieldset", "details", "summary", "hgroup", "b", "i", "u", "em", "strong", "small"}
)
VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
)
MAX_WRAPPER_DEPTH = 64
MAX_DEPTH = 200


def markup_too_deep(html: str) -> bool:
    """True when lxml's parser gave up on `html` for nesting deeper than it builds."""
    parser = lxml.html.HTMLParser()
    try:
        lxml.html.document_fromstring(html, parser=parser)
    except (etree.ParserError, ValueError):
        return False
    return any("Excessive depth" in entry.message for entry in parser.error_log)


def shallow_markup(html: str) -> str:
    """The same page with its nesting cut to what parsers build: wrapper elements (div, span,
    section...) below MAX_WRAPPER_DEPTH and any element below MAX_DEPTH lose their tags but keep
    their text; a dropped block element leaves a line break so paragraphs stay apart."""
    rewriter = _ShallowRewriter()
    rewriter.feed(html)
    rewriter.close()
    return "".join(rewriter.out)


class _ShallowRewriter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.out: list[str] = []
        self.stack: list[tuple[str, bool]] = []  # (tag, kept)
        self.open_tags: Counter[str] = Counter()
        self.depth = 0  # kept elements open

    def handle_starttag(self, tag, attrs):
        text = self.get_starttag_text() or f"<{tag}>"
        if tag in VOID_TAGS:
            self.out.append(text)
            return
        keep = self.depth < (MAX_WRAPPER_DEPTH if tag in WRAPPER_TAGS else MAX_DEPTH)
        self.stack.append((tag, keep))
        self.open_tags[tag] += 1
        if keep:
            self.depth += 1
            self.out.append(text)
        elif tag in BLOCK_TAGS:
            self.out.append("<br>")

    def handle_startendtag(self, tag, attrs):
        self.out.append(self.get_starttag_text() or f"<{tag}/>")

    def handle_endtag(self, tag):
        if not self.open_tags[tag]:
            return  # a stray end tag: parsers ignore it too
        while self.stack:
            open_tag, kept = self.stack.pop()
            self.open_tags[open_tag] -= 1
            if kept:
                self.depth -= 1
                self.out.append(f"</{open_tag}>")
            elif open_tag in BLOCK_TAGS:
                self.out.append("<br>")
            if open_tag == tag:
                return

    def handle_data(self, data):
        self.out.append(data)

    def handle_entityref(self, name):
        self.out.append(f"&{name};")

    def handle_charref(self, name):
        self.out.append(f"&#{name};")

    def handle_comment(self, data):
        self.out.append(f"<!--{data}-->")

    def handle_decl(self, decl):
        self.out.append(f"<!{decl}>")

    def handle_pi(self, data):
        self.out.append(f"<?{data}>")

    def unknown_decl(self, data):
        self.out.append(f"<![{data}]>")
