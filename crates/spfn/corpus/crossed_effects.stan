// family: crossed_effects
// source: written for refinestat (two-way crossed random effects, ARM ch. 13)
data {
  int<lower=1> N;
  int<lower=1> J;
  int<lower=1> L;
  array[N] int<lower=1, upper=J> g1;
  array[N] int<lower=1, upper=L> g2;
  vector[N] y;
}
parameters {
  real mu;
  real<lower=0> s1;
  real<lower=0> s2;
  vector[J] a;
  vector[L] b;
  real<lower=0> sigma;
}
model {
  mu ~ normal(0, 5);
  s1 ~ normal(0, 2);
  s2 ~ normal(0, 2);
  a ~ normal(0, s1);
  b ~ normal(0, s2);
  sigma ~ normal(0, 2);
  y ~ normal(mu + a[g1] + b[g2], sigma);
}
