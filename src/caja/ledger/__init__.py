"""The double-entry engine: accounts, transfers, holds, reversals, batches."""
