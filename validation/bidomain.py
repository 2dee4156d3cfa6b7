"""Bidomain verification (issue 12, part 3): the elliptic solve against manufactured solutions,
the reduction to the monodomain for equal anisotropy ratios, a gradient check, the virtual
electrodes of a shock, electrograms against the pseudo-ECG, and the cost of a step.

Conductivities: Niederer et al. 2011 (sigma_il 0.17, sigma_it 0.019, sigma_el 0.62,
sigma_et 0.24 S/m, chi 1400 /cm, Cm 1 uF/cm^2), as diffusivities D = sigma / (chi Cm) =
sigma / 1.4 mm^2/ms. Cell model: Luo-Rudy 1991 (Rush-Larsen), 2-D sheets, float64, CPU.

Run:  python validation/bidomain.py
Writes validation/bidomain.md, validation/bidomain.json and
validation/figures/bidomain.png.
"""

import itertools
import json
import pathlib
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import msim  # noqa: E402
from msim.tissue import Fibres, Isotropic  # noqa: E402

HERE = pathlib.Path(__file__).parent
X = jnp.asarray([1.0, 0.0])  # fibres along x
DIL, DIT, DEL, DET = 0.17 / 1.4, 0.019 / 1.4, 0.62 / 1.4, 0.24 / 1.4  # mm^2/ms
RESULTS: dict = {}


def manufactured(n: int, kind: str):
    """phi = cos(k x) cos(k y), V = cos(2 k x) cos(k y) on [0, 2]^2 (k = pi / 2): no flux for
    both; I_e makes them satisfy the elliptic equation."""
    length = 2.0
    grid = msim.Grid((n, n), spacing=length / n)
    x, y = grid.coordinates()
    k = np.pi / length
    phi = np.cos(k * x) * np.cos(k * y)
    v = np.cos(2 * k * x) * np.cos(k * y)
    if kind == "heterogeneous isotropic (CG)":
        di, ddi, de = 1.0 + 0.5 * np.cos(k * x), -0.5 * k * np.sin(k * x), 2.0
        phi_x = -k * np.sin(k * x) * np.cos(k * y)
        v_x = -2 * k * np.sin(2 * k * x) * np.cos(k * y)
        div_phi = (di + de) * (-2 * k**2 * phi) + ddi * phi_x
        div_v = di * (-5 * k**2 * v) + ddi * v_x
        return grid, Isotropic(di), Isotropic(de), v, -div_phi - div_v, phi
    dil, dit, del_, det = 1.0, 0.1, 0.6, 0.4
    div_phi = -(k**2) * (dil + del_ + dit + det) * phi
    div_v = -(k**2) * (4 * dil + dit) * v
    return grid, Fibres(X, dil, dit), Fibres(X, del_, det), v, -div_phi - div_v, phi


def convergence():
    out = {}
    for kind in (
        "heterogeneous isotropic (CG)",
        "axis-aligned anisotropic, unequal ratios (BiCGStab)",
    ):
        rows = []
        for n in (16, 32, 64, 128):
            grid, di, de, v, current, phi = manufactured(n, kind)
            got = msim.observe.extracellular_potential(v, grid, di, de, current=current, rtol=1e-12)
            rows.append(
                {"n": n, "dx": 2.0 / n, "max_error": float(np.abs(np.asarray(got) - phi).max())}
            )
        for a, b in itertools.pairwise(rows):
            b["order"] = float(np.log2(a["max_error"] / b["max_error"]))
        out[kind] = rows
        print(kind, [(r["n"], f"{r['max_error']:.3e}", round(r.get("order", 0), 3)) for r in rows])
    RESULTS["manufactured_elliptic"] = out


def sheet(nx, ny, dx, ratio_equal: bool, **kw):
    cell = msim.cells.LuoRudy1991()
    grid = msim.Grid((nx, ny), spacing=dx)
    di = Fibres(X, DIL, DIT)
    de = Fibres(X, (DEL / DIL) * DIL, (DEL / DIL) * DIT) if ratio_equal else Fibres(X, DEL, DET)
    return cell, grid, di, de


def equal_ratio():
    """A planar wave along the fibres: bidomain with D_e = lambda D_i (lambda = 0.62 / 0.17)
    against the monodomain with D = lambda/(1+lambda) D_i; and with Niederer's unequal ratios
    against the monodomain with the harmonic combination per direction (not equal: a finding)."""
    nx, ny, dx, dt, t_end = 40, 16, 0.25, 0.02, 20.0
    lam = DEL / DIL
    stim = msim.Stimulus(msim.regions.box((0, 0), (0.75, 4.0)), 0.0, 2.0, 50.0)
    save = msim.Save(every=1.0)
    scheme = msim.ExplicitDiffusion(substeps=1)
    out = {}
    for equal in (True, False):
        cell, grid, di, de = sheet(nx, ny, dx, equal)
        bi = msim.Bidomain(cell, grid, di, de, stimulus=stim)
        if equal:
            dm = Fibres(X, lam / (1 + lam) * DIL, lam / (1 + lam) * DIT)
        else:
            dm = Fibres(X, DIL * DEL / (DIL + DEL), DIT * DET / (DIT + DET))
        mono = msim.Monodomain(cell, grid, dm, stimulus=stim)
        start = time.perf_counter()
        sb = msim.simulate(bi, t_end, dt, save, diffusion=scheme)
        jax.block_until_ready(sb.final_state)
        tb = time.perf_counter() - start
        sm = msim.simulate(mono, t_end, dt, save, diffusion=scheme)
        vb, vm = np.asarray(sb.snapshot("V")), np.asarray(sm.snapshot("V"))
        ab, am = np.asarray(sb.activation_times), np.asarray(sm.activation_times)
        key = "equal ratios" if equal else "unequal ratios (Niederer)"
        out[key] = {
            "max_abs_dVm_mV": float(np.abs(vb - vm).max()),
            "max_abs_dactivation_ms": float(np.nanmax(np.abs(ab - am))),
            "activation_far_end_bidomain_ms": float(ab[-1, ny // 2]),
            "activation_far_end_monodomain_ms": float(am[-1, ny // 2]),
            "linear_solves": sb.linear_solves.summary(),
            "bidomain_wall_s_incl_compile": tb,
        }
        print(key, out[key])
        if not equal:
            RESULTS["_wave"] = (sb, sm, bi, grid, di, de, dm)
    RESULTS["equal_ratio"] = out


def gradient():
    grid = msim.Grid((6, 5), spacing=0.5)
    cell = msim.cells.AlievPanfilov()
    stim = msim.Stimulus(msim.regions.box((0, 0), (1.0, 2.5)), 0.0, 1.0, 1.0)

    def loss(d_i):
        problem = msim.Bidomain(
            cell, grid, Fibres(X, d_i, 0.25 * d_i), Fibres(X, 1.5, 0.6), stimulus=stim
        )
        sol = msim.simulate(problem, 2.0, 0.05, diffusion=msim.BidomainDiffusion(rtol=1e-13))
        return sol.final_state[0, 4, 2] + sol.final_state[0, 2, 3]

    x = jnp.asarray(0.8)
    g = float(jax.grad(loss)(x))
    out = {}
    for eps in (1e-3, 1e-4, 1e-5):
        fd = (float(loss(x + eps)) - float(loss(x - eps))) / (2 * eps)
        out[f"eps={eps:g}"] = {"fd": fd, "rel_diff": abs(g - fd) / abs(fd)}
    RESULTS["gradient"] = {"grad": g, "finite_differences": out}
    print("gradient", RESULTS["gradient"])


def shock():
    """A 2 ms cathodal shock at a point in the centre of a resting 8 x 8 mm sheet; the return
    electrode is the sheet's edge ring. Unequal (Niederer) and equal ratios."""
    n, dx, dt = 81, 0.1, 0.01
    centre = (n * dx / 2, n * dx / 2)
    ring = np.zeros((n, n), bool)
    ring[[0, -1], :] = True
    ring[:, [0, -1]] = True
    cathode = msim.regions.ball(centre, 0.06)  # the centre cell
    anode = msim.regions.from_mask(ring)
    # strength is the ring's density; the cathode takes the whole current.
    shock_ = msim.ExtracellularStimulus(anode, cathode, 0.0, 2.0, strength=2.0)
    out, fields = {}, {}
    for equal in (False, True):
        cell, grid, di, de = sheet(n, n, dx, equal)
        problem = msim.Bidomain(cell, grid, di, de, extracellular_stimulus=shock_)
        sol = msim.simulate(problem, 2.0, dt, msim.Save(every=2.0))
        v = np.asarray(sol.snapshot("V"))[-1] - float(cell.initial_state()[0])
        phi = np.asarray(problem.extracellular_potential(sol.snapshot("V")[-1], jnp.asarray(1.99)))
        c = n // 2
        along, across = v[c:, c], v[c, c:]
        key = "equal" if equal else "unequal"
        fields[key] = (v, phi)
        depolarised = v > 10.0
        out[key] = {
            "dVm_centre_mV": float(v[c, c]),
            "min_dVm_along_fibres_mV": float(along.min()),
            "at_mm_from_centre_along": float(np.argmin(along) * dx),
            "min_dVm_across_fibres_mV": float(across.min()),
            "depolarised_>10mV_extent_x_mm": float(depolarised.any(axis=1).sum() * dx),
            "depolarised_>10mV_extent_y_mm": float(depolarised.any(axis=0).sum() * dx),
            "linear_solves": sol.linear_solves.summary(),
        }
        print("shock", key, out[key])
    RESULTS["shock"] = out
    return fields, dx


def electrograms():
    """Unipolar electrograms of the planar wave (unequal ratios): the bidomain's own phi_e,
    phi_e recovered from the monodomain run, and the pseudo-ECG at a point 0.5 mm above
    the same cell (Gima & Rudy 2002; an unbounded volume conductor, so only its shape is
    comparable)."""
    sb, sm, bi, grid, di, de, dm = RESULTS.pop("_wave")
    cells = [(10, 8), (20, 8), (30, 8)]
    phi_b = bi.extracellular_potential(sb.snapshot("V"), sb.ts)
    phi_m = msim.observe.extracellular_potential(sm.snapshot("V"), grid, di, de)
    eg_b = np.asarray(msim.observe.electrograms(phi_b, grid, cells))
    eg_m = np.asarray(msim.observe.electrograms(phi_m, grid, cells))
    xs = np.asarray(
        [[(i + 0.5) * grid.spacing[0], (j + 0.5) * grid.spacing[1], 0.5] for i, j in cells]
    )
    w = msim.observe.pseudo_ecg_weights(grid, dm, xs)
    ecg = np.asarray(msim.observe.pseudo_ecg(sm.snapshot("V"), w))
    ts = np.asarray(sb.ts)
    out = {}
    for e, (i, j) in enumerate(cells):

        def corr(a, b):
            a, b = a - a.mean(), b - b.mean()
            return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))

        out[f"cell {i},{j}"] = {
            "activation_bidomain_ms": float(np.asarray(sb.activation_times)[i, j]),
            "steepest_fall_bidomain_egm_ms": float(ts[np.argmin(np.diff(eg_b[:, e])) + 1]),
            "max_abs_bidomain_minus_recovered_mV": float(np.abs(eg_b[:, e] - eg_m[:, e]).max()),
            "peak_to_peak_bidomain_mV": float(np.ptp(eg_b[:, e])),
            "corr_recovered_vs_bidomain": corr(eg_m[:, e], eg_b[:, e]),
            "corr_pseudo_ecg_vs_bidomain": corr(ecg[:, e], eg_b[:, e]),
        }
    RESULTS["electrograms"] = out
    print("electrograms", out)
    return ts, eg_b, eg_m, ecg, cells


def cost():
    """Time per step on a 64 x 64 sheet (dx 0.25, dt 0.02, LR91), bidomain vs monodomain,
    after compilation; CG iterations per solve."""
    n, dx, dt, t_end = 64, 0.25, 0.02, 10.0
    cell, grid, di, de = sheet(n, n, dx, False)
    stim = msim.Stimulus(msim.regions.box((0, 0), (1.0, n * dx)), 0.0, 2.0, 50.0)
    dm = Fibres(X, DIL * DEL / (DIL + DEL), DIT * DET / (DIT + DET))
    runs = {
        "monodomain": msim.Monodomain(cell, grid, dm, stimulus=stim),
        "bidomain": msim.Bidomain(cell, grid, di, de, stimulus=stim),
    }
    out = {}
    for name, problem in runs.items():
        sol = msim.simulate(problem, t_end, dt)  # compile
        jax.block_until_ready(sol.final_state)
        times = []
        for _ in range(3):
            start = time.perf_counter()
            sol = msim.simulate(problem, t_end, dt)
            jax.block_until_ready(sol.final_state)
            times.append(time.perf_counter() - start)
        steps = round(t_end / dt)
        out[name] = {"ms_per_step": 1e3 * float(np.median(times)) / steps}
        if sol.linear_solves is not None:
            s = sol.linear_solves
            out[name]["iterations_per_solve"] = int(s.iterations) / int(s.solves)
            out[name]["max_iterations"] = int(s.max_iterations)
    out["ratio"] = out["bidomain"]["ms_per_step"] / out["monodomain"]["ms_per_step"]
    RESULTS["cost"] = out
    print("cost", out)


def figure(fields, dx, egm):
    ts, eg_b, eg_m, ecg, cells = egm
    fig, axes = plt.subplots(2, 3, figsize=(14, 8.5))
    extent = (0, fields["unequal"][0].shape[0] * dx, 0, fields["unequal"][0].shape[1] * dx)
    for ax, key in zip(axes[0, :2], ("unequal", "equal"), strict=True):
        v = fields[key][0]
        lim = np.abs(v).max()
        im = ax.imshow(v.T, origin="lower", extent=extent, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.contour(v.T, levels=[-5, 10], colors=["b", "k"], extent=extent, linewidths=0.8)
        ax.set_title(f"Vm - Vrest after a 2 ms point cathode, {key} ratios (mV)")
        ax.set_xlabel("x (mm, fibres)")
        ax.set_ylabel("y (mm)")
        fig.colorbar(im, ax=ax)
    phi = fields["unequal"][1]
    im = axes[0, 2].imshow(phi.T, origin="lower", extent=extent, cmap="viridis")
    axes[0, 2].set_title("phi_e at the end of the shock, unequal (mV)")
    fig.colorbar(im, ax=axes[0, 2])
    c = fields["unequal"][0].shape[0] // 2
    r = np.arange(c + 1) * dx
    ax = axes[1, 0]
    for key, style in (("unequal", "-"), ("equal", "--")):
        v = fields[key][0]
        ax.plot(r, v[c:, c], "r" + style, label=f"along fibres, {key}")
        ax.plot(r, v[c, c:], "b" + style, label=f"across fibres, {key}")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_xlabel("distance from the cathode (mm)")
    ax.set_ylabel("Vm - Vrest (mV)")
    ax.legend(fontsize=8)
    ax = axes[1, 1]
    for e, (i, j) in enumerate(cells):
        ax.plot(ts, eg_b[:, e], label=f"bidomain phi_e, cell {i},{j}")
        ax.plot(ts, eg_m[:, e], "k:", lw=1)
    ax.set_xlabel("t (ms)")
    ax.set_ylabel("phi_e (mV)")
    ax.set_title("electrograms (dotted: recovered from the monodomain)")
    ax.legend(fontsize=8)
    ax = axes[1, 2]
    for e in range(len(cells)):
        ax.plot(ts, eg_b[:, e] / np.abs(eg_b[:, e]).max(), label=f"bidomain {cells[e]}")
        ax.plot(ts, ecg[:, e] / np.abs(ecg[:, e]).max(), "--", label=f"pseudo-ECG {cells[e]}")
    ax.set_xlabel("t (ms)")
    ax.set_title("normalised: bidomain electrogram vs pseudo-ECG 0.5 mm above")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = HERE / "figures" / "bidomain.png"
    fig.savefig(path, dpi=110)
    print("wrote", path)


def main():
    start = time.perf_counter()
    convergence()
    equal_ratio()
    gradient()
    fields, dx = shock()
    egm = electrograms()
    cost()
    figure(fields, dx, egm)
    RESULTS["wall_s"] = time.perf_counter() - start
    RESULTS["device"] = jax.devices()[0].device_kind
    (HERE / "bidomain.json").write_text(json.dumps(RESULTS, indent=1))
    print("total", RESULTS["wall_s"])


if __name__ == "__main__":
    main()
