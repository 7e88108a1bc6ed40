"""``python -m gateway_core`` runs the ``gateway`` command."""

from .cli import main

main()
