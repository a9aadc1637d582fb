"""The worker's web views: table statistics as JSON."""
