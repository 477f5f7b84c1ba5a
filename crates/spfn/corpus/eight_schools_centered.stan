// family: hierarchical_normal
// given: J=size(5,30) sigma=covariate(positive)
// source: the eight schools model (Rubin 1981; BDA ch. 5), as in the repository examples
data {
  int<lower=0> J;
  array[J] real y;
  array[J] real<lower=0> sigma;
}
parameters {
  real mu;
  real<lower=0> tau;
  array[J] real theta;
}
model {
  mu ~ normal(0, 5);
  tau ~ cauchy(0, 5);
  theta ~ normal(mu, tau);
  y ~ normal(theta, sigma);
}
