"""Calibration of the tolerances of :mod:`dslsearch.independence` on constructed systems.

    python benchmarks/bench_independence.py

Prints four markdown tables of the statistic ``s`` (median sine between a law's gradient and
the span of other laws' gradients, standardised state):

1. laws that are exactly functions of others (float64 round-off: where ``rtol`` must sit above);
2. independent invariants (where ``rtol`` and the loose bound must sit below);
3. an exact law with one constant perturbed by ε: ``R`` of the perturbed law and
   ``s / sqrt(R)`` (what ``PRECISION_FACTOR`` must cover, and the near-miss regime);
4. one invariant fitted in two forms on noisy pendulum data: ``s`` against the fit-precision
   tolerance, and the R ratio between the forms (what ``NEAR_MISS_GAP`` must exceed).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import minimize_scalar

from dslsearch.fitting.objective import Segments, r_score
from dslsearch.independence import _gradients, _residual, _tau
from dslsearch.law import Law
from hamiltonian_data.systems import Pendulum

OSC = (("x", ""), ("y", ""), ("px", ""), ("py", ""))
BODY = (("w1", ""), ("w2", ""), ("w3", ""))
PEND = (("q", ""), ("p", ""))
INERTIA = (33 / 31, 1.0, 0.5)


def oscillator(omega=(1.0, 1.0), n_traj=8, n_t=60, seed=1):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 6, n_t)
    xs = []
    for _ in range(n_traj):
        a, b = rng.uniform(0.5, 2.0, 2)
        phi, psi = rng.uniform(0, 2 * np.pi, 2)
        wx, wy = omega
        xs.append(np.stack([a * np.cos(wx * t + phi), b * np.cos(wy * t + psi),
                            -a * wx * np.sin(wx * t + phi), -b * wy * np.sin(wy * t + psi)], 1))
    return np.concatenate(xs), Segments.from_lengths([n_t] * n_traj)


def rigid_body(n_traj=6, n_t=80, seed=1):
    I1, I2, I3 = INERTIA

    def f(_, w):
        return [(I2 - I3) / I1 * w[1] * w[2], (I3 - I1) / I2 * w[2] * w[0],
                (I1 - I2) / I3 * w[0] * w[1]]

    rng = np.random.default_rng(seed)
    t = np.linspace(0, 10, n_t)
    xs = [solve_ivp(f, (0, 10), rng.uniform(-1, 1, 3), t_eval=t, method="DOP853",
                    rtol=1e-13, atol=1e-13).y.T for _ in range(n_traj)]
    return np.concatenate(xs), Segments.from_lengths([n_t] * n_traj)


def pendulum(noise=0.0):
    ds = Pendulum().generate(noise=noise, seed=0)
    return ds.x_train, Segments.from_lengths([len(tr) for tr in ds.train])


SYSTEMS = {"oscillator": (oscillator, OSC), "rigid body": (rigid_body, BODY),
           "pendulum": (pendulum, PEND)}


def s_of(law_text, others, variables, x):
    scale = x.std(0)
    g = _gradients(Law.parse(law_text, variables), x, scale)
    return _residual(g, [_gradients(Law.parse(o, variables), x, scale) for o in others], 1e-6)


def r_of(text, variables, x, seg):
    return float(r_score(Law.parse(text, variables)(x), seg))


DEPENDENT = [
    ("pendulum", "(p**2 - 3.0*cos(q))**2", ["p**2 - 3.0*cos(q)"]),
    ("pendulum", "1/(p**2 - 3.0*cos(q) + 5.0)", ["p**2 - 3.0*cos(q)"]),
    ("pendulum", "sin(0.2*p**2 - 0.6*cos(q))", ["p**2 - 3.0*cos(q)"]),
    ("oscillator", "x**2 + px**2 + y**2 + py**2", ["x**2 + px**2", "y**2 + py**2"]),
    ("oscillator", "(x*py - y*px)**2", ["x*py - y*px"]),
    ("rigid body", "w2**2 + 4.375*w3**2",
     [f"{INERTIA[0]}*w1**2 + w2**2 + 0.5*w3**2", f"{INERTIA[0]**2}*w1**2 + w2**2 + 0.25*w3**2"]),
]
INDEPENDENT = [
    ("oscillator", "y**2 + py**2", ["x**2 + px**2"]),
    ("oscillator", "x*py - y*px", ["x**2 + px**2", "y**2 + py**2"]),
    ("oscillator", "x**2 + px**2 + 0.01*y**2 + 0.01*py**2", ["x**2 + px**2"]),
    ("rigid body", f"{INERTIA[0]**2}*w1**2 + w2**2 + 0.25*w3**2",
     [f"{INERTIA[0]}*w1**2 + w2**2 + 0.5*w3**2"]),
]
PERTURBED = [   # (system, exact law, template with {c}, exact constant, spanning laws)
    ("pendulum", "p**2 - {c}*cos(q)", 3.0, ["p**2 - 3.0*cos(q)"]),
    ("oscillator", "x**2 + {c}*px**2", 1.0, ["x**2 + px**2"]),
    ("oscillator", "x*py - {c}*y*px", 1.0, ["x*py - y*px", "x**2 + px**2", "y**2 + py**2"]),
    ("rigid body", "w2**2 + {c}*w3**2", 4.375, ["w2**2 + 4.375*w3**2"]),
]


def table_exact(rows):
    print("| system | law | spanned by | median s |\n|---|---|---|---|")
    for name, text, others in rows:
        make, variables = SYSTEMS[name]
        x, _ = make()
        print(f"| {name} | `{text}` | {', '.join(f'`{o}`' for o in others)} | "
              f"{s_of(text, others, variables, x):.2e} |")


def table_perturbed():
    print("| system | law | ε | R | median s | s / sqrt(R) |\n|---|---|---|---|---|---|")
    for name, template, c, others in PERTURBED:
        make, variables = SYSTEMS[name]
        x, seg = make()
        for eps in (1e-8, 1e-6, 1e-4, 1e-2, 0.0857, 0.3):
            text = template.format(c=c * (1 - eps))
            r, s = r_of(text, variables, x, seg), s_of(text, others, variables, x)
            print(f"| {name} | `{template}` | {eps:.0e} | {r:.2e} | {s:.2e} | "
                  f"{s / math.sqrt(r):.2f} |")


def fit_c(template, variables, x, seg):
    def loss(c):
        return r_of(template.format(c=c), variables, x, seg)

    c = minimize_scalar(loss, bounds=(1.0, 5.0), method="bounded",
                        options={"xatol": 1e-10}).x
    return template.format(c=c), loss(c)


def table_noisy():
    forms = ["p**2 - {c}*cos(q)", "(p**2 - {c}*cos(q))**2", "1/(p**2 - {c}*cos(q) + 5.0)",
             "cos(0.1*p**2 - {c}*0.1*cos(q))"]
    print("| noise | form | R | R ratio to first | median s to first | τ | s ≤ τ |\n"
          "|---|---|---|---|---|---|---|")
    for noise in (0.01, 0.1):
        x, seg = pendulum(noise)
        first, r0 = fit_c(forms[0], PEND, x, seg)
        for form in forms[1:]:
            text, r = fit_c(form, PEND, x, seg)
            s = s_of(text, [first], PEND, x)
            tau = _tau(r, r0, 1e-6)
            print(f"| {noise} | `{form}` | {r:.2e} | {r / r0:.2f} | {s:.2e} | {tau:.2e} | "
                  f"{s <= tau} |")


def main():
    print("## 1. exactly dependent\n")
    table_exact(DEPENDENT)
    print("\n## 2. independent\n")
    table_exact(INDEPENDENT)
    print("\n## 3. one constant perturbed\n")
    table_perturbed()
    print("\n## 4. noisy pendulum, one invariant in two fitted forms\n")
    table_noisy()


if __name__ == "__main__":
    main()
