"""Training curves of one or more runs in one figure: losses, learning rate and the evaluation figures (from
``train.eval_interval``) against epoch (left) and against training time (right), one colour per run.

A RUN is a run's log folder (<output_dir>/log/<name>, holding metrics.jsonl) or a metrics.jsonl file. Training
time is the sum of the epochs' time_s and the evaluations' eval_s up to each point, so the pause of a stopped and
continued run is not counted. A last line cut short by a killed run is ignored with a note.

Examples:
  posenet3d plot-log output/log/synthetic_posenet_quick --out curves.png
  posenet3d plot-log runs/base/log/tiny runs/narrow/log/tiny --labels base,narrow --out compare.png
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from posenet3d.commands import command_parser
from posenet3d.fileio import atomic_path
from posenet3d.runs import read_metrics

#: keys of an epoch's record that are not loss terms
NOT_LOSSES = frozenset({"epoch", "lr", "samples_per_s", "data_fraction", "bad_samples", "time_s"})
LINE_STYLES = ("-", "--", ":", "-.")


@dataclass
class Curve:
    """One plotted series of one run: ``values`` at ``epoch`` (0-based, as in metrics.jsonl) and at ``hours``
    of training time. ``panel``: ``loss``, ``lr`` or an evaluation figure's name; ``name``: the series in it."""

    run: str
    panel: str
    name: str
    epoch: list[int] = field(default_factory=list)
    hours: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def run_curves(run: str, records: list[dict]) -> list[Curve]:
    """The curves of one run's metrics.jsonl records (in file order): every loss term (panel ``loss``), ``lr``,
    and every evaluation figure (a panel each)."""
    curves: dict[tuple[str, str], Curve] = {}
    clock_s = 0.0

    def add(panel: str, name: str, epoch: int, value: float) -> None:
        c = curves.setdefault((panel, name), Curve(run, panel, name))
        c.epoch.append(epoch)
        c.hours.append(clock_s / 3600.0)
        c.values.append(float(value))

    for r in records:
        if isinstance(r.get("eval"), dict):
            clock_s += float(r.get("eval_s", 0.0))
            for k, v in r["eval"].items():
                if _number(v):
                    add(k, k, r["epoch"], v)
            continue
        clock_s += float(r.get("time_s", 0.0))
        for k, v in r.items():
            if _number(v) and (k == "lr" or k not in NOT_LOSSES):
                add("lr" if k == "lr" else "loss", k, r["epoch"], v)
    return list(curves.values())


def panels_of(curves: list[Curve]) -> list[str]:
    """The figure's rows: loss, lr, then each evaluation figure in the order the runs report them."""
    return list(dict.fromkeys(["loss", "lr", *(c.panel for c in curves)]))


def draw(curves: list[Curve]) -> Figure:
    """The figure: a row per panel (:func:`panels_of`), against epoch (left) and training time (right: minutes
    when every run is shorter than two hours, else hours)."""
    panels = panels_of(curves)
    runs = list(dict.fromkeys(c.run for c in curves))
    hours = max((h for c in curves for h in c.hours), default=0.0) >= 2.0
    per_hour = 1.0 if hours else 60.0
    fig = Figure(figsize=(12, 2.8 * len(panels)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 2, squeeze=False)
    for row, panel in enumerate(panels):
        names = list(dict.fromkeys(c.name for c in curves if c.panel == panel))
        for c in (c for c in curves if c.panel == panel):
            label = c.run if len(names) == 1 else f"{c.run}: {c.name}"
            style = {"color": f"C{runs.index(c.run) % 10}", "linestyle": LINE_STYLES[names.index(c.name) % 4],
                     "marker": "." if len(c.values) < 60 else None, "label": label}
            axes[row][0].plot(c.epoch, c.values, **style)
            axes[row][1].plot([h * per_hour for h in c.hours], c.values, **style)
        axes[row][0].set_ylabel(panel)
        axes[row][0].xaxis.set_major_locator(MaxNLocator(integer=True))
        for ax in axes[row]:
            ax.grid(alpha=0.3)
            if panel == "lr" and any(c.panel == "lr" for c in curves):
                ax.set_yscale("log")
        if names:
            axes[row][0].legend(fontsize=7)
    axes[0][0].set_title("against epoch")
    axes[0][1].set_title("against training time")
    axes[-1][0].set_xlabel("epoch")
    axes[-1][1].set_xlabel(f"training time ({'h' if hours else 'min'})")
    return fig


def run_labels(paths: list[Path]) -> list[str]:
    """Legend names: the shortest path endings that tell the runs apart (``tiny`` or ``a/log/tiny``)."""
    parts = [p.parent.parts if p.name == "metrics.jsonl" else p.parts for p in (x.resolve() for x in paths)]
    for depth in range(1, max(len(x) for x in parts) + 1):
        labels = ["/".join(x[-depth:]) for x in parts]
        if len(set(labels)) == len(labels):
            return labels
    return [str(p) for p in paths]


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    p = command_parser(prog, __doc__)
    p.add_argument("runs", nargs="+", metavar="RUN", help="run log folders (or metrics.jsonl files)")
    p.add_argument("--out", required=True, help="the figure file (PNG; .svg/.pdf by the extension)")
    p.add_argument("--labels", help="comma-separated legend names, one per RUN (default: the folder names)")
    args = p.parse_args(argv)
    paths = [Path(r) for r in args.runs]
    labels = run_labels(paths) if not args.labels else [x.strip() for x in args.labels.split(",")]
    if len(labels) != len(paths):
        print(f"error: --labels names {len(labels)} runs, {len(paths)} were given", file=sys.stderr)
        return 2
    curves: list[Curve] = []
    for path, label in zip(paths, labels):
        f = path if path.is_file() else path / "metrics.jsonl"
        if not f.is_file():
            why = "does not exist" if not path.exists() else "holds no metrics.jsonl"
            print(f"error: {path} {why}; give a run's log folder (<output_dir>/log/<name>) or its metrics.jsonl",
                  file=sys.stderr)
            return 2
        records, notes = read_metrics(f)
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        if not records:
            print(f"error: {f} holds no epoch records", file=sys.stderr)
            return 2
        curves += run_curves(label, records)
    out = Path(args.out)
    fmt = out.suffix.lstrip(".").lower() or "png"
    fig = draw(curves)
    if fmt not in fig.canvas.get_supported_filetypes():
        print(f"error: --out {out}: unknown figure format {fmt!r}; use .png, .svg or .pdf", file=sys.stderr)
        return 2
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format=fmt, dpi=100)
    print(f"wrote {out}: {len(paths)} run(s); panels {', '.join(panels_of(curves))}")
    return 0
