"""Pure building blocks: money, tokens, clock and domain errors. No I/O."""
