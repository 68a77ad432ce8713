"""The web pages served by the service app: fleet, asset, work-order queue and order, tuning, KPIs.

``router`` holds the page routes (HTML shells; the data comes from ``/api/v1`` in the browser) and
``static_dir`` the scripts and styles, to be mounted at ``/static``. No CDN: everything the pages
need is in this package.
"""

from service.web.pages import router, static_dir

__all__ = ["router", "static_dir"]
