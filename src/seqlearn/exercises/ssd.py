"""Chapter 9's exercises: Mamba-2 and state space duality."""
