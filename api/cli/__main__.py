"""``python -m api.cli`` = the ``skillcircle`` command."""

from api.cli import main

main()
