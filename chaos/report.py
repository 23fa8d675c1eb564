"""The figures of a crash run, as printed on standard output."""

from __future__ import annotations

from collections.abc import Mapping

from chaos.crash import RunResult
from chaos.journal import Kind

__all__ = ["line", "run_report", "summary", "transfer_lines"]

# Violations printed on every run, zero or not; any other appears only when found.
ALWAYS = (
    "transfers lost",
    "duplicates",
    "unknown transfers",
    "refused but stored",
    "stored unlike answered",
    "unexpected answers",
    "balances wrong",
    "top-ups lost",
    "top-ups left open",
    "acknowledged not delivered",
    "events without a transfer",
)


def line(name: str, value: object) -> str:
    """One figure of a report, its name in a column."""
    return f"  {name:<30} {value}"


def run_report(result: RunResult) -> str:
    journal, findings = result.journal, result.findings
    figures = findings.figures
    transfers = journal.of_kind(Kind.TRANSFER)
    topups = journal.of_kind(Kind.TOPUP)
    verdict = "PASS" if result.ok else "FAIL"
    retried = figures["transfers retried after no answer"]
    reconciled = result.reconciled
    settled = reconciled.get("authorized", 0) + reconciled.get("rejected", 0)
    lines = [
        f"{result.db} run {result.run}, seed {result.seed}: {verdict} ({result.seconds:.0f} s)",
        line("kills survived", journal.kills),
        line("server down, kill to /healthz", f"{journal.down_seconds:.1f} s in all"),
        line(
            "requests sent",
            f"{len(transfers) + len(topups)} ({len(transfers)} transfers, {len(topups)} top-ups;"
            f" {sum(sent.attempts for sent in journal.requests)} attempts)",
        ),
        *transfer_lines(figures),
        line(
            "retried after no answer",
            f"{retried} transfers ({figures['retried and acknowledged']} acknowledged, "
            f"{figures['retried and refused for funds']} refused for funds), "
            f"{figures['top-ups retried after no answer']} top-ups",
        ),
        line("5XX answers sent again", sum(sent.server_errors for sent in journal.requests)),
    ]
    lines += [line(name, findings.count(name)) for name in ALWAYS]
    lines.append(
        line(
            "top-ups",
            f"{len(topups)}: {figures['top-ups authorized']} authorized, "
            f"{figures['top-ups rejected']} rejected, "
            f"{figures['top-ups open, operator still pending']} open (operator pending)",
        )
    )
    lines.append(
        line(
            "top-ups held at a kill",
            f"{result.held_at_kill}, settled by caja reconcile {settled} "
            f"({reconciled.get('authorized', 0)} authorized, "
            f"{reconciled.get('rejected', 0)} rejected)",
        )
    )
    lines.append(
        line(
            "webhook events",
            f"{figures['events']} events ({figures['transfer events']} ledger.transfer.created); "
            f"{figures['deliveries received']} deliveries received, "
            f"{figures['acknowledged and delivered']} acknowledged transfers delivered, "
            f"{figures['events delivered more than once']} more than once; "
            f"drained in {result.drain_seconds:.1f} s",
        )
    )
    lines.append(line("caja verify", f"exit {result.verify_code}: {result.verify_summary}"))
    for name, found in findings.violations.items():
        if found.count and name not in ALWAYS:
            lines.append(line(name, found.count))
        for example in found.examples:
            lines.append(f"      {name}: {example}")
    return "\n".join(lines)


def summary(results: list[RunResult]) -> str:
    lines = [
        "",
        "db          run  kills  requests  acknowledged  retried  lost  dup  unknown  "
        "held  settled  verify  result",
    ]
    for result in results:
        figures, findings = result.findings.figures, result.findings
        reconciled = result.reconciled
        settled = reconciled.get("authorized", 0) + reconciled.get("rejected", 0)
        lines.append(
            f"{result.db:<11} {result.run:>3}  {result.journal.kills:>5}  "
            f"{len(result.journal.requests):>8}  {figures['transfers acknowledged']:>12}  "
            f"{figures['transfers retried after no answer']:>7}  "
            f"{findings.count('transfers lost'):>4}  {findings.count('duplicates'):>3}  "
            f"{findings.count('unknown transfers'):>7}  {result.held_at_kill:>4}  "
            f"{settled:>7}  {result.verify_code!s:>6}  {'PASS' if result.ok else 'FAIL'}"
        )
    return "\n".join(lines)


def transfer_lines(figures: Mapping[str, int]) -> list[str]:
    """The report's lines on ledger transfers acknowledged and refused, in every test."""
    return [
        line(
            "transfers acknowledged",
            f"{figures['transfers acknowledged']} (201: {figures['transfers answered 201']}, "
            f"208: {figures['transfers answered 208']})",
        ),
        line("transfers refused for funds", figures["transfers refused for funds"]),
    ]
