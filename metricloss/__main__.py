"""``python -m metricloss compare ...``: the comparison command (see metricloss.compare)."""

from metricloss.compare.cli import entry_point

if __name__ == "__main__":
    entry_point()
