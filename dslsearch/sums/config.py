"""Settings of the sum-of-terms search."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class SumsConfig:
    """Settings of :func:`~dslsearch.sums.fit_sums` (every field enters its store key).

    The acceptance factor, the random-sequence seed, the fit stride and the windows come
    from the fit stage's :class:`~dslsearch.fitting.FitConfig`, so both searches judge a
    law by the same test.
    """

    term_size: int = 6          # largest term in nodes (parameter-free formulas of the table)
    max_terms: int = 6          # largest number of terms in a sum
    beam: int = 24              # term sets kept at each number of terms
    pair_screen: int = 2000     # every pair of the simplest this many terms is tried
    refine: int = 4             # best sets of each size improved by swapping single terms
    node_weight: float = 0.06   # a second beam of the same width ranks sets by
    #                             R * 10**(node_weight * nodes) (0: none); see
    #                             dslsearch.sums.select.beam_search
    gain: float = 10.0          # complexity penalty: a term must divide R by this factor;
    #                             the chosen law minimises log R + n_terms * log(gain)
    exact: float = 1e-13        # R below this is round-off: stop adding terms, and among
    #                             such sets prefer the fewest nodes
    dedup_digits: int = 9       # standardised values rounded to this many digits to find
    #                             terms equal up to sign, scale and offset
    unary: str = "sqrt,log,inv"  # composite terms: these unary operations applied to terms
    unary_size: int = 5         # of at most this many nodes,
    unary_depth: int = 2        # in chains of up to this many (inv(sqrt(x**2 + y**2)))
    product_size: int = 4       # composite terms: products of two terms of at most this
    product_max: int = 8        # many nodes, the product at most this many (0, 0: none)
    scale_size: int = 1         # composite terms: terms of at most this many nodes over a
    #                             unary composite (x/sqrt(x**2 + y**2)); 0: none
    max_laws: int | None = None  # independent laws sought, one per search round (None:
    #                             variables − 1, the most independent invariants an
    #                             autonomous flow has); a round whose law is a function of
    #                             the laws found does not count, at most 2 * max_laws rounds
    further_gap: float = 100.0  # a further law's max(R, exact) is at most this many times
    #                             the best law's
    drift_check: bool = True    # on noisy data (dslsearch.acceptance.is_noisy on the
    #                             judge's noise floor) a sum must also pass the drift test
    #                             (dslsearch.sums.judge_drift)
    gap_continues: bool = True  # on noisy data a round whose sums the calibrated test
    #                             accepts but the rule for further laws or (after the
    #                             first law) the drift check rejects does not end the
    #                             search: its best such sum is projected out, not reported
    gap_by_noise: bool = False  # on noisy data (dslsearch.acceptance.is_noisy on the
    #                             judge's noise floor) the rule for further laws compares
    #                             noise ratios, not R (R there is the noise's and differs
    #                             between laws by how much noise each amplifies);
    #                             measured, not adopted (docs/SUMS.md)
    noisy: bool = False         # on noisy data (the fit stage's judge says so) use the
    #                             settings below; False: the search and its judge run on
    #                             noisy data as on noise-free data (measured, not adopted:
    #                             docs/SUMS.md, "Noisy data")
    lowpass: int = 6            # the within-trajectory scatter that the coefficients
    high_weight: float = 0.1    # minimise weighs variation beyond a trajectory's first
    #                             `lowpass` cosine modes by `high_weight` (white noise
    #                             spreads over all modes, an approximation's drift is slow;
    #                             dslsearch.sums.library.lowpass_weighted); 0 modes: plain R
    drift_select: float = 0.05  # on noisy data a round's law is the accepted sum of
    #                             fewest terms whose drift p-value is at least this
    #                             (dslsearch.sums.run._choice_key)
    drift_free_band: float = 0.05  # > 0: on noisy data, when every point of fewest
    #                             terms in a round's noise band drifts (drift p-value below
    #                             this), the band's accepted points that do not drift,
    #                             scatter less (lower noise ratio and R) and do not hold all the
    #                             terms of such a point come first
    #                             (dslsearch.sums.run._drift_free); 0: off
    subsets_below: bool = True  # on noisy data (with `held_out`) every set of one term
    #                             less than a set the beam kept joins the level below it
    #                             before each size's set is chosen (dslsearch.sums.select.
    #                             with_subsets): a law that the beam reached only with an
    #                             extra term (Kepler's Runge-Lenz components at σ = 0.1)
    simpler_terms: bool = True  # on noisy data (with `held_out`) each size's chosen set
    #                             is chosen again beside its variants with one term
    #                             replaced by a simpler form of it (an outer function of
    #                             one argument peeled off: sin(cos θ) -> cos θ;
    #                             dslsearch.sums.select.with_simpler)
    eiv: bool = False            # on noisy data (a judge with a noise floor), fit the
    #                             coefficients of front points noise-corrected (errors in
    #                             variables, dslsearch.sums.eiv) and choose each size's
    #                             point among the level's `eiv_candidates` best sets
    eiv_candidates: int = 1
    held_out: float = 2.0       # on noisy data (dslsearch.acceptance.is_noisy on the
    #                             judge's noise floor) each size's sum is the set of its
    #                             level with the lowest noise ratio among those whose R on
    #                             the held-out points (not fitting points) is within this
    #                             many standard errors of the lowest
    #                             (dslsearch.sums.validate); 0: the best set by R on the
    #                             fitting points, as on noise-free data
    held_out_noise: float = 10.0  # > 0: the held-out choice keeps the sets within
    #                             `held_out` standard errors of the lowest noise ratio
    #                             (held-out R at most this many times the lowest) and
    #                             takes the one of fewest nodes (dslsearch.sums.validate);
    #                             0: the band on R
    noise_choice: float = 2.0   # > 0: on noisy data a round's law is chosen among the
    #                             accepted points of fewest terms whose noise ratio is
    #                             within this many standard errors of the lowest
    #                             (dslsearch.sums.run._noise_band); 0: by the penalty
    seed_pool: int = 60         # on noisy data (with `held_out`) the beam's levels also
    #                             hold the sets met by backward elimination from the
    #                             simplest this many terms (not sums of two), each step
    #                             dropping the term whose removal leaves the lowest R on
    #                             the held-out points (dslsearch.sums.seed); 0: none
    seed_extend: int = 2        # a second elimination adds the best this many library
    #                             extensions of each first-pass set to its pool
    seed_width: int = 1         # sets kept at each size of the elimination
    seed_subsets: int = 16      # > 1: also every subset of the simplest this many terms
    #                             (the 3 best of each size up to 4 terms by held-out
    #                             R; dslsearch.sums.seed.subset_seeds) (0: none)
    seed_subsets_noise: int = 3  # with `seed_subsets`, also this many sets of each size
    #                             of lowest held-out noise ratio among the 64 best by
    #                             held-out R (dslsearch.sums.seed.subset_seeds) (0: none)
    retry_without_sums: bool = True  # a round that ends above `exact` searches again
    #                             without the library's sums of two terms (a greedy trap)
    held_out_paired: bool = False  # True: the held-out choice also leaves out a set whose
    #                             noise ratio another's beats by `held_out` standard errors
    #                             of their difference (dslsearch.sums.validate.paired_se);
    #                             off by default: on development seeds 11-12 it lost
    #                             Kepler and the double pendulum at σ = 0.05 (docs/SUMS.md)
    below_noise: bool = True    # on noisy data a noise ratio more than `noise_choice`
    #                             standard errors below 1 counts as 1 in a round's band
    #                             (dslsearch.sums.validate.below_noise) and in the paired
    #                             held-out comparison
    gap_within_noise: bool = True  # on noisy data the rule for further laws passes a law
    #                             whose noise ratio is within `noise_choice` standard
    #                             errors of 1 (dslsearch.sums.run._within_noise)
    levels: bool = True         # on noisy data a round's law whose trajectory levels
    #                             those of the laws found do not explain is not a function
    #                             of them (dslsearch.independence.Levels)
    seed_rest: bool = True      # the seeds' held-out R is also asked of the trajectories
    #                             left after those carrying half of a set's spread between
    #                             trajectories (dslsearch.sums.seed.held_out_r): a sum
    #                             that tells one far-off trajectory from the rest does not
    #                             lead the elimination
    simplest_form: bool = True  # on noisy data an accepted point that the gradient test
    #                             puts in the span of an accepted point of fewer terms
    #                             (a polynomial in a law) is not a round's choice
    #                             (dslsearch.sums.run._simplest_forms)
    refine_keeps: bool = True   # on noisy data (with `held_out`) a set improved by
    #                             swapping terms (`refine`) joins its level beside the set
    #                             it came from, which the held-out choice may prefer: a
    #                             lower R on the training points can be the noise's
    drift_refit: bool = True    # on noisy data a sum that the drift check rejects is
    #                             judged again with its constants refitted for the noise
    #                             (dslsearch.uncertainty.refit), as it would be reported:
    #                             the plain fit's bias can be the drift
    noise_rank: bool = False    # on noisy data (with `held_out`) each beam level also
    #                             holds the best sets by the noise-corrected R (errors in
    #                             variables, dslsearch.sums.noise_rank): a law whose terms
    #                             amplify the noise competes with quieter stand-ins;
    #                             measured, not adopted: Kepler at σ = 0.1 on development
    #                             seeds, no gain and more false laws on confirmation seeds
    #                             (docs/SUMS.md); its beam serves `noise_rank_last`
    noise_rank_last: bool = True  # on noisy data (with `held_out`, without `noise_rank`)
    #                             a round that accepts nothing is searched again with the
    #                             second beam by the noise-corrected R (`noise_rank`)
    #                             before the rounds stop, and its law is taken only where
    #                             the noise explains its scatter (dslsearch.sums.run.
    #                             _last_search); the rounds that found laws are as before
    drift_free_gain: bool = True  # with `drift_free_band`, a point the drifting band
    #                             gives way to must scatter less than the band by more
    #                             than its extra terms buy by fitting the noise
    #                             (dslsearch.sums.run._drift_free)
    last_ref_found: bool = True  # that law's noise ratio is judged against the lowest of
    #                             the laws found (at least 1), not against 1: the noise
    #                             floor estimated from the data is off by the same factor
    #                             for every law of the data set (dslsearch.sums.run.
    #                             _last_search; Kepler at σ = 0.1: the angular momentum at
    #                             1.12, the Runge-Lenz components at 1.19 and 1.10)
    further_noise: bool = True  # on noisy data (with `held_out`) a further law whose
    #                             noise ratio is beyond `noise_choice` standard errors of
    #                             the lowest of the laws found (at least 1) and that drifts
    #                             (drift p below `drift_free_band`) is refused
    #                             (dslsearch.sums.run._beyond_noise): a sum the calibrated
    #                             test accepts at a ratio well above the laws found and
    #                             with a slow residual is not conserved as they are
    seed_symmetric: bool = True  # on noisy data (with `held_out`) the terms of each law
    #                             found, with the variables of one unit permuted, seed the
    #                             later rounds' beams (dslsearch.sums.symmetry): Kepler's
    #                             second Runge-Lenz component from the first
    seed_exact: bool = True     # on data that is not noisy (noise-free), the beam's levels
    #                             also hold the subset seeds of noisy data (`seed_subsets`:
    #                             the 3 best sets of each size up to 4 of the simplest 16
    #                             terms by R on the training points that are not fitting
    #                             points): a law of a few simple terms with no conserved
    #                             partial sum (Lotka-Volterra's x - a log x + b y - c log y)
    #                             is found whatever the beam's path
    tie_at_noise: bool = True   # on noisy data, among the held-out choice's sets of fewest
    #                             nodes a noise ratio below 1 counts as 1, and held-out R
    #                             decides (dslsearch.sums.validate.held_out_choice)

    def composites(self):
        """The :class:`~dslsearch.sums.library.Composites` of these settings."""
        from dslsearch.sums.library import Composites

        return Composites(self.unary, self.unary_size, self.unary_depth, self.product_size,
                          self.product_max, self.scale_size)

    def key(self) -> str:
        """8 hex digits over the settings (part of the store key of a sums result)."""
        d = dataclasses.asdict(self)
        # settings that are off leave the key as it was before they existed, so stores
        # made then are reused
        if not self.noisy:
            for k in ("noisy", "lowpass", "high_weight", "drift_select"):
                d.pop(k)
        if not self.drift_check:
            d.pop("drift_check")
        if not self.gap_continues:
            d.pop("gap_continues")
        if not self.gap_by_noise:
            d.pop("gap_by_noise")
        if not self.eiv:
            for k in ("eiv", "eiv_candidates"):
                d.pop(k)
        if not self.held_out_noise:
            d.pop("held_out_noise")
        if not self.seed_subsets:
            d.pop("seed_subsets")
        if not self.seed_subsets_noise:
            d.pop("seed_subsets_noise")
        if not self.noise_choice:
            d.pop("noise_choice")
        for name in ("held_out_paired", "below_noise", "gap_within_noise", "levels",
                     "seed_rest", "simplest_form", "refine_keeps",
                     "tie_at_noise", "drift_refit", "noise_rank", "noise_rank_last",
                     "seed_symmetric", "drift_free_band", "subsets_below",
                     "simpler_terms", "last_ref_found", "drift_free_gain",
                     "further_noise", "seed_exact"):
            if not d[name]:         # off: the key of the code before these rules
                d.pop(name)
        text = json.dumps(d, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:8]
