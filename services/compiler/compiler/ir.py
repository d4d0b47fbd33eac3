"""Stage A: a Markdown TSG to its TSG-IR (sections, code blocks, lists, checklists, tables, links).

Deterministic: the Markdown is parsed by markdown-it-py (CommonMark plus tables); nothing here
guesses what the guide means. Line numbers are 1-based and inclusive.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from markdown_it import MarkdownIt
from markdown_it.token import Token

_CHECKBOX = re.compile(r"^\[( |x|X)\]\s+")
_PARSER = MarkdownIt("commonmark").enable("table")


@dataclass
class InlineCode:
    code: str
    before: str  # the text of the same paragraph before the code span, to spot "Run:" phrases


@dataclass
class Link:
    text: str
    href: str
    line: int


@dataclass
class Text:
    """A paragraph, or one list item's own text."""

    kind: Literal["paragraph", "item"]
    text: str
    line_start: int
    line_end: int
    codes: list[InlineCode] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    list_id: int | None = None
    ordered: bool | None = None
    checked: bool | None = None  # None: not a checklist item


@dataclass
class Code:
    info: str
    lang: str
    content: str
    line_start: int  # first line of the content (after the opening fence)
    line_end: int
    in_list: bool = False


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    line_start: int
    line_end: int


Element = Text | Code | Table


@dataclass
class Section:
    index: int
    level: int  # 0: text before any heading
    title: str
    line_start: int
    line_end: int
    path: list[str]  # titles from the top heading down to this one
    elements: list[Element] = field(default_factory=list)


@dataclass
class TsgIR:
    title: str
    description: str
    sections: list[Section]
    lines: int

    def code_blocks(self) -> list[Code]:
        return [e for s in self.sections for e in s.elements if isinstance(e, Code)]

    def links(self) -> list[Link]:
        return [link for s in self.sections for e in s.elements if isinstance(e, Text) for link in e.links]

    def to_dict(self) -> dict[str, Any]:
        """The IR as plain data (for the API and for an LLM prompt)."""
        out = []
        for s in self.sections:
            d = asdict(s)
            for el, src in zip(d["elements"], s.elements, strict=True):
                el["element"] = type(src).__name__.lower()
            out.append(d)
        return {"title": self.title, "description": self.description, "lines": self.lines, "sections": out}


def _inline(token: Token) -> tuple[str, list[InlineCode], list[Link]]:
    """Plain text of an inline token, its code spans (with the text before each) and links."""
    text = ""
    codes: list[InlineCode] = []
    links: list[Link] = []
    href: str | None = None
    link_text = ""
    line = (token.map[0] + 1) if token.map else 0
    for child in token.children or []:
        piece = ""
        if child.type == "text":
            piece = child.content
        elif child.type == "code_inline":
            codes.append(InlineCode(code=child.content, before=text))
            piece = f"`{child.content}`"
        elif child.type in ("softbreak", "hardbreak"):
            piece = " "
            line += 1
        elif child.type == "link_open":
            href = str(child.attrs.get("href", ""))
            link_text = ""
        elif child.type == "link_close" and href is not None:
            links.append(Link(text=link_text.strip(), href=href, line=line))
            href = None
        elif child.type in ("html_inline", "image"):
            piece = child.content
        text += piece
        if href is not None:
            link_text += piece
    return text.strip(), codes, links


def extract(markdown: str) -> TsgIR:
    """Parse a Markdown TSG into its IR."""
    tokens = _PARSER.parse(markdown)
    total = markdown.count("\n") + (0 if markdown.endswith("\n") or not markdown else 1)
    sections: list[Section] = [Section(0, 0, "", 1, total, [])]
    stack: list[Section] = []
    title = ""
    # list context: (list id, ordered) per open list; item text taken from its first paragraph
    lists: list[tuple[int, bool]] = []
    item_open: list[bool] = []  # per open item: its own text still to come
    next_list = 0
    table: Table | None = None
    row: list[str] | None = None
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        cur = sections[-1]
        if tok.type == "heading_open":
            section = _heading(tok, tokens[i + 1], len(sections), stack, total)
            if not title and section.level == 1:
                title = section.title
            sections.append(section)
            i += 3
            continue
        if tok.type in ("bullet_list_open", "ordered_list_open"):
            lists.append((next_list, tok.type == "ordered_list_open"))
            next_list += 1
        elif tok.type in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif tok.type == "list_item_open":
            item_open.append(True)
        elif tok.type == "list_item_close":
            item_open.pop()
        elif tok.type == "inline" and table is None:
            cur.elements.append(_text(tok, item_open, lists))
        elif tok.type in ("fence", "code_block"):
            cur.elements.append(_code(tok, bool(item_open)))
        elif tok.type == "table_open":
            start, end = (tok.map[0] + 1, tok.map[1]) if tok.map else (0, 0)
            table = Table([], [], start, end)
        elif tok.type == "tr_open":
            row = []
        elif tok.type == "inline" and table is not None and row is not None:
            row.append(_inline(tok)[0])
        elif tok.type == "tr_close" and table is not None and row is not None:
            if not table.header:
                table.header = row
            else:
                table.rows.append(row)
            row = None
        elif tok.type == "table_close" and table is not None:
            cur.elements.append(table)
            table = None
        i += 1
    for a, b in itertools.pairwise(sections):
        a.line_end = max(a.line_start, b.line_start - 1)
    if not sections[0].elements:
        sections.pop(0)
    return TsgIR(title=title, description=_description(sections), sections=sections, lines=total)


def _heading(tok: Token, inline: Token, index: int, stack: list[Section], total: int) -> Section:
    """The section a heading opens; ``stack`` (the open sections, outermost first) ends with it."""
    level = int(tok.tag[1])
    text, _, _ = _inline(inline)
    start = (tok.map[0] + 1) if tok.map else 1
    while stack and stack[-1].level >= level:
        stack.pop()
    section = Section(index, level, text, start, total, [*(s.title for s in stack), text])
    stack.append(section)
    return section


def _text(tok: Token, item_open: list[bool], lists: list[tuple[int, bool]]) -> Text:
    """A paragraph, or the text of the list item still open (a checklist item when it has a box)."""
    text, codes, links = _inline(tok)
    start, end = (tok.map[0] + 1, tok.map[1]) if tok.map else (0, 0)
    if not (item_open and item_open[-1]):
        return Text("paragraph", text, start, end, codes, links)
    item_open[-1] = False
    checked = None
    match = _CHECKBOX.match(text)
    if match:
        checked = match.group(1) != " "
        text = text[match.end() :]
    list_id, ordered = lists[-1]
    return Text("item", text, start, end, codes, links, list_id, ordered, checked)


def _code(tok: Token, in_list: bool) -> Code:
    info = tok.info.strip() if tok.type == "fence" else ""
    start, end = (tok.map[0] + 1, tok.map[1]) if tok.map else (0, 0)
    if tok.type == "fence":
        start, end = start + 1, end - 1
    lang = info.split()[0].lower() if info else ""
    return Code(info, lang, tok.content, start, max(start, end), in_list)


def _description(sections: list[Section]) -> str:
    """The first paragraph of the guide's top sections (meta.description)."""
    for s in sections:
        if s.level <= 1:
            para = next((e for e in s.elements if isinstance(e, Text) and e.kind == "paragraph"), None)
            if para is not None:
                return para.text
    return ""
