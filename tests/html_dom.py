"""A small element tree from HTML, built with the standard library's parser, for page tests.

The tests ask what a browser would see: which elements exist, their
attributes, and their text with character references resolved. Text that
was escaped stays text here; markup that was not becomes elements, which is
what the escaping tests look for.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

#: Elements that never have an end tag.
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


@dataclass
class Element:
    """One element: its tag, attributes (values unescaped) and children in order."""

    tag: str
    attrs: dict[str, str | None] = field(default_factory=dict)
    children: list[Element | str] = field(default_factory=list)

    def text(self) -> str:
        """All text inside, as a browser's ``textContent`` would give it."""
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self, tag: str | None = None) -> Iterator[Element]:
        """This element and every element inside it (only ``tag`` ones when given)."""
        if tag is None or self.tag == tag:
            yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.iter(tag)

    def classes(self) -> set[str]:
        """The element's class names."""
        return set((self.attrs.get("class") or "").split())

    def find_all(self, tag: str, cls: str | None = None) -> list[Element]:
        """Every ``tag`` element inside (this one included), of class ``cls`` when given."""
        return [e for e in self.iter(tag) if cls is None or cls in e.classes()]

    def find(self, tag: str, cls: str | None = None) -> Element:
        """The first such element; AssertionError when there is none."""
        found = self.find_all(tag, cls)
        assert found, f"no <{tag} class={cls}> in <{self.tag}>"
        return found[0]


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document")
        self.open = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs))
        self.open[-1].children.append(element)
        if tag not in VOID:
            self.open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.open) - 1, 0, -1):
            if self.open[depth].tag == tag:
                del self.open[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.open[-1].children.append(data)


def parse(markup: str) -> Element:
    """The document's tree; its root is a ``#document`` element."""
    builder = _TreeBuilder()
    builder.feed(markup)
    builder.close()
    return builder.root
