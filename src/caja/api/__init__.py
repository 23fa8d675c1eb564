"""HTTP surfaces: one router package per API, each with its auth scheme and error body."""
