"""Private helpers shared across the layers: atomic file writes, stable hashing and seeds,
small statistics and the figures' common style."""
