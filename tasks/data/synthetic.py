"""Procedural datasets for the three tasks: shapes to classify, scenes to segment, stick figures to pose.

They are the zoo's default data, so a bench needs no download. Every item is drawn on the fly from
`np.random.default_rng([seed, index])`, which makes an item depend only on (seed, index): any length,
any image size, the same pixels in every process and worker. They are learnable but not trivial:
a class is told by its outline, never by its colour (colours are random, shapes rotate, scale and
stretch), and clutter, texture and noise sit on top. Items are numpy arrays (HxWx3 uint8 images),
the same item types as the real-format readers in `formats.py`, so one transform serves both.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw
from torch.utils.data import Dataset

from tasks.data.common import flip_pairs_from_names, inside_image

_SUPERSAMPLED_SIZE = 256  # layers are drawn at up to 4x, about this size, and box-filtered down


def _regular(sides: int, phase: float = 0.0) -> np.ndarray:
    """Vertices of a regular polygon with circumradius 1, centred at the origin."""
    angles = phase + 2 * math.pi * np.arange(sides) / sides
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _star(points: int, inner: float) -> np.ndarray:
    """Vertices of a star with outer radius 1 and inner radius `inner`, pointing up."""
    radii = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return _regular(2 * points, phase=-math.pi / 2) * radii[:, None]


def _rotation(angle: float) -> np.ndarray:
    """2x2 matrix that rotates column vectors by `angle` radians (clockwise on screen, y down)."""
    return np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])


def _turns(points: np.ndarray, copies: int) -> np.ndarray:
    """`points` followed by its copies turned by 1/copies of a turn, 2/copies, ..."""
    return np.concatenate([points @ _rotation(2 * math.pi * k / copies) for k in range(copies)])


def _mirrored(half: np.ndarray) -> np.ndarray:
    """Close a polygon whose last vertex lies on the x axis with its mirror image below it."""
    return np.concatenate([half, half[-2::-1] * [1, -1]])


_CIRCLE = _regular(48)

# Unit outlines: (filled polygons, holes cut out of them). Circumradius about 1.
SHAPES: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {
    "circle": ([_CIRCLE], []),
    "square": ([_regular(4, phase=math.pi / 4)], []),
    "triangle": ([_regular(3, phase=-math.pi / 2)], []),
    "star": ([_star(5, inner=0.45)], []),
    "cross": ([_turns(np.array([[-0.3, 1], [0.3, 1], [0.3, 0.3]]), 4)], []),
    "ring": ([_CIRCLE], [_CIRCLE * 0.55]),
    "ellipse": ([_CIRCLE * np.array([1.0, 0.55])], []),
    "hexagon": ([_regular(6)], []),
    "arrow": ([_mirrored(np.array([[-1, -0.25], [0.1, -0.25], [0.1, -0.65], [1, 0]]))], []),
    "crescent": ([_CIRCLE], [_CIRCLE * 0.85 + np.array([0.45, 0.0])]),
}


class _Layer:
    """A transparent drawing surface, drawn at up to 4x resolution and blended onto an image.

    Box-filtering the large drawing gives each pixel a coverage in [0, 1]: it anti-aliases the edges,
    and the segmentation masks threshold it at 0.5 so that the mask matches what the image shows.
    The factor shrinks for large images to keep the cost per item flat. Coordinates are in output
    pixels (pixel centres at integers).
    """

    def __init__(self, size: int) -> None:
        self.factor = max(1, min(4, _SUPERSAMPLED_SIZE // size))
        self.rgba = Image.new("RGBa", (size * self.factor,) * 2)  # premultiplied: reduce needs no conversion
        self.draw = ImageDraw.Draw(self.rgba)

    def _scaled(self, points: np.ndarray) -> list[tuple[float, float]]:
        return [tuple(p) for p in (np.asarray(points) * self.factor + (self.factor - 1) / 2).tolist()]

    def polygon(self, points: np.ndarray, colour: np.ndarray | None) -> None:
        """Fill a polygon; colour None erases (cuts a hole)."""
        fill = (0, 0, 0, 0) if colour is None else (*(int(c) for c in colour), 255)
        self.draw.polygon(self._scaled(points), fill=fill)

    def line(self, points: np.ndarray, width: float, colour: np.ndarray) -> None:
        """Draw a polyline `width` pixels thick with round joints."""
        fill = (*(int(c) for c in colour), 255)
        self.draw.line(self._scaled(points), fill=fill, width=max(1, round(width * self.factor)), joint="curve")

    def disc(self, centre: np.ndarray, radius: float, colour: np.ndarray) -> None:
        """Fill a disc of `radius` pixels."""
        self.polygon(centre + _CIRCLE * radius, colour)

    def shape(
        self, name: str, centre: np.ndarray, radius: float, angle: float, stretch: float, colour: np.ndarray
    ) -> None:
        """Draw a shape of SHAPES, squeezed by `stretch` along its own y axis, rotated and scaled."""
        rotation = _rotation(angle)
        filled, holes = SHAPES[name]
        for polygon, fill in [(p, colour) for p in filled] + [(h, None) for h in holes]:
            self.polygon(centre + (polygon * [1.0, stretch]) @ rotation.T * radius, fill)

    def blend_onto(self, image: np.ndarray) -> np.ndarray:
        """Blend the layer onto `image` (float HxWx3, in place) and return the coverage (HxW, 0..1)."""
        small = np.asarray(self.rgba.reduce(self.factor), dtype=np.float32)
        alpha = small[..., 3:] / 255.0
        image *= 1.0 - alpha
        image += small[..., :3]
        return alpha[..., 0]


def _tone(rng: np.random.Generator, dark: bool) -> np.ndarray:
    """A random colour pulled towards black (dark: channels <= 102) or white (light: channels >= 153)."""
    colour = rng.uniform(0, 255, 3)
    amount = rng.uniform(0.0, 0.4)
    return colour * amount if dark else 255 - (255 - colour) * amount


def _background(rng: np.random.Generator, size: int, dark: bool) -> np.ndarray:
    """A smooth two-tone texture (coarse and fine random fields blended), float HxWx3."""
    field = np.zeros((size, size), np.float32)
    for cells, weight in ((rng.integers(2, 6), 0.75), (max(2, size // 6), 0.25)):
        grid = rng.random((cells, cells), dtype=np.float32)
        field += weight * np.asarray(Image.fromarray(grid).resize((size, size), Image.BILINEAR))
    first, second = _tone(rng, dark), _tone(rng, dark)
    return first + (second - first) * field[..., None]


def _clutter(rng: np.random.Generator, image: np.ndarray, count: int, max_width: float, max_blob: float) -> None:
    """Draw `count` distractors onto `image`: straight lines and small blobs of any tone, at least half a
    pixel wide (so that 16-pixel images, whose `max_width` is below that, work)."""
    size = image.shape[0]
    layer = _Layer(size)
    for _ in range(count):
        colour = _tone(rng, dark=bool(rng.random() < 0.5))
        start = rng.uniform(0, size, 2)
        if rng.random() < 0.5:
            end = start + rng.normal(0, 0.25 * size, 2)
            layer.line(np.stack([start, end]), rng.uniform(0.5, max(0.5, max_width)), colour)
        else:
            layer.disc(start, rng.uniform(0.5, max(0.5, max_blob)), colour)
    layer.blend_onto(image)


def _finish(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Add sensor-like Gaussian noise and convert to uint8."""
    image += rng.normal(0.0, rng.uniform(2.0, 10.0), image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


class _Procedural(Dataset):
    """Base of the synthetic sets: length, size and seed checks, and the per-item generator.

    Subclasses implement `_generate(rng)`; item `index` always uses `default_rng([seed, index])`.
    """

    min_size = 16

    def __init__(self, length: int, image_size: int, seed: int) -> None:
        if length < 0:
            raise ValueError(f"length must be >= 0, got {length}")
        if image_size < self.min_size:
            raise ValueError(f"image_size must be >= {self.min_size} for {type(self).__name__}, got {image_size}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.length, self.image_size, self.seed = length, image_size, seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {type(self).__name__} of length {self.length}")
        return self._generate(np.random.default_rng([self.seed, index]))

    def _generate(self, rng: np.random.Generator) -> tuple:
        raise NotImplementedError


class SyntheticShapes(_Procedural):
    """Classification: one shape of 10 classes (see `class_names`) per image, on clutter.

    The shape has a random colour, rotation, scale, stretch and position on a textured background,
    with thin lines and small dots as distractors. Item: (image HxWx3 uint8, label int).
    """

    class_names: tuple[str, ...] = tuple(SHAPES)
    num_classes = len(class_names)

    def __init__(self, length: int, image_size: int = 32, seed: int = 0) -> None:
        super().__init__(length, image_size, seed)

    def _generate(self, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        size = self.image_size
        dark = bool(rng.random() < 0.5)
        image = _background(rng, size, dark)
        _clutter(rng, image, int(rng.integers(2, 6)), max_width=0.03 * size, max_blob=0.05 * size)
        label = int(rng.integers(self.num_classes))
        radius = rng.uniform(0.22, 0.42) * size
        layer = _Layer(size)
        layer.shape(
            self.class_names[label],
            rng.uniform(0.8 * radius, size - 0.8 * radius, 2),
            radius,
            angle=rng.uniform(0, 2 * math.pi),
            stretch=rng.uniform(0.85, 1.0),
            colour=_tone(rng, not dark),
        )
        layer.blend_onto(image)
        return _finish(rng, image), label


class SyntheticScenes(_Procedural):
    """Segmentation: 3 to 6 overlapping shapes of 5 classes on a textured background.

    Later shapes occlude earlier ones in both the image and the mask; a ring's hole shows what lies
    beneath. Item: (image HxWx3 uint8, mask HxW uint8) with 0 = background and 1..5 the classes of
    `class_names[1:]`; a mask pixel takes a shape's class where the shape covers >= half the pixel.
    """

    class_names: tuple[str, ...] = ("background", "circle", "square", "triangle", "star", "ring")
    num_classes = len(class_names)

    def __init__(self, length: int, image_size: int = 64, seed: int = 0) -> None:
        super().__init__(length, image_size, seed)

    def _generate(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        size = self.image_size
        dark = bool(rng.random() < 0.5)
        image = _background(rng, size, dark)
        mask = np.zeros((size, size), np.uint8)
        for _ in range(rng.integers(3, 7)):
            label = int(rng.integers(1, self.num_classes))
            layer = _Layer(size)
            layer.shape(
                self.class_names[label],
                rng.uniform(0, size, 2),
                rng.uniform(0.12, 0.25) * size,
                angle=rng.uniform(0, 2 * math.pi),
                stretch=rng.uniform(0.85, 1.0),
                colour=_tone(rng, not dark),
            )
            mask[layer.blend_onto(image) >= 0.5] = label
        return _finish(rng, image), mask


JOINT_NAMES: tuple[str, ...] = (
    "head_top",
    "neck",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "pelvis",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)


def _ids(*names: str) -> list[int]:
    return [JOINT_NAMES.index(name) for name in names]


_ARMS = (_ids("left_shoulder", "left_elbow", "left_wrist"), _ids("right_shoulder", "right_elbow", "right_wrist"))
_LEGS = (_ids("left_hip", "left_knee", "left_ankle"), _ids("right_hip", "right_knee", "right_ankle"))
_TORSO = _ids("left_shoulder", "right_shoulder", "right_hip", "left_hip")
_SPINE = _ids("neck", "pelvis")


class SyntheticFigures(_Procedural):
    """Pose: one front-facing articulated stick figure with 15 joints (`joint_names`) per image.

    Pose angles, tilt, scale, position, limb thickness and colours are random; lines and blobs clutter
    the background. The figure faces the viewer, so its left side is on the image's right: that, and
    not colour, tells left from right, and it survives a horizontal flip that swaps `flip_pairs`.
    Half the figures are partly hidden by an occluder patch. A joint under the occluder or outside the
    image has visibility 0; its coordinates are still given. Item: (image HxWx3 uint8,
    keypoints float32 (K, 2) xy pixels, visibility float32 (K,)).
    """

    joint_names = JOINT_NAMES
    num_joints = len(JOINT_NAMES)
    flip_pairs = flip_pairs_from_names(JOINT_NAMES)
    skeleton = [
        tuple(_ids(*pair))
        for pair in (
            ("head_top", "neck"),
            ("neck", "left_shoulder"),
            ("neck", "right_shoulder"),
            ("left_shoulder", "left_elbow"),
            ("left_elbow", "left_wrist"),
            ("right_shoulder", "right_elbow"),
            ("right_elbow", "right_wrist"),
            ("neck", "pelvis"),
            ("pelvis", "left_hip"),
            ("pelvis", "right_hip"),
            ("left_hip", "left_knee"),
            ("left_knee", "left_ankle"),
            ("right_hip", "right_knee"),
            ("right_knee", "right_ankle"),
        )
    ]

    def __init__(self, length: int, image_size: int = 64, seed: int = 0) -> None:
        super().__init__(length, image_size, seed)

    def _pose(self, rng: np.random.Generator) -> np.ndarray:
        """Joint coordinates (K, 2) in units of figure height, pelvis at the origin, y down."""
        tilt = rng.uniform(-0.45, 0.45)
        up = np.array([math.sin(tilt), -math.cos(tilt)])
        side = np.array([math.cos(tilt), math.sin(tilt)])  # towards the figure's left = image right
        joints = {"pelvis": np.zeros(2)}
        joints["neck"] = up * rng.uniform(0.27, 0.33)
        joints["head_top"] = joints["neck"] + _rotation(rng.uniform(-0.3, 0.3)) @ up * 0.2

        def direction(sign: float, angle: float) -> np.ndarray:  # angle 0 = down, pi/2 = outwards
            return -up * math.cos(angle) + side * sign * math.sin(angle)

        for prefix, sign in (("left_", 1.0), ("right_", -1.0)):
            shoulder = joints["neck"] + side * sign * rng.uniform(0.09, 0.13)
            upper, bend = rng.uniform(-0.4, 2.6), rng.uniform(-1.5, 2.0)
            elbow = shoulder + direction(sign, upper) * rng.uniform(0.14, 0.17)
            wrist = elbow + direction(sign, upper + bend) * rng.uniform(0.13, 0.16)
            hip = side * sign * rng.uniform(0.06, 0.09)
            thigh, knee_bend = rng.uniform(-0.35, 1.0), rng.uniform(-1.2, 0.2)
            knee = hip + direction(sign, thigh) * rng.uniform(0.2, 0.24)
            ankle = knee + direction(sign, thigh + knee_bend) * rng.uniform(0.19, 0.23)
            for part, point in zip(
                ("shoulder", "elbow", "wrist", "hip", "knee", "ankle"),
                (shoulder, elbow, wrist, hip, knee, ankle),
                strict=True,
            ):
                joints[prefix + part] = point
        return np.stack([joints[name] for name in JOINT_NAMES])

    def _generate(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        size = self.image_size
        dark = bool(rng.random() < 0.5)
        image = _background(rng, size, dark)
        _clutter(rng, image, int(rng.integers(3, 9)), max_width=0.04 * size, max_blob=0.08 * size)

        height = rng.uniform(0.55, 0.95) * size
        pelvis = np.array([rng.uniform(0.25, 0.75), rng.uniform(0.45, 0.6)]) * size
        keypoints = (self._pose(rng) * height + pelvis).astype(np.float32)
        self._draw(rng, keypoints, height, _tone(rng, not dark)).blend_onto(image)

        visible = inside_image(keypoints, size, size)
        if rng.random() < 0.5:
            occluder = _Layer(size)
            centre = keypoints[rng.integers(self.num_joints)] + rng.normal(0, 0.1 * size, 2)
            corner = rng.uniform(0.08, 0.2, 2) * size
            occluder.polygon(
                centre + corner * np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]),
                _tone(rng, dark=bool(rng.random() < 0.5)),
            )
            covered = occluder.blend_onto(image) >= 0.5
            pixel = np.clip(np.rint(keypoints).astype(int), 0, size - 1)
            visible &= ~covered[pixel[:, 1], pixel[:, 0]]
        return _finish(rng, image), keypoints, visible.astype(np.float32)

    def _draw(self, rng: np.random.Generator, joints: np.ndarray, height: float, base: np.ndarray) -> _Layer:
        """Draw the figure (legs, torso, head, then arms in front) on a new layer."""
        layer = _Layer(self.image_size)
        width = rng.uniform(0.035, 0.07) * height

        def colour() -> np.ndarray:
            return np.clip(base + rng.normal(0, 25, 3), 0, 255)

        for leg in _LEGS:
            layer.line(joints[leg], width * 1.2, colour())
        layer.polygon(joints[_TORSO], colour())
        layer.line(joints[_SPINE], width, colour())
        neck, top = joints[_ids("neck", "head_top")]
        layer.disc(neck + 0.6 * (top - neck), 0.4 * float(np.linalg.norm(top - neck)), colour())
        for arm in _ARMS:
            layer.line(joints[arm], width, colour())
        return layer
