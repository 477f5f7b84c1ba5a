// family: conjugate
// source: written for refinestat
data {
  int<lower=1> N;
  vector[N] y;
}
parameters {
  real<lower=-3, upper=3> mu;
}
model {
  mu ~ uniform(-3, 3);
  y ~ normal(mu, 1);
}
