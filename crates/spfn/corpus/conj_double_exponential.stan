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
  mu ~ normal(-1, 1);
  y ~ double_exponential(mu, 2);
}
