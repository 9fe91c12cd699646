"""Training curves from runs' metrics.jsonl: `curves.png` at the end of `milestones train`, and
`milestones plot RUN [RUN ...]`, which overlays several runs (a plain and a residual net, two
learning rates) on the same axes.

One panel per watched metric the runs logged (the task's `watch`: loss first, then what the task
is judged by: accuracy, BLEU, episode return, ...), at most four. The loss panel also holds the
other losses (GAN's D and G losses; a held-out loss, dashed). Training metrics are drawn faint as
logged and bold as a moving average; evaluations are drawn with markers. The x-axis is optimizer
steps, or environment steps where the run counted them (DQN).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import UserError

MAX_PANELS = 4


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The rows of a run folder's metrics.jsonl (a line cut off by a crash is skipped)."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        raise UserError(f"{run_dir} has no metrics.jsonl (is it a run folder of milestones train?)")
    rows = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and "step" in row and "split" in row:
            rows.append(row)
    return rows


def _is_loss(key: str) -> bool:
    return key == "loss" or key.startswith("loss_") or key.endswith("_loss")


def panels(runs: list[list[dict[str, Any]]], watch: tuple[str, ...], only: list[str] | None = None) -> list[str]:
    """The metrics to draw, one panel each: `only` if given, else the watched ones some run logged
    (the losses share the first panel)."""
    logged = {k for rows in runs for r in rows for k in r if k not in ("step", "split", "time")}
    if only:
        missing = [k for k in only if k not in logged]
        if missing:
            raise UserError(f"no run logged {missing[0]!r}; logged: {', '.join(sorted(logged))}")
        return list(only)[:MAX_PANELS]
    keys = [k for k in watch if k in logged]
    if any(_is_loss(k) for k in logged):
        keys = ["loss"] + [k for k in keys if not _is_loss(k)]
    return keys[:MAX_PANELS]


def _x(rows: list[dict[str, Any]]) -> tuple[str, list[float]]:
    if rows and all("env_steps" in r for r in rows):
        return "environment steps", [r["env_steps"] for r in rows]
    return "step", [r["step"] for r in rows]


def _smooth(ys: list[float]) -> list[float]:
    w = max(1, len(ys) // 30)
    out, total = [], 0.0
    for i, y in enumerate(ys):
        total += y
        if i >= w:
            total -= ys[i - w]
        out.append(total / min(i + 1, w))
    return out


def draw(runs: list[tuple[str, list[dict[str, Any]]]], watch: tuple[str, ...], path: Path, title: str = "",
         only: list[str] | None = None) -> Path:
    """Draw the runs' curves, one panel per metric, one colour per run; written atomically."""
    from .figures import pyplot, save_figure

    keys = panels([rows for _, rows in runs], watch, only)
    if not keys:
        raise UserError("the runs logged no metric to draw yet")
    plt = pyplot()
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys) + 0.6, 3.8), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for c, (label, rows) in enumerate(runs):
            color = f"C{c % 10}"
            names = sorted({k for r in rows for k in r if _is_loss(k) and k != "train_loss"}) \
                if key == "loss" and not only else [key]
            for n, name in enumerate(names):
                for split in ("train", "eval"):
                    picked = [r for r in rows if r["split"] == split and name in r]
                    if not picked:
                        continue
                    xlabel, xs = _x(picked)
                    ys = [float(r[name]) for r in picked]
                    tag = label if len(runs) > 1 else ""
                    tag = " ".join(t for t in (tag, name if len(names) > 1 else "", "" if split == "train" else
                                                "(evaluation)") if t)
                    style = ["-", "--", ":", "-."][n % 4]
                    if split == "train" and len(ys) > 30:
                        ax.plot(xs, ys, style, color=color, alpha=0.2, lw=0.8)
                        ax.plot(xs, _smooth(ys), style, color=color, lw=1.6, label=tag or None)
                    else:
                        ax.plot(xs, ys, style, marker="o" if split == "eval" else None, ms=3, color=color, lw=1.4,
                                label=tag or None)
                    ax.set_xlabel(xlabel)
        ax.set_title(key if key != "loss" or only else "losses", fontsize=11)
        ax.grid(alpha=0.3)
        handles = ax.get_legend_handles_labels()[0]
        if handles:  # under the panel, where it covers no line
            ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=min(3, len(handles)),
                      frameon=False)
    if title:
        fig.suptitle(title, fontsize=11)
    return save_figure(fig, path)
