"""Training: state, checkpoints, optimizers and schedules, the loop."""
