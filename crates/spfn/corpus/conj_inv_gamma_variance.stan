// family: conjugate
// source: written for refinestat
data {
  int<lower=1> N;
  vector[N] y;
}
parameters {
  real<lower=0> sigma2;
}
model {
  sigma2 ~ inv_gamma(6, 10);
  y ~ normal(0, sqrt(sigma2));
}
