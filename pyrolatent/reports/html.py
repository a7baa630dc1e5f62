"""A small, dependency-free builder for the one-file HTML report.

Figures are embedded as base64 PNG data URIs, so ``index.html`` opens on its
own (e-mailed, copied, or served) with no folder beside it. All text that
comes from data or settings is escaped.
"""

from __future__ import annotations

import base64
import html
import io

from matplotlib.figure import Figure

__all__ = ["HTMLPage", "png_bytes"]

_STYLE = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1150px; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.8em; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; }
th { background: #f5f5f5; }
td.text, th.text { text-align: left; }
.verdict { display: inline-block; padding: 0.1em 0.6em; border-radius: 0.8em; color: white; font-weight: 600; }
.good { background: #2e7d32; } .usable { background: #ef6c00; } .unreliable { background: #c62828; }
.note { color: #555; font-size: 0.9em; }
nav a { margin-right: 1em; }
"""


def png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    """Render ``fig`` to PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


class HTMLPage:
    """Sections of headings, paragraphs, figures and tables, rendered to one HTML string."""

    def __init__(self, title: str):
        self.title = title
        self.parts: list[str] = []
        self.sections: list[tuple[str, str]] = []

    def section(self, title: str) -> None:
        """Start a section: an ``<h2>`` with an anchor, linked from the page's navigation."""
        anchor = "s" + str(len(self.sections))
        self.sections.append((anchor, title))
        self.parts.append(f'<h2 id="{anchor}">{html.escape(title)}</h2>')

    def paragraph(self, text: str, *, css: str | None = None) -> None:
        """A paragraph of plain (escaped) text."""
        cls = f' class="{html.escape(css)}"' if css else ""
        self.parts.append(f"<p{cls}>{html.escape(text)}</p>")

    def verdict(self, css: str, label: str, text: str) -> None:
        """A coloured badge (``css`` one of "good", "usable", "unreliable") followed by ``text``."""
        self.parts.append(
            f'<p><span class="verdict {html.escape(css)}">{html.escape(label)}</span> {html.escape(text)}</p>'
        )

    def figure(self, png: bytes, caption: str, alt: str) -> None:
        """An image embedded as a base64 PNG data URI, with a caption."""
        data = base64.b64encode(png).decode("ascii")
        self.parts.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def table(self, rows: list[dict], *, columns: list[str] | None = None, floatfmt: str = "{:.4g}") -> None:
        """A table with one row per dict (columns from the first row unless given)."""
        if not rows:
            return
        columns = columns or list(rows[0])
        head = "".join(
            f'<th class="text">{html.escape(str(c))}</th>' if i == 0 else f"<th>{html.escape(str(c))}</th>"
            for i, c in enumerate(columns)
        )
        body = []
        for row in rows:
            cells = []
            for i, c in enumerate(columns):
                value = row.get(c, "")
                if isinstance(value, float):
                    text = floatfmt.format(value)
                else:
                    text = str(value)
                cls = ' class="text"' if i == 0 or not isinstance(value, (int, float)) else ""
                cells.append(f"<td{cls}>{html.escape(text)}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        self.parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")

    def render(self) -> str:
        """The whole page as one HTML string."""
        nav = " ".join(f'<a href="#{a}">{html.escape(t)}</a>' for a, t in self.sections)
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(self.title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
            f"<h1>{html.escape(self.title)}</h1>\n<nav>{nav}</nav>\n" + "\n".join(self.parts) + "\n</body>\n</html>\n"
        )
