"""``python -m custseg``."""

from custseg.cli import app

app(prog_name="custseg")
