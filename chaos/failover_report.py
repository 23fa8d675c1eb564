"""The figures of a failover run, as printed on standard output."""

from __future__ import annotations

import statistics

from chaos.failover import FailoverResult
from chaos.failover_load import Fault
from chaos.journal import Kind
from chaos.report import ALWAYS, line, transfer_lines

__all__ = ["failover_report", "failover_summary"]

FAULT_NAMES = {
    "postgres": "primary PostgreSQL SIGKILL",
    "patroni": "primary Patroni SIGKILL",
    "freeze": "primary PostgreSQL SIGSTOP 20 s",
    "caja": "caja host SIGKILL",
}


def _fault_line(number: int, fault: Fault) -> str:
    if fault.recovery is None:
        outage = "no transfer acknowledged after it"
    else:
        outage = (
            f"longest stretch without an acknowledged transfer {fault.recovery:5.1f} s "
            f"(from +{fault.outage_from:.1f} s)"
        )
    return (
        f"  fault {number:>2}  {FAULT_NAMES[fault.kind]:<32} {fault.node:<6} {outage}, "
        f"{fault.failed_meanwhile} attempts failed until whole again"
    )


def recoveries(result: FailoverResult, kind: str) -> list[float]:
    return [
        fault.recovery
        for fault in result.faults
        if fault.kind == kind and fault.recovery is not None
    ]


def failover_report(result: FailoverResult) -> str:
    journal, findings = result.journal, result.findings
    figures = findings.figures
    transfers = journal.of_kind(Kind.TRANSFER)
    topups = journal.of_kind(Kind.TOPUP)
    deposits = journal.of_kind(Kind.DEPOSIT)
    sends = journal.of_kind(Kind.WALLET)
    lines = [
        f"failover run {result.run}, seed {result.seed}: {'PASS' if result.ok else 'FAIL'} "
        f"({result.seconds:.0f} s)",
        line("cluster cold start", f"{result.cold_start:.1f} s to healthy"),
        *(_fault_line(number, fault) for number, fault in enumerate(result.faults, 1)),
        line(
            "requests sent",
            f"{len(journal.requests)} ({len(transfers)} transfers, {len(topups)} top-ups, "
            f"{len(deposits)} deposit transfers, {len(sends)} wallet sends;"
            f" {sum(sent.attempts for sent in journal.requests)} attempts)",
        ),
        *transfer_lines(figures),
        line(
            "deposit transfers",
            f"{figures['deposit transfers acknowledged']} acknowledged, "
            f"{figures['deposit transfers refused for funds']} refused for funds",
        ),
        line(
            "wallet sends",
            f"{figures['wallet sends acknowledged']} acknowledged, "
            f"{figures['wallet sends refused for funds']} refused for funds, "
            f"{figures['wallet sends unknown']} unknown (made: "
            f"{figures['wallet sends unknown, found made']}, not made: "
            f"{figures['wallet sends unknown, not made']})",
        ),
        line("top-ups answered", sum(sent.status is not None for sent in topups)),
        line("retried after no answer", f"{figures['transfers retried after no answer']}"),
        line("5XX answers sent again", sum(sent.server_errors for sent in journal.requests)),
    ]
    lines += [line(name, findings.count(name)) for name in (*ALWAYS, "5XX yet committed")]
    reconciled = result.reconciled
    lines.append(
        line(
            "top-ups held at the end",
            f"{result.held}, settled by caja reconcile "
            f"{reconciled.get('authorized', 0) + reconciled.get('rejected', 0)}",
        )
    )
    lines.append(line("caja verify", f"exit {result.verify_code}: {result.verify_summary}"))
    for name, found in findings.violations.items():
        if found.count and name not in ALWAYS and name != "5XX yet committed":
            lines.append(line(name, found.count))
        for example in found.examples:
            lines.append(f"      {name}: {example}")
    return "\n".join(lines)


def failover_summary(results: list[FailoverResult]) -> str:
    lines = [
        "",
        "run  faults  acknowledged  lost  dup  5XX-lie  median pg kill  worst  verify  result",
    ]
    for result in results:
        findings = result.findings
        kills = recoveries(result, "postgres")
        every = [fault.recovery for fault in result.faults if fault.recovery is not None]
        median = f"{statistics.median(kills):.1f} s" if kills else "-"
        worst = f"{max(every):.1f} s" if every else "-"
        lines.append(
            f"{result.run:>3}  {len(result.faults):>6}  "
            f"{findings.figures['transfers acknowledged']:>12}  "
            f"{findings.count('transfers lost'):>4}  {findings.count('duplicates'):>3}  "
            f"{findings.count('5XX yet committed'):>7}  {median:>14}  {worst:>5}  "
            f"{result.verify_code!s:>6}  {'PASS' if result.ok else 'FAIL'}"
        )
    return "\n".join(lines)
