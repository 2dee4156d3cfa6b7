"""Markdown tables from the JSON lines of forward.py and gradient.py.

python benchmarks/table.py results.jsonl [more.jsonl ...]
"""

import json
import sys


def mib(x) -> str:
    return "-" if x is None else f"{x / 2**20:.1f}"


def fmt(x, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def forward_table(rows: list[dict]) -> list[str]:
    out = [
        "| device | n | steps | msim s | baseline s | ratio | msim no-activation s | ratio"
        " | tracked baseline s | msim / tracked | msim Mcell-steps/s | baseline Mcell-steps/s"
        " | max abs diff |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r['device']} | {r['n']} | {r['steps']} | {r['msim_s']:.4f} | "
            f"{r['baseline_s']:.4f} | **{r['ratio']:.2f}** | "
            f"{fmt(r.get('msim_no_activation_s'), '.4f')} | "
            f"**{fmt(r.get('ratio_no_activation'), '.2f')}** | "
            f"{fmt(r.get('baseline_tracked_s'), '.4f')} | "
            f"{fmt(r.get('ratio_vs_tracked'), '.2f')} | "
            f"{r['msim_cell_steps_per_s'] / 1e6:.0f} | "
            f"{r['baseline_cell_steps_per_s'] / 1e6:.0f} | {r['max_abs_diff']:.1e} |"
        )
    return out


def overhead_table(rows: list[dict]) -> list[str]:
    out = [
        "| device | n | msim s (1 step) | baseline s (1 step) | msim extra s |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r['device']} | {r['n']} | {r['msim_s']:.6f} | {r['baseline_s']:.6f} | "
            f"{r['msim_extra_s']:.6f} |"
        )
    return out


def gradient_table(rows: list[dict]) -> list[str]:
    out = [
        "| device | n | mode | steps | block | forward s | grad s | grad/forward | forward temp MiB"
        " | grad temp MiB | forward peak MiB | grad peak MiB |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "error" in r:
            out.append(f"| - | {r['n']} | {r['mode']} | {r['steps']} | error: {r['error']} |")
            continue
        out.append(
            f"| {r['device']} | {r['n']} | {r['mode']} | {r['steps']} | {r['checkpoint_block']} | "
            f"{fmt(r.get('forward_s'), '.3f')} | {fmt(r.get('grad_s'), '.3f')} | "
            f"{fmt(r.get('grad_over_forward'), '.1f')} | "
            f"{mib(r['forward_memory']['temp_bytes'])} | "
            f"{mib(r['grad_memory']['temp_bytes'])} | {mib(r.get('forward_peak_bytes_in_use'))} | "
            f"{mib(r.get('grad_peak_bytes_in_use'))} |"
        )
    return out


def growth_table(rows: list[dict]) -> list[str]:
    out = [
        "| device | n | mode | steps | memory measure | exponents |",
        "|---|---:|---|---|---|---|",
    ]
    for r in rows:
        for key in ("grad_temp_bytes", "grad_peak_bytes_in_use"):
            if key + "_exponents" in r:
                exps = ", ".join(f"{e:.2f}" for e in r[key + "_exponents"])
                steps = " / ".join(str(s) for s in r["steps"])
                out.append(f"| {r['device']} | {r['n']} | {r['mode']} | {steps} | {key} | {exps} |")
    return out


def main() -> None:
    records = []
    for path in sys.argv[1:]:
        with open(path) as f:
            records += [json.loads(line) for line in f if line.startswith("{")]
    by_case: dict[str, list[dict]] = {}
    for r in records:
        by_case.setdefault(r["case"], []).append(r)
    sections = [
        ("forward_aliev_panfilov_2d", "Forward", forward_table),
        ("forward_call_overhead", "Per-call overhead", overhead_table),
        ("gradient_aliev_panfilov_2d", "Gradient", gradient_table),
        ("gradient_memory_growth", "Gradient memory growth", growth_table),
        ("gradient_remat_experiment", "Per-step remat experiment", gradient_table),
    ]
    for case, title, table in sections:
        if case in by_case:
            print(f"\n### {title}\n")
            print("\n".join(table(by_case[case])))
    other = [r for r in records if r["case"] in ("preflight", "skipped", "failed")]
    if other:
        print("\n### Other\n")
        for r in other:
            print(json.dumps(r))


if __name__ == "__main__":
    main()
