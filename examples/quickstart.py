"""Quick start: relaxed Poisson samples, their moments, and a gradient through them.

Run with ``python examples/quickstart.py``. Prints, for every method, the sample mean and
variance of z̃ against the closed form, and the gradient of E[(z̃ − 3)²] against the exact one.
"""

import torch

import poissongrad as pg

torch.manual_seed(0)
rate = torch.full((50_000,), 4.0, requires_grad=True)
tau = 0.2
# Exact: E[(z − 3)²] = λ + (λ − 3)², so d/dλ = 1 + 2(λ − 3) = 3 at λ = 4.
print(f"λ = 4, τ = {tau}; exact d/dλ E[(z − 3)²] = 3.00")
print(f"{'method':<14}{'mean':>8}{'(closed)':>10}{'var':>8}{'(closed)':>10}{'grad':>8}")
for method in pg.METHODS:
    d = pg.RelaxedPoisson(rate=rate, temperature=tau, method=method)
    z = d.rsample()
    (grad,) = torch.autograd.grad(((z - 3) ** 2).mean(), rate)
    try:
        closed = f"{float(d.mean[0].detach()):>10.3f}", f"{float(d.variance[0].detach()):>10.3f}"
    except NotImplementedError:
        closed = f"{'—':>10}", f"{'—':>10}"
    print(
        f"{method:<14}{float(z.detach().mean()):>8.3f}{closed[0]}{float(z.detach().var()):>8.3f}{closed[1]}"
        f"{float(grad.sum()):>8.3f}"
    )
