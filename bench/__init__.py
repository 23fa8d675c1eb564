"""End-to-end benchmark of the ledger's transfer endpoint: ``python -m bench --help``."""
