"""The motion world: a MuJoCo humanoid, a physically valid labelled motion dataset, a physics
self-correction operator (MuJoCo C rollout and MJX backends) and physics metrics.

Needs the optional dependency group ``scsc_theory[motion]`` (mujoco, mujoco-mjx). Submodules:
``humanoid`` (the model), ``data`` (dataset, features, corruptions), ``physics`` (``correct``),
``metrics`` (``physics_violations``), ``render`` (stick-figure strips and GIFs).
"""
