"""Helpers for the pipecraft tests: small real pipelines of `python -c` commands run by real Snakemake."""

from __future__ import annotations

import sys
from pathlib import Path

PY = sys.executable

# Append "<tag>\n" to a ledger file (records every execution), write "partial" to the output,
# sleep (seconds, or "@file" holding them), then write the final text.
RECORD = (
    "import sys, time\n"
    "ledger, tag, out, text, delay = sys.argv[1:6]\n"
    "open(ledger, 'a').write(tag + '\\n')\n"
    "open(out, 'w').write('partial')\n"
    "time.sleep(float(open(delay[1:]).read() if delay.startswith('@') else delay))\n"
    "open(out, 'w').write(text)\n"
)


def record_argv(ledger: Path, tag: str, out: str, text: str, delay: float = 0.0) -> list[str]:
    return [PY, "-c", RECORD, str(ledger), tag, out, text, str(delay)]


def ledger_lines(ledger: Path) -> list[str]:
    return ledger.read_text().splitlines() if ledger.exists() else []


