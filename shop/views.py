"""Views of the whole site: uploaded files the store serves itself (product pictures under
MEDIA_URL, see SERVE_MEDIA) and the liveness check a load balancer or an uptime monitor polls."""
from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe
from django.views.static import serve


@require_safe
@cache_control(public=True, max_age=3600)
def media_serve(request, path: str):
    # MEDIA_ROOT read per request, not when the URLs load, so tests may point it elsewhere.
    return serve(request, path, document_root=settings.MEDIA_ROOT)


@require_safe
@cache_control(no_store=True)
def alive(request):
    """200 "ok" while the web process answers; it reads nothing (no database, no cache), so a
    slow dependency never takes the web processes out of a load balancer."""
    return HttpResponse("ok", content_type="text/plain")
