// family: beta_regression
// source: written for refinestat
data {
  int<lower=1> N;
  vector[N] x;
  vector<lower=0, upper=1>[N] y;
}
parameters {
  real alpha;
  real beta;
  real<lower=0> phi;
}
model {
  vector[N] mu = inv_logit(alpha + beta * x);
  alpha ~ normal(0, 1);
  beta ~ normal(0, 1);
  phi ~ gamma(5, 0.5);
  y ~ beta(mu * phi, (1 - mu) * phi);
}
