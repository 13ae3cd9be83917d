"""Rendering for the offload envs: ``"rgb_array"`` (episode plots) and ``"ansi"`` (a text table).

:class:`EpisodeHistory` records, step by step, what the plots need for one host; :func:`render_rgb_array`
draws it with matplotlib's Agg canvas (never a GUI backend, never pyplot's figure registry), and
:func:`render_ansi` prints the host's current state.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np

from ..sim.units import PAGE_SIZE

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..sim import Simulator
    from ..sim.metrics import StepMetrics

MiB = float(1 << 20)
GiB = float(1 << 30)

FIGURE_SIZE_PX = (960, 640)
"""(width, height) of :func:`render_rgb_array`'s image."""
_DPI = 100

MEMCG_FIELDS = (
    "resident_bytes",
    "zswap_bytes",
    "device_bytes",
    "zswapped_bytes",
    "zero_bytes",
    "psi_some_avg10",
    "refault_zswap",
    "refault_swap",
    "refault_zero",
)
"""Per-memcg series of :class:`EpisodeHistory` (one float32 value per memcg and step)."""
HOST_FIELDS = ("time_s", "step", "device_utilisation", "zswap_pool_fill")
"""Per-host series of :class:`EpisodeHistory` (one float64 value per step)."""

MEMORY_BANDS = ("resident", "zswap", "device")
"""The stacked bands of a memcg's memory panel, bottom up (:func:`memory_bands`)."""
_BAND_FIELDS = ("resident_bytes", "zswap_bytes", "device_bytes")
_TIER_COLOURS = ("#4878cf", "#f0a030", "#c44e52")
_TIER_LABELS = (
    "resident anon (DRAM)",
    "zswap pool (compressed bytes, DRAM)",
    "swap device (incl. under writeback)",
)
_FOOTPRINT_LABEL = "footprint at original size (incl. zero-filled pages: no DRAM, no device space)"


class EpisodeHistory:
    """What one host did over an episode, one row per recorded step, for :func:`render_rgb_array`.

    Per memcg (``memcg_names``, the first ``len(memcg_names)`` slots): resident anonymous bytes,
    zswap pool bytes (compressed), bytes on the swap device or being written to it, the original
    size of what zswap holds (``zswapped``), zero-filled pages (bytes at original size: they hold a
    swap-map entry only, no DRAM and no device space), PSI ``some`` avg10 (%), and the step's
    refaulted pages by tier. Per host: simulated time (s), steps since reset, swap device
    utilisation (0..1) and zswap pool fill (pool / limit). Values live in preallocated numpy
    buffers (about 40 bytes per memcg and step); beyond ``max_steps`` rows the oldest half is
    dropped, so memory stays bounded on very long episodes.
    """

    def __init__(self, memcg_names: tuple[str, ...], max_steps: int = 10_000) -> None:
        if max_steps < 2:
            raise ValueError(f"max_steps = {max_steps!r}: must be >= 2")
        self.memcg_names = tuple(memcg_names)
        self.max_steps = int(max_steps)
        n = len(self.memcg_names)
        cap = min(512, self.max_steps)
        self._memcg = np.zeros((cap, len(MEMCG_FIELDS), n), dtype=np.float32)
        self._host = np.zeros((cap, len(HOST_FIELDS)), dtype=np.float64)
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)  # pickle only the recorded rows
        state["_memcg"] = self._memcg[: self._len].copy()
        state["_host"] = self._host[: self._len].copy()
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)

    def _grow(self) -> None:
        cap = self._memcg.shape[0]
        if self._len < cap:
            return
        if cap < self.max_steps:
            new_cap = min(max(2 * cap, 64), self.max_steps)
            self._memcg = np.concatenate([self._memcg, np.zeros((new_cap - cap, *self._memcg.shape[1:]), np.float32)])
            self._host = np.concatenate([self._host, np.zeros((new_cap - cap, self._host.shape[1]))])
            return
        keep = cap // 2  # full: drop the oldest half
        self._memcg[:keep] = self._memcg[cap - keep : cap]
        self._host[:keep] = self._host[cap - keep : cap]
        self._len = keep

    def append(self, sim: Simulator, metrics: StepMetrics | None, host: int) -> None:
        """Record host ``host``'s state now (after a step; ``metrics`` is that step's, or ``None``
        at reset: no refaults, device utilisation unknown)."""
        self._grow()
        n = len(self.memcg_names)
        g = sim.gauges()
        row = self._memcg[self._len]
        row[0] = g.resident_pages[host, :n] * PAGE_SIZE
        row[1] = g.zswap_bytes[host, :n]
        row[2] = (g.swap_pages[host, :n] + g.writeback_pages[host, :n]) * PAGE_SIZE
        row[3] = g.zswap_pages[host, :n] * PAGE_SIZE
        row[4] = g.zero_pages[host, :n] * PAGE_SIZE
        row[5] = sim.state.psi_some_avg[host, :n, 0]
        hrow = self._host[self._len]
        hrow[0] = sim.state.now_s[host]
        hrow[1] = sim.state.step_index[host]
        limit = float(sim.max_pool_bytes)
        hrow[3] = float(g.pool_bytes_host[host]) / limit if limit > 0 else 0.0
        if metrics is None:
            row[6:9] = 0.0
            hrow[2] = np.nan
        else:
            for k, tier in enumerate(("zswap", "swap", "zero")):
                pages = metrics.refault_pages.get(tier)
                row[6 + k] = 0.0 if pages is None else pages[host, :n]
            hrow[2] = metrics.host_device_utilisation[host]
        self._len += 1

    def memcg(self, field: str) -> np.ndarray:
        """(T, len(memcg_names)) float32 series of a :data:`MEMCG_FIELDS` field (a view)."""
        return self._memcg[: self._len, MEMCG_FIELDS.index(field)]

    def host(self, field: str) -> np.ndarray:
        """(T,) float64 series of a :data:`HOST_FIELDS` field (a view)."""
        return self._host[: self._len, HOST_FIELDS.index(field)]

    @property
    def steps(self) -> int:
        """Steps taken since the reset (the rows are one more: the reset's own)."""
        return int(self.host("step")[-1]) if self._len else 0


def memory_bands(history: EpisodeHistory) -> dict[str, np.ndarray]:
    """The data of the memory panels, each (T, len(memcg_names)) float64 bytes: the stacked bands
    :data:`MEMORY_BANDS` and ``"footprint"``, the line above them.

    The bands are what the memcg holds where, each in the bytes it takes there: ``resident``
    (anonymous memory in DRAM), ``zswap`` (the pool's *compressed* bytes, in DRAM) and ``device``
    (pages on the swap device, or being written to it). So their stack is not the memcg's memory
    at original size: that is ``footprint`` (resident + zswapped + device + zero-filled), whose gap
    above the stack is what compression and zero-filled pages save. Zero-filled pages are in no
    band: they hold a swap-map entry only, neither DRAM nor device space.
    """
    bands = {
        band: history.memcg(field).astype(np.float64) for band, field in zip(MEMORY_BANDS, _BAND_FIELDS, strict=True)
    }
    bands["footprint"] = (
        bands["resident"] + bands["device"] + history.memcg("zswapped_bytes") + history.memcg("zero_bytes")
    )
    return bands


_MEMCG_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")
_MAX_POINTS = 1500
"""Longer histories are averaged over buckets of consecutive steps before plotting."""
_CACHE_SIZE = 4
_plots: OrderedDict[tuple[str, ...], _Plot] = OrderedDict()
_plots_lock = threading.Lock()


def _memcg_colour(i: int) -> str:
    return _MEMCG_PALETTE[i % len(_MEMCG_PALETTE)]


def _bucket_mean(x: np.ndarray, k: int) -> np.ndarray:
    """Means over buckets of ``k`` consecutive rows (the first, partial bucket dropped)."""
    if k <= 1:
        return x
    t = (x.shape[0] // k) * k
    return x[x.shape[0] - t :].reshape(t // k, k, *x.shape[1:]).mean(axis=1)


def _polygon(x: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    return np.column_stack([np.concatenate([x, x[::-1]]), np.concatenate([upper, lower[::-1]])])


class _Plot:
    """One reusable figure for a set of memcg names; :meth:`draw` updates its artists in place
    (building axes, ticks and titles is most of a matplotlib figure's cost)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch
        from matplotlib.ticker import MaxNLocator

        self.names = names
        n = len(names)
        width, height = FIGURE_SIZE_PX
        self.fig = fig = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI)
        self.canvas = FigureCanvasAgg(fig)
        outer = fig.add_gridspec(
            2, 1, height_ratios=(1.7, 1.0), left=0.065, right=0.99, top=0.86, bottom=0.07, hspace=0.34
        )
        mem_rows = 1 if n <= 4 else 2
        mem_cols = max(1, math.ceil(max(n, 1) / mem_rows))
        top = outer[0].subgridspec(mem_rows, mem_cols, wspace=0.3, hspace=0.45)
        bottom = outer[1].subgridspec(1, 3, wspace=0.3)
        self.title = fig.suptitle("", fontsize=10)

        def axes(spec, title: str, ylabel: str = "", **kw):
            ax = fig.add_subplot(spec)
            ax.set_title(title, fontsize=8, y=1.0, pad=3, **kw)  # fixed y: no title auto-placement per draw
            ax.set_ylabel(ylabel, fontsize=7, labelpad=2)
            ax.tick_params(labelsize=7, pad=2)
            ax.xaxis.set_major_locator(MaxNLocator(6))
            ax.yaxis.set_major_locator(MaxNLocator(4))
            return ax

        self.mem_axes = []
        self.mem_fills = []
        self.footprint_lines = []
        for i in range(max(n, 1)):
            if i >= n:
                ax = axes(top[0, 0], "(no memcgs)")
                self.mem_axes.append(ax)
                continue
            ax = axes(top[i // mem_cols, i % mem_cols], names[i], color=_memcg_colour(i), fontweight="bold")
            fills = [ax.fill_between([], [], color=c, linewidth=0) for c in _TIER_COLOURS]
            self.mem_axes.append(ax)
            self.mem_fills.append(fills)
            self.footprint_lines.append(ax.plot([], [], color="#333333", lw=0.9, ls="--")[0])
            if i // mem_cols == mem_rows - 1:
                ax.set_xlabel("sim time (min)", fontsize=7, labelpad=1)
        handles = [Patch(color=c, label=lab) for c, lab in zip(_TIER_COLOURS, _TIER_LABELS, strict=True)]
        handles.append(Line2D([], [], color="#333333", lw=0.9, ls="--", label=_FOOTPRINT_LABEL))
        fig.legend(
            handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.955), ncol=2, fontsize=6.5, frameon=False
        )

        self.ax_psi = axes(bottom[0, 0], "PSI some avg10", "share of time stalled (%)")
        self.ax_ref = axes(bottom[0, 1], "refaults per step (all memcgs)", "pages per step")
        self.ax_dev = axes(bottom[0, 2], "host: device util / zswap pool fill", "% of capacity / of limit")
        self.psi_lines = [
            self.ax_psi.plot([], [], color=_memcg_colour(i), lw=1.0, label=name)[0] for i, name in enumerate(names)
        ]
        self.ref_lines = [
            self.ax_ref.plot([], [], color=_TIER_COLOURS[1], lw=1.0, label="from zswap")[0],
            self.ax_ref.plot([], [], color=_TIER_COLOURS[2], lw=1.0, label="from swap")[0],
        ]
        self.dev_lines = [
            self.ax_dev.plot([], [], color="#555555", lw=1.0, label="device util")[0],
            self.ax_dev.plot([], [], color=_TIER_COLOURS[1], lw=1.0, label="zswap pool / limit")[0],
        ]
        self.empty_texts = []
        for ax in (self.ax_psi, self.ax_ref, self.ax_dev):
            ax.set_xlabel("sim time (min)", fontsize=7, labelpad=1)
            if ax.get_lines():
                ax.legend(fontsize=6, loc="upper left", framealpha=0.8)
        for ax in (*self.mem_axes, self.ax_psi, self.ax_ref, self.ax_dev):
            self.empty_texts.append(
                ax.text(0.5, 0.5, "no steps yet", ha="center", va="center", transform=ax.transAxes, fontsize=8)
            )
        self.ax_dev.set_ylim(0, 105)

    def draw(self, history: EpisodeHistory | None, label: str = "zswap-gym host") -> np.ndarray:
        n = len(self.names)
        rows = 0 if history is None else len(history)
        for text in self.empty_texts:
            text.set_visible(rows == 0)
        if rows == 0:
            t = np.zeros(0)
            mem = np.zeros((0, len(MEMORY_BANDS), n))
            footprint = np.zeros((0, n))
            psi = np.zeros((0, n))
            ref = np.zeros((0, 2))
            dev = np.zeros((0, 2))
            status = "no steps yet"
        else:
            k = math.ceil(rows / _MAX_POINTS)
            t = _bucket_mean(history.host("time_s"), k) / 60.0
            bands = memory_bands(history)
            mem = _bucket_mean(np.stack([bands[b] for b in MEMORY_BANDS], axis=1), k)
            footprint = _bucket_mean(bands["footprint"], k)
            psi = _bucket_mean(history.memcg("psi_some_avg10"), k)
            refaults = [history.memcg("refault_zswap").sum(axis=1), history.memcg("refault_swap").sum(axis=1)]
            ref = _bucket_mean(np.stack(refaults, axis=1), k)
            host = [history.host("device_utilisation"), history.host("zswap_pool_fill")]
            dev = 100.0 * _bucket_mean(np.stack(host, axis=1), k)
            # Steps taken, not rows recorded: the reset's row is not a step.
            status = f"{history.steps} steps, t = {history.host('time_s')[-1] / 60.0:.1f} min"
            if k > 1:
                status += f" (means over {k} steps)"
        big = footprint.size and float(footprint.max()) >= GiB
        scale, unit = (GiB, "GiB") if big or not footprint.size else (MiB, "MiB")
        self.title.set_text(f"{label}: memory per memcg ({unit}) — {status}")

        if t.size:
            xlim = (float(t[0]), float(t[-1]) if t[-1] > t[0] else float(t[0]) + 1.0 / 6.0)
        else:
            xlim = (0.0, 1.0)
        cum = np.cumsum(mem, axis=1) / scale  # (T, 3, n): resident, +zswap, +device
        for i, fills in enumerate(self.mem_fills):
            lower = np.zeros(t.size)
            for j, fill in enumerate(fills):
                upper = cum[:, j, i]
                fill.set_verts([_polygon(t, lower, upper)] if t.size else [])
                lower = upper
            self.footprint_lines[i].set_data(t, footprint[:, i] / scale)
            ax = self.mem_axes[i]
            ax.set_ylabel(f"bytes held ({unit})", fontsize=7, labelpad=2)
            ax.set_xlim(*xlim)
            top = float(footprint[:, i].max()) / scale if t.size else 1.0
            ax.set_ylim(0.0, max(top, 1e-3) * 1.05)
        for i, line in enumerate(self.psi_lines):
            line.set_data(t, psi[:, i])
        for j, line in enumerate(self.ref_lines):
            line.set_data(t, ref[:, j])
        for j, line in enumerate(self.dev_lines):
            line.set_data(t, dev[:, j])
        for ax, values in ((self.ax_psi, psi), (self.ax_ref, ref)):
            top = float(np.nanmax(values)) if values.size else 0.0
            ax.set_ylim(0.0, max(top, 1.0) * 1.1)
            ax.set_xlim(*xlim)
        self.ax_dev.set_xlim(*xlim)
        self.canvas.draw()
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()

    def close(self) -> None:
        self.fig.clear()


def render_rgb_array(
    history: EpisodeHistory | None, memcg_names: tuple[str, ...], label: str = "zswap-gym host"
) -> np.ndarray:
    """The episode so far as an RGB image, ``uint8`` of shape (640, 960, 3), titled ``label``.

    Top: one stacked-area panel per memcg (resident / zswap compressed / swap device, GiB or MiB
    against simulated minutes) under a dashed line of its footprint at original size
    (:func:`memory_bands`). Bottom: PSI ``some`` avg10 per memcg, refaulted pages per step from
    zswap and from swap (all memcgs), and swap device utilisation with the zswap pool fill. Every
    axis says its unit; the title counts the steps taken since reset. An empty or ``None`` history
    gives the same layout with titles and no data.

    Drawn on matplotlib's Agg canvas (no GUI backend, no pyplot). The figure of the last few sets of
    memcg names is kept and updated in place (about 4x faster than building one per call);
    :func:`close_figures` frees them.
    """
    names = tuple(memcg_names)
    with _plots_lock:
        plot = _plots.pop(names, None)
        if plot is None:
            plot = _Plot(names)
        _plots[names] = plot
        while len(_plots) > _CACHE_SIZE:
            _plots.popitem(last=False)[1].close()
        return plot.draw(history, label)


def episode_figure(
    history: EpisodeHistory | None, memcg_names: tuple[str, ...], label: str = "zswap-gym host"
) -> Figure:
    """:func:`render_rgb_array`'s plot as a new matplotlib ``Figure`` of its own (on an Agg
    canvas; not kept for reuse), e.g. to save as a vector file: ``episode_figure(...).savefig("x.pdf")``."""
    plot = _Plot(tuple(memcg_names))
    plot.draw(history, label)
    return plot.fig


def close_figures() -> None:
    """Free the figures :func:`render_rgb_array` keeps for reuse."""
    with _plots_lock:
        while _plots:
            _plots.popitem()[1].close()


def _mib(x: float) -> str:
    return f"{x / MiB:.1f}"


def render_ansi(sim: Simulator, metrics: StepMetrics | None, host: int, label: int | None = None) -> str:
    """Host ``host``'s current state as a text table: one row per tenant memcg, then a host line.
    ``label``: the host number shown (default ``host``; a shard's hosts show their batch index).

    Sizes come from the simulator's gauges (valid at any time, including right after reset); the
    per-step figures (refaults, device utilisation and latency, bytes written) from ``metrics``,
    shown as ``-`` when it is ``None``.
    """
    names = tuple(sim.memcg_names)
    g = sim.gauges()
    st = sim.state
    psi = st.psi_some_avg[host]
    step = int(st.step_index[host])
    now = float(st.now_s[host])
    lines = [f"host {host if label is None else label}  step {step}  t = {now:.0f} s ({now / 60.0:.1f} min)"]
    header = (
        f"{'memcg':<12} {'memory.current':>14} {'resident':>9} {'zswap/zswapped':>16} {'swap dev':>9} "
        f"{'zero-fill':>9} {'psi some 10/60':>15} {'refaults z/s/0':>20}"
    )
    units = f"{'':<12} {'MiB':>14} {'MiB':>9} {'MiB':>16} {'MiB':>9} {'MiB':>9} {'%':>15} {'pages':>20}"
    lines += [header, units]
    for i, name in enumerate(names):
        label = name if len(name) <= 12 else name[:11] + "~"
        current = float(g.memory_current[host, i])
        resident = float(g.resident_pages[host, i]) * PAGE_SIZE
        zswap = f"{_mib(float(g.zswap_bytes[host, i]))}/{_mib(float(g.zswap_pages[host, i]) * PAGE_SIZE)}"
        device = float(g.swap_pages[host, i] + g.writeback_pages[host, i]) * PAGE_SIZE  # on or to the device
        zero = float(g.zero_pages[host, i]) * PAGE_SIZE  # a swap-map entry only
        psi_s = f"{psi[i, 0]:.2f}/{psi[i, 1]:.2f}"
        if metrics is None:
            refaults = "-"
        else:
            r = [int(round(float(metrics.refault_pages[t][host, i]))) for t in ("zswap", "swap", "zero")]
            refaults = "/".join(str(v) for v in r)
        sizes = f"{_mib(current):>14} {_mib(resident):>9} {zswap:>16} {_mib(device):>9} {_mib(zero):>9}"
        lines.append(f"{label:<12} {sizes} {psi_s:>15} {refaults:>20}")
    dram_total = float(sim.cfg.host.dram_bytes)
    dram_used = float(g.dram_used_host[host])
    pool = float(g.pool_bytes_host[host])
    limit = float(sim.max_pool_bytes)
    host_line = (
        f"host: DRAM used {dram_used / GiB:.2f} / free {(dram_total - dram_used) / GiB:.2f} GiB | "
        f"zswap pool {_mib(pool)} / limit {_mib(limit)} MiB"
    )
    if metrics is None:
        host_line += " | device util - read lat - | written this step -"
    else:
        host_line += (
            f" | device util {100.0 * float(metrics.host_device_utilisation[host]):.1f} %"
            f" read lat {float(metrics.host_device_read_latency_us[host]):.0f} us"
            f" | written this step {_mib(float(metrics.host_device_bytes_written[host]))} MiB"
        )
    lines.append(host_line)
    return "\n".join(lines)
