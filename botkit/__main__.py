"""``python -m botkit``: the same as the ``botkit`` command."""

from .cli import main

if __name__ == "__main__":
    main()
