"""What the ground's origin servers serve: deterministic synthetic content with realistic shapes.

Web pages follow the HTTP Archive's medians for mobile pages (about 70 requests and 2 MB per page,
most objects small, a few large images and scripts): here 20-80 objects drawn from a log-normal
size distribution (median 12 kB), seeded by the page number so every run sees the same pages.
Video is an HLS-like ladder of 0.5-5 Mbit/s in segments of SEGMENT_S seconds.
"""

from __future__ import annotations

import random

# HLS-like bitrate ladder (kbit/s): the player picks the highest that its measured throughput
# sustains.
VIDEO_LADDER_KBIT = (500, 1000, 2000, 3000, 5000)
SEGMENT_S = 2.0
VIDEO_SEGMENTS = 300  # a 10-minute programme
PAGES = 1000
CHUNK = b"\x5a" * 65536


def page_objects(page: int) -> list[int]:
    """Object sizes (bytes) of web page `page`."""
    rng = random.Random(page)
    count = rng.randint(20, 80)
    return [min(int(rng.lognormvariate(9.4, 1.2)), 2_000_000) + 200 for _ in range(count)]


def page_html(page: int, cdn_host: str) -> bytes:
    """The page's HTML: about 30-60 kB of markup that references its objects on the CDN."""
    rng = random.Random(-page)
    refs = "\n".join(f'<img src="http://{cdn_host}/obj/{size}?p={page}&i={i}">' for i, size in enumerate(page_objects(page)))
    filler = "<p>" + "lorem ipsum dolor sit amet " * rng.randint(1000, 2000) + "</p>"
    return f"<html><head><title>page {page}</title></head><body>{refs}\n{filler}</body></html>".encode()


def segment_bytes(kbit: int) -> int:
    return int(kbit * 1000 / 8 * SEGMENT_S)


def master_playlist(video_host: str) -> str:
    lines = ["#EXTM3U"]
    for kbit in VIDEO_LADDER_KBIT:
        lines += [f"#EXT-X-STREAM-INF:BANDWIDTH={kbit * 1000}", f"http://{video_host}/hls/{kbit}/index.m3u8"]
    return "\n".join(lines) + "\n"


def media_playlist(kbit: int) -> str:
    lines = ["#EXTM3U", f"#EXT-X-TARGETDURATION:{int(SEGMENT_S)}", "#EXT-X-MEDIA-SEQUENCE:0"]
    for n in range(VIDEO_SEGMENTS):
        lines += [f"#EXTINF:{SEGMENT_S:.1f},", f"seg{n}.ts"]
    return "\n".join(lines + ["#EXT-X-ENDLIST"]) + "\n"
