"""The service report of a resolved or closed order, as HTML and PDF, for the customer to keep.

It says what was wrong (fault, evidence), what was done (the steps with who and when, outcome,
notes, checklist), the parts needed and used, the photos (their thumbnails), the SLA outcome (each
target met or missed, and the time on hold), the engineer, and leaves a field for the customer's
sign-off. `report_sections` gathers the content once; `report_html` and `report_pdf` only lay it out.
The PDF is drawn with fpdf2 (pure Python), in DejaVu Sans when the system has it (any language),
else in Helvetica with the text reduced to Latin-1.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING

from faultline.ticketing.models import Attachment, Status, WorkOrder

if TYPE_CHECKING:
    from fpdf import FPDF

#: Reads an attachment's thumbnail (JPEG bytes), or None when it has none or it cannot be read.
ThumbnailOf = Callable[[Attachment], bytes | None]

_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


class ReportNotReady(ValueError):
    """Raised when a report is asked for an order that is not yet resolved."""


@dataclass
class Section:
    """A titled block: ``rows`` of (label, value) pairs, or a ``table`` with ``header``."""

    title: str
    rows: list[tuple[str, str]] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    table: list[list[str]] = field(default_factory=list)
    empty: str = ""


@dataclass
class Report:
    title: str
    sections: list[Section]
    photos: list[tuple[str, bytes]]  # (caption, JPEG thumbnail)


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else "-"


def _span(d: timedelta) -> str:
    minutes = int(d.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _target(name: str, due: datetime | None, done: datetime | None) -> tuple[str, str]:
    if due is None:
        return name, "no target"
    if done is None:
        return name, f"due {_when(due)}: not met"
    verdict = "met" if done <= due else f"missed by {_span(done - due)}"
    return name, f"{verdict} (done {_when(done)}, due {_when(due)})"


def sla_outcome(order: WorkOrder) -> list[tuple[str, str]]:
    """Each SLA target met or missed, and the time the clock stood still on hold."""
    on_hold = sum(((h.end or order.resolved_at or h.start) - h.start for h in order.holds), timedelta(0))
    return [
        _target("Response", order.response_due, order.acknowledged_at or order.resolved_at),
        _target("Resolution", order.resolution_due, order.resolved_at),
        (
            "Time on hold",
            f"{_span(on_hold)} ({len(order.holds)} hold{'s' if len(order.holds) != 1 else ''}; "
            "the SLA clock does not run on hold)",
        ),
    ]


def _steps(order: WorkOrder) -> list[list[str]]:
    steps = [[_when(order.opened_at), "opened", "faultline", ""]]
    if order.acknowledged_at:
        steps.append([_when(order.acknowledged_at), "acknowledged", order.assignee or "", ""])
    if order.started_at:
        steps.append([_when(order.started_at), "work started", order.assignee or "", ""])
    for h in order.holds:
        steps.append(
            [
                _when(h.start),
                f"on hold: {h.reason.value.replace('_', ' ')}",
                "",
                ", ".join(h.parts) + (f" (until {_when(h.end)})" if h.end else ""),
            ]
        )
    for c in order.comments:
        steps.append([_when(c.at), "comment", c.author, c.text])
    if order.resolved_at:
        steps.append([_when(order.resolved_at), "resolved", order.assignee or "", order.outcome_notes])
    if order.closed_at:
        steps.append([_when(order.closed_at), "closed", "", ""])
    return sorted(steps, key=lambda s: s[0])


def report_sections(order: WorkOrder, thumbnail_of: ThumbnailOf | None = None) -> Report:
    """The report's content; `ReportNotReady` before the order is resolved."""
    if order.status not in (Status.RESOLVED, Status.CLOSED):
        raise ReportNotReady(f"{order.number} is {order.status.value}: the service report is made once it is resolved")
    summary = Section(
        "Job",
        rows=[
            ("Order", order.number),
            ("Site / asset", f"{order.site} / {order.asset}"),
            ("Fault", order.fault_mode.replace("_", " ")),
            ("Service", f"{order.service_type.value.replace('_', ' ')}, priority {order.priority}"),
            ("Engineer", order.assignee or "-"),
            ("Status", order.status.value),
            ("Outcome", order.outcome.value.replace("_", " ") if order.outcome else "-"),
            ("Notes", order.outcome_notes or "-"),
        ],
    )
    evidence = Section(
        "Evidence",
        header=["Started", "Sensor", "Severity", "Detector / rule", "Readings"],
        table=[
            [
                _when(e.started_at),
                e.sensor,
                e.severity,
                f"{e.detector} {e.detector_version} / {e.rule}",
                ", ".join(
                    f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                    for k, v in e.readings.items()
                    if k in ("min", "mean", "max", "n")
                ),
            ]
            for e in order.evidence
        ],
        empty="No findings (an order made by hand).",
    )
    actions = Section("Actions", header=["When", "Step", "Who", "Details"], table=_steps(order))
    checklist = Section(
        "Checklist",
        header=["Step", "Done", "Note"],
        table=[[c.text, {True: "yes", False: "no", None: "-"}[c.done], c.note] for c in order.checklist],
        empty="No checklist.",
    )
    parts = Section(
        "Parts",
        header=["Part number", "Quantity", "Description", "State"],
        table=[[p.number, f"{p.quantity:g}", p.description, p.state] for p in order.parts],
        empty="No parts.",
    )
    sla = Section("SLA outcome", rows=sla_outcome(order))
    files = [a for a in order.attachments if a.kind != "photo"]
    documents = Section(
        "Other files",
        header=["File", "Kind", "Bytes", "SHA-256"],
        table=[[a.name, a.kind, str(a.size), a.sha256[:16] + "…"] for a in files],
        empty="None.",
    )
    photos = []
    for a in order.attachments:
        thumb = thumbnail_of(a) if thumbnail_of and a.thumbnail_key else None
        if thumb:
            photos.append((f"{a.name} ({_when(a.at)}, {a.uploaded_by})", thumb))
    sign = Section("Customer sign-off", rows=[("Name", ""), ("Signature", ""), ("Date", "")])
    return Report(
        f"Service report {order.number}", [summary, evidence, actions, checklist, parts, sla, documents, sign], photos
    )


_CSS = """body{font-family:system-ui,sans-serif;max-width:52rem;margin:1.5rem auto;padding:0 1rem;color:#1d2329}
h1{font-size:1.5rem}h2{font-size:1.1rem;margin-top:1.4rem;border-bottom:1px solid #ccd;padding-bottom:.2rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #e3e6ea;
vertical-align:top}th{background:#f1f3f5}dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}
dd{margin:0}.sign dd{border-bottom:1px solid #555;min-height:2rem}figure{display:inline-block;margin:.3rem}
figcaption{font-size:.8rem;color:#555;max-width:320px}"""


def report_html(order: WorkOrder, thumbnail_of: ThumbnailOf | None = None) -> str:
    """The report as one self-contained HTML page (photos inline)."""
    report = report_sections(order, thumbnail_of)
    parts = [
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{escape(report.title)}</title>"
        f"<style>{_CSS}</style><h1>{escape(report.title)}</h1>"
    ]
    for s in report.sections:
        parts.append(f"<h2>{escape(s.title)}</h2>")
        if s.rows:
            css = ' class="sign"' if s.title == "Customer sign-off" else ""
            parts.append(
                f"<dl{css}>" + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in s.rows) + "</dl>"
            )
        elif s.table:
            head = "".join(f"<th>{escape(h)}</th>" for h in s.header)
            body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in s.table)
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        else:
            parts.append(f"<p>{escape(s.empty)}</p>")
        if s.title == "Parts":
            parts.append(
                "<h2>Photos</h2>"
                + (
                    "".join(
                        f'<figure><img src="data:image/jpeg;base64,{base64.b64encode(jpeg).decode()}" alt="{escape(caption)}">'
                        f"<figcaption>{escape(caption)}</figcaption></figure>"
                        for caption, jpeg in report.photos
                    )
                    or "<p>No photos.</p>"
                )
            )
    return "\n".join(parts) + "\n</html>\n"


def report_pdf(order: WorkOrder, thumbnail_of: ThumbnailOf | None = None) -> bytes:
    """The report as an A4 PDF."""
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos
    from fpdf.fonts import FontFace

    report = report_sections(order, thumbnail_of)
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    family, text = _font(pdf)
    pdf.add_page()
    pdf.set_font(family, "B", 16)
    pdf.cell(0, 10, text(report.title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    width = pdf.w - pdf.l_margin - pdf.r_margin

    def heading(title: str) -> None:
        pdf.ln(3)
        pdf.set_font(family, "B", 12)
        pdf.cell(0, 8, text(title), border="B", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(family, "", 9)

    for s in report.sections:
        heading(s.title)
        if s.rows:
            for label, value in s.rows:
                pdf.set_font(family, "B", 9)
                pdf.cell(35, 7 if s.title != "Customer sign-off" else 12, text(label))
                pdf.set_font(family, "", 9)
                if s.title == "Customer sign-off":
                    pdf.cell(width - 35, 12, "", border="B", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
                else:
                    pdf.multi_cell(width - 35, 7, text(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        elif s.table:
            with pdf.table(
                headings_style=FontFace(emphasis="BOLD", fill_color=(241, 243, 245)), text_align="LEFT", line_height=5
            ) as table:
                header = table.row()
                for h in s.header:
                    header.cell(text(h))
                for row in s.table:
                    cells = table.row()
                    for c in row:
                        cells.cell(text(c))
        else:
            pdf.cell(0, 7, text(s.empty), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if s.title == "Parts":
            heading("Photos")
            if not report.photos:
                pdf.cell(0, 7, "No photos.", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            for caption, jpeg in report.photos:
                if pdf.get_y() > pdf.h - 75:
                    pdf.add_page()
                pdf.image(BytesIO(jpeg), w=60)
                pdf.multi_cell(width, 5, text(caption), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())


def _font(pdf: FPDF) -> tuple[str, Callable[[str], str]]:
    """DejaVu Sans when installed (any script), else Helvetica over Latin-1 text."""
    regular, bold = _DEJAVU / "DejaVuSans.ttf", _DEJAVU / "DejaVuSans-Bold.ttf"
    if regular.is_file() and bold.is_file():
        pdf.add_font("DejaVu", "", str(regular))
        pdf.add_font("DejaVu", "B", str(bold))
        return "DejaVu", lambda s: s
    return "Helvetica", lambda s: s.replace("…", "...").encode("latin-1", "replace").decode("latin-1")


__all__ = ["ReportNotReady", "report_html", "report_pdf", "report_sections", "sla_outcome"]
