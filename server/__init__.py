"""The HTTP face of `learnstream serve`: assembles the components' routes into one app (beside `cli/`)."""
