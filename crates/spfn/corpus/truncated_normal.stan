// family: truncation
// given: L=const(0)
// source: written for refinestat (truncated data, Stan user guide)
data {
  int<lower=1> N;
  real L;
  vector[N] y;
}
parameters {
  real mu;
  real<lower=0> sigma;
}
model {
  mu ~ normal(1, 1);
  sigma ~ normal(1, 0.5);
  y ~ normal(mu, sigma) T[L, ];
}
