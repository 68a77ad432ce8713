"""The page routes: plain HTML shells whose data comes from the API in the browser.

Pages are public; what they show needs an API token, which the browser keeps in ``localStorage``
and sends as ``Authorization: Bearer``. Every page is one body fragment from ``templates/`` set
into ``templates/layout.html``, with its own script from ``static/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from html import escape
from pathlib import Path
from string import Template

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

TEMPLATES = Path(__file__).with_name("templates")
static_dir = Path(__file__).with_name("static")


@dataclass(frozen=True)
class Page:
    """One page: its title, the body fragment and the script that fills it."""

    name: str
    title: str
    nav: str | None = None  # the navigation entry it highlights

    @property
    def script(self) -> str:
        return f"{self.name}.js"


FLEET = Page("fleet", "Fleet", "fleet")
ASSET = Page("asset", "Asset", "fleet")
QUEUE = Page("queue", "Work orders", "queue")
ORDER = Page("order", "Work order", "queue")
TUNING = Page("tuning", "Tuning", "tuning")
KPIS = Page("kpis", "KPIs", "kpis")
DEAD_LETTERS = Page("dead_letters", "Dead letters", "dead_letters")

NAVIGATION = (
    ("fleet", "/", "Fleet"),
    ("queue", "/work-orders", "Work orders"),
    ("tuning", "/tuning", "Tuning"),
    ("kpis", "/kpis", "KPIs"),
    ("dead_letters", "/dead-letters", "Dead letters"),
)


@cache
def render(page: Page) -> str:
    """The page's whole HTML (cached: templates do not change while the service runs)."""
    current = ' aria-current="page"'
    nav = "\n".join(
        f'<a href="{href}"{current if key == page.nav else ""}>{label}</a>' for key, href, label in NAVIGATION
    )
    layout = Template((TEMPLATES / "layout.html").read_text(encoding="utf-8"))
    body = (TEMPLATES / f"{page.name}.html").read_text(encoding="utf-8")
    return layout.substitute(title=escape(page.title), nav=nav, body=body, script=page.script)


router = APIRouter(include_in_schema=False)


def _serve(path: str, page: Page) -> None:
    async def show_page() -> HTMLResponse:
        return HTMLResponse(render(page))

    show_page.__name__ = f"page_{page.name}"
    router.add_api_route(path, show_page, methods=["GET"], response_class=HTMLResponse)


for _path, _page in (
    ("/", FLEET),
    ("/assets/{asset}", ASSET),
    ("/work-orders", QUEUE),
    ("/work-orders/{order_id}", ORDER),
    ("/tuning", TUNING),
    ("/kpis", KPIS),
    ("/dead-letters", DEAD_LETTERS),
):
    _serve(_path, _page)
