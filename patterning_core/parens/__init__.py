"""Parentheses balancing: two algorithms (Nested, Equal-Count) that both fit the training data
(Wang & Murfet 2026, the LLC-targeting experiment; chapter 6).

- :mod:`.data` - the seeded data generator (training, test and out-of-distribution strings);
- :mod:`.model` - the small transformer classifier, seed-batched;
- :mod:`.patterning` - many seeds trained at once, their classification, the LLC and the per-string
  loss susceptibilities, re-weighting along the susceptibility gap.

Import each module by its path, e.g. ``from patterning_core.parens.data import make_parens_data``.
"""
