"""Movies of a `Solution`'s snapshots: MP4 (H.264, through the ffmpeg binary that the
imageio-ffmpeg wheel ships) or GIF (Pillow), or an embedded video for a notebook."""

import contextlib
import math
import os
import pathlib
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from fractions import Fraction
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Colormap
from matplotlib.figure import Figure

from ..solve import Solution
from ..tissue import Grid
from ._labels import axis_label, centres, grid_of, state_label, state_name, time_stamp
from ._maps import colormap, draw_map, label_plane, masked, planes, shade_1d
from ._plots import panel_height

FORMATS = {".mp4": "MP4 (H.264)", ".gif": "GIF"}
"""The movie formats `animate` writes, by file suffix."""

_BLOCK = 16  # frame sizes in pixels are multiples of this: what H.264 encoders work in


def _check_path(path: object) -> pathlib.Path | None:
    if path is None:
        return None
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a file name or None, got {type(path).__name__}.")
    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        supported = ", ".join(f"{s} ({what})" for s, what in FORMATS.items())
        raise ValueError(
            f"Cannot write a movie to {path.name!r}: the suffix {path.suffix or '(none)'!r} is "
            f"not a supported format. Supported: {supported}."
        )
    if not path.parent.is_dir():
        raise FileNotFoundError(f"Cannot write {path}: the folder {path.parent} does not exist.")
    return path


def _positive(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {value!r}.")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be positive and finite, got {value}.")
    return float(value)


def _count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {value!r}.")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}.")
    return value


def _inches(pixels_wanted: float, dpi: int) -> float:
    """A length in inches that is a whole number of `_BLOCK`-pixel blocks at ``dpi``."""
    return math.ceil(pixels_wanted / _BLOCK) * _BLOCK / dpi


class _Frames:
    """One figure, drawn once and then updated per frame (new data, new time stamp) and
    rendered by Agg into an RGBA buffer: memory for one frame, whatever the movie's length."""

    def __init__(
        self,
        solution: Solution,
        grid: Grid,
        name: str,
        first: np.ndarray,
        lo: float,
        hi: float,
        cmap: Colormap,
        slices: Sequence[float | int] | None,
        dpi: int,
    ):
        units, mask = solution.units, grid.mask_array()
        label = state_label(solution, name)
        self.mask, self.grid = mask, grid
        if grid.ndim == 1:
            size = (6.4, 3.4)
        elif grid.ndim == 2:
            size = (5.2 + 1.5, panel_height(grid.extent[0], grid.extent[1], 5.2) + 1.2)
        else:
            shown = planes(grid, slices)
            widths = [grid.extent[p.axes[0]] for p in shown]
            heights = [grid.extent[p.axes[1]] for p in shown]
            scale = min(2.6 / max(heights), 9.0 / sum(widths))
            size = (scale * sum(widths) + 2.2, scale * max(heights) + 1.3)
        w, h = (_inches(s * dpi, dpi) for s in size)
        self.fig = fig = Figure(figsize=(w, h), dpi=dpi, layout="constrained")
        self.canvas = FigureCanvasAgg(fig)
        if grid.ndim == 1:
            ax = fig.add_subplot()
            shade_1d(ax, mask, grid.spacing[0])
            (self.line,) = ax.plot(centres(grid, 0), masked(first, mask))
            pad = 0.05 * (hi - lo)
            ax.set(xlabel=axis_label(units, 0), ylabel=label, ylim=(lo - pad, hi + pad))
            ax.set_xlim(0.0, grid.extent[0])
            self.stamp = ax.set_title(time_stamp(units, 0.0))
        elif grid.ndim == 2:
            ax = fig.add_subplot()
            self.images = [draw_map(ax, first, mask, grid.spacing, cmap=cmap, vmin=lo, vmax=hi)]
            ax.set(xlabel=axis_label(units, 0), ylabel=axis_label(units, 1))
            fig.colorbar(self.images[0], ax=ax, label=label)
            self.stamp = ax.set_title(time_stamp(units, 0.0))
        else:
            self.planes = planes(grid, slices)
            widths = [grid.extent[p.axes[0]] for p in self.planes]
            axes = fig.subplots(1, 3, width_ratios=widths)
            self.images = []
            for ax, plane in zip(axes, self.planes, strict=True):
                a, b = plane.axes
                spacing = (grid.spacing[a], grid.spacing[b])
                self.images.append(
                    draw_map(
                        ax,
                        plane.take(first),
                        plane.take(mask),
                        spacing,
                        cmap=cmap,
                        vmin=lo,
                        vmax=hi,
                    )
                )
                label_plane(ax, plane, units)
            fig.colorbar(self.images[0], ax=list(axes), label=label, shrink=0.8)
            self.stamp = fig.suptitle(time_stamp(units, 0.0))
        self.units = units
        self.canvas.draw()
        fig.set_layout_engine("none")  # frozen: every frame the same layout
        # Blitting: what changes (the maps and what is drawn over them: the mask, each map's
        # frame and labels; the line; the time stamp) is left out of a background drawn once;
        # each frame pastes the background back and draws only those, a few times faster
        # than a full redraw.
        self.moving = []
        for ax in fig.axes:
            if ax.images or ax.lines:
                own = [*ax.images, *ax.collections, *ax.lines, *ax.texts, *ax.spines.values()]
                self.moving.append((ax, sorted(own, key=lambda a: a.get_zorder())))
        for _, artists in self.moving:
            for artist in artists:
                artist.set_animated(True)
        self.stamp.set_animated(True)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(fig.bbox)

    def render(self, field: np.ndarray, t: float) -> np.ndarray:
        """The frame at time ``t``: an RGBA image ``(height, width, 4)`` (uint8, a view of the
        canvas: copy it to keep it past the next call)."""
        if self.grid.ndim == 1:
            self.line.set_ydata(masked(field, self.mask))
        elif self.grid.ndim == 2:
            self.images[0].set_data(masked(field, self.mask).T)
        else:
            for image, plane in zip(self.images, self.planes, strict=True):
                image.set_data(masked(plane.take(field), plane.take(self.mask)).T)
        self.stamp.set_text(time_stamp(self.units, t))
        self.canvas.restore_region(self.background)
        for ax, artists in self.moving:
            for artist in artists:
                ax.draw_artist(artist)
        self.fig.draw_artist(self.stamp)
        return np.asarray(self.canvas.buffer_rgba())


@contextlib.contextmanager
def _replacing(path: pathlib.Path) -> Iterator[pathlib.Path]:
    """A temporary file beside ``path`` (same suffix, so writers know the format) that
    replaces ``path`` once the block completes: an interrupted movie never leaves a torn file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        yield pathlib.Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def _write_mp4(path: pathlib.Path, frames: Iterator[np.ndarray], fps: float) -> None:
    try:
        import imageio_ffmpeg
    except ImportError:
        raise ImportError(
            "MP4 movies need the imageio-ffmpeg package (pip install imageio-ffmpeg), which "
            "ships an ffmpeg binary; or write a .gif."
        ) from None
    first = next(frames)
    height, width = first.shape[:2]
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (width, height),
        pix_fmt_in="rgba",
        fps=Fraction(fps).limit_denominator(),  # pyright: ignore[reportArgumentType]
        codec="libx264",
        quality=8,
        macro_block_size=2,
        ffmpeg_log_level="error",
    )
    with warnings.catch_warnings():
        # JAX warns at any fork; this one is subprocess starting ffmpeg, which execs at once
        # and runs no Python (let alone JAX) in the child.
        warnings.filterwarnings(
            "ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning
        )
        writer.send(None)  # starts ffmpeg
    try:
        writer.send(first.tobytes())
        for frame in frames:
            writer.send(frame.tobytes())
    finally:
        writer.close()


def _write_gif(path: pathlib.Path, frames: Iterator[np.ndarray], fps: float) -> None:
    from PIL import Image

    def palette(frame: np.ndarray) -> Image.Image:
        rgb = Image.fromarray(frame[..., :3].copy())
        return rgb.quantize(colors=255, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)

    first = palette(next(frames))
    first.save(
        path,
        format="GIF",
        save_all=True,
        append_images=(palette(f) for f in frames),
        duration=round(1000.0 / fps),
        loop=0,
        optimize=False,
    )


def animate(
    solution: Solution,
    path: str | os.PathLike | None = None,
    *,
    state: str | None = None,
    grid: Grid | None = None,
    fps: float | int = 10,
    stride: int = 1,
    vmin: float | int | None = None,
    vmax: float | int | None = None,
    cmap: str | Colormap = "viridis",
    slices: Sequence[float | int] | None = None,
    dpi: int = 100,
) -> Any:
    """A movie of one saved state over the saved frames, written to ``path`` (MP4 or GIF,
    chosen by its suffix) or, with ``path=None``, returned as a video a notebook displays.

    Each frame shows the state at one saved time with a time stamp (model time unit), a colour
    bar (or y axis) labelled with the state and, for the voltage, its unit, axes in the grid's
    length unit, and the cells outside the mask grey with the tissue outlined. 1D grids are a
    profile against ``x``; 2D grids a map; 3D grids three orthogonal slices (``z``, ``y``
    and ``x`` = const, mid-planes unless ``slices`` says otherwise), as in `plot_snapshots`.

    Frames are drawn with matplotlib's Agg renderer into one reused image and streamed to the
    writer: an MP4 holds one frame in memory whatever the run's length (ffmpeg from the
    imageio-ffmpeg wheel, H.264 in yuv420p, which every browser and player opens). A GIF is
    written by Pillow, which keeps every frame, palettised (one byte per pixel), until the file
    is complete; its frame duration is rounded to 10 ms. The file appears only once complete.

    Args:
        solution: a `Solution` with snapshots (``Save(every=..., snapshots=True)``); one run,
            not a vmapped batch (index a batch first).
        path: the movie file, ``.mp4`` or ``.gif``; None returns an
            ``IPython.display.Video`` (an MP4 embedded in the notebook) instead.
        state: which saved state (default the first saved, usually the voltage).
        grid: the problem's `msim.Grid`; default the solution's own.
        fps: frames per second of the movie (> 0); one movie frame per saved frame used.
        stride: use every ``stride``-th saved frame (1: all of them).
        vmin, vmax: colour (or y-axis) limits, in the state's units; default the range over
            the tissue in all frames used, so that colours mean the same in every frame.
        cmap: matplotlib colormap for maps.
        slices: for a 3D grid, the plane positions ``(x, y, z)`` (length units).
        dpi: pixels per inch of the frames (at 100 a 2D map's frames are about 670 pixels
            wide, sizes rounded up to multiples of 16 pixels as H.264 encoders want).

    Returns:
        The path written, or an ``IPython.display.Video`` when ``path`` is None.

    Raises:
        ValueError: an unsupported suffix (before anything is drawn), no snapshots, a state
            that was not saved, a grid other than the solution's, bad numbers.
        FileNotFoundError: the folder of ``path`` does not exist.
    """
    target = _check_path(path)
    fps = _positive(fps, "fps")
    stride = _count(stride, "stride")
    dpi = _count(dpi, "dpi")
    name = state_name(solution, state)
    if solution.snapshots is None:
        raise ValueError(
            "This solution has no snapshots to animate (Save(snapshots=False)); simulate with "
            "Save(every=..., snapshots=True)."
        )
    data = solution.snapshot(name)
    ts = np.asarray(solution.ts)
    if data.ndim < 2 or ts.ndim != 1:
        raise ValueError(
            f"animate draws one run; these snapshots have shape {tuple(data.shape)} and times "
            f"{tuple(ts.shape)} (a vmapped batch?): index one member first."
        )
    grid = grid_of(solution, grid, tuple(data.shape[1:]), "snapshots")
    cm = colormap(cmap)
    used = range(0, len(ts), stride)
    mask = grid.mask_array()
    lo, hi = vmin, vmax
    if lo is None or hi is None:  # one frame at a time: no second copy of the run on the host
        values = [masked(np.asarray(data[i]), mask).compressed() for i in used]
        finite = [v for v in values if v.size]
        lo = min(float(v.min()) for v in finite) if lo is None and finite else lo
        hi = max(float(v.max()) for v in finite) if hi is None and finite else hi
    lo = 0.0 if lo is None else float(lo)
    hi = 1.0 if hi is None else float(hi)
    if not lo <= hi:
        raise ValueError(f"vmin ({lo:g}) must not exceed vmax ({hi:g}).")
    movie = _Frames(solution, grid, name, np.asarray(data[0], dtype=float), lo, hi, cm, slices, dpi)

    def frames() -> Iterator[np.ndarray]:
        for i in used:
            yield movie.render(np.asarray(data[i], dtype=float), float(ts[i]))

    if target is None:
        return _notebook_video(frames(), fps)
    with _replacing(target) as tmp:
        if target.suffix.lower() == ".mp4":
            _write_mp4(tmp, frames(), fps)
        else:
            _write_gif(tmp, frames(), fps)
    return target


def _notebook_video(frames: Iterator[np.ndarray], fps: float) -> Any:
    try:
        from IPython.display import Video
    except ImportError:
        raise ImportError(
            "animate(..., path=None) returns a notebook video and needs IPython; give a path "
            "ending in .mp4 or .gif to write a file instead."
        ) from None
    with tempfile.TemporaryDirectory() as folder:
        file = pathlib.Path(folder) / "movie.mp4"
        _write_mp4(file, frames, fps)
        return Video(file.read_bytes(), embed=True, mimetype="video/mp4")
