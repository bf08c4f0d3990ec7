"""The toy model of superposition (TMS): Adam, Hoogland & Murfet (2026), "Patterning Toy Models of
Superposition"; Elhage et al. (2022).

- :mod:`.model` - the model, its data distribution, per-sample and population losses, observables;
- :mod:`.polygons` - reading k-gons off the weights, ideal and optimal k-gons, gap patterns, glyphs;
- :mod:`.development` - stagewise development and the LLC along training (chapter 1);
- :mod:`.control` - choosing a bifurcation branch (chapters 2-3) and rewriting a pentagon (chapter 4).

Chapters 00-04 and the template chapter 99 use this family. Import each module by its path, e.g.
``from patterning_core.tms.model import TMS, TMSConfig``.
"""
