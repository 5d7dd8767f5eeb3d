"""The operator's cockpit: where the night stands (status), its report (model + renderers), and the tasks.

status.py   pure: plan rows, status lines, latest checks, from the journal and the step registry
report.py   pure: the report's model
render.py   Markdown and HTML (report.html + report.css, string.Template)
tasks.py    fab plan, status, report, rehearse
"""

from .render import render_html, render_markdown  # noqa: F401
from .report import build_report, executions, hms, service_window, verdict  # noqa: F401
from .status import format_plan, latest_checks, manual_answers, plan_rows, status_lines, swap_state  # noqa: F401
