"""Checks of the human-motion claims (Gillman et al., ICML 2024, section 5), CPU-sized.

The verdicts are read from the MEASURED results files of the full runs; nothing is hard-coded:

* ``figures/motion_loop_summary.json`` (``python experiments/motion_loop.py``: n = 64, lambda = 1,
  50 generations, 3 seeds, arms baseline / selfconsume / selfcorrect (the projection corrector,
  strength 1) / ideal (gamma = 1), cpu preset);
* ``figures/motion_loop_strength.json`` when present (``python experiments/motion_strength.py``:
  adds ``selfcorrect@0.5``, the same loop with corrector strength 0.5);
* ``figures/corrector_operator/operator.json`` (``benchmarks/corrector_operator.py``): the corrector
  measured as an operator against the projection criterion.

Both hold ``last10_generations_table``: per arm and metric, the mean over generations 41-50 of each
seed, then the mean and 95% Student-t interval across the ``n_seeds`` seeds. The comparisons use
Welch's two-sample t-test on those per-seed window means (standard deviations recovered from the
interval half-widths): ``A`` is *resolved worse / better* than ``B`` on a metric when the two-sided
p < 0.05 and the difference has that sign (FID: lower is better; accuracy: higher is better).

* collapse without correction: selfconsume resolved worse than baseline on FID or accuracy;
* an arm *holds* (selfcorrect at each strength, ideal): on FID and accuracy it is not resolved
  worse than baseline, it is resolved better than selfconsume on at least one of them, and no worse
  in mean than selfconsume on the other.

With 3 seeds a difference inside the seed-to-seed spread is reported as not resolved (FAIL for a
"holds" row). The claim that larger n collapses less compares selfconsume's gap to baseline at n = 256
(figures/motion_n256/, 2 seeds) with n = 64.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from . import Check, repo_root, with_provenance

SUMMARY = Path("figures") / "motion_loop_summary.json"
STRENGTH = Path("figures") / "motion_loop_strength.json"
GENERATIONS = 50
ALPHA = 0.05
#: +1: higher is better, -1: lower is better
SENSE = {"fid": -1, "accuracy": +1}


def _stats(entry: dict):
    """(mean, sd, n) of the per-seed window means from a ``last10_generations_table`` entry."""
    from scipy import stats

    m, (lo, hi), n = float(entry["last_window_mean"]), entry["ci95"], int(entry["n_seeds"])
    half = (float(hi) - float(lo)) / 2.0
    sd = half * math.sqrt(n) / float(stats.t.ppf(0.975, n - 1)) if n > 1 else float("nan")
    return m, sd, n


def compare(a: dict, b: dict, metric: str):
    """(verdict, p) of arm entry ``a`` against ``b``: 'better' / 'worse' (resolved) or 'tie'."""
    from scipy import stats

    ma, sa, na = _stats(a)
    mb, sb, nb = _stats(b)
    if not (na > 1 and nb > 1):
        return "tie", float("nan")
    va, vb = sa * sa / na, sb * sb / nb
    se = math.sqrt(va + vb)
    if se == 0:
        p = 0.0 if ma != mb else 1.0
    else:
        df = (va + vb) ** 2 / ((va * va / (na - 1) if va else 0.0) + (vb * vb / (nb - 1) if vb else 0.0))
        p = float(2 * stats.t.sf(abs(ma - mb) / se, df))
    if p < ALPHA and ma != mb:
        return ("better" if SENSE[metric] * (ma - mb) > 0 else "worse"), p
    return "tie", p


def format_entry(entry: dict) -> str:
    """``mean [lo, hi]`` of a ``last10_generations_table`` entry (3 significant digits)."""
    lo, hi = entry["ci95"]
    return f"{entry['last_window_mean']:.3g} [{lo:.3g}, {hi:.3g}]"


def _load(path: Path):
    if not path.exists():
        return None
    return json.loads(path.read_text())


def _window_note(table: dict, arms) -> str:
    w = [tuple(table[a]["fid"]["window"]) for a in arms]
    short = [x for x in w if x[1] < GENERATIONS]
    return f"; only up to generation {min(x[1] for x in short)} of {GENERATIONS}" if short else ""


def _missing(path: Path) -> tuple:
    return (f"no results file {path} (run `python experiments/motion_loop.py`"
            + (" then `python experiments/motion_strength.py`" if path == STRENGTH else "") + ")"), "FAIL"


def collapse_from(path: Path):
    return with_provenance(*_collapse_from(path), [(SUMMARY, _load(path))])


def _collapse_from(path: Path):
    g = _load(path)
    if g is None:
        return _missing(SUMMARY)
    t = g["last10_generations_table"]
    if "baseline" not in t or "selfconsume" not in t:
        return f"{SUMMARY}: missing arms", "FAIL"
    parts, worse = [], False
    for met in ("fid", "accuracy"):
        v, p = compare(t["selfconsume"][met], t["baseline"][met], met)
        worse = worse or v == "worse"
        parts.append(f"{met} selfconsume {format_entry(t['selfconsume'][met])} vs baseline {format_entry(t['baseline'][met])} "
                     f"(Welch p = {p:.2g}: {'worse, resolved' if v == 'worse' else 'better, resolved' if v == 'better' else 'not resolved'})")
    w = t["baseline"]["fid"]["window"]
    note = _window_note(t, ("baseline", "selfconsume"))
    ok = worse and not note
    return (f"{SUMMARY}, gens {w[0]}-{w[1]}, mean [95% CI over {t['baseline']['fid']['n_seeds']} seeds]: "
            + "; ".join(parts) + note), "PASS" if ok else "FAIL"


def holds(table: dict, arm: str, label: str):
    """(measured text, passed) for one arm against baseline and selfconsume."""
    parts, not_worse_than_base, better_somewhere, no_worse_mean = [], True, False, True
    for met in ("fid", "accuracy"):
        vb, pb = compare(table[arm][met], table["baseline"][met], met)
        vs, ps = compare(table[arm][met], table["selfconsume"][met], met)
        not_worse_than_base &= vb != "worse"
        better_somewhere |= vs == "better"
        mean_diff = SENSE[met] * (table[arm][met]["last_window_mean"] - table["selfconsume"][met]["last_window_mean"])
        no_worse_mean &= mean_diff >= 0 or vs == "better"
        parts.append(f"{met} {label} {format_entry(table[arm][met])} vs baseline {format_entry(table['baseline'][met])} "
                     f"(p = {pb:.2g}, {vb if vb != 'tie' else 'not resolved'}) vs selfconsume "
                     f"{format_entry(table['selfconsume'][met])} (p = {ps:.2g}, {vs if vs != 'tie' else 'not resolved'})")
    ok = not_worse_than_base and better_somewhere and no_worse_mean
    why = [] if ok else [w for w, bad in (("resolved worse than baseline", not not_worse_than_base),
                                          ("not resolved better than selfconsume", not better_somewhere),
                                          ("worse in mean than selfconsume", not no_worse_mean)) if bad]
    return "; ".join(parts) + (f" => {', '.join(why)}" if why else " => holds"), ok


def _holds_row(path: Path, arm: str, label: str, name: Path):
    return with_provenance(*_holds_row_raw(path, arm, label, name), [(name, _load(path))])


def _holds_row_raw(path: Path, arm: str, label: str, name: Path):
    g = _load(path)
    if g is None:
        return _missing(name)
    t = g["last10_generations_table"]
    if any(a not in t for a in ("baseline", "selfconsume", arm)):
        return f"{name}: arm {arm} missing", "FAIL"
    text, ok = holds(t, arm, label)
    note = _window_note(t, ("baseline", "selfconsume", arm))
    w = t[arm]["fid"]["window"]
    return (f"{name}, gens {w[0]}-{w[1]}, {t[arm]['fid']['n_seeds']} seeds: {text}{note}"), \
        "PASS" if ok and not note else "FAIL"


def collapse(quick: bool):
    return collapse_from(repo_root() / SUMMARY)


def selfcorrect_default(quick: bool):
    g = _load(repo_root() / SUMMARY)
    s = g["settings"].get("strength") if g else None
    return _holds_row(repo_root() / SUMMARY, "selfcorrect", f"selfcorrect@{s:g}" if s is not None else "selfcorrect",
                      SUMMARY)


def selfcorrect_strength0(quick: bool):
    return _holds_row(repo_root() / STRENGTH, "selfcorrect@0.5", "selfcorrect@0.5", STRENGTH)


def ideal(quick: bool):
    return _holds_row(repo_root() / SUMMARY, "ideal", "ideal", SUMMARY)


LARGER_N = Path("figures") / "motion_n256" / "motion_loop_summary.json"


def larger_n(quick: bool):
    """Selfconsume's gap to baseline (gens 41-50) at n = 256 against n = 64: smaller, and resolved on one metric."""
    return larger_n_from(repo_root() / SUMMARY, repo_root() / LARGER_N)


def larger_n_from(p64: Path, p256: Path):
    return with_provenance(*_larger_n_raw(p64, p256), [(SUMMARY, _load(p64)), (LARGER_N, _load(p256))])


def _larger_n_raw(p64: Path, p256: Path):
    g64, g256 = _load(p64), _load(p256)
    if g64 is None or g256 is None:
        return _missing(SUMMARY if g64 is None else LARGER_N)
    t64, t256 = g64["last10_generations_table"], g256["last10_generations_table"]
    if any(a not in t for t in (t64, t256) for a in ("baseline", "selfconsume")):
        return "arms baseline and selfconsume are needed at both n", "FAIL"
    parts, smaller, resolved = [], True, False
    for met in ("fid", "accuracy"):
        gap = {n: SENSE[met] * (t["baseline"][met]["last_window_mean"] - t["selfconsume"][met]["last_window_mean"])
               for n, t in ((64, t64), (256, t256))}
        v, p = compare(t256["selfconsume"][met], t64["selfconsume"][met], met)
        smaller &= gap[256] < gap[64]
        resolved |= v == "better"
        parts.append(f"{met}: selfconsume {format_entry(t64['selfconsume'][met])} (n=64) vs "
                     f"{format_entry(t256['selfconsume'][met])} "
                     f"(n=256), gap to baseline {abs(gap[64]):.3g} -> {abs(gap[256]):.3g} (p = {p:.2g})")
    note = _window_note(t256, ("baseline", "selfconsume"))
    ok = smaller and resolved and not note
    return (f"{SUMMARY} and {LARGER_N}, gens 41-50: " + "; ".join(parts) + note
            + (" => less collapse at larger n" if ok else " => not resolved")), "PASS" if ok else "FAIL"


OPERATOR = Path("figures") / "corrector_operator" / "operator.json"


def corrector_projection(quick: bool):
    return corrector_projection_from(repo_root() / OPERATOR)


def corrector_projection_from(path: Path):
    doc = _load(path)
    if doc is None:
        return (f"no results file {OPERATOR} (run `python benchmarks/corrector_operator.py --out "
                f"figures/corrector_operator`)"), "FAIL"
    return with_provenance(*_projection_raw(doc), [(OPERATOR, doc)])


def _projection_raw(doc: dict):
    """Each acceptance bound of the corrector-as-projection criterion, measured: (text, PASS/FAIL)."""
    rows, rep, floor = doc["rows"], doc["repair"], float(doc["fid_floor_true_vs_true"])
    t1, g1 = rows["true x1"], rows["gen0 x1"]
    tests = [
        ("true x1 MPJPE <= 1 cm", t1["mpjpe_cm"], t1["mpjpe_cm"] <= 1.0),
        ("true x1 joint RMS <= 0.01 rad", t1["joint_rms_rad"], t1["joint_rms_rad"] <= 0.01),
        ("true x1 |lag| <= 0.1 frame", t1["lag_frames"], abs(t1["lag_frames"]) <= 0.1),
        ("true x1 |root height change| <= 1 mm", t1["root_height_change_mm"], abs(t1["root_height_change_mm"]) <= 1.0),
        ("true x1 |torso tilt change| <= 0.2 deg", t1["torso_tilt_change_deg"], abs(t1["torso_tilt_change_deg"]) <= 0.2),
        ("true x1 no falls", t1["falls"], t1["falls"] == 0),
        (f"true x1 FID <= 2 x floor {floor:.3g}", t1["fid"], t1["fid"] <= 2 * floor),
    ]
    for k, bound in (("3", 0.1), ("10", 1.0)):
        r = rows.get(f"true x{k}")
        if r is not None:
            tests += [(f"true x{k} FID <= {bound:g}", r["fid"], r["fid"] <= bound), (f"true x{k} no falls", r["falls"], r["falls"] == 0)]
    for kind, r in rep.items():
        bound = 0.2 if kind.startswith("float") else 0.4
        tests.append((f"{kind} {r['metric']} ratio <= {bound:g}", r["ratio"], r["ratio"] <= bound))
    tests += [
        (f"gen0 corrected FID <= raw FID {g1['input_fid']:.3g}", g1["fid"], g1["fid"] <= g1["input_fid"]),
        ("gen0 no falls", g1["falls"], g1["falls"] == 0),
        (f"gen0 largest |z| <= raw {g1['input_max_abs_z']:.3g}", g1["max_abs_z"], g1["max_abs_z"] <= g1["input_max_abs_z"]),
    ]
    failed = [f"{name} (measured {val:.3g})" for name, val, ok in tests if not ok]
    forced = rows.get("true-forced x1")
    extra = (f"; learning-control projection of true clips with the gate bypassed: MPJPE {forced['mpjpe_cm']:.2f} cm, "
             f"FID {forced['fid']:.3g}" if forced else "")
    guard = rows.get("gen0 x1, loop guard")
    if guard:   # reported, not judged: the bounds are on the corrector itself
        extra += (f"; gen0 as the loop applies it (corrector + feature-range guard, "
                  f"{100 * guard['kept_raw_fraction']:.0f}% keep raw features): FID {guard['fid']:.3g} vs raw "
                  f"{guard['input_fid']:.3g}, largest |z| {guard['max_abs_z']:.3g} vs raw {guard['input_max_abs_z']:.3g}, "
                  f"falls {guard['falls']}")
    text = (f"{OPERATOR}: {len(tests) - len(failed)} of {len(tests)} bounds met; gen0 samples simulated "
            f"{100 * g1.get('simulated_fraction', float('nan')):.0f}%" + extra
            + ("; unmet: " + "; ".join(failed) if failed else ""))
    return text, "PASS" if not failed else "FAIL"


_SETTING = ("n = 64 real clips, lambda = 1, 50 generations, 3 seeds, cpu preset (transformer d 64, 2 layers; "
            "reductions in the summary); gens 41-50 per-seed means, Welch t-test p < 0.05 between arms")

CHECKS = [
    Check("motion-corrector-projection",
          "scsc_theory (not a claim of the paper): the physics corrector acts as a projection onto valid motion: "
          "valid clips are fixed points, repeated passes do not drift, violations are repaired, model samples "
          "get no worse",
          "benchmarks/corrector_operator.py: 128 held-out true clips, 128 generation-0 samples (cpu preset), the five "
          "corruptions and a 10 cm float; 1, 3 and 10 passes at the loop's strength; every acceptance bound of the "
          "projection criterion; read from figures/corrector_operator/operator.json",
          corrector_projection),
    Check("motion-collapse-uncorrected",
          "Motion (section 5): without correction, the self-consuming loop at lambda = 1, n = 64 degrades "
          "(FID and/or recognition accuracy worse than the baseline trained on real data only)",
          "arms selfconsume vs baseline; " + _SETTING + "; read from the measured figures/motion_loop_summary.json",
          collapse),
    Check("motion-selfcorrect-holds",
          "Motion (section 5): self-correction by the physics simulator keeps the loop close to the baseline and "
          "better than the uncorrected loop (FID, accuracy)",
          "arm selfcorrect (projection corrector, default strength 1) vs baseline and selfconsume: holds iff not "
          "resolved worse than baseline on FID and accuracy, resolved better than selfconsume on one and not worse "
          "in mean on the other; " + _SETTING + "; read from figures/motion_loop_summary.json",
          selfcorrect_default),
    Check("motion-selfcorrect-holds-strength0.5",
          "Motion (section 5): as above, with the physics corrector at strength 0.5 (only clips that miss a validity "
          "threshold by more than 2x are projected: "
          "closest to the input)",
          "arm selfcorrect at corrector strength 0.5 (separate run, same seeds and generation-0 models) vs baseline "
          "and selfconsume, same rule; " + _SETTING + "; read from figures/motion_loop_strength.json",
          selfcorrect_strength0),
    Check("motion-ideal-holds",
          "Motion (section 5): the idealized self-correcting loop (gamma = 1: a sample replaced by a true clip "
          "w.p. 1/2) stays closer to the baseline than the uncorrected loop",
          "arm ideal (gamma = 1) vs baseline and selfconsume, same rule; " + _SETTING
          + "; read from figures/motion_loop_summary.json",
          ideal),
    Check("motion-larger-n-less-collapse",
          "Motion (section 5): with more real clips (n = 128, 256) the self-consuming loop collapses less",
          "arms baseline and selfconsume at n = 256 (2 seeds, `scsc motion loop --n 256 --arms baseline,selfconsume "
          "--seeds 2 --out runs/motion_n256 --figures figures/motion_n256`) against the n = 64 run; PASS iff "
          "selfconsume's gap to baseline shrinks on FID and accuracy and one of them is resolved (Welch p < 0.05)",
          larger_n),
]
