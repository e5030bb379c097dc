"""Face detector training: data, targets, the two networks and their recipes (torch only)."""
