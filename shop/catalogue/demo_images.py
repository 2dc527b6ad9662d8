"""Pictures of the demo products, drawn with Pillow when the demo catalogue is seeded.

Drawn rather than shipped, so the repository holds no photographs: each is a flat, friendly
illustration on a soft background, 4:3 like the storefront's picture frames, saved as WebP.
"""
from __future__ import annotations

import io
import math
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageFilter

WIDTH, HEIGHT = 800, 600
SCALE = 2  # drawn at twice the size, then scaled down: smooth edges without antialiasing

Draw = ImageDraw.ImageDraw


def _xy(*values: float) -> list[float]:
    return [value * SCALE for value in values]


def _canvas(background: str, glow: str) -> tuple[Image.Image, Draw]:
    image = Image.new("RGB", (WIDTH * SCALE, HEIGHT * SCALE), background)
    draw = ImageDraw.Draw(image)
    draw.ellipse(_xy(170, 40, 630, 500), fill=glow)
    return image, draw


def _shadow(image: Image.Image, box: tuple[float, float, float, float]) -> None:
    """A soft shadow on the "table" under an object."""
    layer = Image.new("L", image.size, 0)
    ImageDraw.Draw(layer).ellipse(_xy(*box), fill=90)
    layer = layer.filter(ImageFilter.GaussianBlur(14 * SCALE))
    image.paste((0, 0, 0), mask=layer.point(lambda value: value // 3))


def _hill_logo(draw: Draw, x: float, y: float, size: float, ink: str, sun: str) -> None:
    """The store's mark: a sun over a hill."""
    r = size * 0.16
    draw.ellipse(_xy(x + size * 0.55 - r, y, x + size * 0.55 + r, y + 2 * r), fill=sun)
    draw.polygon(
        _xy(x, y + size * 0.8, x + size * 0.42, y + size * 0.25, x + size, y + size * 0.8),
        fill=ink,
    )


def draw_mug() -> Image.Image:
    image, draw = _canvas("#dde8df", "#e9f1ea")
    _shadow(image, (240, 455, 560, 500))
    draw = ImageDraw.Draw(image)
    navy = "#27466b"
    # Handle: a thick ring, its inner part the background colour again.
    draw.ellipse(_xy(445, 215, 575, 385), fill=navy)
    draw.ellipse(_xy(475, 245, 545, 355), fill="#e9f1ea")
    draw.rounded_rectangle(_xy(250, 170, 490, 475), radius=28 * SCALE, fill="#f7f6f1")
    draw.rectangle(_xy(250, 170, 490, 195), fill=navy)  # the enamel rim
    draw.rounded_rectangle(_xy(250, 455, 490, 475), radius=10 * SCALE, fill="#d9dbd6")
    # A gentle highlight down the left side.
    draw.rounded_rectangle(_xy(272, 215, 290, 430), radius=9 * SCALE, fill="#ffffff")
    _hill_logo(draw, 330, 280, 80, "#3d7a55", "#e7a93b")
    return image


def draw_beanie() -> Image.Image:
    image, draw = _canvas("#f2e4d4", "#f8ede1")
    _shadow(image, (215, 450, 585, 495))
    draw = ImageDraw.Draw(image)
    rust, rust_dark, rust_light = "#b3532e", "#97411f", "#c9683f"
    draw.ellipse(_xy(365, 85, 435, 155), fill=rust_light)  # pom-pom
    draw.ellipse(_xy(380, 95, 405, 120), fill="#d98560")
    draw.pieslice(_xy(225, 130, 575, 480), 180, 360, fill=rust)  # crown
    draw.rectangle(_xy(225, 303, 575, 340), fill=rust)
    for index in range(1, 8):  # knitted ribs
        x = 225 + index * 350 / 8
        bend = (x - 400) * 0.35
        draw.line(_xy(x, 330, x - bend * 0.2, 250, x - bend, 170), fill=rust_dark, width=4 * SCALE)
    draw.rounded_rectangle(_xy(205, 330, 595, 455), radius=26 * SCALE, fill=rust_dark)  # cuff
    for index in range(1, 16):
        x = 205 + index * 390 / 16
        draw.line(_xy(x, 342, x, 443), fill="#84381a", width=3 * SCALE)
    return image


def draw_tee() -> Image.Image:
    image, draw = _canvas("#e1e7ef", "#ecf0f6")
    _shadow(image, (250, 480, 550, 520))
    draw = ImageDraw.Draw(image)
    navy = "#22365c"
    body = [
        (320, 105), (355, 95), (445, 95), (480, 105),  # shoulders
        (600, 175), (560, 265), (515, 240),  # right sleeve
        (515, 495), (285, 495),  # hem
        (285, 240), (240, 265), (200, 175),  # left sleeve
    ]
    draw.polygon(_xy(*[value for point in body for value in point]), fill=navy)
    draw.chord(_xy(350, 55, 450, 140), 0, 180, fill="#e6ebf2")  # neckline
    draw.arc(_xy(345, 50, 455, 145), 0, 180, fill="#31497a", width=8 * SCALE)
    draw.line(_xy(515, 240, 515, 495), fill="#1b2c4c", width=3 * SCALE)
    draw.line(_xy(285, 240, 285, 495), fill="#1b2c4c", width=3 * SCALE)
    _hill_logo(draw, 360, 230, 80, "#f1f4f8", "#e7a93b")
    return image


def draw_map_print() -> Image.Image:
    image, draw = _canvas("#ebe9e3", "#f3f1ec")
    _shadow(image, (225, 470, 575, 505))
    draw = ImageDraw.Draw(image)
    draw.rectangle(_xy(215, 70, 585, 480), fill="#6b4a2f")  # frame
    draw.rectangle(_xy(235, 90, 565, 460), fill="#fbfaf6")  # mount
    left, top, right, bottom = 265, 120, 535, 430
    draw.rectangle(_xy(left, top, right, bottom), fill="#f1ead6")  # the map
    # Contour lines around two summits.
    for cx, cy, rings, colour in ((355, 230, 5, "#8aa878"), (470, 350, 4, "#b59a6a")):
        for ring in range(rings, 0, -1):
            rx, ry = ring * 17, ring * 13
            draw.ellipse(_xy(cx - rx, cy - ry, cx + rx, cy + ry), outline=colour, width=2 * SCALE)
    # A dashed red trail from the valley to both tops.
    points = [(280, 415), (320, 360), (350, 300), (355, 230), (420, 290), (470, 350)]
    for (x1, y1), (x2, y2) in zip(points, points[1:], strict=False):
        steps = max(1, int(math.dist((x1, y1), (x2, y2)) // 12))
        for step in range(0, steps, 2):
            a, b = step / steps, min(1, (step + 1) / steps)
            draw.line(
                _xy(x1 + (x2 - x1) * a, y1 + (y2 - y1) * a, x1 + (x2 - x1) * b, y1 + (y2 - y1) * b),
                fill="#c0392b",
                width=4 * SCALE,
            )
    for x, y in (points[3], points[5]):
        draw.ellipse(_xy(x - 7, y - 7, x + 7, y + 7), fill="#c0392b")
    return image


def draw_tote() -> Image.Image:
    image, draw = _canvas("#d8ebe6", "#e6f3ef")
    _shadow(image, (235, 470, 565, 510))
    draw = ImageDraw.Draw(image)
    strap = "#b89f72"
    draw.arc(_xy(285, 70, 395, 300), 180, 360, fill=strap, width=16 * SCALE)
    draw.arc(_xy(405, 70, 515, 300), 180, 360, fill=strap, width=16 * SCALE)
    draw.polygon(_xy(240, 185, 560, 185, 580, 490, 220, 490), fill="#eadfc4")
    draw.rectangle(_xy(240, 185, 560, 205), fill="#dccfae")  # hem at the top
    for x in (340, 460):
        draw.rectangle(_xy(x - 12, 185, x + 12, 250), fill=strap)  # strap stitched on
    _hill_logo(draw, 350, 300, 100, "#2f6b4f", "#e7a93b")
    return image


PICTURES: dict[str, tuple[Callable[[], Image.Image], str]] = {
    "enamel-camp-mug": (draw_mug, "A white enamel mug with a blue rim and the hilltop logo"),
    "merino-beanie": (draw_beanie, "A rust-coloured ribbed beanie with a pom-pom"),
    "organic-cotton-tee": (draw_tee, "A navy T-shirt with a small hill and sun logo"),
    "trail-map-print": (draw_map_print, "A framed map with contour lines and a red trail"),
    "canvas-tote": (draw_tote, "A natural canvas tote bag with the hilltop logo"),
}


def demo_picture(slug: str) -> tuple[bytes, str] | None:
    """The demo product's picture as WebP bytes, and its alt text; None for other products."""
    if slug not in PICTURES:
        return None
    draw, description = PICTURES[slug]
    image = draw().resize((WIDTH, HEIGHT), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", quality=82, method=6)
    return buffer.getvalue(), description
