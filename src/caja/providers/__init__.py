"""Outside systems behind small interfaces: mobile operators and the bank core."""
