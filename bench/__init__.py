"""`make bench` and its contenders."""
