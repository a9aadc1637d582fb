"""Faust records for the input events, and their decoders that say why input is bad."""
