"""Text for people: one episode's summary, and a table of many."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .runner import EpisodeResult
from .summary import SUMMARY_COLUMNS


def format_summary(result: EpisodeResult) -> str:
    """The ``zswap-gym run`` printout: what ran, then one line per figure."""
    s = result.summary
    minutes = s.duration_s / 60.0
    lines = [
        f"{result.policy} on {result.scenario}, seed {result.seed}: {s.steps} steps ({minutes:.0f} simulated min)",
        f"  DRAM saved           {s.dram_saved_percent:8.1f} % of footprint ({s.dram_saved_gib:.2f} GiB, mean)",
        f"  memory stall         {s.stall_percent:8.3f} % of task time ({s.stall_s:.1f} task-s)",
        f"  PSI some avg10       {s.psi_some_avg10_mean:8.2f} % mean, {s.psi_some_avg10_max:.2f} % max",
        f"  refault latency      {s.refault_latency_mean_us:8.1f} us mean, {s.refault_latency_p99_us:.0f} us p99"
        f" ({s.refaults:.0f} pages)",
        f"  promotion rate       {s.promotion_rate_percent_per_min:8.3f} % of footprint per minute",
        f"  SSD writes           {s.ssd_write_mb_s:8.3f} MB/s",
        f"  CPU                  {s.cpu_percent:8.3f} % of one core",
        f"  OOM kills            {s.oom_kills:8.0f}",
        f"  return               {s.episode_return:8.1f}",
    ]
    return "\n".join(lines)


def format_table(rows: Iterable[Mapping[str, object]]) -> str:
    """A Markdown table, one row per (scenario, policy) of records with a ``summary`` mapping (seeds averaged).

    Records that carry a ``scenario_digest`` (:func:`~.compare.scenario_digest`) are averaged only with
    records of the same content: a ``ValueError`` refuses to average different scenarios that share a
    name (label them apart first, as :func:`~.compare.run_comparison` does).
    """
    grouped: dict[tuple[str, str], list[Mapping[str, float]]] = {}
    digests: dict[str, set[object]] = {}
    for row in rows:
        key = (str(row["scenario"]), str(row["policy"]))
        grouped.setdefault(key, []).append(row["summary"])  # type: ignore[arg-type]
        if row.get("scenario_digest") is not None:
            digests.setdefault(key[0], set()).add(row["scenario_digest"])
    for scenario, contents in digests.items():
        if len(contents) > 1:
            listed = ", ".join(sorted(str(d)[:8] for d in contents))
            raise ValueError(
                f"scenario {scenario!r}: results of {len(contents)} different scenario contents ({listed}) share "
                "this name; refusing to average them as seeds (give each scenario its own name)"
            )
    header = ["scenario", "policy", "seeds", *(title for _, title, _ in SUMMARY_COLUMNS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (scenario, policy), summaries in sorted(grouped.items()):
        cells = [scenario, policy, str(len(summaries))]
        for field, _, fmt in SUMMARY_COLUMNS:
            mean = sum(float(s[field]) for s in summaries) / len(summaries)
            cells.append(fmt.format(mean))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
