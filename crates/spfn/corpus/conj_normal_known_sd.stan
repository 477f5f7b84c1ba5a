// family: conjugate
// source: written for refinestat
data {
  int<lower=1> N;
  vector[N] y;
}
parameters {
  real mu;
}
model {
  mu ~ normal(1, 2);
  y ~ normal(mu, 1);
}
