"""Uploaded files the store serves itself: product pictures under MEDIA_URL (see SERVE_MEDIA)."""
from django.conf import settings
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe
from django.views.static import serve


@require_safe
@cache_control(public=True, max_age=3600)
def media_serve(request, path: str):
    # MEDIA_ROOT read per request, not when the URLs load, so tests may point it elsewhere.
    return serve(request, path, document_root=settings.MEDIA_ROOT)
