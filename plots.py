"""The repo's plots, drawn one way so that they read at the size they are written (the PNG viewed at 100%).

    run_plum.sh         pass_at_1.png       pass_at_1_plot: one run's pass@1 by round
    run_experiments.py  pass_by_round.png   arms x seeds, mean +- sd (its own `plots`, with this style)
    05_train_kto.py     metrics.png         the training metrics (its own `plot_metrics`, with this style)

The rules: text of 10 pt or more at 100 dpi (14 px and up), a title that says what is plotted, on which benchmark
and for which run, a y axis from 0 or a label that says where it starts, and the spread wherever there are seeds.
Nothing here trains or scores: a change to it changes no number (and not the toy world's cache key).
"""

import contextlib
import math
import os
import textwrap

DPI = 100
STYLE = {"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "xtick.labelsize": 10.5,
         "ytick.labelsize": 10.5, "legend.fontsize": 10, "figure.titlesize": 13.5, "axes.titleweight": "bold",
         "lines.linewidth": 2, "lines.markersize": 6, "savefig.dpi": DPI, "figure.dpi": DPI}
NOTE_SIZE = 10.5   # the size of the explanatory lines under a title


@contextlib.contextmanager
def style():
    """pyplot on the Agg backend (no display on a cluster node) with STYLE, for the plot drawn inside."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    with plt.rc_context(STYLE):
        yield plt


def wrap(text, width=110):
    """Long subtitle text on several lines (matplotlib's own wrap ignores the figure's edges)."""
    return "\n".join(textwrap.fill(p, width) for p in text.split("\n"))


def save(fig, png):
    """Write the PNG atomically (a reader never sees half a file) and free the figure."""
    import matplotlib.pyplot as plt
    d = os.path.dirname(os.path.abspath(png))
    os.makedirs(d, exist_ok=True)
    tmp = os.path.join(d, f".{os.path.basename(png)}.{os.getpid()}.tmp.png")
    try:
        fig.savefig(tmp, dpi=DPI)
        os.replace(tmp, png)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
        plt.close(fig)


def y_axis_label(ax, label):
    """The y label, with "(axis starts at X, not 0)" when the axis does not start at 0 (X: the axis moved down to
    a tick, so that it is a round number)."""
    lo, hi = ax.get_ylim()
    if lo > 0:
        lo = max([t for t in ax.get_yticks() if t <= lo], default=lo)
        ax.set_ylim(lo, hi)
    ax.set_ylabel(label if lo <= 0 else f"{label}\n(axis starts at {lo:g}, not 0)")


def pass_at_1_plot(series, png, benchmark, run, settings="", note=""):
    """One run's pass@1 by round (run_plum.sh's pass_at_1.png).

    series: {label: [pass@1 in % for round 0, 1, ...]} (the held-out benchmark, and a second set if evaluated;
    None for a round not evaluated);
    benchmark: what was scored ("toy world held-out tasks (120)", "HumanEval+ v0.1.10 (164 problems)");
    run: the run's name (its --out folder); settings: its key settings in one line; note: a last line.
    The y axis runs from 0; each point carries its value; the subtitle gives the gain in points.
    Returns {"title", "subtitle", "ylim", "png"} (what the tests read back)."""
    with style() as plt:
        fig, ax = plt.subplots(figsize=(8, 5.4))
        top = 0.0
        for i, (label, values) in enumerate(series.items()):
            # None: a round not evaluated (run_plum.sh --eval_rounds last)
            xs, ys = zip(*[(x, y) for x, y in enumerate(values) if y is not None])
            ax.plot(xs, ys, marker="o", label=label, color=f"C{i}")
            for x, y in zip(xs, ys):
                ax.annotate(f"{y:.1f}", (x, y), textcoords="offset points", xytext=(0, 8), ha="center",
                            fontsize=10, color=f"C{i}")
            top = max([top, *ys])
        rounds = max(len(ys) for ys in series.values())
        ax.set_xticks(range(rounds))
        ax.set_xlim(-0.3, rounds - 0.7)
        ax.set_ylim(0, min(100.0, 10 * math.ceil((top + 8) / 10)))   # room for the value labels
        ax.set_xlabel("PLUM round (0 = the starting model)")
        y_axis_label(ax, "pass@1 (%)")
        ax.grid(alpha=0.3)
        if len(series) > 1:
            ax.legend(loc="best")
        first = next(iter(series.values()))
        r = len(first) - 1
        gain = (f"{first[0]:.1f} → {first[-1]:.1f}% ({first[-1] - first[0]:+.1f} points) after {r} "
                f"round{'s' if r > 1 else ''}" if r else f"{first[0]:.1f}% (round 0 only)")
        title = f"pass@1 on {benchmark}"
        subtitle = f"run {run}: " + (gain if len(series) == 1 else f"{next(iter(series))} {gain}") + (f"\n{settings}" if settings else "") + (f"\n{note}" if note else "")
        fig.suptitle(title, fontweight="bold")
        ax.set_title(wrap(subtitle, 80), fontsize=NOTE_SIZE, fontweight="normal", loc="left")
        fig.tight_layout()
        out = {"title": title, "subtitle": subtitle, "ylim": ax.get_ylim(), "png": png}
        save(fig, png)
    return out


def running_mean(values, window):
    """Centred running mean: each value's mean with the window // 2 values either side (fewer at the ends), so
    the smoothed curve does not lag the raw one."""
    h = window // 2
    return [sum(values[max(0, i - h):i + h + 1]) / len(values[max(0, i - h):i + h + 1]) for i in range(len(values))]


def smoothing_window(n):
    """The running mean's window for n points: none below 8 points (too few to smooth), else an odd number of
    steps, about a twelfth of them, 3 to 25."""
    if n < 8:
        return None
    w = max(3, min(25, n // 12))
    return w if w % 2 else w + 1
