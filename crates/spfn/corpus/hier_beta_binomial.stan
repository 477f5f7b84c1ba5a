// family: hierarchical_binomial
// given: J=size(5,40) n=trials(5,100)
// source: written for refinestat (the rat tumours model, BDA ch. 5)
data {
  int<lower=1> J;
  array[J] int<lower=1> n;
  array[J] int<lower=0> y;
}
parameters {
  real<lower=0, upper=1> phi;
  real<lower=0.1> kappa;
  vector<lower=0, upper=1>[J] theta;
}
model {
  phi ~ beta(2, 2);
  kappa ~ gamma(2, 0.1);
  theta ~ beta(phi * kappa, (1 - phi) * kappa);
  y ~ binomial(n, theta);
}
