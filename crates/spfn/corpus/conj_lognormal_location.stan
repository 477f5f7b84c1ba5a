// family: conjugate
// source: written for refinestat
data {
  int<lower=1> N;
  vector<lower=0>[N] y;
}
parameters {
  real mu;
}
model {
  mu ~ normal(0, 0.5);
  y ~ lognormal(mu, 0.5);
}
