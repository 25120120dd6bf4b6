"""Part I: the calculus of variations."""
