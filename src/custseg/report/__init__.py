"""Rendering: the self-contained HTML report and the terminal summary."""

from custseg.report.html import render_dir, render_html, render_quality, render_run
from custseg.report.notebook import register, summary_html
from custseg.report.terminal import print_exploration, print_summary

register()

__all__ = [
    "print_exploration",
    "print_summary",
    "render_dir",
    "render_html",
    "render_quality",
    "render_run",
    "summary_html",
]
