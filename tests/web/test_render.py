"""The page shells, without a browser: every page is complete and points at files that exist."""

from __future__ import annotations

import re

import pytest

from faultline.service.web import static_dir
from faultline.service.web.pages import (
    ASSET,
    DEAD_LETTERS,
    FLEET,
    KPIS,
    NAVIGATION,
    ORDER,
    QUEUE,
    TEMPLATES,
    TUNING,
    render,
)


@pytest.mark.parametrize("page", [FLEET, ASSET, QUEUE, ORDER, TUNING, KPIS, DEAD_LETTERS], ids=lambda p: p.name)
def test_a_page_is_whole_and_its_files_exist(page):
    html = render(page)
    assert "$" not in re.sub(r"\$\{", "", html), "a template placeholder was left unfilled"
    for src in re.findall(r'(?:src|href)="/static/([^"]+)"', html):
        assert (static_dir / src).is_file(), f"{page.name} loads /static/{src}, which is not in {static_dir}"
    assert f'src="/static/{page.name}.js"' in html
    current = re.findall(r'<a href="([^"]+)" aria-current="page">', html)
    assert current == [href for key, href, _ in NAVIGATION if key == page.nav]


def test_pages_load_nothing_from_elsewhere():
    """No CDN: every script, style and fetch stays on the service's own address."""
    for path in [*static_dir.iterdir(), *TEMPLATES.iterdir()]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), f"{path.name} reaches outside"
