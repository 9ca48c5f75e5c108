"""A post-incident report as a forge or a wiki shows it: Markdown (CommonMark, GFM tables and strikethrough,
raw HTML allowed) rendered to HTML, then read back as its elements in order, its comments and its text."""

from __future__ import annotations

from html.parser import HTMLParser

from markdown_it import MarkdownIt


def to_html(markdown: str) -> str:
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(markdown)


class Page(HTMLParser):
    """The elements of a page in order (with their attributes' names), its comments, and its text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.comments: list[str] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag + "".join(f" {k}" for k, _ in attrs))

    def handle_endtag(self, tag):
        self.tags.append("/" + tag)

    def handle_comment(self, data):
        self.comments.append(data)

    def handle_data(self, data):
        self.text.append(data)


def page_of(markdown: str) -> Page:
    return Page(to_html(markdown))
