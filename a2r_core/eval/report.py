"""Writes a benchmark's results: `results.json`, `results.md` (tables), and PNG plots.

Files:
- results.json: everything `run_benchmark` collected (undefined metrics are null, never NaN, so
  the file is strict JSON);
- results.md: one table per metric (rows x columns), the MPC table and the training summary;
- reward_curves.png: per row, mean reward over normalised episode time of success vs failure
  clips, one line pair per column;
- reward_histograms.png: per row and suite, histograms of the final reward of success vs failure
  clips (the suite's columns pooled).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

METRICS = [("auroc", "Success-vs-failure AUROC"),
           ("instruction_top1", "Instruction discrimination, top-1 (true instruction vs the other tasks')"),
           ("value_order_spearman", "Value-order correlation (Spearman of reward with time, success clips)"),
           ("best_of_n", "Best-of-N selection success rate")]


NOT_RUN = "-"  # the row was not run on that column's suite (e.g. no oracle for synthetic), unlike n/a


def _finite(value):
    """NaN/inf -> None, recursively (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def records(results: dict) -> list[dict]:
    """One flat record per measured cell: {metric, row, column, value, n, interval}. `n` counts
    what the value is a mean or rate over (clips; success clips for value order; candidate groups;
    MPC episodes; planner's-view points); `interval` is the 95 % Wilson interval of success rates
    (best-of-N, MPC), None for the other metrics."""
    from a2r_core.eval.metrics import wilson_interval

    out = []
    for row, cells in results.get("cells", {}).items():
        for column, cell in cells.items():
            for metric, _ in METRICS:
                value = cell.get(metric)
                if value is None or (isinstance(value, float) and not math.isfinite(value)):
                    continue
                n = {"best_of_n": cell.get("n_groups"), "value_order_spearman": cell.get("n_success")}.get(
                    metric, cell.get("n_clips"))
                interval = None
                if metric == "best_of_n" and n:
                    interval = list(wilson_interval(round(value * n), n))
                out.append({"metric": metric, "row": row, "column": column, "value": value, "n": n,
                            "interval": interval})
    for key, m in results.get("mpc", {}).items():
        suite, row = key.split("/")[:2]
        column = f"{suite}/mpc/{m.get('column', m.get('variant', ''))}"
        out.append({"metric": "mpc_success", "row": row, "column": column, "value": m["success_rate"],
                    "n": len(m["episodes"]), "interval": m.get("interval")})
        own = m.get("own_state_ranking") or {}
        for metric in ("spearman", "top1_hit_rate"):
            value = own.get(metric)
            if value is not None and math.isfinite(value):
                out.append({"metric": f"mpc_own_state_{metric}", "row": row, "column": column, "value": value,
                            "n": own.get("n_calls"), "interval": None})
    for key, v in results.get("planner_view", {}).items():
        suite, row = key.split("/", 1)
        for metric in ("spearman", "spearman_where_oracle_varies", "top1_hit_rate"):
            value = v["summary"].get(metric)
            if value is not None and math.isfinite(value):
                out.append({"metric": f"planner_view_{metric}", "row": row, "column": f"{suite}/planner_view",
                            "value": value, "n": v["summary"].get("n_points"), "interval": None})
    return out


def _fmt(v) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.3f}"


def markdown(results: dict) -> str:
    """The results as Markdown tables."""
    cols = results["columns"]
    lines = [f"# a2r eval ({results.get('profile', 'custom')} profile)", "",
             f"Wall time: {results.get('wall_seconds', 'n/a')} s. Columns:", ""]
    for c in cols:
        lines.append(f"- `{c['key']}`: {c['kind']} ({c['n_clips']} clips, {c['n_success']} successes)")
    suites = {c["suite"] for c in cols}
    lines += ["", f"`n/a`: the metric is undefined on that cell's clips; `{NOT_RUN}`: the row was not run on that "
              "suite.", ""]
    if "synthetic" in suites:
        lines += ["Synthetic `new_tasks`: tasks present in training only in the second domain (the synthetic "
                  "human-style renderings), judged on robot clips.", ""]
    if suites & {"pybullet", "metaworld"}:
        where = ([f"PyBullet tasks {', '.join(results.get('oracle_tasks', []))}"] if "pybullet" in suites else []) + \
            (["MetaWorld"] if "metaworld" in suites else [])
        lines += [f"Oracle: the env's dense reward ({'; '.join(where)}); it is defined for a clip's own "
                  "instruction only, so its instruction discrimination is n/a.", ""]
    if any(c["suite"] == "metaworld" for c in cols):
        lines += ["MetaWorld: the second domain is an *alternate embodiment* (the same MetaWorld tasks rendered "
                  "with the arm hidden/restyled and another camera), standing in for human video; `new_tasks` are "
                  "tasks the robot never trained on, present in training only in that domain. `new_envs:<variant>` "
                  "columns split `new_envs` by held-out variant. `best_of_n`: candidate groups (expert, other "
                  "tasks' experts, noisy/perturbed/early-stopping/wrong-target/random policies) from shared start "
                  "states. MetaWorld's oracle is its dense reward recorded at every frame (extra.dense_reward).", ""]
    notes = [(row, key, cell["note"]) for row, cells in results["cells"].items() for key, cell in cells.items()
             if cell.get("note")]
    if notes:
        lines += ["Undefined cells:", ""] + [f"- {row} on `{key}`: {note}" for row, key, note in notes] + [""]
    if results.get("checkpoints"):
        lines += ["Rows evaluated from a given checkpoint (not trained in this run):", ""]
        lines += [f"- {key}: `{path}`" for key, path in results["checkpoints"].items()] + [""]
    for key, title in METRICS:
        use = [c for c in cols if key != "best_of_n" or c.get("online", c["suite"] == "pybullet")]
        if not use:
            continue
        lines += [f"## {title}", "", "| row | " + " | ".join(c["key"] for c in use) + " |",
                  "|---|" + "---|" * len(use)]
        for row in results["rows"]:
            cells = results["cells"].get(row, {})
            lines.append(f"| {row} | " + " | ".join(_fmt(cells[c["key"]].get(key)) if c["key"] in cells else NOT_RUN
                                                   for c in use) + " |")
        lines.append("")
    if results.get("mpc"):
        lines += ["## MPC success rate (CEM, simulator state restore as dynamics)", "",
                  "Ranking at its own states: at every CEM iteration of the run, the row's scores of the "
                  "candidates against the simulator's dense reward at their ends (Spearman / how often the "
                  "row's top candidate is in the dense reward's top quarter, chance 0.25); learned rows only.", "",
                  "| suite/row/column | tasks | variant | success rate | 95 % Wilson interval | episodes | "
                  "ranking at its own states | seconds |",
                  "|---|---|---|---|---|---|---|---|"]
        for row, m in results["mpc"].items():
            tasks = ", ".join(dict.fromkeys(e["task"] for e in m["episodes"] if "task" in e))
            ci = m.get("interval")
            interval = f"[{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else "n/a"
            own = m.get("own_state_ranking")
            ranking = f"{_fmt(own['spearman'])} / {_fmt(own['top1_hit_rate'])}" if own else "n/a"
            lines.append(f"| {row} | {tasks} | {m['variant']} | {_fmt(m['success_rate'])} | {interval} | "
                         f"{len(m['episodes'])} | {ranking} | {m['seconds']} |")
        lines.append("")
    if results.get("planner_view"):
        lines += ["## The planner's ranking (a2r_core.eval.planner_view; docs/planning.md)", "",
                  "Per planning step along expert episodes, a population of candidate futures scored by the row "
                  "and by the simulator's dense reward: Spearman between the two (all points / where the dense "
                  "reward varies), how often the row's top candidate is in the dense reward's top quarter "
                  "(chance 0.25), the expert continuation's median rank, and the row's spread across "
                  "candidates over its pixel-noise floor.", "",
                  "| suite/row | points | Spearman | Spearman (oracle varies) | top-1 in top quarter | "
                  "expert rank (median, of N) | spread / noise |", "|---|---|---|---|---|---|---|"]
        for row, v in results["planner_view"].items():
            m = v["summary"]
            lines.append(f"| {row} | {m.get('n_points', 0)} | {_fmt(m.get('spearman'))} | "
                         f"{_fmt(m.get('spearman_where_oracle_varies'))} | {_fmt(m.get('top1_hit_rate'))} | "
                         f"{m.get('expert_rank_median', 'n/a')} of {m.get('population', 'n/a')} | "
                         f"{_fmt(m.get('spread_over_noise'))} |")
        lines.append("")
    if results.get("train"):
        lines += ["## Training", "", "| suite/row | validation metric | best | epochs | steps | seconds |",
                  "|---|---|---|---|---|---|"]
        for key, t in results["train"].items():
            lines.append(f"| {key} | {t['metric_name']} | {_fmt(t['best_metric'])} | {t['epochs']} | {t['steps']} | "
                         f"{t['train_seconds']} |")
        lines.append("")
    return "\n".join(lines)


def plot_curves(results: dict, path: Path) -> None:
    """Mean reward over normalised time, success (solid) vs failure (dashed), per row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results["rows"] if results["cells"].get(r)]
    parts = {c["key"] for c in results["columns"] if c.get("part_of")}  # sub-columns: their whole is drawn
    n = max(1, len(rows))
    ncol = min(4, n)
    nrow = math.ceil(n / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4 * ncol, 3 * nrow), squeeze=False)
    for ax, row in zip(axes.flat, rows):
        for j, (key, cell) in enumerate(k for k in results["cells"][row].items() if k[0] not in parts):
            colour = f"C{j % 10}"
            for curve, style in (("success_curve", "-"), ("failure_curve", "--")):
                values = cell["plot"].get(curve)
                if values:
                    x = [i / (len(values) - 1) for i in range(len(values))]
                    ax.plot(x, values, style, color=colour, label=f"{key} {'success' if style == '-' else 'failure'}")
        ax.set_title(row)
        ax.set_xlabel("episode time (normalised)")
        ax.set_ylabel("reward")
    for ax in list(axes.flat)[len(rows):]:
        ax.axis("off")
    if rows:
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=7)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_histograms(results: dict, path: Path) -> None:
    """Final-reward histograms of success vs failure clips: one panel per row and suite (the
    suite's columns pooled; suites are kept apart because their reward scales differ)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results["rows"] if results["cells"].get(r)]
    parts = {c["key"] for c in results["columns"] if c.get("part_of")}  # pooled already in their whole
    suites = list(dict.fromkeys(c["suite"] for c in results["columns"])) or [""]
    fig, axes = plt.subplots(max(1, len(rows)), len(suites), figsize=(4.5 * len(suites), 2.4 * max(1, len(rows))),
                             squeeze=False)
    for i, row in enumerate(rows):
        for j, suite in enumerate(suites):
            ax = axes[i, j]
            cells = [c for k, c in results["cells"][row].items() if k.split("/")[0] == suite and k not in parts]
            if not cells:
                ax.axis("off")
                continue
            succ = [v for c in cells for v in c["plot"]["success_final"] if v is not None and math.isfinite(v)]
            fail = [v for c in cells for v in c["plot"]["failure_final"] if v is not None and math.isfinite(v)]
            ax.hist([succ, fail], bins=20, label=["success", "failure"], color=["C2", "C3"])
            ax.set_title(f"{row} / {suite}", fontsize=9)
            ax.tick_params(labelsize=7)
            if i == len(rows) - 1:
                ax.set_xlabel("final reward")
            if i == 0 and j == 0:
                ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write_all(results: dict, out_dir: str | Path) -> dict[str, Path]:
    """Write results.json, results.md, reward_curves.png and reward_histograms.png into out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "markdown": out / "results.md",
             "curves": out / "reward_curves.png", "histograms": out / "reward_histograms.png"}
    paths["json"].write_text(json.dumps(_finite({**results, "records": records(results)}), indent=1, allow_nan=False))
    paths["markdown"].write_text(markdown(results))
    plot_curves(results, paths["curves"])
    plot_histograms(results, paths["histograms"])
    if results.get("planner_view"):
        paths["planner_view"] = out / "planner_view.png"
        plot_planner_view(results["planner_view"], paths["planner_view"])
    return paths


def plot_planner_view(views: dict, path: Path) -> None:
    """Spearman of each row with the dense reward against the fraction of the expert episode done
    (one line per row and episode): where along a task a reward stops guiding the planner."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for k, (row, v) in enumerate(views.items()):
        for j, e in enumerate(v["episodes"]):
            x = [p["fraction"] for p in e["points"]]
            y = [p["spearman"] if p["spearman"] is not None and math.isfinite(p["spearman"]) else np.nan
                 for p in e["points"]]
            ax.plot(x, y, marker="o", color=f"C{k}", alpha=0.8, label=row if j == 0 else None)
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set(xlabel="fraction of the expert episode done", ylabel="Spearman with the dense reward",
           ylim=(-1.05, 1.05), title="The planner's ranking of candidate futures")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
