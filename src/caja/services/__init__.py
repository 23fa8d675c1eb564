"""One module per product, each a set of use cases over the ledger."""
