"""nanguard serving guard: checks around a model where it is served."""
