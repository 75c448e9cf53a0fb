"""Exercise checks: verdicts, hints that never contain the answer, notebook 00's two exercises."""

from __future__ import annotations

import numpy as np
import pytest

from jetkit import exercises
from jetkit.physics import kinematics
from jetkit.data import JetDataset


def _dataset(sample, name):
    return JetDataset(
        particles=sample["particles"], mask=sample["mask"], jets=sample["jets"],
        labels=sample["labels"], n_constituents=sample["n_constituents"], name=name,
        class_names=tuple(str(c) for c in sample["class_names"]),
    )


@pytest.fixture(scope="module")
def top_qcd(real_jets):
    return _dataset(real_jets, "top_qcd")


def _verdict(capsys):
    out = capsys.readouterr().out.strip()
    assert out.count("\n") == 0, f"one line per check, got {out!r}"
    return out


# --------------------------------------------------------------------------------------------
# Generic checks
# --------------------------------------------------------------------------------------------


def test_check_close(capsys):
    assert exercises.check_close(123.4567, 123.4567) is True
    assert _verdict(capsys) == "✅ Correct!"
    assert exercises.check_close(100.0, 123.4567, hint="Use the mask.") is False
    out = _verdict(capsys)
    assert out.startswith("❌ Not yet:") and "too small" in out and "Use the mask." in out
    assert "123" not in out  # never the answer
    assert exercises.check_close(123.5, 123.4567, rtol=1e-3)
    capsys.readouterr()
    assert not exercises.check_close(float("nan"), 1.0)
    assert "nan" in _verdict(capsys)
    assert not exercises.check_close([1.0, 2.0], 1.0)
    assert "single number" in capsys.readouterr().out


def test_check_array(capsys):
    expected = np.array([171.25, 80.5, 91.0, 12.0])
    assert exercises.check_array(expected.copy(), expected)
    assert exercises.check_array(expected[:3], expected) is False
    assert "shape (3,)" in capsys.readouterr().out.splitlines()[-1]
    assert not exercises.check_array([171.25, np.nan, 91.0, 12.0], expected)
    assert "NaN" in _verdict(capsys)
    wrong = expected.copy()
    wrong[1] = 81.0
    assert not exercises.check_array(wrong, expected)
    out = _verdict(capsys)
    assert "1 of 4 entries (25%)" in out and "80.5" not in out and "171" not in out
    assert not exercises.check_array("abc", expected)
    assert "numeric" in _verdict(capsys)


def test_registry_hint_and_errors(capsys):
    assert {"00_jet_mass", "00_mass_window"} <= set(exercises.available())
    with pytest.raises(ValueError, match="00_mass_window"):
        exercises.check("00_no_such_exercise", 1.0)

    @exercises.register("99_double", hint="Multiply by two.")
    def _double(answer, x):
        return answer == 2 * x

    try:
        assert exercises.check("99_double", 6, 3) is True
        assert _verdict(capsys) == "✅ Correct!"
        assert exercises.check("99_double", 5, 3) is False
        assert _verdict(capsys) == "❌ Not yet: Multiply by two."
        assert exercises.hint("99_double") == "Multiply by two."
        assert "Multiply by two." in _verdict(capsys)
    finally:
        exercises._core._REGISTRY.pop("99_double")
    # A checker function can be passed directly, and a crash becomes a "Not yet", not a traceback.
    assert exercises.check(lambda a: exercises.check_close(a, 2.0), 2.0)
    assert _verdict(capsys) == "✅ Correct!"
    assert not exercises.check(lambda a: len(a) > 0, 2.0)
    assert "could not be checked" in _verdict(capsys)


# --------------------------------------------------------------------------------------------
# Notebook 00
# --------------------------------------------------------------------------------------------


def test_jet_mass_exercise(top_qcd, capsys):
    p4 = kinematics.particles_to_p4(top_qcd.particles, top_qcd.mask)
    answer = np.asarray(kinematics.invariant_mass(p4))
    assert exercises.check("00_jet_mass", answer, top_qcd)
    assert _verdict(capsys).startswith("✅")
    # The same physics by hand in float32 numpy (E^2 - p^2) also passes.
    p = np.where(top_qcd.mask[..., None], top_qcd.particles, 0)
    pt, eta, phi = p[..., 0], p[..., 1], p[..., 2]
    tot = np.stack([(pt * np.cos(phi)).sum(-1), (pt * np.sin(phi)).sum(-1),
                    (pt * np.sinh(eta)).sum(-1), (pt * np.cosh(eta)).sum(-1)], -1)
    by_hand = np.sqrt(np.clip(tot[:, 3] ** 2 - (tot[:, :3] ** 2).sum(-1), 0, None))
    assert exercises.check("00_jet_mass", by_hand.astype(np.float32), top_qcd)
    capsys.readouterr()
    # Close to the stored full-jet mass: the dataset keeps the 64 leading constituents.
    rel = np.abs(answer - top_qcd.jets[:, 3]) / top_qcd.jets[:, 3]
    assert np.median(rel) < 0.02

    # Typical mistakes get specific hints and never the expected numbers.
    pt_sum = np.where(top_qcd.mask, top_qcd.particles[..., 0], 0).sum(-1)
    assert not exercises.check("00_jet_mass", pt_sum, top_qcd)
    assert "scalar pT sum" in _verdict(capsys)
    assert not exercises.check("00_jet_mass", answer**2, top_qcd)
    assert "square root" in _verdict(capsys)
    assert not exercises.check("00_jet_mass", answer[:10], top_qcd)
    assert "expected shape" in _verdict(capsys)
    unmasked = np.asarray(kinematics.invariant_mass(kinematics.particles_to_p4(
        np.where(top_qcd.mask[..., None], top_qcd.particles, 0.3).astype(np.float32))))
    assert not exercises.check("00_jet_mass", unmasked, top_qcd)
    out = _verdict(capsys)
    assert "mask" in out and f"{answer[0]:.1f}" not in out
    assert not exercises.check("00_jet_mass", "heavy", top_qcd)
    assert "Not yet" in _verdict(capsys)
    # (particles, mask) pairs work as data too.
    assert exercises.check("00_jet_mass", answer, (top_qcd.particles, top_qcd.mask))
    capsys.readouterr()


def test_mass_window_exercise_is_solvable_on_real_jets(top_qcd, capsys):
    m, labels = top_qcd.jets[:, 3], top_qcd.labels
    top, qcd = list(top_qcd.class_names).index("top"), list(top_qcd.class_names).index("qcd")
    eff_s, eff_b = exercises.mass_window_efficiencies((140, 200), top_qcd)
    sel = (m >= 140) & (m <= 200)
    assert eff_s == pytest.approx(sel[labels == top].mean())
    assert eff_b == pytest.approx(sel[labels == qcd].mean())
    # Some window around the top mass passes; the checker agrees with its own criterion.
    passing = [(lo, hi) for lo in range(100, 180, 5) for hi in range(170, 260, 5)
               if lo < hi and (lambda e: e[0] >= 0.7 and e[1] <= 0.2)(
                   exercises.mass_window_efficiencies((lo, hi), top_qcd))]
    assert passing, "no mass window reaches the exercise's targets on real jets"
    assert exercises.check("00_mass_window", passing[0], top_qcd)
    out = _verdict(capsys)
    assert out.startswith("✅ Correct!") and "of top jets" in out

    assert not exercises.check("00_mass_window", (0, 1000), top_qcd)
    assert "at most 20% of QCD" in _verdict(capsys)
    assert not exercises.check("00_mass_window", (171, 173), top_qcd)
    assert "at least 70% of top" in _verdict(capsys)
    for bad in [(200, 150), ("a", "b"), 175.0, (np.nan, 200)]:
        assert not exercises.check("00_mass_window", bad, top_qcd)
        assert "Not yet" in _verdict(capsys)


def test_mass_window_on_jet5_uses_top_against_light_jets(real_jets5):
    ds = _dataset(real_jets5, "jet5")
    names = list(ds.class_names)
    m = ds.jets[:, 3]
    sel = (m >= 150) & (m <= 200)
    eff_s, eff_b = exercises.mass_window_efficiencies((150, 200), ds)
    assert eff_s == pytest.approx(sel[ds.labels == names.index("t")].mean())
    light = np.isin(ds.labels, [names.index("g"), names.index("q")])
    assert eff_b == pytest.approx(sel[light].mean())
    w_only = exercises.mass_window_efficiencies((60, 100), ds, signal="w", background=["g", "q"])
    assert w_only[0] > w_only[1]
