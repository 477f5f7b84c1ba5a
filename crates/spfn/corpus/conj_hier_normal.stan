// family: conjugate
// source: written for refinestat
data {
  int<lower=1> N;
  int<lower=1> J;
  array[N] int<lower=1, upper=J> g;
  vector[N] y;
}
parameters {
  real mu;
  vector[J] a;
}
model {
  mu ~ normal(0, 1);
  a ~ normal(mu, 2);
  y ~ normal(a[g], 1);
}
