"""``python -m kgagent.cli`` (and ``torchrun ... -m kgagent.cli kge train ...``)."""

from __future__ import annotations

from kgagent.cli import main

if __name__ == "__main__":
    main()
