"""Draw the HwC Inbox app icons as PNG files, using only the standard library.

A white heart on a rounded square in the theme colour: simple enough to read at 32 px, warm enough
for what the app is about. Run from anywhere: ``python static/icons/make_icons.py``. The PNGs are
committed; rerun only when the design changes.

- ``icon-192.png``, ``icon-512.png``: purpose "any" — rounded square, transparent corners.
- ``icon-maskable-192.png``, ``icon-maskable-512.png``: purpose "maskable" — full-bleed colour,
  heart inside the central safe zone (a circle of 40 % radius) so any mask shape keeps it whole.
- ``apple-touch-icon.png`` (180 px): full-bleed and opaque; iOS rounds the corners itself and
  would paint transparent corners black.
- ``favicon-32.png``: rounded square with a larger heart so it stays legible.
"""
from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
THEME = (0x0B, 0x6E, 0x4F)
WHITE = (0xFF, 0xFF, 0xFF)
SAMPLES = 4  # supersampling per axis, for smooth edges


def png_bytes(width: int, height: int, rows: list[bytes]) -> bytes:
    """Encode RGBA rows as a PNG (colour type 6, 8 bits, no interlace)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 on every row
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def in_heart(x: float, y: float) -> bool:
    """The classic heart curve (x²+y²-1)³ - x²y³ ≤ 0; spans x ±1.14, y -1..1.24."""
    a = x * x + y * y - 1.0
    return a * a * a - x * x * y * y * y <= 0.0


def in_rounded_square(px: float, py: float, size: float, radius: float) -> bool:
    cx = min(max(px, radius), size - radius)
    cy = min(max(py, radius), size - radius)
    return (px - cx) ** 2 + (py - cy) ** 2 <= radius * radius


def draw(size: int, *, full_bleed: bool, heart_width: float) -> bytes:
    """heart_width: the heart's width as a fraction of the icon size."""
    radius = size * 0.22
    scale = 2.28 / (heart_width * size)  # heart units per pixel
    mid_y = 0.12  # vertical middle of the heart in heart units (between -1 and 1.24)
    rows = []
    n = SAMPLES
    offsets = [(i + 0.5) / n for i in range(n)]
    for y in range(size):
        row = bytearray()
        for x in range(size):
            bg = heart = 0
            for oy in offsets:
                py = y + oy
                hy = (size / 2 - py) * scale + mid_y
                for ox in offsets:
                    px = x + ox
                    if full_bleed or in_rounded_square(px, py, size, radius):
                        bg += 1
                        if in_heart((px - size / 2) * scale, hy):
                            heart += 1
            total = n * n
            alpha = bg / total
            if bg == 0:
                row += b"\x00\x00\x00\x00"
                continue
            t = heart / bg  # share of the covered area that is heart
            rgb = [round(THEME[i] * (1 - t) + WHITE[i] * t) for i in range(3)]
            row += bytes(rgb) + bytes([round(alpha * 255)])
        rows.append(bytes(row))
    return png_bytes(size, size, rows)


ICONS = {
    # name: (size, full_bleed, heart width as share of the size)
    "icon-192.png": (192, False, 0.56),
    "icon-512.png": (512, False, 0.56),
    "icon-maskable-192.png": (192, True, 0.46),
    "icon-maskable-512.png": (512, True, 0.46),
    "apple-touch-icon.png": (180, True, 0.56),
    "favicon-32.png": (32, False, 0.70),
}


def main(out_dir: Path = HERE) -> None:
    for name, (size, full_bleed, width) in ICONS.items():
        (out_dir / name).write_bytes(draw(size, full_bleed=full_bleed, heart_width=width))
        print(f"wrote {name} ({size}x{size})")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
