"""The notebook-01 exercises (jetkit.exercises): mass_gradient against Euler's theorem, and the
checks of the mass-gradient, Asimov and best-cut exercises, with best_threshold and
threshold_significance."""

from __future__ import annotations

import numpy as np
import pytest

from jetkit import exercises, stats
from jetkit.exercises import mass_gradient
from jetkit.physics import kinematics
from jetkit.stats import best_threshold, threshold_significance


def test_mass_gradient_is_consistent_with_homogeneity(real_jets):
    """m is homogeneous of degree 1 in the constituent pTs: sum_i pT_i dm/dpT_i = m (Euler)."""
    for i in (0, 150):
        p, mask = real_jets["particles"][i], real_jets["mask"][i]
        g = mass_gradient(p, mask)
        m = float(kinematics.invariant_mass(kinematics.particles_to_p4(p, mask)))
        assert float(np.sum(p[:, 0] * g)) == pytest.approx(m, rel=1e-3)
        assert np.all(g[~mask] == 0)


def test_exercise_checks(real_jets, capsys):
    assert {"01_mass_gradient", "01_asimov", "01_best_cut"} <= set(exercises.available())
    p, mask = real_jets["particles"][0], real_jets["mask"][0]
    g = mass_gradient(p, mask)
    assert exercises.check("01_mass_gradient", g, p, mask)
    assert not exercises.check("01_mass_gradient", 1.1 * g, p, mask)
    assert not exercises.check("01_mass_gradient", np.zeros((64, 3)), p, mask)
    s, b, sb = np.array([50.0, 5.0]), np.array([100.0, 40.0]), np.array([20.0, 4.0])
    z = np.asarray(stats.asimov_significance(s, b, sb))
    assert exercises.check("01_asimov", z, s, b, sb)
    assert not exercises.check("01_asimov", np.asarray(stats.asimov_significance(s, b)), s, b, sb)
    assert not exercises.check("01_asimov", s / np.sqrt(b + sb**2), s, b, sb)
    out = capsys.readouterr().out
    assert "without the background uncertainty" in out and "limit" in out
    assert f"{z[0]:.3f}" not in out  # never the answer

    rng = np.random.default_rng(5)
    labels = np.r_[np.ones(500), np.zeros(500)]
    scores = np.r_[rng.beta(4, 2, 500), rng.beta(2, 4, 500)]
    w = np.where(labels == 1, 0.1, 1.0)
    t_best, z_best = best_threshold(scores, labels, w, 0.1)
    assert threshold_significance(t_best, scores, labels, w, 0.1) == pytest.approx(z_best, rel=1e-4)
    assert z_best >= threshold_significance(0.5, scores, labels, w, 0.1)
    assert exercises.check("01_best_cut", t_best, scores, labels, w, rel_unc=0.1)
    assert not exercises.check("01_best_cut", 0.05, scores, labels, w, rel_unc=0.1)
    assert not exercises.check("01_best_cut", 2.0, scores, labels, w, rel_unc=0.1)
    assert not exercises.check("01_best_cut", "high", scores, labels, w, rel_unc=0.1)
    # with a minimum number of simulated background jets, a very tight cut is refused
    t_min, z_min = best_threshold(scores, labels, w, 0.1, min_background_mc=50)
    assert z_min <= z_best and ((scores > t_min) & (labels == 0)).sum() >= 50
    assert exercises.check("01_best_cut", t_min, scores, labels, w, rel_unc=0.1, min_background_mc=50)
    assert not exercises.check("01_best_cut", 0.97, scores, labels, w, rel_unc=0.1, min_background_mc=50)
    assert "at least 50" in capsys.readouterr().out


def test_histosys_exercise_accepts_the_linear_rule_and_explains_common_mistakes(capsys):
    down, nominal, up = np.array([90.0, 8.0, 3.0]), np.array([100.0, 10.0, 4.0]), np.array([115.0, 11.0, 6.0])
    alphas = np.array([-2.0, -1.0, -0.4, 0.0, 0.5, 1.0, 1.7])
    a = alphas[:, None]
    linear = np.where(a >= 0, nominal + a * (up - nominal), nominal + a * (nominal - down))
    assert exercises.check("01_histosys", linear, alphas, down, nominal, up)
    assert "smooth" in capsys.readouterr().out
    assert not exercises.check("01_histosys", linear.T, alphas, down, nominal, up)
    assert "transpose" in capsys.readouterr().out
    assert not exercises.check("01_histosys", linear[::-1], alphas, down, nominal, up)
    swapped = np.where(a >= 0, nominal + a * (nominal - down), nominal + a * (up - nominal))
    assert not exercises.check("01_histosys", swapped, alphas, down, nominal, up)
    assert not exercises.check("01_histosys", None, alphas, down, nominal, up)
    out = capsys.readouterr().out
    assert "115" not in out and "Not yet" in out  # hints never print the expected histograms
