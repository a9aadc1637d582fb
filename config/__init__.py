"""The settings of the app, read once from the environment and validated."""
