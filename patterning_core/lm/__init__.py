"""The attention-only language model of Wang & Murfet (2026), §3 (chapters 5 and 7).

- :mod:`.model` - the attention-only transformer (shortformer positions), per-token losses, head masks;
- :mod:`.data` - the frozen, checksum-verified corpus, tokenizers and checkpoints in ``data/lm/``;
  contexts and token labels;
- :mod:`.leverage` - how far re-weighting contexts can move the induction-pattern share (issue 17),
  the oracle weights and weighted resampling;
- :mod:`.induction` - induction-circuit measures (prefix matching, in-context loss drop, formation step);
- :mod:`.heads` - per-head susceptibilities (SGLD with per-head chains, and the leading-order form);
- :mod:`.patterning` - sequence weights along a susceptibility mode and retraining from a checkpoint
  (chapter 5);
- :mod:`.spacing` - the spacing fin and the space-ablated corpus (chapter 7).

Import each module by its path, e.g. ``from patterning_core.lm.model import AttnOnlyTransformer``.
"""
