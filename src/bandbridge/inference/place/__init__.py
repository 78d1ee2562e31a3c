"""The fit at the place: reference, fill and sharpen as kinds of one contract on one runner."""
