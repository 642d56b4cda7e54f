"""The soak's HTML report: one self-contained file a fleet owner can open offline.

Built only from ``DIR/soak.jsonl`` (so ``kiosk bench report DIR`` rebuilds it after the
fact, on any machine), with plots drawn by matplotlib's Agg backend and embedded as PNG
data URIs: no CDN, no script, nothing fetched when the file is opened.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from kiosk.errors import KioskError
from kiosk.fleet import cost as cost_mod
from kiosk.fleet.slo import verdict as slo_verdict
from kiosk.fleet.slo import verdict_words

COLOURS = ["#1f4e9c", "#c0392b", "#1e8449", "#7d3c98", "#b9770e"]


def read_soak(out_dir: Path) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    path = Path(out_dir) / "soak.jsonl"
    try:
        lines = path.read_text("utf-8").splitlines()
    except FileNotFoundError as e:
        raise KioskError("bench.no-soak", f"{path} does not exist",
                         "run `kiosk bench soak --out DIR` first, then `kiosk bench report DIR`") from e
    rows, summary = [], None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            if n == len(lines):  # a run killed mid-write: keep every complete minute
                break
            raise KioskError("bench.bad-soak", f"{path}:{n} is not JSON: {e}", "re-run the soak") from e
        if obj.get("kind") == "window":
            rows.append(obj)
        elif obj.get("kind") == "summary":
            summary = obj
    return rows, summary


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _plots(rows: list[dict[str, Any]], summary: dict[str, Any] | None) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    plots: dict[str, str] = {}
    levels = sorted({r["concurrency"] for r in rows})

    fig, ax = plt.subplots(figsize=(8, 3.6))
    for i, level in enumerate(levels):
        rs = [r for r in rows if r["concurrency"] == level]
        x = [r["minute"] for r in rs]
        for key, style in (("ttft_ms", "-"), ("e2e_ms", "--")):
            y = [r[key]["p95"] for r in rs]
            ax.plot(x, y, style, marker="o", ms=3, color=COLOURS[i % len(COLOURS)],
                    label=f"{'TTFT' if key == 'ttft_ms' else 'end-to-end'} p95, concurrency {level}")
    ax.set_xlabel("minute of the run")
    ax.set_ylabel("milliseconds")
    ax.set_title("Latency over time (p95 per minute)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    plots["latency_over_time"] = _png(fig)
    plt.close(fig)

    temps = [(r["minute"], r["temp_c_max"]) for r in rows if r.get("temp_c_max") is not None]
    freqs = [(r["minute"], r["freq_mhz_mean"]) for r in rows if r.get("freq_mhz_mean") is not None]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    if freqs:
        ax.plot(*zip(*freqs, strict=True), color=COLOURS[0], marker="o", ms=3, label="CPU frequency (MHz)")
        ax.set_ylabel("MHz")
    ax.set_xlabel("minute of the run")
    if temps:
        ax2 = ax.twinx()
        ax2.plot(*zip(*temps, strict=True), color=COLOURS[1], marker="s", ms=3, label="CPU temperature (°C)")
        ax2.set_ylabel("°C")
        ax2.legend(loc="lower right", fontsize=7)
    title = "Temperature and frequency over time"
    if not temps:
        title += " (this host reports no temperature)"
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if freqs:
        ax.legend(loc="lower left", fontsize=7)
    plots["thermal_over_time"] = _png(fig)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 3.2))
    for i, level in enumerate(levels):
        e2e = [a[2] for r in rows if r["concurrency"] == level for a in r.get("answers_ms", [])]
        if e2e:
            ax.hist(e2e, bins=30, alpha=0.55, color=COLOURS[i % len(COLOURS)], label=f"concurrency {level}")
    ax.set_xlabel("end-to-end latency of each answer (ms)")
    ax.set_ylabel("answers")
    ax.set_title("Latency histogram (every answer)")
    ax.legend(fontsize=7)
    plots["latency_histogram"] = _png(fig)
    plt.close(fig)

    if summary:
        fig, ax = plt.subplots(figsize=(6, 3.2))
        by = summary.get("by_concurrency", {})
        xs = sorted(int(k) for k in by)
        for key, colour, label in (("ttft_ms", COLOURS[0], "TTFT"), ("e2e_ms", COLOURS[1], "end-to-end")):
            for q, style in (("p50", "-"), ("p95", "--")):
                ys = [by[str(x)][key][q] for x in xs]
                ax.plot(xs, ys, style, marker="o", color=colour, label=f"{label} {q}")
        ax.set_xticks(xs)
        ax.set_xlabel("concurrent visitors")
        ax.set_ylabel("milliseconds")
        ax.set_title("Latency against concurrency")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        plots["latency_vs_concurrency"] = _png(fig)
        plt.close(fig)
    return plots


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "not available"
    if isinstance(value, float):
        value = f"{value:,.2f}".rstrip("0").rstrip(".")
    elif isinstance(value, int):
        value = f"{value:,}"
    return html.escape(f"{value}{(' ' + unit) if unit else ''}")


def _money(v: float | None) -> str:
    return "n/a" if v is None else f"${v:,.0f}"


def _pct_row(name: str, stats: dict[str, Any]) -> str:
    cells = "".join(f"<td>{_fmt(stats.get(q))}</td>" for q in ("p50", "p95", "p99"))
    return f"<tr><th>{html.escape(name)}</th>{cells}</tr>"


def cost_section(summary: dict[str, Any] | None, inputs_path: str | None) -> tuple[dict[str, Any], str]:
    capacity = (summary or {}).get("capacity", {}).get("answers_per_day") or 0
    inputs = cost_mod.load_inputs(inputs_path)
    measured = None
    if capacity:
        inputs.edge.capacity_answers_per_day = float(capacity)
        measured = cost_mod.load_inputs(inputs_path, {"edge": {"devices": 0,
                                                                "capacity_answers_per_day": float(capacity)}})
    result = cost_mod.compute(inputs)
    rows = [
        ("Answers per day (fleet)", _fmt(result["requests_per_day"]), ""),
        ("Devices", _fmt(result["devices"]), ""),
        ("3-year total", _money(result["edge_total"]), _money(result["cloud_total"])),
        ("Capex / compute", _money(result["edge_capex"]), _money(result["cloud_compute"])),
        ("Power + connectivity", _money(result["edge_power"] + result["edge_connectivity"]), "-"),
        ("Operations", _money(result["edge_ops"]), _money(result["cloud_ops"])),
        ("Extras", _money(result["edge_extras"]), _money(result["cloud_extras"])),
        ("Cost per 1,000 answers", _money(result["edge_per_1000_answers"]), _money(result["cloud_per_1000_answers"])),
    ]
    table = "".join(f"<tr><th>{a}</th><td>{b}</td><td>{c}</td></tr>" for a, b, c in rows)
    text = (f"<p>Cheaper over {_fmt(result['years'])} years: <b>{result['cheaper']}</b> "
            f"(edge saves {_money(result['edge_saves'])}). ")
    be = result["break_even_requests_per_day"]
    text += (f"Break-even: {_fmt(be)} answers per day.</p>" if be is not None
             else "The cloud cost here does not grow with the request rate (GPU-hour pricing), so there is "
                  "no break-even rate.</p>")
    if measured is not None:
        m = cost_mod.compute(measured)
        text += (f"<p>Measured capacity: one device sustains {_fmt(capacity)} answers per day within the SLOs, "
                 f"so {_fmt(m['requests_per_day'])} answers per day need <b>{m['devices']}</b> device(s); "
                 f"that fleet costs {_money(m['edge_total'])} over the horizon.</p>")
    else:
        text += "<p>No concurrency level met the SLOs, so the device count is the inputs' own.</p>"
    src = html.escape(str(inputs_path or cost_mod.DEFAULTS_PATH))
    section = (f"<h2>Cost: edge against cloud</h2><p class=note>Inputs: {src} (every value editable; "
               f"defaults name their source).</p><table><tr><th></th><th>Edge</th><th>Cloud</th></tr>{table}"
               f"</table>{text}")
    return result, section


CSS = """
body{font-family:sans-serif;max-width:60rem;margin:2rem auto;color:#111;background:#fff;line-height:1.45}
h1{font-size:1.7rem} h2{font-size:1.25rem;margin-top:2rem;border-bottom:2px solid #1f4e9c}
table{border-collapse:collapse;margin:.5rem 0} th,td{border:1px solid #999;padding:.3rem .6rem;text-align:right}
th{text-align:left;background:#eef} .met{color:#1e6b30;font-weight:bold} .missed{color:#a00;font-weight:bold}
.note{color:#444;font-size:.9rem} img{max-width:100%}
"""


def rejudge(summary: dict[str, Any], slo: Any) -> dict[str, Any]:
    """The summary judged against ``slo`` (the config's [slo] now, which may differ from the run's)."""
    from kiosk.fleet.slo import slo_verdicts
    from kiosk.fleet.soak import capacity

    s = dict(summary)
    s["slo"] = slo_verdicts(slo, s["overall"], s["overall"].get("temp_c_max"))
    s["by_concurrency"] = {k: dict(v, slo=slo_verdicts(slo, v, None)) for k, v in s["by_concurrency"].items()}
    s["capacity"] = capacity(s["by_concurrency"])
    s["slo_targets"] = {k: getattr(slo, k) for k in slo.__dataclass_fields__}
    return s


def render(rows: list[dict[str, Any]], summary: dict[str, Any] | None, inputs_path: str | None = None) -> str:
    plots = _plots(rows, summary) if rows else {}
    s = summary or {}
    overall = s.get("overall", {})
    device = s.get("device", {})
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Kiosk soak report</title>"
             f"<style>{CSS}</style></head><body><h1>Kiosk fleet-readiness soak</h1>"]
    if not summary:
        parts.append("<p class=missed>The run ended before its summary: the figures below are the minutes "
                     "that completed.</p>")
    parts.append("<table>" + "".join(
        f"<tr><th>{html.escape(k)}</th><td>{_fmt(v)}</td></tr>" for k, v in [
            ("Device", device.get("machine")), ("CPU", device.get("cpu")), ("Cores", device.get("cores")),
            ("Memory (MB)", device.get("memory_mb")), ("Backend", s.get("backend")), ("Model", s.get("model")),
            ("Venue", s.get("venue")), ("Finished", s.get("finished")),
            ("Duration (s)", s.get("seconds")), ("Windows (s each)", f"{len(rows)} x {s.get('window_s', '?')}"),
            ("Concurrency levels", ", ".join(map(str, s.get("levels", [])))),
            ("Mix wanted", json.dumps(s.get("mix_wanted", {}))), ("Mix achieved", json.dumps(s.get("mix_achieved", {}))),
        ]) + "</table>")
    if summary:
        parts.append("<h2>Headline</h2><table><tr><th></th><th>p50</th><th>p95</th><th>p99</th></tr>")
        parts.append(_pct_row("Time to first shown word (ms)", overall.get("ttft_ms", {})))
        parts.append(_pct_row("  of LLM answers (ms)", overall.get("ttft_llm_ms", {})))
        parts.append(_pct_row("Generation TTFT (ms)", overall.get("gen_ttft_ms", {})))
        parts.append(_pct_row("Inter-token latency, first 64 tokens (ms)", overall.get("itl_ms", {})))
        parts.append(_pct_row("End-to-end (ms)", overall.get("e2e_ms", {})))
        parts.append(_pct_row("  of LLM answers (ms)", overall.get("e2e_llm_ms", {})))
        parts.append("</table>")
        parts.append("<table><tr><th>Concurrency</th><th>answers/min</th><th>tokens/s (generation)</th>"
                     "<th>TTFT p95</th><th>ITL p95</th><th>e2e p95</th><th>errors</th></tr>")
        for level, st in sorted(s.get("by_concurrency", {}).items(), key=lambda kv: int(kv[0])):
            parts.append(f"<tr><td>{level}</td><td>{_fmt(st['answers_per_minute'])}</td>"
                         f"<td>{_fmt(st['tokens_per_s'])}</td><td>{_fmt(st['ttft_ms']['p95'])}</td>"
                         f"<td>{_fmt(st['itl_ms']['p95'])}</td><td>{_fmt(st['e2e_ms']['p95'])}</td>"
                         f"<td>{_fmt(st['errors'])}</td></tr>")
        parts.append("</table>")
        parts.append("<h2>Service-level objectives</h2><table><tr><th>objective</th><th>target</th>"
                     "<th>measured</th><th>verdict</th><th>by</th></tr>")
        for v in s.get("slo", []):
            verdict = slo_verdict(v)
            cls = "" if v["met"] is None else ("met" if v["met"] else "missed")
            parts.append(f"<tr><th>{html.escape(v['label'])}</th><td>{_fmt(v['target'], v['unit'])}</td>"
                         f"<td>{_fmt(v['value'], v['unit'])}</td><td class={cls or 'note'}>{verdict}</td>"
                         f"<td>{_fmt(v['by'], v['unit'])}</td></tr>")
        parts.append("</table>")
        cap = s.get("capacity", {})
        parts.append(f"<p>Capacity: <b>{_fmt(cap.get('answers_per_day'))}</b> answers per day per device "
                     f"(concurrency {_fmt(cap.get('concurrency'))}; {html.escape(cap.get('note', ''))}).</p>")
        th = s.get("thermal", {})
        parts.append(f"<h2>Thermal verdict: {html.escape(str(th.get('verdict')))}</h2><p>First against last "
                     f"{_fmt(th.get('compared_minutes'))} minutes: CPU frequency {_fmt(th.get('freq_first_mhz'))} -> "
                     f"{_fmt(th.get('freq_last_mhz'))} MHz ({_fmt(th.get('freq_drift_pct'))}%), temperature "
                     f"{_fmt(th.get('temp_first_c'))} -> {_fmt(th.get('temp_last_c'))} °C.</p><table><tr>"
                     "<th>concurrency</th><th>ITL p50 first</th><th>ITL p50 last</th><th>drift %</th>"
                     "<th>e2e p95 first</th><th>e2e p95 last</th><th>drift %</th></tr>")
        for level, t in sorted(th.get("by_concurrency", {}).items()):
            parts.append(f"<tr><td>{level}</td><td>{_fmt(t['itl_p50_first_ms'])}</td>"
                         f"<td>{_fmt(t['itl_p50_last_ms'])}</td><td>{_fmt(t['itl_drift_pct'])}</td>"
                         f"<td>{_fmt(t['e2e_p95_first_ms'])}</td><td>{_fmt(t['e2e_p95_last_ms'])}</td>"
                         f"<td>{_fmt(t['e2e_drift_pct'])}</td></tr>")
        parts.append("</table>")
    titles = {"latency_over_time": "Latency over time", "thermal_over_time": "Temperature and frequency",
              "latency_histogram": "Latency histogram", "latency_vs_concurrency": "Latency against concurrency"}
    for key, uri in plots.items():
        parts.append(f"<h2>{titles[key]}</h2><img alt='{titles[key]}' src='{uri}'>")
    _, section = cost_section(summary, inputs_path)
    parts.append(section)
    parts.append("<h2>Per minute</h2><table><tr><th>window</th><th>minute</th><th>concurrency</th>"
                 "<th>answers</th><th>errors</th><th>TTFT p95</th><th>e2e p95</th><th>ITL p50</th>"
                 "<th>°C max</th><th>MHz</th><th>RSS MB</th><th>load (1 min)</th></tr>")
    for r in rows:
        parts.append(f"<tr><td>{r['window']}</td><td>{_fmt(r['minute'])}</td><td>{r['concurrency']}</td>"
                     f"<td>{r['answers']}</td><td>{r['errors']}</td><td>{_fmt(r['ttft_ms']['p95'])}</td>"
                     f"<td>{_fmt(r['e2e_ms']['p95'])}</td><td>{_fmt(r['itl_ms']['p50'])}</td>"
                     f"<td>{_fmt(r.get('temp_c_max'))}</td><td>{_fmt(r.get('freq_mhz_mean'))}</td>"
                     f"<td>{_fmt(r.get('rss_mb_max'))}</td><td>{_fmt(r.get('load1_max'))}</td></tr>")
    parts.append("</table></body></html>")
    return "\n".join(parts)


def write_report(out_dir: Path | str, inputs_path: str | None = None, slo: Any = None) -> Path:
    """Write DIR/report.html; with ``slo``, the verdicts are those of these targets."""
    out_dir = Path(out_dir)
    rows, summary = read_soak(out_dir)
    if summary is not None and slo is not None:
        summary = rejudge(summary, slo)
    path = out_dir / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render(rows, summary, inputs_path), "utf-8")
    tmp.replace(path)
    return path


def bench_report(args: Any, config: Any) -> dict[str, Any]:
    target = getattr(args, "target", None)
    if not target:
        raise KioskError("bench.no-dir", "`kiosk bench report` needs the soak's folder",
                         "kiosk bench report DIR (the --out of the soak)")
    path = write_report(Path(target), getattr(args, "inputs", None), config.slo)
    rows, summary = read_soak(Path(target))
    out: dict[str, Any] = {"report": str(path), "windows": len(rows), "complete": summary is not None}
    if summary is not None:
        judged = rejudge(summary, config.slo)
        out["slo"] = verdict_words(judged["slo"])
        out["capacity_answers_per_day"] = judged["capacity"]["answers_per_day"]
    return out
