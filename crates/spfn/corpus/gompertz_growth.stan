// family: growth_curve
// given: t=time
// source: written for refinestat
data {
  int<lower=1> N;
  vector[N] t;
  vector[N] y;
}
parameters {
  real<lower=0> A;
  real<lower=0> b;
  real<lower=0> c;
  real<lower=0> sigma;
}
model {
  A ~ normal(10, 3);
  b ~ lognormal(1, 0.5);
  c ~ lognormal(-1, 0.5);
  sigma ~ normal(0, 1);
  y ~ normal(A * exp(-b * exp(-c * t)), sigma);
}
