"""A second embedded task, of another character than digits: ten small printed symbols, photographed.

Where camera-digits asks which handwritten stroke pattern a crop holds, here the classes are geometry: a disc
against a hexagon, a ring against a disc, a plus against an x (the same strokes turned 45 degrees), a frame
against a diamond outline. Each symbol is drawn with PIL at a random size (a third to three quarters of the
crop), place, turn (up to 20 degrees), stroke width and line weight, often beside a clipped piece of another
symbol and a stray line, then photographed by the same camera as camera-digits (``rayjob.data.camera``:
colours, light, blur, resolution, noise, JPEG). Every image is its own draw; no two share a rendering.

Generated offline with a fixed seed, written once as an ImageFolder under ``<cache_dir>/camera-shapes-v1``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from rayjob.data.camera import SIZE, photographed

DATASET_NAME = "camera-shapes-v1"
PER_CLASS = {"train": 100, "val": 40, "test": 100}  # 1,000 train / 400 val / 1,000 test images
SCALE = 4  # symbols are drawn at SCALE x SIZE and reduced: smooth edges
SEED = 0

Point = tuple[float, float]


def _polygon(corners: int, start: float = -90.0) -> list[Point]:
    return [(math.cos(math.radians(start + 360 * i / corners)), math.sin(math.radians(start + 360 * i / corners)))
            for i in range(corners)]  # fmt: skip


def _star() -> list[Point]:
    outer, inner = _polygon(5), _polygon(5, start=-54.0)
    return [p for pair in zip(outer, [(0.45 * x, 0.45 * y) for x, y in inner], strict=True) for p in pair]


def _bars(angle: float) -> list[list[Point]]:
    """Two crossing bars (a plus at 0 degrees, an x at 45), as polygons on the unit square."""
    bars = []
    for turn in (angle, angle + 90.0):
        c, s = math.cos(math.radians(turn)), math.sin(math.radians(turn))
        half_w = 0.22
        corners = [(-1.0, -half_w), (1.0, -half_w), (1.0, half_w), (-1.0, half_w)]
        bars.append([(x * c - y * s, x * s + y * c) for x, y in corners])
    return bars


# class name -> (filled polygons, outlined polygons, circles: True filled), in units of the symbol's radius
SHAPES: dict[str, tuple[list[list[Point]], list[list[Point]], list[bool]]] = {
    "disc": ([], [], [True]),
    "ring": ([], [], [False]),
    "square": ([_polygon(4, 45.0)], [], []),
    "frame": ([], [_polygon(4, 45.0)], []),
    "diamond": ([], [_polygon(4, 0.0)], []),
    "triangle": ([_polygon(3)], [], []),
    "plus": (_bars(0.0), [], []),
    "cross": (_bars(45.0), [], []),
    "star": ([_star()], [], []),
    "hexagon": ([_polygon(6)], [], []),
}


def write_camera_shapes(root: Path) -> None:
    """Render the three splits as PNG files under ``root/{train,val,test}/<shape>/``."""
    rng = np.random.default_rng(SEED)
    names = list(SHAPES)
    for split, count in PER_CLASS.items():
        for name in names:
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                neighbour = names[int(rng.integers(len(names)))]
                Image.fromarray(render(name, neighbour, rng)).save(folder / f"{index:04d}.png")


def render(name: str, neighbour: str, rng: np.random.Generator) -> np.ndarray:
    """One photographed crop of the symbol ``name`` as (SIZE, SIZE, 3) uint8 pixels."""
    canvas = Image.new("L", (SIZE * SCALE, SIZE * SCALE))
    draw = ImageDraw.Draw(canvas)
    radius = rng.uniform(0.17, 0.38) * SIZE
    centre = SIZE / 2 + rng.uniform(-4, 4, size=2)
    _draw(draw, name, centre, radius, rng.uniform(-20, 20), rng.uniform(0.12, 0.3))
    if rng.random() < 0.5:  # a clipped piece of another symbol at the left or right edge
        side = rng.choice([-1.0, 1.0])
        spot = np.array([SIZE / 2 + side * rng.uniform(19, 25), SIZE / 2 + rng.uniform(-6, 6)])
        _draw(draw, neighbour, spot, rng.uniform(0.17, 0.38) * SIZE, rng.uniform(-20, 20), rng.uniform(0.12, 0.3))
    if rng.random() < 0.4:  # a stray line across the crop
        ends = rng.uniform(0, SIZE * SCALE, size=4)
        draw.line([(ends[0], ends[1]), (ends[2], ends[3])], fill=255, width=int(rng.integers(2, 6)))
    small = canvas.resize((SIZE, SIZE), Image.BOX)
    return photographed(np.asarray(small, dtype=np.float64) / 255.0, rng)


def _draw(draw: ImageDraw.ImageDraw, name: str, centre: np.ndarray, radius: float, turn: float, stroke: float) -> None:
    """Draw ``name`` at ``centre`` (crop pixels), ``radius`` pixels, turned ``turn`` degrees, on the big canvas."""
    filled, outlined, discs = SHAPES[name]
    c, s = math.cos(math.radians(turn)), math.sin(math.radians(turn))
    width = max(1, round(stroke * radius * SCALE))

    def placed(points: list[Point]) -> list[Point]:
        return [((centre[0] + radius * (x * c - y * s)) * SCALE, (centre[1] + radius * (x * s + y * c)) * SCALE)
                for x, y in points]  # fmt: skip

    for polygon in filled:
        draw.polygon(placed(polygon), fill=255)
    for polygon in outlined:
        corners = placed(polygon)
        draw.line([*corners, corners[0], corners[1]], fill=255, width=width, joint="curve")
    for full in discs:
        box = [(centre[0] - radius) * SCALE, (centre[1] - radius) * SCALE,
               (centre[0] + radius) * SCALE, (centre[1] + radius) * SCALE]  # fmt: skip
        if full:
            draw.ellipse(box, fill=255)
        else:
            draw.ellipse(box, outline=255, width=width)
