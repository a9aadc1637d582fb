"""Faust agents, topics, tables and commands; found by the app's autodiscovery."""
