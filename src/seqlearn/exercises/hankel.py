"""Chapter 8's exercises: what an LTI system remembers (Hankel matrices, Gramians,
frequency bias)."""
