"""``python -m bandbridge.cli``: the ``bandbridge`` command."""

from bandbridge.cli import main

if __name__ == "__main__":
    main()
