"""Movies: MP4 and GIF files read back with the right number and size of frames, frames drawn
by blitting equal to full redraws, a notebook video, and clear errors before any drawing."""

import imageio.v3 as iio
import imageio_ffmpeg
import matplotlib
import numpy as np
import pytest
from viz_cases import notched, slab, solution

import msim
import msim.viz
from msim.viz import _movie
from msim.viz._maps import NO_TISSUE

matplotlib.use("Agg")

GREY = np.array(NO_TISSUE[:3]) * 255


def mp4_frames(path) -> tuple[list[np.ndarray], dict]:
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    frames = [np.frombuffer(b, np.uint8).reshape(h, w, 3) for b in reader]
    return frames, meta


def near(frame: np.ndarray, colour: np.ndarray, tol: float) -> np.ndarray:
    return (np.abs(frame[..., :3].astype(float) - colour) <= tol).all(-1)


@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # reading back starts ffmpeg
def test_mp4_of_a_masked_2d_run(tmp_path):
    sol = solution(notched(), ts=np.arange(0.0, 6.0))
    path = msim.viz.animate(sol, tmp_path / "run.mp4", fps=5)
    assert path == tmp_path / "run.mp4"
    frames, meta = mp4_frames(path)
    assert len(frames) == 6 and meta["fps"] == 5.0
    w, h = meta["size"]
    assert w % 16 == 0 and h % 16 == 0 and 400 <= w <= 1000
    # The front moves: the frames differ; the masked notch is grey in each (H.264 is lossy).
    assert np.abs(frames[0].astype(float) - frames[5]).mean() > 5.0
    assert all(near(f, GREY, 8).sum() > 500 for f in frames)
    assert [p.name for p in tmp_path.iterdir()] == ["run.mp4"]  # no temporary left over


def test_gif_of_a_3d_run_with_stride(tmp_path):
    sol = solution(slab(), ts=np.arange(0.0, 5.0))
    path = msim.viz.animate(sol, tmp_path / "slab.GIF", fps=4, stride=2)
    frames = iio.imread(path, index=None)
    assert frames.shape[0] == 3  # t = 0, 2, 4
    assert frames.shape[1] % 16 == 0 and frames.shape[2] % 16 == 0
    assert frames.shape[2] > 2 * frames.shape[1]  # three slices side by side
    assert iio.immeta(path)["duration"] == 250
    assert near(frames[1], GREY, 2).sum() > 100  # the masked column, in the z = const slice


def test_gif_of_a_1d_run(tmp_path):
    mask = np.ones(30, dtype=bool)
    mask[20:24] = False
    sol = solution(msim.Grid(30, 0.5, mask=mask), ts=(0.0, 3.0, 6.0, 9.0))
    frames = iio.imread(msim.viz.animate(sol, tmp_path / "cable.gif"), index=None)
    assert frames.shape[:3] == (4, 352, 640)
    assert near(frames[0], GREY, 2).sum() > 1000  # the shaded gap


def test_frames_blitted_equal_full_redraws():
    for grid in (notched(), slab(), msim.Grid(12, 0.5)):
        sol = solution(grid, ts=(0.0, 2.0, 4.0))
        data = np.asarray(sol.snapshots[:, 0])
        movie = _movie._Frames(
            sol, grid, "V", data[0], -80.0, 20.0, msim.viz._maps.colormap("viridis"), None, 100
        )
        blitted = movie.render(data[2], 4.0).copy()
        assert movie.stamp.get_text() == "t = 4 ms"
        for _, artists in movie.moving:
            for artist in artists:
                artist.set_animated(False)
        movie.stamp.set_animated(False)
        movie.canvas.draw()
        full = np.asarray(movie.canvas.buffer_rgba())
        assert np.abs(blitted.astype(int) - full).max() <= 1, grid.shape


def test_notebook_video():
    pytest.importorskip("IPython")
    video = msim.viz.animate(solution(notched(), ts=(0.0, 1.0, 2.0)))
    html = video._repr_html_()
    assert "data:video/mp4;base64," in html and len(html) > 1000


def test_bad_input(tmp_path):
    sol = solution(notched(), ts=(0.0, 1.0))
    for name in ("run.avi", "run.xyz", "run"):
        with pytest.raises(ValueError, match=r"not a supported format. Supported: \.mp4 .*\.gif"):
            # checked first: this solution has no snapshots, and nothing is drawn
            msim.viz.animate(solution(notched(), snapshots=False), tmp_path / name)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FileNotFoundError, match="does not exist"):
        msim.viz.animate(sol, tmp_path / "missing" / "run.gif")
    with pytest.raises(ValueError, match="no snapshots to animate"):
        msim.viz.animate(solution(notched(), snapshots=False), tmp_path / "run.gif")
    with pytest.raises(ValueError, match="fps must be positive"):
        msim.viz.animate(sol, tmp_path / "run.gif", fps=0)
    with pytest.raises(ValueError, match="stride must be at least 1"):
        msim.viz.animate(sol, tmp_path / "run.gif", stride=0)
    with pytest.raises(TypeError, match="stride"):
        msim.viz.animate(sol, tmp_path / "run.gif", stride=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'Cai' was not saved"):
        msim.viz.animate(sol, tmp_path / "run.gif", state="Cai")
    with pytest.raises(ValueError, match="must not exceed vmax"):
        msim.viz.animate(sol, tmp_path / "run.gif", vmin=1.0, vmax=0.0)
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_movie_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "run.mp4"
    path.write_bytes(b"the previous movie")
    drawn = []

    def failing(self, field, t):
        drawn.append(t)
        if len(drawn) == 2:
            raise KeyboardInterrupt
        return original(self, field, t)

    original = _movie._Frames.render
    monkeypatch.setattr(_movie._Frames, "render", failing)
    with pytest.raises(KeyboardInterrupt):
        msim.viz.animate(solution(notched()), path)
    assert path.read_bytes() == b"the previous movie"
    assert [p.name for p in tmp_path.iterdir()] == ["run.mp4"]
