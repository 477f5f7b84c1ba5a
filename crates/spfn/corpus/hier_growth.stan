// family: growth_curve
// given: t=time
// source: written for refinestat (the rats growth model of the BUGS examples)
data {
  int<lower=1> N;
  int<lower=1> J;
  array[N] int<lower=1, upper=J> subject;
  vector[N] t;
  vector[N] y;
}
parameters {
  real mu_a;
  real mu_b;
  real<lower=0> s_a;
  real<lower=0> s_b;
  vector[J] a;
  vector[J] b;
  real<lower=0> sigma;
}
model {
  mu_a ~ normal(0, 5);
  mu_b ~ normal(1, 1);
  s_a ~ normal(0, 2);
  s_b ~ normal(0, 0.5);
  a ~ normal(mu_a, s_a);
  b ~ normal(mu_b, s_b);
  sigma ~ normal(0, 1);
  y ~ normal(a[subject] + b[subject] .* t, sigma);
}
