"""Fault tests of a running caja server: ``python -m chaos crash`` kills the server again
and again under load and checks that the ledger lost, doubled and invented nothing.
See chaos/README.md."""
