"""Search strategies over a SpaceGraph: DARTS (one-shot, differentiable) and constraint-aware derivation."""
