#!/usr/bin/python3
"""Checks a dqt_report page as Chromium rendered it: the DOM Chromium dumped (every plot an SVG
with data, one line per series) and the screenshot (each plot colour really painted).
Usage: report_check.py DOM.html SCREENSHOT.png KIND...   (KIND: plots that must hold data)"""
import html.parser
import struct
import sys
import zlib


class PlotCollector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.plots = {}  # data-plot -> {"points": int, "lines": [points per series]}
        self.current = None
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "svg" and "data-plot" in a:
            self.current = a["data-plot"]
            self.plots[self.current] = {"points": int(a["data-points"]), "lines": []}
        elif self.current and (tag in ("polyline", "circle") and a.get("class") == "series" or
                               tag == "rect" and a.get("class") == "bar"):
            n = len(a["points"].split()) if tag == "polyline" else 1
            self.plots[self.current]["lines"].append(n)

    def handle_endtag(self, tag):
        if tag == "svg":
            self.current = None


def read_png(path):
    """(width, height, rows of RGB tuples) of an 8-bit RGB or RGBA non-interlaced PNG."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, f"unsupported PNG {header}"
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    rows = []
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def main():
    dom_path, png_path, required = sys.argv[1], sys.argv[2], sys.argv[3:]
    collector = PlotCollector()
    collector.feed(open(dom_path, encoding="utf-8").read())
    failures = []
    for kind in required:
        plot = collector.plots.get(kind)
        if plot is None:
            failures.append(f"plot {kind}: missing from the DOM")
        elif plot["points"] == 0 or not plot["lines"] or min(plot["lines"]) < 1:
            failures.append(f"plot {kind}: no data drawn ({plot})")
    for element in ("status", "facts", "config"):
        if element not in collector.ids:
            failures.append(f"element #{element} missing from the DOM")
    # Colours of the page (launch/report_html.cc's palettes), one per quantity: each must be
    # painted.
    colours = {"loss (train)": (0x1f, 0x77, 0xb4), "held-out loss": (0xff, 0x7f, 0x0e),
               "learning rate": (0x2c, 0xa0, 0x2c), "gradient norm": (0xd6, 0x27, 0x28),
               "tokens/s": (0x94, 0x67, 0xbd), "first layer type (3 health plots)": (0x8c, 0x56, 0x4b),
               "memory bars": (0x9e, 0xca, 0xe1)}
    # Legend squares are 10 x 10 pixels: a colour counts as drawn well above one square per plot.
    needed = {name: 150 for name in colours}
    needed["first layer type (3 health plots)"] = 600
    width, height, bpp, rows = read_png(png_path)
    counts = dict.fromkeys(colours, 0)
    for row in rows:
        for x in range(0, width * bpp, bpp):
            px = (row[x], row[x + 1], row[x + 2])
            for name, c in colours.items():
                if abs(px[0] - c[0]) + abs(px[1] - c[1]) + abs(px[2] - c[2]) < 40:
                    counts[name] += 1
    for name, n in counts.items():
        if n < needed[name]:
            failures.append(f"screenshot: {name} colour covers {n} pixels, expected a drawn line")
    print(f"DOM: {len(collector.plots)} plots " +
          ", ".join(f"{k} {v['points']} points in {len(v['lines'])} series"
                    for k, v in collector.plots.items()))
    print(f"screenshot {width}x{height}: pixels per plot colour " +
          ", ".join(f"{k} {v}" for k, v in counts.items()))
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
