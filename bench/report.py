"""The load benchmarks' results as Markdown tables, for docs/benchmarks.md.

    python -m bench.report

Reads bench/results/call_load.json, sip_load.json and soak.json (whichever
exist) and prints one table each: medians of the repeats, with min–max.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.call_load import RESULTS, _med, by_rate

Getter = Callable[[dict[str, Any]], Any]


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / name
    return dict(json.loads(path.read_text())) if path.exists() else None


def _cell(values: list[float], fmt: str = "{:.0f}") -> str:
    if not values:
        return "–"
    med = _med(values)
    if len(values) == 1 or min(values) == max(values):
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def call_load(report: dict[str, Any]) -> str:
    results = report["results"]
    rows = [
        ("completed, %", lambda r: 100 * r["completed_share"], "{:.1f}", "both"),
        ("fallbacks", lambda r: r["fallbacks"], "{:.0f}", "both"),
        ("join p50, s", lambda r: r["join_s"]["p50"], "{:.2f}", "both"),
        ("Asterisk CPU, ms/call", lambda r: r["asterisk_ms_per_call"], "{:.0f}", "both"),
        ("machine busy, %", lambda r: r["machine_busy_pct"], "{:.0f}", "both"),
        ("records missing+doubled+wrong", lambda r: sum(
            r["records"][k] for k in ("missing", "doubled", "wrong")), "{:.0f}", "server"),
        ("records unfinished", lambda r: r["records"].get("unfinished", 0), "{:.0f}",
         "server"),
        ("server CPU, ms/call", lambda r: r["server_ms_per_call"], "{:.1f}", "server"),
        ("server CPU, % of a core", lambda r: r["server_cpu_pct"], "{:.0f}", "server"),
        ("server RSS, MB", lambda r: r["server_rss_mb"], "{:.0f}", "server"),
        ("loop lag p99 / max, ms", None, "", "server"),
        ("the machine's lag p99 / max, ms", None, "", "server"),
        ("AMI event lag p99, ms", lambda r: (r.get("ami_lag_ms") or {}).get("p99"), "{:.0f}",
         "server"),
        ("pop p50, ms", lambda r: r["pop_ms"]["p50"], "{:.0f}", "server"),
        ("pop p99, ms", lambda r: r["pop_ms"]["p99"], "{:.0f}", "server"),
    ]
    rates = sorted({float(r["rate"]) for r in results})
    out = ["| calls/s | " + " | ".join(f"{r:g}" for r in rates) + " |",
           "| --- | " + " | ".join("---" for _ in rates) + " |"]
    for label, get, fmt, modes in rows:
        for mode in (["asterisk", "server"] if modes == "both" else ["server"]):
            name = f"{label} ({'alone' if mode == 'asterisk' else 'server'})" \
                if modes == "both" else label
            if get is None:
                key = "loop_lag_ms" if label.startswith("loop") else "machine_lag_ms"
                p99 = by_rate(results, mode, lambda r, k=key: (r.get(k) or {}).get("p99"))
                mx = by_rate(results, mode, lambda r, k=key: (r.get(k) or {}).get("max"))
                cells = [f"{_cell(p99.get(rate, []))} / {_cell(mx.get(rate, []))}"
                         for rate in rates]
            else:
                data = by_rate(results, mode, get)
                cells = [_cell(data.get(rate, []), fmt) for rate in rates]
            out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def sip_load(report: dict[str, Any]) -> str:
    out = ["| calls/s | offered | SIPp ok / failed | queued (TV) | path right | fallbacks "
           "| records wrong | server ms/call | Asterisk ms/call | loop lag p99 / max, ms |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in report["results"]:
        wrong = sum(r["records"][k] for k in ("missing", "doubled", "wrong"))
        lag = r.get("loop_lag_ms") or {}
        out.append(
            f"| {r['rate']:g} | {r['offered']} | {r['sipp'].get('successful')} / "
            f"{r['sipp'].get('failed')} | {r['queued']} ({r['queued_tv']}) | {r['path_right']} "
            f"| {r['fallbacks']} | {wrong} | {r['server_ms_per_call']} "
            f"| {r['asterisk_ms_per_call']} | {lag.get('p99')} / {lag.get('max')} |")
    return "\n".join(out)


def soak(report: dict[str, Any]) -> str:
    rss, fds = report["rss_mb"], report["fds"]
    rec = report["records"]
    return "\n".join([
        "| | first | max | last | slope per hour |", "| --- | --- | --- | --- | --- |",
        f"| RSS, MB | {rss['first']} | {rss['max']} | {rss['last']} | {rss['slope_per_hour']} |",
        f"| open fds | {fds['first']} | {fds['max']} | {fds['last']} | "
        f"{fds['slope_per_hour']} |", "",
        f"{report['offered']} calls at {report['rate']:g}/s for {report['minutes']:g} min; "
        f"tracked calls after the last: {report['live_calls_after']}; records checked "
        f"{rec['checked']}: missing {rec['missing']}, doubled {rec['doubled']}, wrong "
        f"{rec['wrong']}; fallbacks {report['fallbacks']}; server CPU "
        f"{report['server_ms_per_call']} ms/call."])


def main() -> int:
    for name, render in (("call_load.json", call_load), ("sip_load.json", sip_load),
                         ("soak.json", soak)):
        report = _load(name)
        if report is None:
            print(f"<!-- {name}: not run -->\n")
            continue
        print(f"### {Path(name).stem}\n\n{render(report)}\n")
        if "summary" in report:
            print("```json\n" + json.dumps(report["summary"], indent=1) + "\n```\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
