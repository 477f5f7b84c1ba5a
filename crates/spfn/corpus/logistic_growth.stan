// family: growth_curve
// given: t=time
// source: written for refinestat
data {
  int<lower=1> N;
  vector[N] t;
  vector[N] y;
}
parameters {
  real<lower=0> K;
  real<lower=0> r;
  real t0;
  real<lower=0> sigma;
}
model {
  K ~ normal(10, 3);
  r ~ lognormal(0, 0.5);
  t0 ~ normal(5, 2);
  sigma ~ normal(0, 1);
  y ~ normal(K * inv_logit(r * (t - t0)), sigma);
}
