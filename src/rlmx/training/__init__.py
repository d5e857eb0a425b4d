"""Learnable trajectories: recorded runs as training data (``export``), an RL environment
over real runs (``environment``), and supervised fine-tuning on them (``sft``)."""
