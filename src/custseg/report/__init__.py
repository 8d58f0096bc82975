"""Rendering: the self-contained HTML report and the terminal summary."""

from custseg.report.html import render_html
from custseg.report.terminal import print_summary

__all__ = ["print_summary", "render_html"]
