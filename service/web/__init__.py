"""The web pages served by the service app: fleet, asset, work-order queue and order, tuning, KPIs.

``router`` holds the page routes (HTML shells; the data comes from ``/api/v1`` in the browser) and
the one API resource the pages needed that the API lacked (``/api/v1/engineers``, in
``api_extras``); ``static_dir`` holds the scripts and styles, to be mounted at ``/static``. No CDN:
everything the pages need is in this package.
"""

from fastapi import APIRouter

from faultline.service.web import api_extras, pages
from faultline.service.web.pages import static_dir

router = APIRouter()
router.include_router(pages.router)
router.include_router(api_extras.router)

__all__ = ["router", "static_dir"]
