// Overdispersed counts with an exposure offset, and a zero-one outcome with a beta prior.
data {
  int<lower=0> N;
  array[N] int<lower=0> y;
  vector<lower=0>[N] exposure;
  array[N] int<lower=0> trials;
  array[N] int<lower=0> successes;
}
transformed data {
  vector[N] log_exposure = log(exposure);
}
parameters {
  real alpha;
  real<lower=0> phi;
  real<lower=0, upper=1> p;
  real<lower=0> rate;
  real<lower=0> shape;
}
model {
  alpha ~ normal(0, 2);
  phi ~ gamma(2, 0.1);
  p ~ beta(2, 2);
  rate ~ inv_gamma(2, 1);
  shape ~ weibull(2, 1);
  y ~ neg_binomial_2_log(alpha + log_exposure, phi);
  y ~ neg_binomial_2(exp(alpha) * exposure, phi);
  y ~ poisson(rate * exposure);
  successes ~ binomial(trials, p);
  target += binomial_logit_lpmf(successes | trials, logit(p));
  target += chi_square_lpdf(shape | 3);
}
generated quantities {
  array[N] int y_rep = neg_binomial_2_log_rng(alpha + log_exposure, phi);
  int s = binomial_rng(10, p);
  real u = uniform_rng(0, 1);
  real w = exponential_rng(1);
}
