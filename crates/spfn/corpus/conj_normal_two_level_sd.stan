// family: conjugate
// source: written for refinestat
data {
  int<lower=1> N;
  vector[N] y;
}
parameters {
  real mu;
  real<lower=0.5, upper=1.5> sigma;
}
model {
  mu ~ normal(0, 3);
  sigma ~ uniform(0.5, 1.5);
  y ~ normal(mu, sigma);
}
